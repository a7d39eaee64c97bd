"""Tracing: span model, processors, the SQL trace store, the OTLP receiver and the query API.

``TracePipeline(TraceStore(engine))`` is the write path: give ``pipeline.head`` to a
TracerProvider, and spans received over OTLP (``OtlpReceiver``) enter the same way;
``SpanMetrics`` derives Prometheus metrics from the gateway's spans on that path.
"""

from ._api import ApiError, trace_api
from ._config import TracingConfig
from ._metrics import PipelineCollector, SpanMetrics
from ._normalize import SPAN_KINDS, Normalized, normalize
from ._otlp import OtlpReceiver
from ._pipeline import (
    ContentPolicyProcessor,
    QueueProcessor,
    StoreExporter,
    TracePipeline,
)
from ._queries import QueryError, TraceFilter, get_trace, list_sessions, list_traces, usage_stats
from ._records import SpanRecord, TraceRecord
from ._retention import RetentionTask, count_older_than, delete_older_than
from ._shapes import span_json, trace_json
from ._store import TraceStore
from ._tracer import LeanTracerProvider
from ._writer import ProcessWriter, StoreWriteError

__all__ = [
    "SPAN_KINDS",
    "ApiError",
    "ContentPolicyProcessor",
    "LeanTracerProvider",
    "Normalized",
    "OtlpReceiver",
    "PipelineCollector",
    "ProcessWriter",
    "QueryError",
    "QueueProcessor",
    "RetentionTask",
    "SpanMetrics",
    "SpanRecord",
    "StoreExporter",
    "StoreWriteError",
    "TraceFilter",
    "TracePipeline",
    "TraceRecord",
    "TraceStore",
    "TracingConfig",
    "count_older_than",
    "delete_older_than",
    "get_trace",
    "list_sessions",
    "list_traces",
    "normalize",
    "span_json",
    "trace_api",
    "trace_json",
    "usage_stats",
]

"""Tracing: span model, processors, the SQL trace store, the OTLP receiver and the query API.

``TracePipeline(TraceStore(engine))`` is the write path: give ``pipeline.head`` to a
TracerProvider, and spans received over OTLP (``OtlpReceiver``) enter the same way.
"""

from ._api import ApiError, trace_api
from ._config import TracingConfig
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
from ._store import TraceStore

__all__ = [
    "SPAN_KINDS",
    "ApiError",
    "ContentPolicyProcessor",
    "Normalized",
    "OtlpReceiver",
    "QueryError",
    "QueueProcessor",
    "SpanRecord",
    "StoreExporter",
    "TraceFilter",
    "TracePipeline",
    "TraceRecord",
    "TraceStore",
    "TracingConfig",
    "get_trace",
    "list_sessions",
    "list_traces",
    "normalize",
    "trace_api",
    "usage_stats",
]

"""Tracing: span model, processors, the SQL trace store, the OTLP receiver and the query API.

``TracePipeline(TraceStore(engine))`` is the write path: give ``pipeline.head`` to a
TracerProvider, and spans received over OTLP (``OtlpReceiver``) enter the same way;
``SpanMetrics`` derives Prometheus metrics from the gateway's spans on that path.
``ScoreStore`` keeps scores on traces, spans, sessions and eval rows (``score_api`` serves
them).

Names load on first use: a process that needs only the store (the trace writer process)
does not import the web framework, protobuf or the normalizers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import ApiError, ProjectOf, project_filter, trace_api
    from ._backfill import backfill_indexes
    from ._config import TracingConfig
    from ._examples import example_of, examples_of
    from ._feed import read_feed, trim_feed
    from ._metrics import PipelineCollector, SpanMetrics
    from ._normalize import SPAN_KINDS, Normalized, normalize
    from ._otlp import OtlpReceiver
    from ._pipeline import (
        ContentPolicyProcessor,
        QueueProcessor,
        StoreExporter,
        TracePipeline,
    )
    from ._pricing import bundled_prices, estimate_cost, find_prices, load_price_map, token_cost
    from ._queries import (
        QueryError,
        TraceFilter,
        get_trace,
        list_sessions,
        list_traces,
        online_eval_costs,
        usage_stats,
    )
    from ._records import SpanRecord, TraceRecord
    from ._retention import RetentionTask, count_older_than, delete_older_than
    from ._reviews import ReviewStore
    from ._reviews_api import review_api
    from ._score_filters import ScoreCondition, parse_score_filter
    from ._score_types import NewScore, ScoreConfig, ScoreQuery, score_json
    from ._scores import ScoreStore, score_facets, score_trend, scored_trace, scored_traces
    from ._scores_api import Caller, score_api
    from ._shapes import span_json, trace_json
    from ._store import TraceStore
    from ._tracer import LeanTracerProvider
    from ._writer import ProcessWriter, StoreWriteError
    from .errors import (
        InvalidScoreError,
        ScoreError,
        ScoreForbiddenError,
        ScoreNotFoundError,
        ScoreTargetNotFound,
        TracingError,
    )

_MODULES = {
    "Caller": "._scores_api",
    "score_api": "._scores_api",
    "ReviewStore": "._reviews",
    "review_api": "._reviews_api",
    "ScoreCondition": "._score_filters",
    "parse_score_filter": "._score_filters",
    "scored_trace": "._scores",
    "score_facets": "._scores",
    "score_trend": "._scores",
    "scored_traces": "._scores",
    "NewScore": "._score_types",
    "ScoreConfig": "._score_types",
    "ScoreQuery": "._score_types",
    "ScoreStore": "._scores",
    "score_json": "._score_types",
    "InvalidScoreError": ".errors",
    "ScoreError": ".errors",
    "ScoreForbiddenError": ".errors",
    "ScoreNotFoundError": ".errors",
    "ScoreTargetNotFound": ".errors",
    "TracingError": ".errors",
    "ApiError": "._api",
    "example_of": "._examples",
    "examples_of": "._examples",
    "read_feed": "._feed",
    "trim_feed": "._feed",
    "ContentPolicyProcessor": "._pipeline",
    "LeanTracerProvider": "._tracer",
    "Normalized": "._normalize",
    "OtlpReceiver": "._otlp",
    "PipelineCollector": "._metrics",
    "ProjectOf": "._api",
    "ProcessWriter": "._writer",
    "QueryError": "._queries",
    "QueueProcessor": "._pipeline",
    "RetentionTask": "._retention",
    "SPAN_KINDS": "._normalize",
    "SpanMetrics": "._metrics",
    "SpanRecord": "._records",
    "StoreExporter": "._pipeline",
    "StoreWriteError": "._writer",
    "TraceFilter": "._queries",
    "TracePipeline": "._pipeline",
    "TraceRecord": "._records",
    "TraceStore": "._store",
    "TracingConfig": "._config",
    "backfill_indexes": "._backfill",
    "bundled_prices": "._pricing",
    "estimate_cost": "._pricing",
    "find_prices": "._pricing",
    "load_price_map": "._pricing",
    "token_cost": "._pricing",
    "count_older_than": "._retention",
    "delete_older_than": "._retention",
    "get_trace": "._queries",
    "list_sessions": "._queries",
    "list_traces": "._queries",
    "online_eval_costs": "._queries",
    "normalize": "._normalize",
    "project_filter": "._api",
    "span_json": "._shapes",
    "trace_api": "._api",
    "trace_json": "._shapes",
    "usage_stats": "._queries",
}

__all__ = [
    "SPAN_KINDS",
    "ApiError",
    "Caller",
    "ContentPolicyProcessor",
    "InvalidScoreError",
    "LeanTracerProvider",
    "NewScore",
    "Normalized",
    "OtlpReceiver",
    "PipelineCollector",
    "ProcessWriter",
    "ProjectOf",
    "QueryError",
    "QueueProcessor",
    "RetentionTask",
    "ReviewStore",
    "ScoreCondition",
    "ScoreConfig",
    "ScoreError",
    "ScoreForbiddenError",
    "ScoreNotFoundError",
    "ScoreQuery",
    "ScoreStore",
    "ScoreTargetNotFound",
    "SpanMetrics",
    "SpanRecord",
    "StoreExporter",
    "StoreWriteError",
    "TraceFilter",
    "TracePipeline",
    "TraceRecord",
    "TraceStore",
    "TracingConfig",
    "TracingError",
    "backfill_indexes",
    "bundled_prices",
    "count_older_than",
    "delete_older_than",
    "estimate_cost",
    "example_of",
    "examples_of",
    "find_prices",
    "get_trace",
    "list_sessions",
    "list_traces",
    "load_price_map",
    "normalize",
    "online_eval_costs",
    "parse_score_filter",
    "project_filter",
    "read_feed",
    "review_api",
    "score_api",
    "score_facets",
    "score_json",
    "score_trend",
    "scored_trace",
    "scored_traces",
    "span_json",
    "token_cost",
    "trace_api",
    "trace_json",
    "trim_feed",
    "usage_stats",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'tracing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

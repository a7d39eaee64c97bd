"""Prometheus metrics derived from spans, off the request path.

The gateway already records everything a request's metrics need on its request span, so the
metrics are computed from span rows in the trace pipeline's worker thread
(``StoreExporter.export`` calls :meth:`SpanMetrics.observe`), never in a request handler.

Which spans count: only the gateway's own request spans (scope ``spyglass.gateway``, kind
SERVER), made in this process. Its upstream attempt spans (CLIENT) repeat their request's usage
and would count it twice. Spans received over OTLP are left out (the exporter passes only rows
of spans with local contexts): they are the applications' own calls, and an application traced
through the gateway would have each call counted twice (its client span and the gateway's
server span) -- its OpenTelemetry instrumentations emit its client metrics themselves; and
another Spyglass exporting its spans here has its own ``/metrics``.

Why not prometheus_client's ``Histogram``/``Counter``: each ``observe``/``inc`` takes a lock of
its own, about 5 us for the five updates of one span (with the labelled children cached),
against about 1.7 us for everything below, which looks a request's series up once per kind of
request and takes one lock per batch. The exposition is the same: this class is a collector
that builds the metric families when scraped.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from ._otlp import OtlpReceiver
    from ._pipeline import TracePipeline

__all__ = ["PipelineCollector", "SpanMetrics"]


# Bucket boundaries advised by the GenAI semantic conventions for each metric.
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

_GATEWAY_SCOPE = "spyglass.gateway"
_OPERATION_LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")


def _record(counts: list[float], bounds: tuple[float, ...], value: float) -> None:
    """Add ``value`` to a histogram series (see ``_Histogram.series``)."""
    counts[bisect_left(bounds, value)] += 1  # the first bucket whose le >= value
    counts[-1] += value


class _Histogram:
    """Bucket counts and a sum per label values (one writer; readers hold the owner's lock)."""

    __slots__ = ("bounds", "documentation", "labelnames", "les", "name", "series")

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in bounds)
        # Written as prometheus_client's own Histogram writes them (Go's float format).
        self.les = [*(floatToGoString(b) for b in self.bounds), "+Inf"]  # type: ignore[no-untyped-call]
        # Per series: one count per bucket (not cumulative; the last is +Inf), then the sum.
        self.series: dict[tuple[str, ...], list[float]] = {}

    def series_of(self, labels: tuple[str, ...]) -> list[float]:
        """The series of ``labels``, made on first use (so only observed series are shown)."""
        counts = self.series.get(labels)
        if counts is None:
            counts = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        return counts

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, counts in self.series.items():
            cumulative = 0.0
            buckets = []
            for le, count in zip(self.les, counts, strict=False):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(labels, buckets, counts[-1])
        return family


class _Counter:
    """A total per label values (one writer; readers hold the owner's lock)."""

    __slots__ = ("documentation", "labelnames", "name", "series")

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.series: dict[tuple[str, ...], list[float]] = {}  # a one-item list each

    def cell(self, labels: tuple[str, ...]) -> list[float]:
        """The total of ``labels`` as a one-item list, made on first use."""
        cell = self.series.get(labels)
        if cell is None:
            cell = self.series[labels] = [0.0]
        return cell

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, cell in self.series.items():
            family.add_metric(labels, cell[0])
        return family


class _Bound:
    """The series one kind of request updates, looked up once per kind rather than per span."""

    __slots__ = ("cost", "duration", "group", "input", "labels", "output", "requests", "ttft")

    def __init__(self, group: str, labels: tuple[str, ...]) -> None:
        self.group = group
        self.labels = labels  # operation, provider, request model
        self.duration: list[float] = []
        self.requests: list[float] = []
        self.input: list[float] | None = None
        self.output: list[float] | None = None
        self.ttft: list[float] | None = None
        self.cost: list[float] | None = None


class SpanMetrics:
    """Request metrics from the gateway's request spans, in a registry of their own.

    Each app has its own ``registry`` (never prometheus_client's global one), so several apps
    in one process keep their figures apart; other collectors (:class:`PipelineCollector`)
    are registered in it beside this one.

    Label values are bounded by the configuration: a request that never reached a configured
    model group (unknown model, malformed body) has an empty model label rather than the name
    the client sent, which could be anything.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self.duration = _Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration through the gateway (gen_ai.client.operation.duration).",
            (*_OPERATION_LABELS, "error_type"),
            DURATION_BUCKETS,
        )
        self.tokens = _Histogram(
            "gen_ai_client_token_usage",
            "Tokens used per GenAI operation (gen_ai.client.token.usage).",
            ("gen_ai_token_type", *_OPERATION_LABELS),
            TOKEN_BUCKETS,
        )
        self.ttft = _Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a streamed request's arrival to its first chunk "
            "(gen_ai.server.time_to_first_token).",
            _OPERATION_LABELS,
            TTFT_BUCKETS,
        )
        self.requests = _Counter(
            "spyglass_requests_total",
            "Gateway requests by model group and outcome.",
            ("model", "status"),
        )
        self.cost = _Counter(
            "spyglass_cost_usd_total", "Cost of gateway requests in US dollars.", ("model",)
        )
        self._bound: dict[tuple[Any, ...], _Bound] = {}
        self.registry.register(self)

    def observe(self, rows: Iterable[dict[str, Any]]) -> None:
        """Count the gateway request spans among ``rows`` (from ``span_to_row``); skip others.

        Called from the pipeline's worker with the rows of each batch's local spans, once,
        before the write (so however often it is retried).
        """
        with self._lock:
            for row in rows:
                if row["scope_name"] != _GATEWAY_SCOPE or row["span_kind"] != "server":
                    continue
                self._observe(row)

    def _observe(self, row: dict[str, Any]) -> None:
        attributes = row["attributes"]
        failed = row["status"] == "error"
        kind = (
            failed,
            attributes.get("spyglass.model_group"),
            attributes.get("gen_ai.operation.name"),
            row["provider"],
            row["model"],
            attributes.get("error.type") if failed else None,
        )
        bound = self._bound.get(kind)
        if bound is None:
            bound = self._bound[kind] = self._bind(*kind)
        _record(bound.duration, self.duration.bounds, row["duration_ms"] / 1000)
        bound.requests[0] += 1
        if (tokens := row["input_tokens"]) is not None:
            if bound.input is None:
                bound.input = self.tokens.series_of(("input", *bound.labels))
            _record(bound.input, self.tokens.bounds, tokens)
        if (tokens := row["output_tokens"]) is not None:
            if bound.output is None:
                bound.output = self.tokens.series_of(("output", *bound.labels))
            _record(bound.output, self.tokens.bounds, tokens)
        if (ttft := row["ttft_ms"]) is not None:
            if bound.ttft is None:
                bound.ttft = self.ttft.series_of(bound.labels)
            _record(bound.ttft, self.ttft.bounds, ttft / 1000)
        if cost := row["cost"]:
            if bound.cost is None:
                bound.cost = self.cost.cell((bound.group,))
            bound.cost[0] += cost

    def _bind(
        self,
        failed: bool,
        group: Any,
        operation: Any,
        provider: str | None,
        model: str | None,
        error_type: Any,
    ) -> _Bound:
        """The label values of one kind of request, and the series they name."""
        group = group if isinstance(group, str) else ""
        labels = (
            operation if isinstance(operation, str) else "",
            provider or "",
            (model or "") if group else "",
        )
        error = ""
        if failed:
            error = error_type if isinstance(error_type, str) and error_type else "_OTHER"
        bound = _Bound(group, labels)
        bound.duration = self.duration.series_of((*labels, error))
        bound.requests = self.requests.cell((group, "error" if failed else "ok"))
        return bound

    def collect(self) -> Iterator[Metric]:
        """The metric families as they stand (prometheus_client's collector protocol)."""
        with self._lock:
            families = [
                metric.family()
                for metric in (self.duration, self.tokens, self.ttft, self.requests, self.cost)
            ]
        yield from families

    def describe(self) -> Iterator[Metric]:
        """The families' names, so the registry refuses a collector that reuses one."""
        for metric in (self.duration, self.tokens, self.ttft, self.requests, self.cost):
            yield (
                HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                if isinstance(metric, _Histogram)
                else CounterMetricFamily(metric.name, metric.documentation, labels=())
            )


class PipelineCollector:
    """The trace pipeline's queue and the OTLP receiver's counters, read when scraped.

    Args:
        pipeline: the pipeline whose queues and store writer are reported (``queue="store"``;
            ``queue="export"`` for each external OTLP export).
        receiver: the OTLP receiver feeding ``pipeline``, if any.
    """

    def __init__(self, pipeline: TracePipeline, receiver: OtlpReceiver | None = None) -> None:
        self.pipeline = pipeline
        self.receiver = receiver

    def collect(self) -> Iterator[Metric]:
        """The figures as they stand now."""
        queues = [("store", self.pipeline.queue)]
        queues += [("export", processor) for processor in self.pipeline.exports]
        depth = GaugeMetricFamily(
            "spyglass_span_queue_depth", "Spans waiting in a queue.", labels=("queue",)
        )
        capacity = GaugeMetricFamily(
            "spyglass_span_queue_capacity", "Spans a queue holds at most.", labels=("queue",)
        )
        dropped = CounterMetricFamily(
            "spyglass_spans_dropped_total",
            "Spans dropped because their queue was full (or the pipeline had stopped).",
            labels=("queue",),
        )
        exported = CounterMetricFamily(
            "spyglass_spans_exported_total",
            "Spans taken from a queue and handed to its exporter.",
            labels=("queue",),
        )
        for label, processor in queues:
            depth.add_metric((label,), processor.depth)
            capacity.add_metric((label,), processor.capacity)
            dropped.add_metric((label,), processor.dropped)
            exported.add_metric((label,), processor.exported)
        yield from (depth, capacity, dropped, exported)
        exporter = self.pipeline.exporter
        yield CounterMetricFamily(
            "spyglass_spans_written_total",
            "Spans newly written to the trace store (a span sent twice is written once).",
            exporter.written,
        )
        yield CounterMetricFamily(
            "spyglass_span_write_errors_total",
            "Failed attempts to write a batch of spans to the trace store (each retry counts).",
            exporter.write_errors,
        )
        if self.receiver is not None:
            receiver = self.receiver
            yield CounterMetricFamily(
                "spyglass_otlp_spans_received_total",
                "Spans accepted from OTLP exports.",
                receiver.received,
            )
            yield CounterMetricFamily(
                "spyglass_otlp_spans_rejected_total",
                "Spans of OTLP exports rejected as invalid (reported as partial success).",
                receiver.rejected,
            )
            yield CounterMetricFamily(
                "spyglass_otlp_requests_refused_total",
                "OTLP exports refused with 503 because the span queue had no room.",
                receiver.refused_busy,
            )

    def describe(self) -> Iterator[Metric]:
        """The families' names, so the registry refuses a collector that reuses one."""
        return self.collect()

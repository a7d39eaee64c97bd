"""Assembles tracing for an app: the pipeline into the store, the tracer provider, exports,
and the Prometheus metrics derived from the spans."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import TracerProvider

from tracing import (
    LeanTracerProvider,
    PipelineCollector,
    ProcessWriter,
    RetentionTask,
    SpanMetrics,
    TracePipeline,
    TraceStore,
    TracingConfig,
)

from ._version import __version__

if TYPE_CHECKING:
    from starlette.requests import Request

    from tracing import OtlpReceiver, ProjectOf

log = logging.getLogger("spyglass")

# How the writer process builds its engine (WAL and pragmas for SQLite, pooling for PostgreSQL).
_ENGINE_FACTORY = "spyglass._db:create_store_engine"
_OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@dataclass
class Tracing:
    """The parts create_app wires in and shuts down."""

    pipeline: TracePipeline
    provider: TracerProvider
    receiver: OtlpReceiver | None
    metrics: SpanMetrics
    retention: RetentionTask | None = None

    async def start_retention(self) -> None:
        """Start deleting old traces every hour, when ``tracing.retention_days`` is set."""
        if self.retention is not None:
            await self.retention.start()

    async def stop_retention(self) -> None:
        """Stop the deletion of old traces (a batch in progress finishes first)."""
        if self.retention is not None:
            await self.retention.stop()

    def shutdown(self) -> None:
        """Flush queued spans to the store (and exports), then stop."""
        self.provider.shutdown()  # type: ignore[attr-defined]  # both kinds have it


def external_exporters(config: TracingConfig) -> list[SpanExporter]:
    """An OTLP/HTTP exporter when the config or the standard OTEL variables name a collector."""
    if not config.export_endpoint and not any(os.environ.get(v) for v in _OTLP_VARIABLES):
        return []
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if config.export_endpoint:
        exporter = OTLPSpanExporter(
            endpoint=config.export_endpoint, headers=config.export_headers or None
        )
    else:
        exporter = OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_* itself
    log.info(
        "exporting spans over OTLP to %s",
        config.export_endpoint or "the OTEL_EXPORTER_OTLP endpoint",
    )
    return [exporter]


def store_writer(config: TracingConfig, store: TraceStore) -> ProcessWriter | None:
    """A writer process for the store, unless configured off or the database is in memory."""
    url = store.engine.url
    if config.writer != "process" or (url.get_backend_name() == "sqlite" and not url.database):
        return None
    if url.get_backend_name() == "sqlite" and url.database == ":memory:":
        return None
    return ProcessWriter(
        url.render_as_string(hide_password=False), _ENGINE_FACTORY, feed=store.feed
    )


def build_tracing(
    config: TracingConfig,
    store: TraceStore,
    *,
    project_of: ProjectOf | None = None,
    vouches_for_keys: Callable[[Request], bool] | None = None,
    receiver: bool = True,
) -> Tracing:
    """The write path into ``store``, a tracer provider that feeds it, and the metrics.

    The metrics' registry is the app's own: request metrics from the gateway's spans, and the
    pipeline's queue and the OTLP receiver's counters, read when scraped. ``project_of``
    names the project the OTLP receiver files a request's spans under, ``vouches_for_keys``
    whether their ``spyglass.key.id`` is kept (see OtlpReceiver). Without ``receiver`` (the eval
    runner's in-process tracing) there is no OTLP intake, nor its protobuf imports.
    """
    metrics = SpanMetrics()
    pipeline = TracePipeline(
        store,
        capture_content=config.capture_content,
        max_attribute_bytes=config.max_attribute_bytes,
        max_queue_size=config.queue_size,
        max_batch_size=config.batch_size,
        schedule_delay=config.flush_interval_ms / 1000,
        exporters=external_exporters(config),
        metrics=metrics,
        writer=store_writer(config, store),
        span_limits=config.span_limits.limits(),
    )
    resource = Resource.create({"service.name": "spyglass", "service.version": __version__})
    # The gateway's spans go through the OTel API to a provider feeding the pipeline: by
    # default a lean one (see tracing/_tracer.py for why), or the SDK's.
    provider: TracerProvider
    if config.tracer == "sdk":
        provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(pipeline.head)
    else:
        provider = LeanTracerProvider(pipeline.head, resource)
    from tracing import OtlpReceiver

    intake = (
        OtlpReceiver(
            pipeline,
            max_body_bytes=config.otlp_max_body_bytes,
            project_of=project_of,
            vouches_for_keys=vouches_for_keys,
            ack_timeout=config.otlp_ack_timeout_seconds,
        )
        if receiver
        else None
    )
    metrics.registry.register(PipelineCollector(pipeline, intake))
    retention = (
        RetentionTask(store, config.retention_days) if config.retention_days is not None else None
    )
    return Tracing(pipeline, provider, intake, metrics, retention)

"""Assembles tracing for an app: the pipeline into the store, the tracer provider, exports."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from tracing import OtlpReceiver, TracePipeline, TraceStore, TracingConfig

from ._version import __version__

log = logging.getLogger("spyglass")

_OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@dataclass
class Tracing:
    """The parts create_app wires in and shuts down."""

    pipeline: TracePipeline
    provider: TracerProvider
    receiver: OtlpReceiver

    def shutdown(self) -> None:
        """Flush queued spans to the store (and exports), then stop."""
        self.provider.shutdown()


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


def build_tracing(config: TracingConfig, store: TraceStore) -> Tracing:
    """The write path into ``store`` and a tracer provider that feeds it."""
    pipeline = TracePipeline(
        store,
        capture_content=config.capture_content,
        max_attribute_bytes=config.max_attribute_bytes,
        max_queue_size=config.queue_size,
        max_batch_size=config.batch_size,
        schedule_delay=config.flush_interval_ms / 1000,
        exporters=external_exporters(config),
    )
    resource = Resource.create({"service.name": "spyglass", "service.version": __version__})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(pipeline.head)
    receiver = OtlpReceiver(pipeline, max_body_bytes=config.otlp_max_body_bytes)
    return Tracing(pipeline, provider, receiver)

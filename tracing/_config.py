"""The ``tracing:`` section of the settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._limits import SpanLimitsConfig

__all__ = ["TracingConfig"]


class TracingConfig(BaseModel):
    """What is traced, how much content is kept, and where else spans go."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="record gateway spans and accept OTLP")
    capture_content: bool = Field(
        default=True, description="keep messages on spans (off: metadata only)"
    )
    max_attribute_bytes: int = Field(
        default=64 * 1024, ge=256, description="longer attribute values are cut and marked"
    )
    queue_size: int = Field(default=50_000, ge=100, description="spans waiting to be written")
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    flush_interval_ms: int = Field(default=200, ge=10)
    otlp_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    otlp_ack_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="how long an OTLP export waits for its spans to be committed before a 503",
    )
    score_target_wait_seconds: float = Field(
        default=3.0,
        ge=0,
        description="how long a score for a trace or span not yet in the store waits for it "
        "(spans are written in batches, so a trace just answered may arrive after its score) "
        "before the answer is a 404",
    )
    span_limits: SpanLimitsConfig = Field(
        default_factory=SpanLimitsConfig,
        description="what one span received over OTLP may hold, and when it may start",
    )
    export_endpoint: str | None = Field(
        default=None,
        description="also export every span to this OTLP/HTTP traces URL; the standard "
        "OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT variables work too",
    )
    export_headers: dict[str, str] = Field(default_factory=dict)
    retention_days: float | None = Field(default=None, gt=0, description="delete older traces")
    writer: Literal["process", "thread"] = Field(
        default="process",
        description="write spans from a child process (frees the server's interpreter lock; "
        "file databases only) or from a thread of the server's own process",
    )
    tracer: Literal["lean", "sdk"] = Field(
        default="lean",
        description="the gateway's tracer: 'lean' (an OTel API tracer without per-attribute "
        "locking and validation, ~7x cheaper per span) or the OpenTelemetry SDK's TracerProvider",
    )

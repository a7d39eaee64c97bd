"""The trace store's tables: one row per span, one summary row per trace.

Attributes are kept whole as JSON (JSONB on PostgreSQL); the columns beside them are what the
trace list filters and sorts on, each with an index shaped for its query (filter, then newest
first, for keyset pagination).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["SPANS", "TRACES", "SpanRecord", "TraceRecord"]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class SpanRecord(SQLModel, table=True):
    """One span, as received, with its normalized fields beside the raw attributes."""

    __tablename__ = "spans"
    __table_args__ = (
        Index("ix_spans_trace_start", "trace_id", "start_ns"),
        Index("ix_spans_trace_parent", "trace_id", "parent_span_id"),
        Index("ix_spans_start", "start_ns"),
        Index("ix_spans_kind_start", "kind", "start_ns"),
    )

    trace_id: str = Field(primary_key=True, max_length=32)
    span_id: str = Field(primary_key=True, max_length=16)
    parent_span_id: str | None = Field(default=None, max_length=16)
    name: str = Field(sa_type=Text)
    kind: str = Field(max_length=16, description="llm, chain, agent, tool, retriever, ...")
    span_kind: str = Field(max_length=16, description="OpenTelemetry SpanKind")
    status: str = Field(max_length=8, description="unset, ok or error")
    status_message: str | None = Field(default=None, sa_type=Text)
    start_ns: int = Field(sa_type=BigInteger)
    end_ns: int = Field(sa_type=BigInteger)
    duration_ms: float
    service_name: str | None = Field(default=None, max_length=256)
    scope_name: str | None = Field(default=None, max_length=256)
    model: str | None = Field(default=None, max_length=256)
    provider: str | None = Field(default=None, max_length=64)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    session_id: str | None = Field(default=None, max_length=256)
    user_id: str | None = Field(default=None, max_length=256)
    key_id: str | None = Field(default=None, max_length=64)
    ttft_ms: float | None = None
    prompt: str | None = Field(default=None, max_length=256, description="name/version")
    project: str | None = Field(default=None, max_length=200, description="spyglass.project")
    is_attempt: bool = Field(default=False, description="a gateway upstream attempt")
    wraps_call: bool = Field(
        default=False, description="an LLM span with an LLM call beneath it: not counted"
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    events: list[Any] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    content: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    online_eval: str | None = Field(
        default=None, max_length=100, description="the online rule a judge's call was for"
    )
    search_text: str | None = Field(
        default=None, sa_type=Text, description="name and message text, for text search"
    )
    attribute_tokens: str | None = Field(
        default=None, sa_type=Text, description="SQLite: attribute facets, for attr= filters"
    )


class TraceRecord(SQLModel, table=True):
    """A trace's summary, kept up to date as its spans arrive (in any order, in any batch)."""

    __tablename__ = "traces"
    __table_args__ = (
        Index("ix_traces_start", "start_ns", "trace_id"),
        Index("ix_traces_status_start", "status", "start_ns"),
        Index("ix_traces_model_start", "model", "start_ns"),
        Index("ix_traces_provider_start", "provider", "start_ns"),
        Index("ix_traces_session_start", "session_id", "start_ns"),
        Index("ix_traces_user_start", "user_id", "start_ns"),
        Index("ix_traces_key_start", "key_id", "start_ns"),
        Index("ix_traces_name_start", "name", "start_ns"),
        Index("ix_traces_prompt_start", "prompt", "start_ns"),
        Index("ix_traces_project_start", "project", "start_ns"),
        Index("ix_traces_duration", "duration_ms"),
        Index("ix_traces_cost", "cost"),
    )

    trace_id: str = Field(primary_key=True, max_length=32)
    name: str | None = Field(default=None, max_length=512, description="the root span's name")
    root_span_id: str | None = Field(default=None, max_length=16)
    service_name: str | None = Field(default=None, max_length=256)
    start_ns: int = Field(sa_type=BigInteger)
    end_ns: int = Field(sa_type=BigInteger)
    duration_ms: float
    status: str = Field(
        max_length=8, description="error when a span other than a gateway attempt failed, else ok"
    )
    error: str | None = Field(default=None, sa_type=Text)
    span_count: int
    llm_count: int = 0
    unpriced_count: int = Field(default=0, description="counted calls with no known cost")
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    model: str | None = Field(default=None, max_length=256, description="the first model called")
    provider: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=256)
    user_id: str | None = Field(default=None, max_length=256)
    key_id: str | None = Field(default=None, max_length=64)
    prompt: str | None = Field(default=None, max_length=256, description="name/version")
    project: str | None = Field(default=None, max_length=200, description="the first span's")
    ttft_ms: float | None = None
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))


SPANS: Table = SpanRecord.__table__  # type: ignore[attr-defined]
TRACES: Table = TraceRecord.__table__  # type: ignore[attr-defined]

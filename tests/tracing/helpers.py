"""Building finished spans by hand, with fixed ids and times, for the trace store's tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tracing import TraceStore
from tracing._convert import span_to_row

T0 = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z, in nanoseconds
MS = 10**6


def tid(number: int) -> str:
    """The 32-hex-digit trace id of a small number."""
    return f"{number:032x}"


def sid(number: int) -> str:
    """The 16-hex-digit span id of a small number."""
    return f"{number:016x}"


def make_span(
    trace_id: int,
    span_id: int,
    parent: int | None,
    name: str,
    start: int,
    end: int,
    attributes: Mapping[str, Any] | None = None,
    status: str = "unset",
    *,
    message: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    service: str | None = "app",
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> ReadableSpan:
    """A finished span; ``start`` and ``end`` are milliseconds after ``T0``."""
    codes = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
    parent_context = SpanContext(trace_id, parent, is_remote=False) if parent is not None else None
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent_context,
        resource=Resource({"service.name": service} if service else {}),
        attributes=dict(attributes or {}),
        events=[Event(n, dict(a), T0 + start * MS) for n, a in events],
        kind=kind,
        status=Status(codes[status], message),
        start_time=T0 + start * MS,
        end_time=T0 + end * MS,
        instrumentation_scope=InstrumentationScope("tests"),
    )


def rows(*spans: ReadableSpan) -> list[dict[str, Any]]:
    """The store rows of ``spans``."""
    return [span_to_row(span) for span in spans]


def llm(
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost: float | None = None,
    model: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The attributes of a chat span (GenAI semconv), with whatever else ``extra`` adds."""
    found: dict[str, Any] = {"gen_ai.operation.name": "chat"}
    for key, value in (
        ("gen_ai.usage.input_tokens", input_tokens),
        ("gen_ai.usage.output_tokens", output_tokens),
        ("spyglass.cost.usd", cost),
        ("gen_ai.request.model", model),
    ):
        if value is not None:
            found[key] = value
    found.update(extra or {})
    return found


def store_url(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    """A SQLite file under ``directory``, or this machine's PostgreSQL test database."""
    if backend == "sqlite":
        return f"sqlite:///{directory / 'traces.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@contextmanager
def migrated_store(url: str) -> Iterator[TraceStore]:
    """A store on a freshly migrated schema, reverted to nothing afterwards."""
    engine = create_store_engine(url)
    upgrade_store(engine)
    try:
        yield TraceStore(engine)
    finally:
        downgrade_store(engine, "base")
        engine.dispose()


REPLY = "Paris is the capital of France."


def mock(name: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"mock/{name}", **params}}


# Mock models the API and metrics tests serve: known usage and prices, and one that fails.
SERVED_CONFIG: dict[str, Any] = {
    "model_list": [
        # 12 * 0.25 + 5 * 0.5 = 5.5 a call
        mock(
            "gpt-small",
            mock_response=REPLY,
            mock_prompt_tokens=12,
            mock_completion_tokens=5,
            input_cost_per_token=0.25,
            output_cost_per_token=0.5,
        ),
        # 20 * 0.125 + 2 * 0.5 = 3.5 a call
        mock(
            "claude-ish",
            mock_response="Roma.",
            mock_prompt_tokens=20,
            mock_completion_tokens=2,
            input_cost_per_token=0.125,
            output_cost_per_token=0.5,
        ),
        mock("broken", mock_error_status=500, mock_error_message="upstream on fire"),
    ],
    # One retry, at once: a failed request has two attempts and takes no time.
    "router_settings": {"num_retries": 1, "retry_backoff_base": 0},
}

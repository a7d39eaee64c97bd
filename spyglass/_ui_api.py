"""JSON the web UI needs beyond the public API: facet counts, a big trace's outline, one span.

These read the trace store's tables through ``tracing``'s public records. They live here, not
in ``tracing``, because their shapes serve the UI's layout (columnar, compact) rather than
clients; they stay under ``/api/ui`` so that nobody mistakes them for a stable contract.
Like the public trace API, they read only the caller's project when its key is confined to one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from sqlalchemy import Table, func, select
from starlette.responses import Response

from tracing import (
    ApiError,
    ProjectOf,
    SpanRecord,
    TraceRecord,
    TraceStore,
    project_filter,
    score_facets,
    span_json,
    trace_json,
)

__all__ = ["OUTLINE_LIMIT", "ui_api"]

SPANS: Table = SpanRecord.__table__  # type: ignore[attr-defined]
TRACES: Table = TraceRecord.__table__  # type: ignore[attr-defined]

# The most spans an outline carries: ~90 bytes a span, so 200,000 spans is ~18 MB of JSON.
OUTLINE_LIMIT = 200_000

# The trace columns the Traces page offers as facets, by the filter name the list API takes.
_FACETS = {
    "status": TRACES.c.status,
    "model": TRACES.c.model,
    "provider": TRACES.c.provider,
    "session": TRACES.c.session_id,
    "user": TRACES.c.user_id,
    "prompt": TRACES.c.prompt,
}

_OUTLINE_COLUMNS = (
    SPANS.c.span_id,
    SPANS.c.parent_span_id,
    SPANS.c.name,
    SPANS.c.kind,
    SPANS.c.status,
    SPANS.c.start_ns,
    SPANS.c.duration_ms,
    SPANS.c.is_attempt,
    SPANS.c.model,
)
_OUTLINE_KEYS = (
    "id",
    "parent",
    "name",
    "kind",
    "status",
    "start_ms",
    "duration_ms",
    "attempt",
    "model",
)


def _checked_hex(value: str, length: int, param: str) -> str:
    value = value.lower()
    if len(value) != length or any(c not in "0123456789abcdef" for c in value):
        raise ApiError(400, f"expected {length} hexadecimal characters", param)
    return value


def facet_counts(
    store: TraceStore, start_ns: int | None, top: int, project: str | None = None
) -> dict[str, Any]:
    """The most frequent values of each facet column among traces since ``start_ns``."""
    facets: dict[str, Any] = {}
    with store.engine.connect() as connection:
        for name, column in _FACETS.items():
            count = func.count().label("count")
            query = select(column.label("value"), count).where(column.is_not(None))
            if start_ns is not None:
                query = query.where(TRACES.c.start_ns >= start_ns)
            if project is not None:
                query = query.where(TRACES.c.project == project)
            query = query.group_by(column).order_by(count.desc(), column).limit(top)
            facets[name] = [dict(row._mapping) for row in connection.execute(query)]
    facets["score"] = score_facets(store.engine, start_ns, top, project)
    return facets


def trace_outline(
    store: TraceStore, trace_id: str, project: str | None = None
) -> dict[str, Any] | None:
    """A trace's summary and every span's place in it, as parallel arrays in start order.

    Times are milliseconds after the trace's start, so the browser can draw the waterfall
    without parsing 19-digit nanosecond integers (which a JavaScript number cannot hold).
    """
    with store.engine.connect() as connection:
        summary = connection.execute(select(TRACES).where(TRACES.c.trace_id == trace_id)).first()
        if summary is None or (project is not None and summary.project != project):
            return None
        query = (
            select(*_OUTLINE_COLUMNS)
            .where(SPANS.c.trace_id == trace_id)
            # Ordered by the (trace_id, start_ns) index alone: ties are broken below, in
            # Python, which is cheaper than SQLite's sort of the index's output.
            .order_by(SPANS.c.start_ns)
            .limit(OUTLINE_LIMIT + 1)
        )
        found = connection.execute(query).all()
    origin = summary._mapping["start_ns"]
    truncated = len(found) > OUTLINE_LIMIT
    found = sorted(found[:OUTLINE_LIMIT], key=lambda row: (row[5], row[0]))
    columns: list[list[Any]] = [list(values) for values in zip(*found, strict=True)] or [
        [] for _ in _OUTLINE_KEYS
    ]
    # Microseconds are enough to draw; shorter numbers are less JSON to send and parse.
    columns[5] = [round((start - origin) / 1e6, 3) for start in columns[5]]
    columns[6] = [round(duration, 3) for duration in columns[6]]
    columns[7] = [1 if flag else 0 for flag in columns[7]]
    return {
        "trace": trace_json(dict(summary._mapping)),
        "truncated": truncated,
        "spans": dict(zip(_OUTLINE_KEYS, columns, strict=True)),
    }


def one_span(
    store: TraceStore, trace_id: str, span_id: str, project: str | None = None
) -> dict[str, Any] | None:
    """One span, whole (attributes, events, messages), with its start relative to the trace.

    With ``project``, a span of another project's trace is answered as if it did not exist.
    """
    fields = [c for c in SPANS.columns if c.name != "search_text"]
    with store.engine.connect() as connection:
        row = connection.execute(
            select(*fields).where(SPANS.c.trace_id == trace_id, SPANS.c.span_id == span_id)
        ).first()
        if row is None:
            return None
        trace = connection.execute(
            select(TRACES.c.start_ns, TRACES.c.project).where(TRACES.c.trace_id == trace_id)
        ).first()
        if project is not None and (trace is None or trace.project != project):
            return None
        origin = trace.start_ns if trace is not None else None
    span = span_json(dict(row._mapping))
    span["start_ms"] = (span["start_ns"] - (origin or span["start_ns"])) / 1e6
    return span


def ui_api(store: TraceStore, *, project_of: ProjectOf | None = None) -> APIRouter:
    """The UI's routes, bound to a store. Blocking queries run in worker threads."""
    router = APIRouter(prefix="/api/ui", tags=["ui"], include_in_schema=False)
    scope = project_filter(project_of)

    @router.get("/facets")
    async def facets(
        project: str | None = Depends(scope),
        since_s: Annotated[int | None, Query(ge=1, description="the last N seconds")] = None,
        top: Annotated[int, Query(ge=1, le=50)] = 8,
    ) -> Response:
        """Each facet's most frequent values, with their trace counts."""
        start_ns = time.time_ns() - since_s * 10**9 if since_s else None
        body = await asyncio.to_thread(
            lambda: orjson.dumps(facet_counts(store, start_ns, top, project))
        )
        return Response(body, media_type="application/json")

    @router.get("/traces/{trace_id}/outline")
    async def outline(trace_id: str, project: str | None = Depends(scope)) -> Response:
        """Every span of a trace, compact: enough to draw its tree and waterfall."""
        checked = _checked_hex(trace_id, 32, "trace_id")

        def encode() -> bytes | None:
            found = trace_outline(store, checked, project)
            return None if found is None else orjson.dumps(found)

        body = await asyncio.to_thread(encode)
        if body is None:
            raise ApiError(404, f"no trace {trace_id}", "trace_id")
        return Response(body, media_type="application/json")

    @router.get("/traces/{trace_id}/spans/{span_id}")
    async def span(trace_id: str, span_id: str, project: str | None = Depends(scope)) -> Response:
        """One span with everything it carries."""
        trace = _checked_hex(trace_id, 32, "trace_id")
        wanted = _checked_hex(span_id, 16, "span_id")

        def encode() -> bytes | None:
            found = one_span(store, trace, wanted, project)
            return None if found is None else orjson.dumps(found)

        body = await asyncio.to_thread(encode)
        if body is None:
            raise ApiError(404, f"no span {span_id} in trace {trace_id}", "span_id")
        return Response(body, media_type="application/json")

    return router

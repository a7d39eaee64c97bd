"""The trace JSON API under ``/api``: traces, one trace's spans, sessions, usage statistics.

Every route reads within a project when the caller is confined to one (``project_of``), and
otherwise takes ``project=`` as a filter (see ``project_filter``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query
from starlette.requests import Request
from starlette.responses import Response

from ._examples import example_of
from ._queries import QueryError, TraceFilter, get_trace, list_sessions, list_traces, usage_stats
from ._score_filters import parse_score_filter
from ._scores import scored_trace, scored_traces
from ._shapes import trace_json
from ._store import TraceStore

__all__ = ["ApiError", "ProjectOf", "project_filter", "trace_api"]

ProjectOf = Callable[[Request], str | None]
"""The project a request is confined to (its key's), or None when it may see every one."""


class ApiError(HTTPException):
    """A 4xx whose detail names the parameter at fault."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(status, detail=message)
        self.param = param


def _bad(error: QueryError) -> ApiError:
    return ApiError(400, error.message, error.param)


def _time_ns(value: str | None, param: str) -> int | None:
    """Seconds, milliseconds or nanoseconds since the epoch, or ISO 8601."""
    if value is None or value == "":
        return None
    digits = value.lstrip("-")
    try:
        # Integers are read exactly: a float cannot hold nanoseconds since the epoch.
        number: float = int(value) if digits.isascii() and digits.isdigit() else float(value)
    except ValueError:
        from datetime import UTC, datetime, timedelta

        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "expected epoch seconds or an ISO 8601 time", param) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a time without an offset is UTC, not local
        return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    if not math.isfinite(number):
        raise ApiError(400, "expected epoch seconds or an ISO 8601 time", param)
    if number > 1e17:
        ns = int(number)
    elif number > 1e11:
        ns = int(number * 10**6)
    else:
        ns = int(number * 10**9)
    if not -(2**63) <= ns < 2**63:  # what the store's 64-bit columns hold
        raise ApiError(400, "time out of range", param)
    return ns


def project_filter(project_of: ProjectOf | None) -> Callable[..., str | None]:
    """A FastAPI dependency: the project a request reads, or None for every project.

    A caller confined to a project reads that one: ``project=`` may repeat it, but naming
    another is a 403 (naming the parameter). Any other caller (an admin, a key without a
    project, or no key when authentication is off) may narrow its reads with ``project=``.
    """

    def scope(
        request: Request,
        project: Annotated[
            str | None, Query(description="only this project's (keys with a project: their own)")
        ] = None,
    ) -> str | None:
        if project and not project.strip():
            raise ApiError(400, "project: must not be blank", "project")
        asked = project or None
        confined = project_of(request) if project_of is not None else None
        if confined is None:
            return asked
        if asked is not None and asked != confined:
            raise ApiError(403, f"this key may only read project {confined!r}", "project")
        return confined

    return scope


def _dumps(value: Any) -> bytes:
    """JSON by orjson; by json for what orjson refuses (a score's metadata may hold an
    integer past 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        import json

        return json.dumps(value, default=str).encode()


def _json(body: bytes) -> Response:
    """A JSON response encoded by orjson in the worker thread: a page of a big trace is
    megabytes, which FastAPI's encoder would walk value by value on the event loop."""
    return Response(body, media_type="application/json")


def trace_api(store: TraceStore, *, project_of: ProjectOf | None = None) -> APIRouter:
    """The routes, bound to a store. Blocking queries run in worker threads.

    Args:
        store: the trace store.
        project_of: the project each request is confined to (None: no confinement).
    """
    router = APIRouter(prefix="/api", tags=["traces"])
    scope = project_filter(project_of)

    @router.get("/traces")
    async def traces(
        project: str | None = Depends(scope),
        start: Annotated[
            str | None, Query(description="from this time (epoch s/ms/ns or ISO 8601)")
        ] = None,
        end: Annotated[str | None, Query(description="before this time")] = None,
        status: Annotated[Literal["ok", "error"] | None, Query()] = None,
        model: str | None = None,
        provider: str | None = None,
        name: str | None = None,
        session: str | None = None,
        user: str | None = None,
        key: str | None = None,
        prompt: Annotated[str | None, Query(description="name or name/version")] = None,
        service: str | None = None,
        min_duration_ms: Annotated[float | None, Query(ge=0)] = None,
        min_cost: Annotated[float | None, Query(ge=0)] = None,
        tag: str | None = None,
        attr: Annotated[
            list[str] | None, Query(description="KEY=VALUE on any span; repeatable")
        ] = None,
        q: Annotated[str | None, Query(description="text in span names and messages")] = None,
        score: Annotated[
            list[str] | None,
            Query(description="NAME (has), !NAME (has not), NAME>=4, NAME=label; repeatable"),
        ] = None,
        sort: Annotated[
            str, Query(description="start, duration, cost, or score:NAME (highest first)")
        ] = "start",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> Response:
        """Traces, newest first (or by duration or cost), filtered, one page at a time."""
        attributes = []
        for pair in attr or []:
            key_name, sep, value = pair.partition("=")
            if not sep or not key_name:
                raise ApiError(400, "expected KEY=VALUE", "attr")
            attributes.append((key_name, value))
        conditions = []
        for text in score or []:
            try:
                conditions.append(parse_score_filter(text))
            except ValueError as error:
                raise ApiError(400, f"score: {error}", "score") from None
        where = TraceFilter(
            start_after_ns=_time_ns(start, "start"),
            start_before_ns=_time_ns(end, "end"),
            status=status,
            model=model,
            provider=provider,
            name=name,
            session_id=session,
            user_id=user,
            key_id=key,
            prompt=prompt,
            service=service,
            min_duration_ms=min_duration_ms,
            min_cost=min_cost,
            tag=tag,
            attributes=attributes,
            text=q,
            project=project,
            scores=conditions,
        )

        def page() -> bytes:
            rows, next_cursor = list_traces(store, where, sort=sort, limit=limit, cursor=cursor)
            data = scored_traces(store.engine, rows)
            return _dumps({"data": data, "next_cursor": next_cursor})

        try:
            return _json(await asyncio.to_thread(page))
        except QueryError as error:
            raise _bad(error) from None

    @router.get("/traces/{trace_id}")
    async def trace(
        trace_id: str,
        project: str | None = Depends(scope),
        parent: Annotated[str | None, Query(description="only the children of this span")] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        cursor: str | None = None,
    ) -> Response:
        """A trace's summary and its spans in start order, paged (or one span's children)."""

        def page() -> bytes | None:
            summary, spans, next_cursor = get_trace(
                store,
                trace_id.lower(),
                parent_span_id=parent,
                limit=limit,
                cursor=cursor,
                project=project,
            )
            if summary is None:
                return None
            shown, shown_spans = scored_trace(store.engine, summary, spans)
            return _dumps(
                {
                    "trace": shown,
                    "spans": shown_spans,
                    "next_cursor": next_cursor,
                }
            )

        try:
            body = await asyncio.to_thread(page)
        except QueryError as error:
            raise _bad(error) from None
        if body is None:
            raise ApiError(404, f"no trace {trace_id}", "trace_id")
        return _json(body)

    @router.get("/traces/{trace_id}/example")
    async def example(
        trace_id: str,
        project: str | None = Depends(scope),
        span: Annotated[
            str | None, Query(description="this span (default: the first with messages)")
        ] = None,
    ) -> dict[str, Any]:
        """The trace (or one span) as a dataset example: its input and its output."""
        found = await asyncio.to_thread(example_of, store, trace_id, span, project)
        if found is None:
            what = f"span {span} of trace {trace_id}" if span else f"trace {trace_id}"
            raise ApiError(404, f"no {what} with messages", "span" if span else "trace_id")
        return found

    @router.get("/sessions")
    async def sessions(
        project: str | None = Depends(scope),
        user: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Sessions (conversations), most recently active first."""
        try:
            rows, next_cursor = await asyncio.to_thread(
                list_sessions, store, limit=limit, cursor=cursor, user_id=user, project=project
            )
        except QueryError as error:
            raise _bad(error) from None
        return {"data": rows, "next_cursor": next_cursor}

    @router.get("/sessions/{session_id}")
    async def session(
        session_id: str,
        project: str | None = Depends(scope),
        limit: Annotated[int, Query(ge=1, le=500)] = 200,
    ) -> dict[str, Any]:
        """A session's traces, oldest first (its turns in order)."""
        where = TraceFilter(session_id=session_id, project=project)
        rows, _ = await asyncio.to_thread(list_traces, store, where, limit=limit)
        if not rows:
            raise ApiError(404, f"no session {session_id}", "session_id")
        return {"session_id": session_id, "traces": [trace_json(r) for r in reversed(rows)]}

    @router.get("/stats")
    async def stats(
        project: str | None = Depends(scope),
        start: Annotated[str | None, Query(description="default: 24 hours ago")] = None,
        end: Annotated[str | None, Query(description="default: now")] = None,
        bucket: Annotated[
            int | None, Query(ge=1, description="seconds; default: range / 48")
        ] = None,
        group_by: Literal["model", "provider", "key", "none"] = "none",
        source: Annotated[
            Literal["all", "gateway", "app", "online_evals"],
            Query(
                description="gateway: calls the gateway served; app: calls seen over OTLP only; "
                "online_evals: online evaluation's judge calls (the others leave them out)"
            ),
        ] = "all",
    ) -> dict[str, Any]:
        """LLM calls (each once), errors, latency p50/p95, TTFT, tokens and cost per bucket."""
        end_ns = _time_ns(end, "end") or time.time_ns()
        start_ns = _time_ns(start, "start") or end_ns - 86400 * 10**9
        seconds = bucket or max(1, (end_ns - start_ns) // (48 * 10**9))
        try:
            rows = await asyncio.to_thread(
                usage_stats,
                store,
                start_ns=start_ns,
                end_ns=end_ns,
                bucket_seconds=seconds,
                group_by=group_by,
                project=project,
                source=source,
            )
        except QueryError as error:
            raise _bad(error) from None
        return {"start_ns": start_ns, "end_ns": end_ns, "bucket_seconds": seconds, "data": rows}

    return router

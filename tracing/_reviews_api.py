"""The review queues' JSON API under ``/api/reviews``.

``GET|POST /api/reviews``; ``GET /api/reviews/{id}`` (progress, per reviewer);
``POST /api/reviews/{id}/next`` (the caller's current item, or the next free one: 204 when
none is left); ``POST /api/reviews/{id}/items/{position}`` (``{"status": "done"|"skipped"}``);
``GET /api/reviews/{id}/history`` (the caller's finished items, for "previous").

A reviewer is the caller's key; without authentication, the ``reviewer`` the client names
(the UI gives each browser tab one), so two people never get the same item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ._api import ApiError, ProjectOf, _time_ns, project_filter
from ._queries import QueryError, TraceFilter, list_traces
from ._reviews import ReviewStore
from ._score_filters import parse_score_filter
from ._scores_api import Caller, _anonymous
from ._store import TraceStore
from .errors import ScoreError

__all__ = ["review_api"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpanRef(_Body):
    trace_id: str = Field(min_length=32, max_length=32)
    span_id: str | None = Field(default=None, min_length=16, max_length=16)


class NewQueue(_Body):
    """A queue of the traces named, or of those a trace-list filter finds (newest first)."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    score_names: list[str] = Field(default_factory=list, description="configs asked (all: [])")
    trace_ids: list[str] = Field(default_factory=list, max_length=10_000)
    spans: list[SpanRef] = Field(default_factory=list, max_length=10_000)
    filter: dict[str, Any] | None = Field(
        default=None, description="the trace list's filters: model, status, score, q, ..."
    )
    limit: int = Field(default=200, ge=1, le=10_000, description="traces a filter adds")


class Finish(_Body):
    status: Literal["done", "skipped"] = "done"
    reviewer: str | None = Field(default=None, max_length=200)


class Next(_Body):
    reviewer: str | None = Field(default=None, max_length=200)


_FILTER_KEYS = {
    "status": "status",
    "model": "model",
    "provider": "provider",
    "name": "name",
    "session": "session_id",
    "user": "user_id",
    "key": "key_id",
    "prompt": "prompt",
    "service": "service",
    "tag": "tag",
    "q": "text",
    "min_duration_ms": "min_duration_ms",
    "min_cost": "min_cost",
}


def _trace_filter(given: dict[str, Any], project: str | None) -> TraceFilter:
    """A trace-list filter from a queue's ``filter`` (the list API's parameter names)."""
    where = TraceFilter(project=project)
    for key, value in given.items():
        if key in _FILTER_KEYS and value not in (None, ""):
            setattr(where, _FILTER_KEYS[key], value)
        elif key == "start":
            where.start_after_ns = _time_ns(str(value), "filter.start")
        elif key == "end":
            where.start_before_ns = _time_ns(str(value), "filter.end")
        elif key == "attr":
            for pair in value if isinstance(value, list) else [value]:
                name, sep, found = str(pair).partition("=")
                if not sep or not name:
                    raise ApiError(400, "filter.attr: expected KEY=VALUE", "filter.attr")
                where.attributes.append((name, found))
        elif key == "score":
            for text in value if isinstance(value, list) else [value]:
                try:
                    where.scores.append(parse_score_filter(str(text)))
                except ValueError as error:
                    raise ApiError(400, f"filter.score: {error}", "filter.score") from None
        elif key not in ("range", "sort", "project"):
            raise ApiError(400, f"filter: unknown filter {key!r}", f"filter.{key}")
    return where


def review_api(
    store: ReviewStore,
    traces: TraceStore,
    *,
    project_of: ProjectOf | None = None,
    caller: Caller = _anonymous,
) -> APIRouter:
    """The routes, bound to the review store (and the trace store filters run on)."""
    router = APIRouter(prefix="/api/reviews", tags=["reviews"])
    scope = project_filter(project_of)

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ScoreError as error:
            raise ApiError(error.status, str(error), error.field) from None
        except QueryError as error:
            raise ApiError(400, f"filter.{error.param}: {error.message}", error.param) from None

    def reviewer(request: Request, named: str | None) -> str:
        key, _ = caller(request)
        return key or (f"anonymous:{named}" if named else "anonymous")

    @router.get("")
    async def queues(project: str | None = Depends(scope)) -> dict[str, Any]:
        """Review queues, newest first, with their progress."""
        return {"data": await run(store.queues, project)}

    @router.post("", status_code=201)
    async def create(
        body: NewQueue, request: Request, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """A queue of traces (or spans) to review: named, or found by a trace-list filter."""
        items: list[tuple[str, str | None]] = [(t, None) for t in body.trace_ids]
        items += [(s.trace_id, s.span_id) for s in body.spans]
        if body.filter is not None:
            where = _trace_filter(body.filter, project)
            found, _ = await run(list_traces, traces, where, limit=min(body.limit, 500))
            items += [(row["trace_id"], None) for row in found]
        if not items:
            raise ApiError(
                400, "trace_ids: name traces, spans, or a filter that finds some", "trace_ids"
            )
        author, _ = caller(request)
        created: dict[str, Any] = await run(
            store.create,
            body.name,
            items,
            project=project,
            description=body.description,
            score_names=body.score_names,
            source={"filter": body.filter} if body.filter is not None else {"by": "hand"},
            created_by=author,
        )
        return created

    @router.get("/{queue_id}")
    async def queue(queue_id: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """A queue and its progress, per status and per reviewer."""
        found: dict[str, Any] = await run(store.get, queue_id, project=project)
        return found

    @router.post("/{queue_id}/next")
    async def next_item(
        queue_id: str,
        request: Request,
        body: Next | None = None,
        project: str | None = Depends(scope),
    ) -> Any:
        """The caller's current item, or the next free one (now theirs); 204 when none."""
        who = reviewer(request, body.reviewer if body else None)
        item = await run(store.next, queue_id, who, project=project)
        if item is None:
            return Response(status_code=204)
        return item | {"reviewer": who}

    @router.post("/{queue_id}/items/{position}")
    async def finish(
        queue_id: str,
        position: int,
        body: Finish,
        request: Request,
        project: str | None = Depends(scope),
    ) -> dict[str, Any]:
        """Mark an item done (or skipped); the queue's progress after it."""
        who = reviewer(request, body.reviewer)
        found: dict[str, Any] = await run(
            store.finish, queue_id, position, who, status=body.status, project=project
        )
        return found

    @router.get("/{queue_id}/history")
    async def history(
        queue_id: str,
        request: Request,
        project: str | None = Depends(scope),
        reviewer_name: str | None = Query(None, alias="reviewer"),
    ) -> dict[str, Any]:
        """The caller's finished items in the queue, latest first."""
        await run(store.get, queue_id, project=project)
        who = reviewer(request, reviewer_name)
        return {"data": await run(store.history, queue_id, who)}

    return router

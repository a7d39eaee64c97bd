"""The score JSON API: ``/api/scores`` and ``/api/score-configs``.

Scores are read and written within the caller's project when its key is confined to one. A
score for a trace the gateway has just answered may arrive before the trace is in the store
(spans are written in batches, off the request path): a missing trace or span is looked for
again for up to ``target_wait`` seconds before the answer is a 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ._api import ApiError, ProjectOf, _time_ns, project_filter
from ._score_types import NewScore, ScoreConfig, ScoreQuery
from ._scores import ScoreStore, score_trend
from .errors import ScoreError, ScoreTargetNotFound

__all__ = ["Caller", "score_api"]

Caller = Callable[[Request], tuple[str | None, bool]]
"""Who writes: the caller's key id (None when anonymous) and whether it is an admin."""


def _anonymous(request: Request) -> tuple[str | None, bool]:
    return None, True


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreIn(_Body):
    """A score to write; name exactly one target."""

    name: str = Field(min_length=1, max_length=200)
    value: float | bool | str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = Field(default=None, max_length=256)
    run_id: str | None = Field(default=None, max_length=32)
    row_index: int | None = Field(default=None, ge=0)
    comment: str | None = Field(default=None, max_length=10_000)
    source: Literal["human", "api", "online", "eval"] = "api"
    user_id: str | None = Field(default=None, max_length=256, description="your end user")
    scorer: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=10_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    supersedes: str | None = Field(default=None, max_length=32, description="a score it corrects")
    data_type: Literal["numeric", "boolean", "categorical"] | None = None

    def new(self) -> NewScore:
        return NewScore(**self.model_dump())


class ScoreBatch(_Body):
    scores: list[ScoreIn] = Field(min_length=1, max_length=1000)


class ConfigIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    data_type: Literal["numeric", "boolean", "categorical"]
    min_value: float | None = None
    max_value: float | None = None
    categories: list[str] | None = None
    description: str | None = Field(default=None, max_length=10_000)


def _http(error: ScoreError) -> ApiError:
    return ApiError(error.status, str(error), error.field)


def score_api(
    store: ScoreStore,
    *,
    project_of: ProjectOf | None = None,
    caller: Caller = _anonymous,
    target_wait: float = 3.0,
) -> APIRouter:
    """The routes, bound to a store. Blocking calls run in worker threads.

    Args:
        store: the score store.
        project_of: the project each request is confined to (None: no confinement).
        caller: who is writing (their key id, and whether they are an admin).
        target_wait: seconds a missing trace or span is looked for again.
    """
    router = APIRouter(tags=["scores"])
    scope = project_filter(project_of)

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ScoreError as error:
            raise _http(error) from None

    async def write(request: Request, scores: list[ScoreIn], batch: bool) -> list[dict[str, Any]]:
        author, admin = caller(request)
        confined = project_of(request) if project_of is not None else None
        if not admin:
            for index, score in enumerate(scores):
                if score.source not in ("human", "api"):
                    where = f"scores[{index}]." if batch else ""
                    raise ApiError(
                        403,
                        f"{where}source: only an admin key writes {score.source} scores",
                        f"{where}source",
                    )
        new = [score.new() for score in scores]
        deadline = time.monotonic() + target_wait
        while True:
            try:
                created: list[dict[str, Any]] = await asyncio.to_thread(
                    store.create, new, project=confined, author=author, batch=batch
                )
                return created
            except ScoreTargetNotFound as error:
                traced = error.field is not None and error.field.endswith(("trace_id", "span_id"))
                if not traced or time.monotonic() >= deadline:
                    raise _http(error) from None
                await asyncio.sleep(0.25)  # a trace just answered may not be written yet
            except ScoreError as error:
                raise _http(error) from None

    @router.post("/api/scores", status_code=201)
    async def create_scores(request: Request, body: ScoreIn | ScoreBatch) -> dict[str, Any]:
        """Write a score, or a batch (``{"scores": [...]}``, all or none)."""
        if isinstance(body, ScoreBatch):
            return {"data": await write(request, body.scores, True)}
        return (await write(request, [body], False))[0]

    @router.get("/api/scores")
    async def list_scores(
        project: str | None = Depends(scope),
        target: Literal["trace", "span", "session", "eval_row"] | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        session_id: str | None = None,
        run_id: str | None = None,
        name: str | None = None,
        source: Literal["human", "api", "online", "eval"] | None = None,
        author: str | None = None,
        scorer: str | None = None,
        label: Annotated[str | None, Query(description="a categorical score's label")] = None,
        min_value: float | None = None,
        max_value: float | None = None,
        since: Annotated[str | None, Query(description="epoch s/ms/ns or ISO 8601")] = None,
        until: str | None = None,
        history: Annotated[bool, Query(description="also the corrected scores")] = False,
        limit: Annotated[int, Query(ge=1, le=10000)] = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Scores, newest first, filtered, one page at a time."""
        query = ScoreQuery(
            project=project,
            target=target,
            trace_id=trace_id,
            span_id=span_id,
            session_id=session_id,
            run_id=run_id,
            name=name,
            source=source,
            author=author,
            scorer=scorer,
            label=label,
            min_value=min_value,
            max_value=max_value,
            since_ns=_time_ns(since, "since"),
            until_ns=_time_ns(until, "until"),
            history=history,
        )
        rows, after = await run(store.find, query, limit=limit, cursor=cursor)
        return {"data": rows, "next_cursor": after}

    @router.get("/api/scores/trend")
    async def trend(
        project: str | None = Depends(scope),
        name: str | None = None,
        start: Annotated[str | None, Query(description="default: 24 hours ago")] = None,
        end: Annotated[str | None, Query(description="default: now")] = None,
        bucket: Annotated[
            int | None, Query(ge=1, description="seconds; default: range / 48")
        ] = None,
        group_by: Literal["none", "prompt", "model"] = "none",
    ) -> dict[str, Any]:
        """Each score's mean over time (by its trace's start), per prompt version or model."""
        end_ns = _time_ns(end, "end") or time.time_ns()
        start_ns = _time_ns(start, "start") or end_ns - 86400 * 10**9
        seconds = bucket or max(1, (end_ns - start_ns) // (48 * 10**9))
        try:
            rows = await asyncio.to_thread(
                score_trend,
                store.engine,
                start_ns=start_ns,
                end_ns=end_ns,
                bucket_seconds=seconds,
                group_by=group_by,
                name=name,
                project=project,
            )
        except ValueError as error:
            raise ApiError(400, str(error), "bucket") from None
        return {"start_ns": start_ns, "end_ns": end_ns, "bucket_seconds": seconds, "data": rows}

    @router.get("/api/scores/{score_id}")
    async def get_score(score_id: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """One score, corrected or not."""
        found: dict[str, Any] = await run(store.get, score_id, project=project)
        return found

    @router.delete("/api/scores/{score_id}", status_code=204)
    async def delete_score(request: Request, score_id: str) -> Response:
        """Delete a score (its author or an admin); the score it corrected is current again."""
        author, admin = caller(request)
        confined = project_of(request) if project_of is not None else None
        await run(store.delete, score_id, author=author, admin=admin, project=confined)
        return Response(status_code=204)

    @router.get("/api/score-configs")
    async def list_configs(
        project: str | None = Depends(scope), archived: bool = False
    ) -> dict[str, Any]:
        """The score configs a project uses: its own, and those of no project."""
        found = await run(store.configs, project, archived=archived)
        return {"data": [config.to_dict() for config in found]}

    @router.post("/api/score-configs", status_code=201)
    async def put_config(
        body: ConfigIn, response: Response, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Create a score config, or update one (201 created, 200 updated)."""
        config = ScoreConfig(
            name=body.name,
            data_type=body.data_type,
            min_value=body.min_value,
            max_value=body.max_value,
            categories=tuple(body.categories) if body.categories is not None else None,
            description=body.description,
            project=project,
        )
        saved, created = await run(store.put_config, config)
        if not created:
            response.status_code = 200
        result: dict[str, Any] = saved.to_dict()
        return result

    @router.delete("/api/score-configs/{name:path}", status_code=204)
    async def archive_config(name: str, project: str | None = Depends(scope)) -> Response:
        """Archive a score config: its scores stay; new ones from people and apps are refused."""
        await run(store.archive_config, name, project)
        return Response(status_code=204)

    return router

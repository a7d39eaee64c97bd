"""Spend and usage per key, team, model and day, read from the trace store.

The trace store is the ledger: every gateway call's request span carries its key, model,
tokens and cost. Budgets count spend in Redis or in memory for speed; the first check of a
period starts from what this ledger already holds, so a restart forgets nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from sqlalchemy import Engine, case, func, select

from gateway import GatewayError, KeyStore
from tracing import SpanRecord

__all__ = ["spend_source", "usage_api", "usage_rows"]

_DAY_NS = 86_400 * 10**9
_GROUPS = ("key", "team", "project", "model", "day")


def _spans() -> Any:
    return SpanRecord.__table__  # type: ignore[attr-defined]


def spend_source(engine: Engine, keys: KeyStore) -> Callable[[str, float], Awaitable[float]]:
    """Spend recorded since ``start`` (epoch seconds) for ``key:ID`` or ``team:NAME``."""

    def total(name: str, start: float) -> float:
        kind, _, ident = name.partition(":")
        if kind == "key":
            ids = [ident]
        else:
            ids = [k.id for k in keys.list_keys(team=ident, include_revoked=True)]
        if not ids:
            return 0.0
        s = _spans().c
        query = select(func.coalesce(func.sum(s.cost), 0.0)).where(
            s.key_id.in_(ids), s.is_attempt.is_(False), s.start_ns >= int(start * 10**9)
        )
        with engine.connect() as conn:
            return float(conn.execute(query).scalar() or 0.0)

    async def source(name: str, start: float) -> float:
        return await asyncio.to_thread(total, name, start)

    return source


def usage_api(engine: Engine, keys: KeyStore) -> APIRouter:
    """``GET /api/usage``: requests, tokens and spend grouped by key, team, model and/or day."""
    router = APIRouter(prefix="/api", tags=["keys"])

    @router.get("/usage")
    async def usage(
        group_by: Annotated[
            str, Query(description="comma-separated: key, team, project, model, day")
        ] = "key,model,day",
        days: Annotated[int, Query(ge=1, le=366, description="the last N days")] = 30,
        key: Annotated[str | None, Query(description="one key id only")] = None,
        team: Annotated[str | None, Query(description="one team only")] = None,
        project: Annotated[str | None, Query(description="one project only")] = None,
    ) -> Any:
        groups = [g.strip() for g in group_by.split(",") if g.strip()]
        bad = [g for g in groups if g not in _GROUPS]
        if bad or not groups:
            error = GatewayError(
                f"group_by: expected a comma-separated list of {', '.join(_GROUPS)}",
                status_code=400,
                param="group_by",
            )
            error.error_type = "invalid_request_error"
            return Response(orjson.dumps(error.to_dict()), 400, media_type="application/json")
        rows = await asyncio.to_thread(
            usage_rows, engine, keys, groups, days, key, team, project or None
        )
        return {"data": rows}

    return router


def usage_rows(
    engine: Engine,
    keys: KeyStore,
    groups: list[str],
    days: int,
    key: str | None,
    team: str | None,
    project: str | None = None,
) -> list[dict[str, Any]]:
    s = _spans().c
    teams = {k.id: k.team for k in keys.list_keys(include_revoked=True)}
    now_ns = int(datetime.now(UTC).timestamp() * 10**9)
    start_ns = (now_ns // _DAY_NS - days + 1) * _DAY_NS
    day = (s.start_ns // _DAY_NS).label("day")
    query = (
        select(
            s.key_id,
            s.project,
            s.model,
            day,
            func.count().label("requests"),
            func.sum(case((s.status == "error", 1), else_=0)).label("errors"),
            func.coalesce(func.sum(s.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(s.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(s.cost), 0.0).label("cost"),
        )
        .where(
            s.is_attempt.is_(False),
            s.kind.in_(("llm", "embedding")),
            s.key_id.is_not(None),
            s.start_ns >= start_ns,
        )
        .group_by(s.key_id, s.project, s.model, day)
    )
    if key is not None:
        query = query.where(s.key_id == key)
    if team is not None:
        query = query.where(s.key_id.in_([k for k, t in teams.items() if t == team] or [""]))
    if project is not None:
        query = query.where(s.project == project)
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            values = {
                "key": row.key_id,
                "team": teams.get(row.key_id),
                "project": row.project,
                "model": row.model,
                "day": datetime.fromtimestamp(int(row.day) * 86_400, UTC).date().isoformat(),
            }
            group = tuple(values[g] for g in groups)
            entry = totals.setdefault(
                group,
                {g: values[g] for g in groups}
                | {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0},
            )
            entry["requests"] += int(row.requests)
            entry["errors"] += int(row.errors or 0)
            entry["input_tokens"] += int(row.input_tokens)
            entry["output_tokens"] += int(row.output_tokens)
            entry["cost"] += float(row.cost)
    return sorted(totals.values(), key=lambda e: tuple(str(e[g]) for g in groups))

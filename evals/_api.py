"""The tracked runs' JSON API: experiments, runs, per-row results and comparisons.

``GET /api/experiments``, ``GET /api/runs``, ``GET|PATCH /api/runs/{id}``,
``GET /api/runs/{id}/results`` and ``GET /api/compare?runs=A,B[,C...]``. FastAPI is imported
when the router is built, so ``import evals`` stays light for the CLI.

A caller confined to a project sees only its project's runs (another's answer 404, as if
they did not exist); other callers may narrow any of these with ``?project=``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ._compare import compare_runs
from ._store import RunStore
from .errors import EvalConfigError, RunNotFoundError

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tracing import ProjectOf

__all__ = ["eval_api"]

_MAX_PAGE = 1000
_MAX_OFFSET = 2**63 - 1  # what the databases' 64-bit OFFSET holds (more is a 422, not a 500)


class RunUpdate(BaseModel):
    """``PATCH /api/runs/{id}``: new tags and/or notes."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = None
    notes: str | None = None


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "spec"}


def eval_api(store: RunStore, *, project_of: ProjectOf | None = None) -> APIRouter:
    """A router serving ``store``'s experiments and runs under ``/api``.

    Args:
        store: the tracked runs.
        project_of: the project each request is confined to (None: no confinement).
    """

    from fastapi import APIRouter, Depends, HTTPException, Query

    from tracing import project_filter

    router = APIRouter(prefix="/api", tags=["evals"])
    scope = project_filter(project_of)

    async def find(run_id: str, project: str | None) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(store.run, run_id, project=project)
        except RunNotFoundError as exc:
            raise HTTPException(404, exc.message) from None
        except EvalConfigError as exc:
            raise HTTPException(400, exc.message) from None

    @router.get("/experiments")
    async def experiments(project: str | None = Depends(scope)) -> dict[str, Any]:
        """Every experiment, with its number of runs and when it last ran."""
        return {"experiments": await asyncio.to_thread(store.experiments, project=project)}

    @router.get("/runs")
    async def runs(
        project: str | None = Depends(scope),
        experiment: str | None = None,
        limit: int = Query(50, ge=1, le=_MAX_PAGE),
        offset: int = Query(0, ge=0, le=_MAX_OFFSET),
    ) -> dict[str, Any]:
        """Runs, newest first, optionally of one experiment."""
        found = await asyncio.to_thread(
            store.runs, experiment=experiment, limit=limit, offset=offset, project=project
        )
        return {"runs": [_public(run) for run in found]}

    @router.get("/runs/{run_id}")
    async def run(run_id: str, project: str | None = Depends(scope)) -> dict[str, Any]:
        """One run: params, metrics, tags, notes, progress."""
        return _public(await find(run_id, project))

    @router.patch("/runs/{run_id}")
    async def annotate(
        run_id: str, update: RunUpdate, project: str | None = Depends(scope)
    ) -> dict[str, Any]:
        """Set a run's tags and notes: the only fields a finished run lets change."""
        found = await find(run_id, project)
        await asyncio.to_thread(store.annotate, found["id"], tags=update.tags, notes=update.notes)
        return _public(await find(found["id"], project))

    @router.get("/runs/{run_id}/results")
    async def results(
        run_id: str,
        project: str | None = Depends(scope),
        limit: int = Query(100, ge=1, le=_MAX_PAGE),
        offset: int = Query(0, ge=0, le=_MAX_OFFSET),
    ) -> dict[str, Any]:
        """A page of a run's per-row results, in row order."""
        found = await find(run_id, project)
        rows = await asyncio.to_thread(store.results, found["id"], limit=limit, offset=offset)
        return {"run_id": found["id"], "total": found["done"], "results": rows}

    @router.get("/compare")
    async def compare(
        project: str | None = Depends(scope),
        runs: str = Query(..., description="comma-separated run ids, the first is the baseline"),
    ) -> dict[str, Any]:
        """Runs side by side; each later run compared with the first, row by row."""
        ids = [part.strip() for part in runs.split(",") if part.strip()]
        if len(ids) < 2:
            raise HTTPException(400, "runs: give at least two run ids")
        found = [await find(run_id, project) for run_id in ids]
        base = found[0]
        base_results = await asyncio.to_thread(store.results, base["id"])
        comparisons = []
        for other in found[1:]:
            other_results = await asyncio.to_thread(store.results, other["id"])
            comparisons.append(compare_runs(base, base_results, other, other_results).to_dict())
        return {"runs": [_public(r) for r in found], "comparisons": comparisons}

    return router

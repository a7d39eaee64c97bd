"""Tracked runs in SQL: experiments, runs, results and the response cache, on one engine.

Results are inserted as they complete, each at most once (``(run, row, repeat)`` is the key
and a second insert is ignored), so an interrupted run resumes without duplicates. A finished
run's results and metrics never change; its tags and notes may.

A run may belong to a project; the readers take ``project=`` to see only that project's runs
(and the experiments that have runs in it). Experiments themselves are shared names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ._records import CacheRecord, ExperimentRecord, ResultRecord, RunRecord
from .errors import EvalConfigError, RunNotFoundError

__all__ = ["RunStore", "new_id"]

EXPERIMENTS = cast(Table, ExperimentRecord.__table__)  # type: ignore[attr-defined]
RUNS = cast(Table, RunRecord.__table__)  # type: ignore[attr-defined]
RESULTS = cast(Table, ResultRecord.__table__)  # type: ignore[attr-defined]
CACHE = cast(Table, CacheRecord.__table__)  # type: ignore[attr-defined]
_CHUNK = 500  # keys per IN (...) query


def new_id() -> str:
    """A run id: 12 hex digits, short enough to type."""
    return uuid.uuid4().hex[:12]


def _now() -> datetime:
    return datetime.now(UTC)


class RunStore:
    """Reads and writes tracked runs through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    # -- writing ---------------------------------------------------------------------------

    def experiment(self, name: str, description: str | None = None) -> int:
        """The id of the experiment called ``name``, created on first use."""
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(EXPERIMENTS)
                .values(name=name, description=description, created_at=_now())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            found = conn.execute(select(EXPERIMENTS.c.id).where(EXPERIMENTS.c.name == name))
            return int(found.scalar_one())

    def create_run(
        self,
        *,
        experiment_id: int,
        invocation: str,
        variant: str,
        total: int,
        dataset_hash: str,
        params: Mapping[str, Any],
        spec: Mapping[str, Any],
        tags: Sequence[str] = (),
        project: str | None = None,
    ) -> str:
        """Record a run as ``running`` (in ``project``, if given); returns its id."""
        run_id = new_id()
        with self.engine.begin() as conn:
            conn.execute(
                RUNS.insert().values(
                    id=run_id,
                    experiment_id=experiment_id,
                    invocation=invocation,
                    variant=variant,
                    status="running",
                    total=total,
                    dataset_hash=dataset_hash,
                    params=dict(params),
                    spec=dict(spec),
                    tags=list(tags),
                    project=project,
                    created_at=_now(),
                )
            )
        return run_id

    def write(
        self, results: Sequence[Mapping[str, Any]], cache: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Insert results (and cache entries) in one transaction; repeats are ignored."""
        if not results and not cache:
            return
        now = _now()
        with self.engine.begin() as conn:
            if results:
                conn.execute(
                    self._insert(RESULTS).on_conflict_do_nothing(
                        index_elements=["run_id", "row_index", "repeat"]
                    ),
                    [{**r, "created_at": now} for r in results],
                )
            if cache:
                conn.execute(
                    self._insert(CACHE).on_conflict_do_nothing(index_elements=["key"]),
                    [{**c, "created_at": now} for c in cache],
                )

    def finish(self, run_id: str, metrics: Mapping[str, Any], status: str = "finished") -> None:
        """Record the metrics and close the run; a finished run is not changed again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id, RUNS.c.status != "finished")
                .values(status=status, metrics=dict(metrics), finished_at=_now())
            )

    def annotate(
        self, run_id: str, *, tags: Sequence[str] | None = None, notes: str | None = None
    ) -> None:
        """Set a run's tags and/or notes (the only things a finished run lets change)."""
        values: dict[str, Any] = {}
        if tags is not None:
            values["tags"] = list(dict.fromkeys(tags))
        if notes is not None:
            values["notes"] = notes
        if not values:
            return
        with self.engine.begin() as conn:
            if conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**values)).rowcount == 0:
                raise RunNotFoundError(f"no run {run_id!r}")

    # -- reading ---------------------------------------------------------------------------

    def cached(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached answers for those of ``keys`` that have one."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = conn.execute(
                    select(CACHE.c.key, CACHE.c.response).where(CACHE.c.key.in_(chunk))
                )
                found.update({row[0]: row[1] for row in rows})
        return found

    def resolve(self, run_id: str, *, project: str | None = None) -> str:
        """The full id of a run given its id or a unique prefix of it (in ``project``).

        Raises:
            RunNotFoundError: no run, or several, start with ``run_id``.
        """
        if not run_id or len(run_id) > 32:
            raise RunNotFoundError(f"no run {run_id!r}")
        escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = select(RUNS.c.id).where(RUNS.c.id.like(escaped + "%", escape="\\"))
        if project is not None:
            query = query.where(RUNS.c.project == project)
        with self.engine.connect() as conn:
            ids = conn.execute(query.limit(2)).scalars().all()
        if not ids:
            raise RunNotFoundError(f"no run {run_id!r}: see `spyglass eval list`")
        if len(ids) > 1:
            raise EvalConfigError(f"run id {run_id!r} is ambiguous: give more of it")
        return str(ids[0])

    def run(self, run_id: str, *, project: str | None = None) -> dict[str, Any]:
        """One run with its experiment's name and how many results it has."""
        run_id = self.resolve(run_id, project=project)
        found = self.runs(ids=[run_id])
        return found[0]

    def runs(
        self,
        *,
        experiment: str | None = None,
        ids: Sequence[str] | None = None,
        invocation: str | None = None,
        limit: int = 100,
        offset: int = 0,
        project: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, optionally of one experiment, invocation, id list or project."""
        done = (
            select(RESULTS.c.run_id, func.count().label("done"))
            .group_by(RESULTS.c.run_id)
            .subquery()
        )
        query = (
            select(RUNS, EXPERIMENTS.c.name.label("experiment"), done.c.done)
            .join(EXPERIMENTS, EXPERIMENTS.c.id == RUNS.c.experiment_id)
            .outerjoin(done, done.c.run_id == RUNS.c.id)
            .order_by(RUNS.c.created_at.desc(), RUNS.c.id)
            .limit(limit)
            .offset(offset)
        )
        if experiment is not None:
            query = query.where(EXPERIMENTS.c.name == experiment)
        if ids is not None:
            query = query.where(RUNS.c.id.in_(list(ids)))
        if invocation is not None:
            query = query.where(RUNS.c.invocation == invocation)
        if project is not None:
            query = query.where(RUNS.c.project == project)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_dict(dict(row)) for row in rows]

    def experiments(self, *, project: str | None = None) -> list[dict[str, Any]]:
        """Every experiment with its number of runs and its latest run's time.

        With ``project``, only the experiments with runs in it, counting only those runs.
        """
        query = (
            select(
                EXPERIMENTS,
                func.count(RUNS.c.id).label("runs"),
                func.max(RUNS.c.created_at).label("last_run_at"),
            )
            .group_by(*EXPERIMENTS.c)
            .order_by(EXPERIMENTS.c.name)
        )
        if project is None:
            query = query.outerjoin(RUNS, RUNS.c.experiment_id == EXPERIMENTS.c.id)
        else:
            query = query.join(
                RUNS, and_(RUNS.c.experiment_id == EXPERIMENTS.c.id, RUNS.c.project == project)
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "id": row["id"],
                "name": row["name"],
                "description": row["description"],
                "created_at": _iso(row["created_at"]),
                "runs": row["runs"],
                "last_run_at": _iso(row["last_run_at"]),
            }
            for row in rows
        ]

    def results(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        """A run's results in row order (then repeat)."""
        query = (
            select(RESULTS)
            .where(RESULTS.c.run_id == run_id)
            .order_by(RESULTS.c.row_index, RESULTS.c.repeat)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{k: (_iso(v) if k == "created_at" else v) for k, v in row.items()} for row in rows]

    def done(self, run_id: str) -> set[tuple[int, int]]:
        """The (row, repeat) pairs a run already has results for."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(RESULTS.c.row_index, RESULTS.c.repeat).where(RESULTS.c.run_id == run_id)
            )
            return {(int(r), int(p)) for r, p in rows}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite gives naive datetimes back
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _run_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "experiment": row["experiment"],
        "experiment_id": row["experiment_id"],
        "invocation": row["invocation"],
        "variant": row["variant"],
        "status": row["status"],
        "total": row["total"],
        "done": row["done"] or 0,
        "dataset_hash": row["dataset_hash"],
        "params": row["params"],
        "metrics": row["metrics"],
        "tags": row["tags"],
        "notes": row["notes"],
        "project": row["project"],
        "created_at": _iso(row["created_at"]),
        "finished_at": _iso(row["finished_at"]),
        "spec": row["spec"],
    }

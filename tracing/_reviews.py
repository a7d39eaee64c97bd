"""Review queues: traces for people to score, handed out one at a time to each reviewer.

``ReviewStore.create`` makes a queue from trace ids (picked by hand, a trace-list filter's
result, an eval run's failed rows); ``next`` gives a reviewer the item they hold, or the
first free one (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two reviewers never get the same
item); ``finish`` marks it done or skipped; ``progress`` counts per status and per reviewer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, update

from ._records import SPANS, TRACES
from ._review_records import REVIEW_ITEMS, REVIEW_QUEUES
from .errors import InvalidScoreError, ScoreNotFoundError

__all__ = ["ReviewStore"]

LEASE_NS = 10 * 60 * 10**9  # an item a reviewer left goes to another after this
MAX_ITEMS = 10_000


class ReviewStore:
    """Review queues in the store, through one engine."""

    def __init__(self, engine: Engine, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    def create(
        self,
        name: str,
        items: Sequence[tuple[str, str | None]],
        *,
        project: str | None = None,
        description: str | None = None,
        score_names: Sequence[str] = (),
        source: dict[str, Any] | None = None,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """A queue of ``items`` ((trace id, span id or None), in order; duplicates once).

        Raises:
            InvalidScoreError: no items, too many, or a trace that is not in ``project``.
        """
        if not name.strip() or len(name) > 200:
            raise InvalidScoreError("expected a name of 1 to 200 characters", "name")
        unique = list(dict.fromkeys((t.lower(), s.lower() if s else None) for t, s in items))
        if not unique:
            raise InvalidScoreError("a queue needs at least one trace", "trace_ids")
        if len(unique) > MAX_ITEMS:
            raise InvalidScoreError(f"at most {MAX_ITEMS:,} items in a queue", "trace_ids")
        now = self.clock()
        queue_id = uuid.uuid4().hex
        with self.engine.begin() as connection:
            self._check_traces(connection, unique, project)
            connection.execute(
                REVIEW_QUEUES.insert().values(
                    id=queue_id,
                    project=project,
                    name=name,
                    description=description,
                    score_names=list(score_names),
                    source=source or {},
                    created_by=created_by,
                    created_ns=now,
                )
            )
            connection.execute(
                REVIEW_ITEMS.insert(),
                [
                    {
                        "queue_id": queue_id,
                        "position": index,
                        "trace_id": trace_id,
                        "span_id": span_id,
                        "status": "pending",
                        "assigned_to": None,
                        "assigned_until_ns": None,
                        "done_by": None,
                        "done_ns": None,
                    }
                    for index, (trace_id, span_id) in enumerate(unique)
                ],
            )
        return self.get(queue_id, project=project)

    @staticmethod
    def _check_traces(
        connection: Connection, items: list[tuple[str, str | None]], project: str | None
    ) -> None:
        ids = list({trace_id for trace_id, _ in items})
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), 500):
            query = select(TRACES.c.trace_id, TRACES.c.project).where(
                TRACES.c.trace_id.in_(ids[start : start + 500])
            )
            found.update((row.trace_id, row.project) for row in connection.execute(query))
        for index, (trace_id, span_id) in enumerate(items):
            if trace_id not in found or (project is not None and found[trace_id] != project):
                raise ScoreNotFoundError(f"no trace {trace_id}", f"trace_ids[{index}]")
            if span_id is not None:
                span = connection.execute(
                    select(SPANS.c.span_id).where(
                        SPANS.c.trace_id == trace_id, SPANS.c.span_id == span_id
                    )
                ).first()
                if span is None:
                    raise ScoreNotFoundError(
                        f"no span {span_id} in trace {trace_id}", f"spans[{index}]"
                    )

    def queues(self, project: str | None = None) -> list[dict[str, Any]]:
        """The queues (a project's with ``project``), newest first, each with its progress."""
        q = REVIEW_QUEUES.c
        query = select(REVIEW_QUEUES).order_by(q.created_ns.desc())
        if project is not None:
            query = query.where(q.project == project)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
            counts = self._counts(connection, [row["id"] for row in rows])
        return [row | {"progress": counts.get(row["id"], _empty())} for row in rows]

    def get(self, queue_id: str, *, project: str | None = None) -> dict[str, Any]:
        """A queue with its progress, per status and per reviewer."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(REVIEW_QUEUES).where(REVIEW_QUEUES.c.id == queue_id)
            ).first()
            if row is None or (project is not None and row.project != project):
                raise ScoreNotFoundError(f"no review queue {queue_id}", "queue_id")
            counts = self._counts(connection, [queue_id]).get(queue_id, _empty())
            i = REVIEW_ITEMS.c
            reviewers = connection.execute(
                select(i.done_by, func.count())
                .where(i.queue_id == queue_id, i.done_by.is_not(None))
                .group_by(i.done_by)
            ).all()
        return dict(row._mapping) | {
            "progress": counts | {"by_reviewer": {who: int(n) for who, n in reviewers}}
        }

    @staticmethod
    def _counts(connection: Connection, ids: list[str]) -> dict[str, dict[str, int]]:
        if not ids:
            return {}
        i = REVIEW_ITEMS.c
        query = (
            select(i.queue_id, i.status, func.count())
            .where(i.queue_id.in_(ids))
            .group_by(i.queue_id, i.status)
        )
        found: dict[str, dict[str, int]] = {}
        for queue_id, status, count in connection.execute(query):
            found.setdefault(queue_id, _empty())[status] = int(count)
        for counts in found.values():
            counts["total"] = counts["pending"] + counts["done"] + counts["skipped"]
        return found

    def next(
        self, queue_id: str, reviewer: str, *, project: str | None = None
    ) -> dict[str, Any] | None:
        """The item ``reviewer`` holds in the queue, or the first free one, now theirs for a
        while; None when nothing is left for them."""
        self.get(queue_id, project=project)  # a 404 for a queue of another project
        now = self.clock()
        i = REVIEW_ITEMS.c
        mine = and_(i.queue_id == queue_id, i.status == "pending", i.assigned_to == reviewer)
        free = and_(
            i.queue_id == queue_id,
            i.status == "pending",
            or_(i.assigned_to.is_(None), i.assigned_until_ns < now, i.assigned_to == reviewer),
        )
        with self.engine.begin() as connection:
            if connection.dialect.name != "postgresql":
                connection.exec_driver_sql("UPDATE review_items SET position = position WHERE 0")
            pick = (
                select(i.position)
                .where(free)
                .order_by(case((mine, 0), else_=1), i.position)
                .limit(1)
            )
            if connection.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            position = connection.execute(pick).scalar()
            if position is None:
                return None
            connection.execute(
                update(REVIEW_ITEMS)
                .where(i.queue_id == queue_id, i.position == position)
                .values(assigned_to=reviewer, assigned_until_ns=now + LEASE_NS)
            )
            row = connection.execute(
                select(REVIEW_ITEMS).where(i.queue_id == queue_id, i.position == position)
            ).first()
        assert row is not None
        return dict(row._mapping)

    def finish(
        self,
        queue_id: str,
        position: int,
        reviewer: str,
        *,
        status: str = "done",
        project: str | None = None,
    ) -> dict[str, Any]:
        """Mark an item done or skipped (a done one may be done again: a correction)."""
        if status not in ("done", "skipped"):
            raise InvalidScoreError("expected done or skipped", "status")
        self.get(queue_id, project=project)
        i = REVIEW_ITEMS.c
        with self.engine.begin() as connection:
            row = connection.execute(
                select(REVIEW_ITEMS).where(i.queue_id == queue_id, i.position == position)
            ).first()
            if row is None:
                raise ScoreNotFoundError(f"no item {position} in queue {queue_id}", "position")
            held_by_other = (
                row.status == "pending"
                and row.assigned_to not in (None, reviewer)
                and (row.assigned_until_ns or 0) > self.clock()
            )
            if held_by_other:
                raise InvalidScoreError(
                    f"item {position} is being reviewed by {row.assigned_to}", "position"
                )
            connection.execute(
                update(REVIEW_ITEMS)
                .where(i.queue_id == queue_id, i.position == position)
                .values(
                    status=status,
                    done_by=reviewer,
                    done_ns=self.clock(),
                    assigned_to=None,
                    assigned_until_ns=None,
                )
            )
        return self.get(queue_id, project=project)

    def history(self, queue_id: str, reviewer: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The items ``reviewer`` finished in the queue, latest first (for "previous")."""
        i = REVIEW_ITEMS.c
        query = (
            select(REVIEW_ITEMS)
            .where(i.queue_id == queue_id, i.done_by == reviewer)
            .order_by(i.done_ns.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


def _empty() -> dict[str, int]:
    return {"pending": 0, "done": 0, "skipped": 0, "total": 0}

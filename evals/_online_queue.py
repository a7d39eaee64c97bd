"""The online-evaluation queue in the store: traces from the feed become jobs, replicas claim
them, and a job's scores are written in the same transaction that removes it.

- ``enqueue``: the trace feed past the stored position, joined with the traces' summaries,
  filtered and sampled per rule; each (rule, trace) is inserted once (its primary key), so
  replicas reading the same feed make no duplicates. Past ``queue_size`` pending jobs, new
  ones are dropped and counted.
- ``claim``: due jobs, pending or with a lapsed lease, taken with ``FOR UPDATE SKIP LOCKED``
  on PostgreSQL (replicas never wait for each other nor take the same job), under SQLite's
  write lock otherwise.
- ``complete``: the job is deleted only if this worker still holds it, and the scores are
  written in that transaction: a trace is scored once, even when a lease lapsed and another
  replica took the job over.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, column, delete, func, or_, select, table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tracing import NewScore, ScoreStore, TraceRecord, trim_feed

from ._online_config import OnlineRule
from ._online_records import JOBS, STATE

__all__ = ["Job", "OnlineQueue", "sampled"]

TRACES = TraceRecord.__table__  # type: ignore[attr-defined]
TRACE_FEED = table("trace_feed", column("seq"), column("trace_id"), column("arrived_ns"))
_FEED = "feed"


def sampled(rule: str, trace_id: str, rate: float) -> bool:
    """Whether ``rule`` takes ``trace_id``: decided by a hash of both, so every replica (and a
    backfill) decides alike, and a rule's sample is stable as traffic grows."""
    if rate >= 1:
        return True
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{rule}\0{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < rate * 2**64


def matches(rule: OnlineRule, trace: Any, labels: dict[str, str | None] | None = None) -> bool:
    """The rule's filters a trace's summary can decide (the rest, metadata, need its spans).

    ``labels`` has, for a rule whose prompt filter names a label (``support@production``),
    the version the label holds now (``support/7``), or None when it holds none.
    """
    f = rule.filter
    if f.model is not None and trace.model != f.model:
        return False
    if f.prompt is not None and "@" in f.prompt:
        if labels is None or labels.get(rule.name) is None or trace.prompt != labels[rule.name]:
            return False
    elif f.prompt is not None and not (
        trace.prompt == f.prompt or (trace.prompt or "").startswith(f.prompt + "/")
    ):
        return False
    for wanted, found in (
        (f.name, trace.name),
        (f.project, trace.project),
        (f.service, trace.service_name),
        (f.status, trace.status),
    ):
        if wanted is not None and found != wanted:
            return False
    return True


@dataclass(frozen=True)
class Job:
    rule: str
    trace_id: str
    attempts: int


class OnlineQueue:
    """The queue's operations on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, queue_size: int = 100_000) -> None:
        self.engine = engine
        self.queue_size = queue_size
        self.postgres = engine.dialect.name == "postgresql"
        self.scores = ScoreStore(engine)

    def _insert_ignoring(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        statement = (pg_insert if self.postgres else sqlite_insert)(JOBS).on_conflict_do_nothing()
        count = select(func.count()).select_from(JOBS)
        with self.engine.begin() as connection:
            # executemany's rowcount is -1 on SQLite: the new jobs are what the count gained.
            before = int(connection.execute(count).scalar() or 0)
            connection.execute(statement, rows)
            return int(connection.execute(count).scalar() or 0) - before

    def depth(self) -> int:
        """Jobs waiting or being scored."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(JOBS)).scalar() or 0)

    def waiting(self) -> dict[str, int]:
        """Jobs waiting or being scored, by rule."""
        j = JOBS.c
        with self.engine.connect() as connection:
            rows = connection.execute(select(j.rule, func.count()).group_by(j.rule))
            return {rule: int(count) for rule, count in rows}

    def position(self) -> int:
        with self.engine.connect() as connection:
            found = connection.execute(select(STATE.c.value).where(STATE.c.name == _FEED)).scalar()
        return int(found or 0)

    def enqueue(
        self, rules: Sequence[OnlineRule], *, limit: int = 5000, now_ns: int | None = None
    ) -> tuple[int, int, int]:
        """Turn the next feed rows into jobs; returns (feed rows read, jobs made, dropped).

        One transaction holds the feed position (its row locked on PostgreSQL; SQLite's write
        lock) from reading it to moving it: a replica that comes second reads the position
        the first left, so it never queues a trace again whose job the first has already
        scored and removed.
        """
        now = now_ns if now_ns is not None else time.time_ns()
        labels = self.labels(rules)
        dialect_insert = pg_insert if self.postgres else sqlite_insert
        state = STATE.c
        with self.engine.begin() as connection:
            connection.execute(
                dialect_insert(STATE).values(name=_FEED, value=0).on_conflict_do_nothing()
            )
            position = select(state.value).where(state.name == _FEED)
            if self.postgres:
                position = position.with_for_update()
            after = int(connection.execute(position).scalar() or 0)
            f = TRACE_FEED.c
            feed = connection.execute(
                select(f.seq, f.trace_id, f.arrived_ns)
                .where(f.seq > after)
                .order_by(f.seq)
                .limit(limit)
            ).all()
            if not feed:
                return 0, 0, 0
            arrived: dict[str, int] = {}
            for row in feed:
                arrived.setdefault(row.trace_id, row.arrived_ns)
            traces = connection.execute(
                select(TRACES).where(TRACES.c.trace_id.in_(list(arrived)))
            ).all()
            jobs = [
                {
                    "rule": rule.name,
                    "trace_id": trace.trace_id,
                    "status": "pending",
                    "due_ns": arrived[trace.trace_id] + int(rule.delay_seconds * 1e9),
                    "claimed_by": None,
                    "lease_until_ns": None,
                    "attempts": 0,
                    "created_ns": now,
                }
                for trace in traces
                for rule in rules
                if rule.enabled
                and sampled(rule.name, trace.trace_id, rule.sample_rate)
                and matches(rule, trace, labels)
            ]
            count = select(func.count()).select_from(JOBS)
            before = int(connection.execute(count).scalar() or 0)
            room = max(0, self.queue_size - before)
            dropped = max(0, len(jobs) - room)
            if jobs[:room]:
                connection.execute(dialect_insert(JOBS).on_conflict_do_nothing(), jobs[:room])
            # executemany's rowcount is -1 on SQLite: the new jobs are what the count gained.
            made = int(connection.execute(count).scalar() or 0) - before
            last = feed[-1].seq
            connection.execute(update(STATE).where(state.name == _FEED).values(value=last))
        trim_feed(self.engine, last)
        return len(feed), made, dropped

    def labels(self, rules: Sequence[OnlineRule]) -> dict[str, str | None]:
        """For each rule filtering on a prompt label: the ``name/version`` it holds now."""
        from prompts import PromptError, PromptStore

        found: dict[str, str | None] = {}
        for rule in rules:
            if rule.filter.prompt is None or "@" not in rule.filter.prompt:
                continue
            try:
                version = PromptStore(self.engine).get(
                    rule.filter.prompt, project=rule.filter.project
                )
                found[rule.name] = f"{version.name}/{version.version}"
            except PromptError:  # no such prompt or label (yet): the rule takes nothing
                found[rule.name] = None
        return found

    def backfill(
        self,
        rule: OnlineRule,
        *,
        since_ns: int,
        until_ns: int | None = None,
        limit: int | None = None,
    ) -> int:
        """Queue the rule's sample of past traces (started since ``since_ns``), due now."""
        now = time.time_ns()
        labels = self.labels([rule])
        t = TRACES.c
        query = select(TRACES).where(t.start_ns >= since_ns)
        if until_ns is not None:
            query = query.where(t.start_ns < until_ns)
        made = 0
        batch: list[dict[str, Any]] = []
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=5000).execute(
                query.order_by(t.start_ns)
            )
            for trace in result:
                taken = sampled(rule.name, trace.trace_id, rule.sample_rate)
                if not (taken and matches(rule, trace, labels)):
                    continue
                batch.append(
                    {
                        "rule": rule.name,
                        "trace_id": trace.trace_id,
                        "status": "pending",
                        "due_ns": now,
                        "claimed_by": None,
                        "lease_until_ns": None,
                        "attempts": 0,
                        "created_ns": now,
                    }
                )
                if limit is not None and made + len(batch) >= limit:
                    break
                if len(batch) >= 5000:
                    made += self._insert_ignoring(batch)
                    batch = []
        made += self._insert_ignoring(batch)
        return made

    def claim(
        self,
        worker: str,
        *,
        limit: int,
        lease_seconds: float,
        rules: Sequence[str] | None = None,
        now_ns: int | None = None,
    ) -> list[Job]:
        """Take up to ``limit`` due jobs for ``worker`` (pending, or whose lease lapsed)."""
        now = now_ns if now_ns is not None else time.time_ns()
        j = JOBS.c
        due = and_(
            j.due_ns <= now,
            or_(j.status == "pending", and_(j.status == "running", j.lease_until_ns < now)),
        )
        if rules is not None:
            due = and_(due, j.rule.in_(list(rules)))
        wanted = select(j.rule, j.trace_id).where(due).order_by(j.due_ns).limit(limit)
        if self.postgres:
            wanted = wanted.with_for_update(skip_locked=True)
        lease = now + int(lease_seconds * 1e9)
        with self.engine.begin() as connection:
            if not self.postgres:
                connection.exec_driver_sql("UPDATE online_eval_state SET name = name WHERE 0")
            picked = [tuple(row) for row in connection.execute(wanted)]
            if not picked:
                return []
            connection.execute(
                update(JOBS)
                .where(or_(*(and_(j.rule == rule, j.trace_id == trace) for rule, trace in picked)))
                .values(
                    status="running",
                    claimed_by=worker,
                    lease_until_ns=lease,
                    attempts=j.attempts + 1,
                )
            )
            rows = connection.execute(
                select(j.rule, j.trace_id, j.attempts).where(
                    j.claimed_by == worker,
                    or_(*(and_(j.rule == rule, j.trace_id == trace) for rule, trace in picked)),
                )
            ).all()
        return [Job(row.rule, row.trace_id, row.attempts) for row in rows]

    def complete(self, job: Job, worker: str, scores: Sequence[NewScore]) -> bool:
        """Write the job's scores and remove it, if ``worker`` still holds it; False if not
        (its lease lapsed and another worker took it: that one writes the scores)."""
        j = JOBS.c
        with self.engine.begin() as connection:
            held = connection.execute(
                delete(JOBS).where(
                    j.rule == job.rule, j.trace_id == job.trace_id, j.claimed_by == worker
                )
            )
            if held.rowcount != 1:
                connection.rollback()
                return False
            if scores:
                self.scores.create(list(scores), connection=connection)
        return True

    def complete_many(
        self, worker: str, done: Sequence[tuple[Job, Sequence[NewScore]]]
    ) -> list[bool]:
        """``complete`` for a batch, in one transaction: whether each job was still held."""
        j = JOBS.c
        held: list[bool] = []
        with self.engine.begin() as connection:
            scores: list[NewScore] = []
            for job, found in done:
                deleted = connection.execute(
                    delete(JOBS).where(
                        j.rule == job.rule, j.trace_id == job.trace_id, j.claimed_by == worker
                    )
                )
                held.append(deleted.rowcount == 1)
                if deleted.rowcount == 1:
                    scores.extend(found)
            if scores:
                self.scores.create(scores, connection=connection)
        return held

    def drop(self, job: Job, worker: str) -> None:
        """Remove a job that cannot be scored (its trace is gone)."""
        j = JOBS.c
        with self.engine.begin() as connection:
            connection.execute(
                delete(JOBS).where(
                    j.rule == job.rule, j.trace_id == job.trace_id, j.claimed_by == worker
                )
            )

    def release(self, worker: str) -> int:
        """Give back the jobs ``worker`` holds (it is stopping): pending again, at once."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(JOBS)
                .where(JOBS.c.claimed_by == worker, JOBS.c.status == "running")
                .values(status="pending", claimed_by=None, lease_until_ns=None)
            )
        return int(done.rowcount or 0)

"""Retention: deleting old traces in small batches, once (``delete_older_than``) or every hour
while the app runs (``RetentionTask``).

Each batch is its own short transaction, and batches are spaced by a pause, so the span writer
is never held up for long. A trace goes with all of its spans; it is old when it started before
the cutoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, func, select

from ._records import SPANS, TRACES
from ._store import TraceStore

__all__ = ["RetentionTask", "count_older_than", "delete_older_than"]

log = logging.getLogger("spyglass.tracing")

DAY_NS = 86_400 * 10**9


def count_older_than(store: TraceStore, cutoff_ns: int) -> int:
    """How many traces started before ``cutoff_ns`` (what ``delete_older_than`` would delete)."""
    query = select(func.count()).select_from(TRACES).where(TRACES.c.start_ns < cutoff_ns)
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def delete_older_than(
    store: TraceStore,
    cutoff_ns: int,
    batch: int = 1000,
    *,
    pause: float = 0.05,
    stop: threading.Event | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    """Delete the traces that started before ``cutoff_ns``, with their spans.

    Args:
        store: the trace store.
        cutoff_ns: nanoseconds since the epoch; traces whose ``start_ns`` is earlier go.
        batch: at most this many traces per transaction.
        pause: seconds to wait between batches, leaving the database to the writer.
        stop: when set, no further batch is started (the current one completes).
        on_batch: called after each batch with the traces and spans it deleted.

    Returns:
        How many traces were deleted.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    oldest = (
        select(TRACES.c.trace_id)
        .where(TRACES.c.start_ns < cutoff_ns)
        .order_by(TRACES.c.start_ns)
        .limit(batch)
    )
    if store.dialect == "postgresql":
        # Locks the batch's summaries, so a late span's summary update waits for the delete
        # and then starts a fresh summary; a second deleter (another worker) takes other rows.
        oldest = oldest.with_for_update(skip_locked=True)
    total = 0
    while stop is None or not stop.is_set():
        with store.engine.begin() as connection:
            if store.dialect == "sqlite":
                # Take the write lock first, as the writer does: a read that later turns into
                # a write fails at once (SQLITE_BUSY) when another write slipped in between.
                driver = connection.connection.driver_connection
                if not driver.in_transaction:  # type: ignore[union-attr]
                    driver.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            ids = list(connection.scalars(oldest))
            if not ids:
                break
            # On SQLite a trigger takes the spans out of the full-text index as they go.
            spans = connection.execute(delete(SPANS).where(SPANS.c.trace_id.in_(ids))).rowcount
            traces = connection.execute(delete(TRACES).where(TRACES.c.trace_id.in_(ids))).rowcount
        total += traces
        if on_batch is not None:
            on_batch(traces, spans)
        if len(ids) < batch:
            break
        if pause > 0:
            if stop is not None:
                stop.wait(pause)
            else:
                time.sleep(pause)
    return total


class RetentionTask:
    """Deletes traces older than ``days`` shortly after start, then every ``interval`` seconds.

    The deletion runs in a worker thread; ``stop`` lets the batch in progress finish and waits
    for it. Failures are logged and retried at the next run, never raised into the app (except
    under tests, where they should be seen).
    """

    def __init__(
        self,
        store: TraceStore,
        days: float,
        *,
        interval: float = 3600.0,
        first_delay: float = 30.0,
        batch: int = 1000,
        pause: float = 0.05,
    ) -> None:
        if days <= 0:
            raise ValueError("days must be positive")
        self.store = store
        self.days = days
        self.interval = interval
        self.first_delay = first_delay
        self.batch = batch
        self.pause = pause
        self.runs = 0
        self.deleted = 0
        self._stop = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the periodic deletion on the running event loop (again after ``stop``)."""
        if self._task is not None and not self._task.done():
            return
        self._stop.clear()
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(self._stopping), name="spyglass-trace-retention"
        )

    async def stop(self) -> None:
        """Stop the periodic deletion; a batch in progress finishes first."""
        self._stop.set()
        if self._stopping is not None:
            self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    def run_once(self, now_ns: int | None = None, *, stop: threading.Event | None = None) -> int:
        """Delete what is older than ``days`` now; returns how many traces went."""
        now = time.time_ns() if now_ns is None else now_ns
        cutoff = now - int(self.days * DAY_NS)
        deleted = delete_older_than(self.store, cutoff, self.batch, pause=self.pause, stop=stop)
        self.runs += 1
        self.deleted += deleted
        if deleted:
            log.info("retention: deleted %d trace(s) older than %g day(s)", deleted, self.days)
        return deleted

    async def _loop(self, stopping: asyncio.Event) -> None:
        delay = self.first_delay
        while True:
            # Jitter spreads the runs of several workers sharing one store.
            try:
                await asyncio.wait_for(stopping.wait(), delay * random.uniform(1.0, 1.1))
                return
            except TimeoutError:
                pass
            delay = self.interval
            try:
                await asyncio.to_thread(self.run_once, stop=self._stop)
            except Exception:
                log.exception("retention run failed; retrying in %g s", self.interval)
                if os.environ.get("PYTEST_CURRENT_TEST"):
                    raise

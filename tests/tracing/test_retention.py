"""Retention on SQLite and on the real PostgreSQL: exactly the old traces go, with all their
spans, in batches; recent traces stay whole; the hourly task runs and stops cleanly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from spyglass._tracing import build_tracing
from tests.tracing.helpers import MS, T0, llm, make_span, migrated_store, rows, store_url, tid
from tracing import (
    RetentionTask,
    TraceFilter,
    TraceStore,
    TracingConfig,
    count_older_than,
    delete_older_than,
    get_trace,
    list_traces,
)
from tracing._records import SPANS, TRACES

CUTOFF = T0 + 500_000 * MS
DAY_MS = 86_400_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    with migrated_store(store_url(request.param, request, tmp_path)) as store:
        yield store


def write_trace(store: TraceStore, number: int, start_ms: int, spans: int = 3) -> None:
    """A root and ``spans - 1`` children, the last child starting ``spans`` seconds later."""
    found = [make_span(number, 1, None, f"trace {number}", start_ms, start_ms + 10_000)]
    found += [
        make_span(
            number, n, 1, f"step {n}", start_ms + n * 1000, start_ms + n * 1000 + 5, llm(3, 1)
        )
        for n in range(2, spans + 1)
    ]
    store.write(rows(*found))


def stored(store: TraceStore) -> tuple[set[int], set[tuple[int, int]]]:
    """The trace numbers and the (trace, span) numbers in the store."""
    with store.engine.connect() as connection:
        traces = {int(t, 16) for t in connection.scalars(select(TRACES.c.trace_id))}
        spans = {
            (int(r.trace_id, 16), int(r.span_id, 16))
            for r in connection.execute(select(SPANS.c.trace_id, SPANS.c.span_id))
        }
    return traces, spans


def fill(store: TraceStore, old: int, recent: int) -> tuple[set[int], set[tuple[int, int]]]:
    """``old`` traces before the cutoff (numbers 1..), ``recent`` after it (1001..); the
    recent traces and spans expected to stay."""
    for number in range(1, old + 1):
        write_trace(store, number, number * 1000, spans=1 + number % 4)
    for number in range(1001, 1001 + recent):
        write_trace(store, number, 500_000 + (number - 1000) * 1000)
    traces, spans = stored(store)
    assert len(traces) == old + recent
    keep = {n for n in traces if n > 1000}
    return keep, {s for s in spans if s[0] in keep}


def test_old_traces_go_with_their_spans_in_batches(store: TraceStore) -> None:
    keep, kept_spans = fill(store, old=25, recent=7)
    # An old trace whose late span started after the cutoff goes whole; a trace starting
    # exactly at the cutoff is not older than it and stays.
    store.write(rows(make_span(3, 9, 1, "late", 600_000, 600_001)))
    write_trace(store, 2000, 500_000)
    keep.add(2000)
    kept_spans |= {(2000, n) for n in (1, 2, 3)}
    before = {n: get_trace(store, tid(n))[0] for n in keep}
    assert count_older_than(store, CUTOFF) == 25

    batches: list[tuple[int, int]] = []
    deleted = delete_older_than(
        store, CUTOFF, batch=10, pause=0, on_batch=lambda t, s: batches.append((t, s))
    )

    assert deleted == 25
    spans_of_old = sum(1 + n % 4 for n in range(1, 26)) + 1  # the late span too
    assert [t for t, _ in batches] == [10, 10, 5]
    assert sum(s for _, s in batches) == spans_of_old
    assert stored(store) == (keep, kept_spans)
    assert {n: get_trace(store, tid(n))[0] for n in keep} == before  # summaries untouched
    assert count_older_than(store, CUTOFF) == 0
    assert delete_older_than(store, CUTOFF, batch=10, pause=0) == 0


def test_the_oldest_go_first_and_a_stop_ends_after_the_batch(store: TraceStore) -> None:
    keep, _ = fill(store, old=20, recent=2)
    stop = threading.Event()
    batches: list[int] = []

    def one_batch(traces: int, spans: int) -> None:
        batches.append(traces)
        stop.set()

    assert delete_older_than(store, CUTOFF, batch=8, pause=0, stop=stop, on_batch=one_batch) == 8
    assert batches == [8]
    assert stored(store)[0] == keep | set(range(9, 21))
    # A batch size dividing the count exactly ends with an empty look, not an error.
    assert delete_older_than(store, CUTOFF, batch=4, pause=0) == 12
    assert stored(store)[0] == keep


def test_batch_must_be_positive(store: TraceStore) -> None:
    with pytest.raises(ValueError, match="batch"):
        delete_older_than(store, CUTOFF, batch=0)


def test_writes_go_on_while_old_traces_are_deleted(store: TraceStore) -> None:
    """A writer adding recent traces meanwhile loses nothing, and no span is left orphaned."""
    fill(store, old=60, recent=0)
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for number in range(3001, 3041):
                write_trace(store, number, 700_000 + number)
                written.append(number)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    deleted = delete_older_than(store, CUTOFF, batch=5, pause=0.001)
    thread.join(30)
    assert not failures
    assert deleted == 60
    traces, spans = stored(store)
    assert traces == set(written) == set(range(3001, 3041))
    assert {t for t, _ in spans} == traces
    found, _ = list_traces(store, TraceFilter(), limit=500)
    assert all(t["span_count"] == 3 for t in found)


async def test_the_task_runs_soon_after_start_and_stops(store: TraceStore) -> None:
    now_ms = (time.time_ns() - T0) // MS
    write_trace(store, 1, now_ms - 3 * DAY_MS)
    write_trace(store, 2, now_ms - DAY_MS // 2)
    task = RetentionTask(store, days=1, first_delay=0.01, interval=3600, pause=0)
    await task.start()
    await task.start()  # already running: no second loop
    deadline = time.monotonic() + 20
    while task.runs == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert task.runs == 1
    assert task.deleted == 1
    assert stored(store)[0] == {2}
    started = time.monotonic()
    await task.stop()
    assert time.monotonic() - started < 1  # waiting an hour for the next run is cancelled
    await task.stop()  # stopping twice is harmless


async def test_a_stop_before_the_first_run_deletes_nothing(store: TraceStore) -> None:
    write_trace(store, 1, 0)
    task = RetentionTask(store, days=1, first_delay=3600)
    await task.start()
    await asyncio.sleep(0.01)
    await task.stop()
    assert task.runs == 0
    assert stored(store)[0] == {1}
    task.run_once()  # still usable by hand
    assert stored(store)[0] == set()


def test_the_days_must_be_positive(store: TraceStore) -> None:
    with pytest.raises(ValueError, match="days"):
        RetentionTask(store, days=0)


async def test_tracing_runs_retention_only_when_configured(tmp_path: Path) -> None:
    with migrated_store(store_url("sqlite", None, tmp_path)) as store:  # type: ignore[arg-type]
        write_trace(store, 1, 0)
        plain = build_tracing(TracingConfig(), store)
        assert plain.retention is None
        await plain.start_retention()  # nothing to start or stop
        await plain.stop_retention()
        plain.shutdown()

        tracing = build_tracing(TracingConfig(retention_days=30), store)
        assert tracing.retention is not None
        assert tracing.retention.days == 30
        assert tracing.retention.interval == 3600
        tracing.retention.first_delay = 0.01
        await tracing.start_retention()
        deadline = time.monotonic() + 20
        while tracing.retention.runs == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await tracing.stop_retention()
        tracing.shutdown()
        assert stored(store)[0] == set()

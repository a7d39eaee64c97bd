"""The writer process: same results as writing in-process, restarts after a crash, reports
database errors so the exporter retries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import Engine

from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tests.tracing.helpers import make_span
from tracing import ProcessWriter, StoreExporter, StoreWriteError, TraceStore, get_trace
from tracing._convert import span_to_row
from tracing._writer import _Checkpointer

FACTORY = "spyglass._db:create_store_engine"


def rows(trace: int, count: int) -> list[dict[str, object]]:
    root = make_span(trace, 1, None, "agent", 1_000, 9_000)
    children = [
        make_span(trace, 2 + i, 1, f"step {i}", 2_000 + i, 3_000 + i) for i in range(count - 1)
    ]
    return [span_to_row(s) for s in [root, *children]]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    found: str = request.getfixturevalue("pg_database")
    return found


@pytest.fixture
def engine(url: str) -> Engine:
    engine = create_store_engine(url)
    upgrade_store(engine)
    yield engine  # type: ignore[misc]
    downgrade_store(engine, "base")
    engine.dispose()


def test_writes_like_the_store_itself(url: str, engine: Engine) -> None:
    writer = ProcessWriter(url, FACTORY)
    try:
        assert writer.write(rows(7, 5)) == 5
        assert writer.write(rows(7, 5)) == 0  # the same spans again: nothing new
    finally:
        writer.close()
    summary, spans, _ = get_trace(TraceStore(engine), f"{7:032x}")
    assert summary is not None and summary["span_count"] == 5
    assert [s["name"] for s in spans] == ["agent", "step 0", "step 1", "step 2", "step 3"]


def test_values_json_cannot_carry_reach_the_store_intact(url: str, engine: Engine) -> None:
    """Batches cross to the child as JSON; one JSON cannot hold (an integer past 64 bits)
    crosses as a pickle instead, and nothing of it is lost."""
    huge, text = 2**70, "naïve ✓ \u2028 text"
    span = make_span(9, 1, None, "odd", 1_000, 2_000, {"big": huge, "text": text, "f": 0.1})
    writer = ProcessWriter(url, FACTORY)
    try:
        assert writer.write([span_to_row(span)]) == 1
        assert writer.write(rows(8, 2)) == 2  # and plain batches go on as JSON
    finally:
        writer.close()
    _, spans, _ = get_trace(TraceStore(engine), f"{9:032x}")
    assert spans[0]["attributes"]["text"] == text
    assert spans[0]["attributes"]["f"] == 0.1
    assert int(spans[0]["attributes"]["big"]) == huge


def test_a_crashed_child_is_replaced(url: str, engine: Engine) -> None:
    writer = ProcessWriter(url, FACTORY)
    try:
        writer.write(rows(1, 2))
        first = writer._process
        first.kill()  # the child dies between batches
        first.wait(5)
        assert writer.write(rows(2, 2)) == 2  # a new child took over
        assert writer._process is not first
    finally:
        writer.close()
    assert TraceStore(engine).write(rows(2, 2)) == 0


def test_the_next_batch_waits_for_the_child_while_it_writes_one(url: str, engine: Engine) -> None:
    writer = ProcessWriter(url, FACTORY)
    try:
        writer.send(rows(4, 3))  # returns before the child has written it
        writer.send(rows(5, 2))  # waits in the pipe
        assert writer.pending == 2
        assert writer.collect() == 3  # answers come in the order sent
        assert writer.collect() == 2
        assert writer.collect() == 0  # nothing in flight
    finally:
        writer.close()
    assert TraceStore(engine).write(rows(4, 3)) == 0
    assert TraceStore(engine).write(rows(5, 2)) == 0


def test_the_exporter_writes_again_the_batches_a_dead_child_held(url: str, engine: Engine) -> None:
    writer = ProcessWriter(url, FACTORY)
    exporter = StoreExporter(writer)
    try:
        first = [make_span(6, 1, None, "agent", 0, 5), make_span(6, 2, 1, "step", 1, 2)]
        second = [make_span(7, 1, None, "agent", 0, 5)]
        assert exporter.export(first) == SpanExportResult.SUCCESS  # in flight
        assert exporter.export(second) == SpanExportResult.SUCCESS  # in flight behind it
        writer._process.kill()  # the child dies before answering
        writer._process.wait(5)
        # Collecting sees the failure and writes both batches again (each stored once,
        # whether or not the child had committed it before it died).
        assert exporter.force_flush()
        assert exporter.write_errors == 1
        assert writer.pending == 0
    finally:
        exporter.shutdown()
    for trace, spans in ((6, 2), (7, 1)):
        summary, _, _ = get_trace(TraceStore(engine), f"{trace:032x}")
        assert summary is not None and summary["span_count"] == spans


def test_a_batch_that_failed_with_another_behind_it_is_written_again(
    url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child answers an error for one batch while the next is in flight: both end up
    stored, and nothing is left in flight."""
    writer = ProcessWriter(url, FACTORY)
    exporter = StoreExporter(writer)
    answers = iter([StoreWriteError("database is locked")])
    collect = writer.collect

    def flaky_collect() -> int:
        count = collect()  # the child's real answer is consumed either way
        failure = next(answers, None)
        if failure is not None:
            raise failure
        return count

    monkeypatch.setattr(writer, "collect", flaky_collect)
    try:
        assert exporter.export([make_span(8, 1, None, "agent", 0, 5)]) == SpanExportResult.SUCCESS
        assert exporter.export([make_span(9, 1, None, "agent", 0, 5)]) == SpanExportResult.SUCCESS
        assert exporter.force_flush()
        assert exporter.write_errors == 1
        assert writer.pending == 0
    finally:
        exporter.shutdown()
    for trace in (8, 9):
        summary, _, _ = get_trace(TraceStore(engine), f"{trace:032x}")
        assert summary is not None and summary["span_count"] == 1


def _checkpointed_store(tmp_path: Path) -> tuple[Engine, _Checkpointer, Path]:
    """A SQLite store whose engine is watched by a checkpointer from its first connection,
    as in the writer process."""
    path = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{path}")
    checkpointer = _Checkpointer(engine)
    upgrade_store(engine)
    return engine, checkpointer, path


def test_the_checkpointer_copies_the_log_instead_of_the_writer(tmp_path: Path) -> None:
    engine, checkpointer, path = _checkpointed_store(tmp_path)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        store = TraceStore(engine)
        size = path.stat().st_size
        checkpointer._threshold = 1  # any log at all
        for trace in range(10, 40):
            store.write(rows(trace, 20))
        assert path.stat().st_size == size  # the writer's commits copied nothing
        checkpointer.poke()
        deadline = time.monotonic() + 20
        while path.stat().st_size == size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > size
    finally:
        checkpointer.close()
        engine.dispose()
    assert get_trace(TraceStore(create_store_engine(f"sqlite:///{path}")), f"{39:032x}")[0]


def test_a_log_past_the_limit_is_copied_before_the_next_batch(tmp_path: Path) -> None:
    engine, checkpointer, path = _checkpointed_store(tmp_path)
    try:
        store = TraceStore(engine)
        size = path.stat().st_size
        for trace in range(10, 40):
            store.write(rows(trace, 20))
        checkpointer.before_write()  # under the limit: nothing
        assert path.stat().st_size == size
        checkpointer._limit = 1
        checkpointer.before_write()
        assert path.stat().st_size > size
    finally:
        checkpointer.close()
        engine.dispose()


def test_database_errors_reach_the_caller(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    writer = ProcessWriter(url, FACTORY)
    try:
        with pytest.raises(StoreWriteError, match="no such table"):
            writer.write(rows(3, 1))
    finally:
        writer.close()


def test_the_write_path_knows_the_tables_columns() -> None:
    from tracing._columns import SPAN_COLUMNS, TRACE_COLUMNS
    from tracing._records import SPANS, TRACES

    assert list(SPAN_COLUMNS) == [c.name for c in SPANS.columns]
    assert list(TRACE_COLUMNS) == [c.name for c in TRACES.columns]


def test_the_writer_process_imports_only_the_store() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import tracing._store, spyglass._db; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlmodel', 'pydantic', 'fastapi', 'google', 'opentelemetry', 'typer', 'litellm'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

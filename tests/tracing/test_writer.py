"""The writer process: same results as writing in-process, restarts after a crash, reports
database errors so the exporter retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import Engine

from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tests.tracing.helpers import make_span
from tracing import ProcessWriter, StoreExporter, StoreWriteError, TraceStore, get_trace
from tracing._convert import span_to_row

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


def test_one_batch_is_written_while_the_next_is_prepared(url: str, engine: Engine) -> None:
    writer = ProcessWriter(url, FACTORY)
    try:
        writer.send(rows(4, 3))  # returns before the child has written it
        with pytest.raises(RuntimeError, match="collect"):
            writer.send(rows(5, 3))
        assert writer.collect() == 3
        assert writer.collect() == 0  # nothing in flight
    finally:
        writer.close()
    assert TraceStore(engine).write(rows(4, 3)) == 0


def test_the_exporter_retries_a_batch_whose_pipelined_write_failed(
    url: str, engine: Engine
) -> None:
    writer = ProcessWriter(url, FACTORY)
    exporter = StoreExporter(writer)
    try:
        spans = [make_span(6, 1, None, "agent", 0, 5), make_span(6, 2, 1, "step", 1, 2)]
        assert exporter.export(spans) == SpanExportResult.SUCCESS  # in flight
        writer._process.kill()  # the child dies before answering
        writer._process.wait(5)
        # Collecting sees the failure and writes the batch again (stored once, whether or not
        # the child had committed it before it died).
        assert exporter.force_flush()
        assert exporter.write_errors == 1
    finally:
        exporter.shutdown()
    summary, _, _ = get_trace(TraceStore(engine), f"{6:032x}")
    assert summary is not None and summary["span_count"] == 2


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

"""``spyglass scores``: configs, adding and correcting scores, listing, exporting, and the
trace commands' score filter and display; over the store `spyglass serve` would use."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from spyglass import load_settings
from spyglass._cli import app
from spyglass._db import create_store_engine, upgrade_store
from tests.tracing.helpers import make_span, rows, sid, tid
from tracing import TraceStore

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


@pytest.fixture
def store() -> Iterator[TraceStore]:
    """Two traces of one span each, in the default store."""
    settings, _ = load_settings(None)
    engine = create_store_engine(settings.database_url_value())
    upgrade_store(engine)
    store = TraceStore(engine)
    store.write(rows(make_span(1, 1, None, "first", 0, 10), make_span(2, 2, None, "second", 5, 9)))
    yield store
    engine.dispose()


def scores(*args: str) -> Result:
    return runner.invoke(app, ["scores", *args], env=WIDE)


def ok(*args: str) -> Result:
    result = scores(*args)
    assert result.exit_code == 0, result.output
    return result


def traces(*args: str) -> Any:
    result = runner.invoke(app, ["traces", *args], env=WIDE)
    assert result.exit_code == 0, result.output
    return result


def test_scores_are_added_corrected_listed_and_filter_the_traces(store: TraceStore) -> None:
    ok("configs", "add", "helpful", "--type", "numeric", "--min", "1", "--max", "5")
    ok("configs", "add", "tone", "--type", "categorical", "--categories", "kind, rude")
    ok("configs", "add", "thumbs", "--type", "boolean")
    listed = json.loads(ok("configs", "list", "--json").stdout)["data"]
    assert [(c["name"], c["categories"]) for c in listed] == [
        ("helpful", None),
        ("thumbs", None),
        ("tone", ["kind", "rude"]),
    ]
    assert "helpful  numeric      1 to 5" in ok("configs", "list").stdout

    first = json.loads(ok("add", "helpful", "2", "--trace", tid(1), "--json").stdout)
    assert (first["value"], first["source"], first["target"]) == (2.0, "human", "trace")
    assert first["author"].startswith("cli:")
    # The same person scoring again corrects their score.
    line = ok("add", "helpful", "4", "--trace", tid(1), "--comment", "on second look").stdout
    assert f"correcting {first['id']}" in line
    ok("add", "tone", "rude", "--trace", tid(2), "--span", sid(2))
    ok("add", "thumbs", "no", "--trace", tid(2))

    current = json.loads(ok("list", "--json").stdout)["data"]
    assert [(s["name"], s["value"]) for s in current] == [
        ("thumbs", False),
        ("tone", "rude"),
        ("helpful", 4.0),
    ]
    history = json.loads(ok("list", "--name", "helpful", "--history", "--json").stdout)["data"]
    assert [s["value"] for s in history] == [4.0, 2.0]
    table = ok("list").stdout
    assert "on second look" in table and f"span {tid(2)}/{sid(2)}" in table

    def ids(*args: str) -> list[int]:
        data = json.loads(traces("list", "--json", *args).stdout)["data"]
        return [int(t["trace_id"], 16) for t in data]

    assert ids("--score", "helpful>=3") == [1]
    assert ids("--score", "!helpful") == [2]
    assert ids("--score", "tone=rude", "--score", "thumbs=false") == [2]
    shown = traces("show", tid(1)).stdout
    assert "score helpful" in shown and "on second look" in shown
    bad = runner.invoke(app, ["traces", "list", "--score", "helpful>=much"])
    assert bad.exit_code == 2
    assert "--score" in bad.output and "compares numbers" in bad.output


def test_bad_scores_name_what_is_wrong(store: TraceStore) -> None:
    ok("configs", "add", "helpful", "--min", "1", "--max", "5")
    cases = [
        (("add", "helpful", "9", "--trace", tid(1)), 2, "VALUE: score 'helpful' is out of range"),
        (("add", "nope", "1", "--trace", tid(1)), 2, "NAME: no score config 'nope'"),
        (("add", "helpful", "3", "--trace", "f" * 32), 1, "--trace: no trace"),
        (("add", "helpful", "3", "--trace", "xyz"), 2, "--trace: expected 32 hexadecimal"),
        (("add", "helpful", "3"), 2, "exactly one target"),
        (("add", "helpful", "3", "--trace", tid(1), "--source", "online"), 2, "--source"),
        (("configs", "add", "mood", "--type", "categorical"), 2, "--categories"),
        (("configs", "add", "mood", "--type", "fuzzy"), 2, "--type: expected numeric"),
        (("export", "--format", "xml"), 2, "--format: expected jsonl or csv"),
    ]
    for args, code, words in cases:
        result = scores(*args)
        assert result.exit_code == code, (args, result.output)
        assert words in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output


def test_export_writes_json_lines_and_csv(store: TraceStore, tmp_path: Path) -> None:
    ok("configs", "add", "helpful", "--min", "1", "--max", "5")
    for n, value in ((1, "5"), (2, "1")):
        ok("add", "helpful", value, "--trace", tid(n), "--comment", f'said "{n}", twice')
    lines = ok("export").stdout.splitlines()
    assert [json.loads(line)["value"] for line in lines] == [1.0, 5.0]
    target = tmp_path / "scores.csv"
    result = ok("export", "--format", "csv", "--output", str(target), "--min", "3")
    assert "wrote 1 score(s)" in result.output
    (row,) = list(csv.DictReader(io.StringIO(target.read_text())))
    assert (row["trace_id"], row["value"], row["comment"]) == (tid(1), "5.0", 'said "1", twice')


def test_listing_before_any_score_says_so(tmp_path: Path) -> None:
    result = scores("list")
    assert result.exit_code == 1
    assert "no scores yet" in result.output

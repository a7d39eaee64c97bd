"""The dataset registry: immutable versions on SQLite and the real PostgreSQL, files in and
out through `spyglass datasets`, examples taken from traces over the API, and eval files that
read a registry dataset at a version (recorded, and pinned for `eval rerun`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from evals import DatasetError, DatasetNotFoundError, DatasetStore, NewRow
from spyglass import Settings
from spyglass._cli import app
from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tests.conftest import running_app

runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = create_store_engine(url)
    upgrade_store(engine)
    yield engine
    downgrade_store(engine, "base")
    engine.dispose()


def row(question: str, answer: str, **metadata: Any) -> NewRow:
    return NewRow({"question": question}, answer, dict(metadata))


def test_every_change_is_a_new_version_and_old_ones_read_back_unchanged(engine: Engine) -> None:
    store = DatasetStore(engine)
    first, created = store.push(
        "qa", [row("France?", "Paris"), row("Spain?", "Madrid")], message="first", author="ann"
    )
    assert (first["version"], first["row_count"], first["added"], created) == (1, 2, 2, True)
    again, created = store.push("qa", [row("France?", "Paris"), row("Spain?", "Madrid")])
    assert (again["version"], created) == (1, False)  # the same rows: no new version

    _, rows = store.rows("qa")
    spain = next(r for r in rows if r.input == {"question": "Spain?"})
    second = store.add("qa", [row("Italy?", "Rome", source="review")], message="add italy")
    third = store.edit("qa", spain.row_id, NewRow({"question": "Spain?"}, "Madrid, Spain"))
    fourth = store.delete("qa", [rows[0].row_id])
    assert [second["version"], third["version"], fourth["version"]] == [2, 3, 4]
    assert (third["changed"], third["added"], third["removed"]) == (1, 0, 0)

    def answers(version: int | str) -> list[Any]:
        return [r.expected for r in store.rows("qa", version)[1]]

    assert answers(1) == ["Paris", "Madrid"]
    assert answers(2) == ["Paris", "Madrid", "Rome"]
    assert answers(3) == ["Paris", "Rome", "Madrid, Spain"]  # an edit keeps the row's id
    assert answers("latest") == answers(4) == ["Rome", "Madrid, Spain"]
    assert store.rows("qa", 3)[1][2].row_id == spain.row_id
    assert [v["version"] for v in store.versions("qa")] == [4, 3, 2, 1]
    assert store.versions("qa")[-1]["author"] == "ann"

    diff = store.diff("qa", 1, 4)
    assert [r["expected"] for r in diff["added"]] == ["Rome"]
    assert [r["expected"] for r in diff["removed"]] == ["Paris"]
    assert [(c["before"]["expected"], c["after"]["expected"]) for c in diff["changed"]] == [
        ("Madrid", "Madrid, Spain")
    ]
    # Pushing a file replaces the content: kept rows stay, the rest go or come.
    fifth, _ = store.push("qa", [row("Italy?", "Rome", source="review"), row("Peru?", "Lima")])
    assert (fifth["version"], fifth["added"], fifth["removed"]) == (5, 1, 1)
    assert answers(5) == ["Rome", "Lima"]
    assert answers(1) == ["Paris", "Madrid"]


def test_projects_have_their_own_datasets_and_bad_names_are_refused(engine: Engine) -> None:
    store = DatasetStore(engine)
    store.push("qa", [row("a", "b")], project="A")
    store.push("qa", [row("c", "d"), row("e", "f")])
    assert [(d["name"], d["row_count"]) for d in store.datasets("A")] == [("qa", 1)]
    assert [(d["name"], d["row_count"]) for d in store.datasets()] == [("qa", 2)]
    with pytest.raises(DatasetNotFoundError, match="no dataset 'qa'"):
        store.rows("qa", project="B")
    with pytest.raises(DatasetNotFoundError, match="versions 1 to 1, not 9"):
        store.rows("qa", 9, project="A")
    with pytest.raises(DatasetError, match="letters, digits"):
        store.push("no/slash", [row("a", "b")])
    with pytest.raises(DatasetNotFoundError, match="no row"):
        store.delete("qa", ["0" * 32])


def datasets(*args: str) -> Any:
    return runner.invoke(app, ["datasets", *args], env={"COLUMNS": "200"})


def test_the_cli_pushes_pulls_shows_and_diffs_files(tmp_path: Path) -> None:
    source = tmp_path / "qa.jsonl"
    source.write_text(
        '{"question": "France?", "expected": "Paris", "metadata": {"level": 1}}\n'
        '{"question": "Spain?", "expected": "Madrid"}\n'
    )
    pushed = datasets("push", str(source), "-m", "first")
    assert pushed.exit_code == 0, pushed.output
    assert "pushed qa version 1: 2 rows" in pushed.output
    assert "unchanged" in datasets("push", str(source)).output
    csv_file = tmp_path / "more.csv"
    csv_file.write_text("question,expected\nFrance?,Paris\nItaly?,Rome\n")
    assert datasets("push", str(csv_file), "--name", "qa").exit_code == 0
    diff = datasets("diff", "qa", "1", "2")
    assert "2 added, 2 removed, 0 changed" in diff.output  # France lost its metadata
    shown = json.loads(datasets("show", "qa", "--json").output)
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    # Pulled files read back as they were pushed, in every format.
    pulled = datasets("pull", "qa", "--version", "1")
    assert [json.loads(line) for line in pulled.output.splitlines()] == [
        {"question": "France?", "expected": "Paris", "metadata": {"level": 1}},
        {"question": "Spain?", "expected": "Madrid"},
    ]
    for suffix in ("parquet", "csv", "jsonl"):
        target = tmp_path / f"out.{suffix}"
        assert datasets("pull", "qa", "-o", str(target)).exit_code == 0
        assert datasets("push", str(target), "--name", "qa").output.startswith("qa unchanged")
    saved = tmp_path / "saved"
    assert datasets("pull", "qa", "-o", str(saved), "--format", "saved").exit_code == 0
    assert "unchanged" in datasets("push", str(saved), "--name", "qa").output
    assert datasets("list").output.splitlines()[1].split()[:3] == ["qa", "2", "2"]


def test_bad_files_name_their_line_and_column(tmp_path: Path) -> None:
    cases = {
        "broken.jsonl": ('{"q": 1}\n{"q": 2, oops}\n', "broken.jsonl:2:10: not JSON"),
        "list.jsonl": ('{"q": 1}\n[1, 2]\n', "list.jsonl:2:1: expected an object"),
        "short.csv": ("q,expected\na,b\nc\n", "short.csv:3:1: 1 fields, the header has 2"),
        "notes.txt": ("hello", "cannot tell the format of notes.txt"),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = datasets("push", str(path))
        assert result.exit_code == 2, (name, result.output)
        assert words in " ".join(result.output.split()), (name, result.output)
    missing = datasets("pull", "nothing-here")
    assert missing.exit_code == 1
    assert "no datasets yet" in missing.output or "no dataset" in missing.output


async def test_traces_become_rows_over_the_api(settings_from: Callable[..., Settings]) -> None:
    config = {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "mock/m", "mock_response": "Paris."}}
        ]
    }
    async with running_app(settings_from(config)) as client:
        answer = await client.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                ],
            },
        )
        trace_id = answer.headers["x-spyglass-trace-id"]
        assert client._transport.app.state.tracing.pipeline.flush()  # type: ignore[attr-defined]
        added = await client.post(
            "/api/datasets/prod-qa/rows",
            json={
                "from_traces": [
                    {"trace_id": trace_id},
                    {"trace_id": trace_id, "expected": "Paris", "metadata": {"edited": True}},
                ],
                "message": "from production",
            },
        )
        assert added.status_code == 201, added.text
        assert added.json()["version"] == 1
        rows = (await client.get("/api/datasets/prod-qa/rows")).json()["rows"]
        assert rows[0]["input"] == {
            "input": "Capital of France?",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
            ],
        }
        assert [r["expected"] for r in rows] == ["Paris.", "Paris"]
        assert rows[0]["source_trace_id"] == trace_id and len(rows[0]["source_span_id"]) == 16
        # Edit and delete through the API: each a version.
        edited = await client.patch(
            f"/api/datasets/prod-qa/rows/{rows[0]['row_id']}", json={"expected": "Paris!"}
        )
        assert edited.json()["version"] == 2
        gone = await client.delete(f"/api/datasets/prod-qa/rows/{rows[1]['row_id']}")
        assert gone.json()["version"] == 3
        latest = (await client.get("/api/datasets/prod-qa/rows")).json()["rows"]
        assert [(r["expected"], r["source_trace_id"]) for r in latest] == [("Paris!", trace_id)]
        diff = (await client.get("/api/datasets/prod-qa/diff", params={"before": 1})).json()
        assert (len(diff["removed"]), len(diff["changed"])) == (1, 1)
        # Errors name the field.
        missing = await client.post(
            "/api/datasets/prod-qa/rows", json={"from_traces": [{"trace_id": "f" * 32}]}
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["param"] == "from_traces[0].trace_id"
        empty = await client.post("/api/datasets/prod-qa/rows", json={})
        assert empty.status_code == 400
        unknown = await client.get("/api/datasets/nope/rows")
        assert unknown.status_code == 404
        bad_version = await client.get("/api/datasets/prod-qa/rows", params={"version": "x"})
        assert bad_version.json()["error"]["param"] == "version"
        listed = (await client.get("/api/datasets")).json()["data"]
        assert [(d["name"], d["latest_version"], d["row_count"]) for d in listed] == [
            ("prod-qa", 3, 1)
        ]


def test_an_eval_reads_a_registry_version_and_rerun_keeps_it(
    gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path
) -> None:
    source = tmp_path / "cities.jsonl"
    source.write_text(
        '{"city": "Paris", "expected": "Paris"}\n{"city": "Rome", "expected": "Rome"}\n'
    )
    assert datasets("push", str(source), "--name", "cities").exit_code == 0
    path = eval_file(dataset={"registry": "cities", "version": "latest"})
    config = ["--config", str(gateway_config)]
    result = runner.invoke(app, ["eval", "run", str(path), *config])
    assert result.exit_code == 0, result.output
    run_id = next(
        line.removeprefix("runs: ").split(", ")[0]
        for line in result.output.splitlines()
        if line.startswith("runs: ")
    )
    shown = json.loads(runner.invoke(app, ["eval", "show", run_id, "--json", *config]).output)
    assert shown["params"]["dataset"] == "cities@1"
    assert shown["params"]["dataset_version"] == 1
    assert [r["output"] for r in shown["results"]] == ["Paris", "Rome"]
    # A new version does not change what the rerun reads: the version it recorded.
    source.write_text('{"city": "Oslo", "expected": "Oslo"}\n')
    assert datasets("push", str(source), "--name", "cities").exit_code == 0
    rerun = runner.invoke(app, ["eval", "rerun", run_id, *config])
    assert rerun.exit_code == 0, rerun.output
    assert "same dataset" in rerun.output
    # An unknown dataset or version is named with its place in the file.
    for dataset, words in (
        ({"registry": "nope"}, "dataset.registry: no dataset 'nope'"),
        ({"registry": "cities", "version": 7}, "dataset.version: dataset 'cities' has versions"),
    ):
        bad = runner.invoke(
            app, ["eval", "run", str(eval_file("bad.yaml", dataset=dataset)), *config]
        )
        assert bad.exit_code == 2, bad.output
        assert words in " ".join(bad.output.split()), bad.output


def test_scalar_answers_read_back_as_they_were_pushed(engine: Engine) -> None:
    """SQLite stores a JSON scalar in a JSON column as a number: it reads back as one."""
    store = DatasetStore(engine)
    values = [42, 55839469742934232, 1.5, True, None, "7", [1, 2], {"a": 1}]
    store.push("scalars", [NewRow({"q": n}, value) for n, value in enumerate(values)])
    _, rows = store.rows("scalars")
    assert [r.expected for r in rows] == values

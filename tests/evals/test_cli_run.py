"""`spyglass eval run|list|show|compare|rerun`: tracked runs, the cache, reports, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from spyglass._cli import app

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def run_ids(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("runs: "))
    return line.removeprefix("runs: ").split(", ")


def test_run_tracks_one_run_per_variant(
    gateway_config: Path, eval_file: Callable[..., Path]
) -> None:
    result = invoke("eval", "run", str(eval_file()), "--config", str(gateway_config))
    assert result.exit_code == 0, result.output
    echo, fixed = run_ids(result.output)
    listed = json.loads(invoke("eval", "list", "--json", "--config", str(gateway_config)).output)
    by_id = {run["id"]: run for run in listed["runs"]}
    assert by_id[echo]["status"] == "finished" and by_id[echo]["done"] == 4
    scores = by_id[echo]["metrics"]["scores"]["exact"]
    assert scores["mean"] == 1.0 and scores["pass_rate"] == 1.0
    assert by_id[fixed]["metrics"]["scores"]["exact"]["mean"] == 0.25
    params = by_id[echo]["params"]
    assert params["model"] == "echo" and params["dataset"] == "inline"
    assert len(params["dataset_hash"]) == 64 and params["spyglass_version"]
    shown = json.loads(
        invoke("eval", "show", echo[:6], "--json", "--config", str(gateway_config)).output
    )
    assert [r["output"] for r in shown["results"]] == ["Paris", "Rome", "Oslo", "Lima"]
    assert all(r["scores"]["exact"]["passed"] for r in shown["results"])
    assert all(len(r["trace_id"]) == 32 for r in shown["results"])
    # The comparison table: variants as columns, and the paired test between the two.
    assert "exact" in result.output and "mcnemar" in result.output
    text = invoke("eval", "show", echo, "--config", str(gateway_config))
    assert text.exit_code == 0 and "Paris" in text.output


def test_unchanged_rerun_is_answered_from_the_cache(
    gateway_config: Path, eval_file: Callable[..., Path]
) -> None:
    path = eval_file()
    first = invoke("eval", "run", str(path), "--config", str(gateway_config))
    second = invoke("eval", "run", str(path), "--config", str(gateway_config))
    forced = invoke("eval", "run", str(path), "--no-cache", "--config", str(gateway_config))
    assert first.exit_code == second.exit_code == forced.exit_code == 0
    runs = json.loads(invoke("eval", "list", "--json", "--config", str(gateway_config)).output)
    cached = {run["id"]: run["metrics"]["cached"] for run in runs["runs"]}
    assert [cached[i] for i in run_ids(first.output)] == [0, 0]
    assert [cached[i] for i in run_ids(second.output)] == [4, 4]
    assert [cached[i] for i in run_ids(forced.output)] == [0, 0]


def test_exit_codes(gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path) -> None:
    path = eval_file()
    config = str(gateway_config)
    assert (
        invoke("eval", "run", str(path), "--fail-under", "exact=0.2", "--config", config).exit_code
        == 0
    )
    failed = invoke("eval", "run", str(path), "--fail-under", "exact=0.5", "--config", config)
    assert failed.exit_code == 3
    assert "fail-under: fixed: exact 0.250 < 0.5" in failed.output
    bad = eval_file("bad.yaml", scorers=[{"type": "nope"}])
    invalid = invoke("eval", "run", str(bad), "--config", config)
    assert invalid.exit_code == 2 and "Traceback" not in invalid.output
    assert "bad.yaml" in invalid.output and "unknown scorer type 'nope'" in invalid.output
    assert (
        invoke("eval", "run", str(path), "--fail-under", "exact", "--config", config).exit_code == 2
    )
    assert (
        invoke("eval", "run", str(path), "--fail-under", "nope=1", "--config", config).exit_code
        == 2
    )
    assert invoke("eval", "show", "ffffffff", "--config", config).exit_code == 1
    assert invoke("eval", "run", str(tmp_path / "none.yaml"), "--config", config).exit_code == 2


def test_a_significant_regression_against_the_baseline_fails(
    gateway_config: Path, eval_file: Callable[..., Path]
) -> None:
    rows = [{"city": f"City {i}", "expected": f"City {i}"} for i in range(12)]
    good = eval_file(
        "good.yaml",
        dataset={"rows": rows},
        variants=[{"name": "v", "prompt": {"template": "{{city}}"}, "model": "echo"}],
    )
    bad = eval_file(
        "bad.yaml",
        dataset={"rows": rows},
        variants=[{"name": "v", "prompt": {"template": "{{city}}"}, "model": "fixed"}],
    )
    config = str(gateway_config)
    (baseline,) = run_ids(invoke("eval", "run", str(good), "--config", config).output)
    same = invoke("eval", "run", str(good), "--baseline", baseline, "--config", config)
    assert same.exit_code == 0, same.output
    worse = invoke("eval", "run", str(bad), "--baseline", baseline, "--config", config)
    assert worse.exit_code == 3
    assert "significantly worse than baseline" in worse.output
    compared = invoke(
        "eval", "compare", baseline, run_ids(worse.output)[0], "--json", "--config", config
    )
    (exact,) = json.loads(compared.output)["comparison"]["scorers"]
    assert exact["test"] == "mcnemar" and exact["regression"] and exact["difference"] == -1.0
    assert exact["changed_rows"] == list(range(12))


def test_reports(gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path) -> None:
    path = eval_file()
    config = str(gateway_config)
    for suffix in ("json", "csv", "html", "xml"):
        out = tmp_path / f"report.{suffix}"
        result = invoke("eval", "run", str(path), "--output", str(out), "--config", config)
        assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert [len(run["results"]) for run in report["runs"]] == [4, 4]
    lines = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert len(lines) == 8 and lines[0]["exact.passed"] == "true" and lines[0]["output"] == "Paris"
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "exact" in page
    suites = ET.fromstring((tmp_path / "report.xml").read_text())
    assert suites.tag == "testsuites" and suites.get("tests") == "8"
    assert suites.get("failures") == "3"  # fixed answers Paris: Rome, Oslo, Lima fail
    fixed = suites.findall("testsuite")[1]
    assert [case.find("failure") is not None for case in fixed.findall("testcase")] == [
        False,
        True,
        True,
        True,
    ]
    unknown = invoke(
        "eval", "run", str(path), "--output", str(tmp_path / "r.txt"), "--config", config
    )
    assert unknown.exit_code == 2


def test_rerun_reproduces_and_says_when_the_data_changed(
    gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(
        '{"city": "Paris", "expected": "Paris"}\n{"city": "Rome", "expected": "Rome"}\n'
    )
    path = eval_file(dataset={"path": "data.jsonl"})
    config = str(gateway_config)
    first, _ = run_ids(invoke("eval", "run", str(path), "--config", config).output)
    again = invoke("eval", "rerun", first, "--config", config)
    assert again.exit_code == 0, again.output
    assert "same dataset" in again.output
    data.write_text('{"city": "Oslo", "expected": "Oslo"}\n')
    changed = invoke("eval", "rerun", first, "--config", config)
    assert "the dataset changed since run" in changed.output
    (rerun,) = run_ids(changed.output)
    shown = json.loads(invoke("eval", "show", rerun, "--json", "--config", config).output)
    assert shown["variant"] == "echo" and shown["tags"] == [f"rerun:{first}"]


def test_tags_and_notes_are_editable(gateway_config: Path, eval_file: Callable[..., Path]) -> None:
    config = str(gateway_config)
    first, _ = run_ids(invoke("eval", "run", str(eval_file()), "--config", config).output)
    assert (
        invoke(
            "eval", "tag", first, "good", "v1", "--notes", "looks fine", "--config", config
        ).exit_code
        == 0
    )
    shown = json.loads(invoke("eval", "show", first, "--json", "--config", config).output)
    assert shown["tags"] == ["good", "v1"] and shown["notes"] == "looks fine"


def test_list_before_anything_ran(gateway_config: Path) -> None:
    result = invoke("eval", "list", "--config", str(gateway_config))
    assert result.exit_code == 0 and "no eval runs yet" in result.output


def test_eval_help_and_list_do_not_import_litellm(gateway_config: Path) -> None:
    for args in (["eval", "--help"], ["eval", "list", "--config", str(gateway_config)]):
        code = (
            "import sys\nfrom spyglass._cli import app\n"
            f"sys.argv = ['spyglass', *{args!r}]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "heavy = {'litellm', 'datasets', 'scipy', 'numpy', 'mlflow', 'pandas'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip().splitlines()[-1] == "[]", (args, result.stdout[-500:])


def test_project_picks_the_prompts_and_files_the_runs(
    gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path
) -> None:
    """`--project A` reads registry prompts from A's namespace and records the runs in A;
    rerun keeps the project."""
    config = str(gateway_config)
    for project, template in (("A", "{{city}}"), (None, "no project: {{city}}")):
        source = tmp_path / f"greet-{project}.txt"
        source.write_text(template)
        scope = ["--project", project] if project else []
        pushed = invoke("prompts", "push", "greet", "-f", str(source), *scope, "--config", config)
        assert pushed.exit_code == 0, pushed.output
    path = eval_file(variants=[{"name": "echo", "prompt": "greet", "model": "echo"}])

    scoped = invoke("eval", "run", str(path), "--project", "A", "--config", config)
    plain = invoke("eval", "run", str(path), "--config", config)
    assert scoped.exit_code == plain.exit_code == 0, scoped.output + plain.output
    (in_a,), (unscoped,) = run_ids(scoped.output), run_ids(plain.output)
    runs = json.loads(invoke("eval", "list", "--json", "--config", config).output)["runs"]
    by_id = {run["id"]: run for run in runs}
    assert by_id[in_a]["project"] == "A" and by_id[unscoped]["project"] is None
    # A's prompt echoes the city alone; the unscoped one adds its prefix.
    assert by_id[in_a]["metrics"]["scores"]["exact"]["mean"] == 1.0
    assert by_id[unscoped]["metrics"]["scores"]["exact"]["mean"] == 0.0

    rerun = invoke("eval", "rerun", in_a, "--config", config)
    assert rerun.exit_code == 0, rerun.output
    (again,) = run_ids(rerun.output)
    runs = json.loads(invoke("eval", "list", "--json", "--config", config).output)["runs"]
    assert {run["id"]: run for run in runs}[again]["project"] == "A"


def test_the_bundled_example_passes_its_own_gate() -> None:
    """examples/evals/capitals.yaml against its plain variant as the baseline: with-hint
    answers shorter, within the length bound, which is no regression, so the gate passes."""
    repo = Path(__file__).resolve().parents[2]
    example = str(repo / "examples" / "evals" / "capitals.yaml")
    config = str(repo / "examples" / "demo.yaml")
    first = invoke("eval", "run", example, "--config", config)
    assert first.exit_code == 0, first.output
    plain, hint = run_ids(first.output)
    gated = invoke("eval", "run", example, "--baseline", plain, "--config", config)
    assert gated.exit_code == 0, gated.output
    compared = invoke("eval", "compare", plain, hint, "--json", "--config", config)
    length = next(
        s for s in json.loads(compared.output)["comparison"]["scorers"] if s["scorer"] == "length"
    )
    assert length["test"] == "mcnemar" and not length["regression"]
    listed = json.loads(invoke("eval", "list", "--json", "--config", config).output)["runs"]
    cached = [run for run in listed if run["metrics"]["cached"] == run["metrics"]["results"]]
    assert cached and all(run["metrics"]["latency_ms"]["p50"] is None for run in cached)

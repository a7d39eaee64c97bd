"""The tracked runs' JSON API, served by create_app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from spyglass import load_settings
from spyglass._cli import app

from ..conftest import running_app

runner = CliRunner()


async def test_experiments_runs_results_compare_and_annotate(
    gateway_config: Path, eval_file: Callable[..., Path]
) -> None:
    args = ["eval", "run", str(eval_file()), "--config", str(gateway_config)]
    result = await asyncio.to_thread(runner.invoke, app, args)  # the CLI runs its own loop
    assert result.exit_code == 0, result.output
    ids = next(line for line in result.output.splitlines() if line.startswith("runs: "))
    echo, fixed = ids.removeprefix("runs: ").split(", ")
    settings, _ = load_settings(gateway_config)
    async with running_app(settings) as client:
        experiments = (await client.get("/api/experiments")).json()["experiments"]
        assert [(e["name"], e["runs"]) for e in experiments] == [("qa", 2)]
        runs = (await client.get("/api/runs", params={"experiment": "qa"})).json()["runs"]
        assert {r["id"] for r in runs} == {echo, fixed} and "spec" not in runs[0]
        one = (await client.get(f"/api/runs/{echo[:5]}")).json()
        assert one["id"] == echo and one["metrics"]["scores"]["exact"]["mean"] == 1.0
        page = (
            await client.get(f"/api/runs/{echo}/results", params={"limit": 2, "offset": 1})
        ).json()
        assert [r["row_index"] for r in page["results"]] == [1, 2] and page["total"] == 4
        compared = (await client.get("/api/compare", params={"runs": f"{echo},{fixed}"})).json()
        (scorer,) = compared["comparisons"][0]["scorers"]
        assert scorer["scorer"] == "exact" and scorer["difference"] == -0.75
        assert scorer["changed_rows"] == [1, 2, 3]
        patched = await client.patch(f"/api/runs/{echo}", json={"tags": ["best"], "notes": "ok"})
        assert patched.status_code == 200 and patched.json()["tags"] == ["best"]
        assert (await client.patch(f"/api/runs/{echo}", json={"status": "x"})).status_code == 400
        assert (await client.get("/api/runs/ffffff")).status_code == 404
        assert (await client.get("/api/compare", params={"runs": echo})).status_code == 400
    shown = json.loads(
        runner.invoke(app, ["eval", "show", echo, "--json", "--config", str(gateway_config)]).output
    )
    assert shown["notes"] == "ok"

"""`spyglass eval run --mlflow-uri`: the same runs, logged to an MLflow tracking store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spyglass._cli import app

from .test_cli_run import run_ids

mlflow = pytest.importorskip("mlflow")

pytestmark = [
    # mlflow's own SQL store uses a loader strategy SQLAlchemy deprecates (mlflow 3.17.2).
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning"),
]

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_runs_are_logged_to_mlflow(
    gateway_config: Path,
    eval_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = eval_file(
        variants=[
            {
                "name": "echo",
                "prompt": {"template": "{{city}}"},
                "model": "echo",
                "params": {"temperature": 0},
            },
            {"name": "fixed", "prompt": {"template": "{{city}}"}, "model": "fixed"},
        ],
        scorers=[
            {"type": "exact_match", "name": "exact"},
            {"type": "similarity", "name": "close"},
        ],
    )
    result = invoke("eval", "run", str(path), "--config", str(gateway_config), "--mlflow-uri", uri)
    assert result.exit_code == 0, result.output
    assert "logged to MLflow" in result.output
    ids = run_ids(result.output)

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("qa")
    assert experiment is not None
    logged = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in logged) == ["echo", "fixed"]
    by_run_id = {r.data.tags["spyglass.run_id"]: r for r in logged}
    assert sorted(by_run_id) == sorted(ids)
    for run_id in ids:
        shown = json.loads(
            invoke("eval", "show", run_id, "--json", "--config", str(gateway_config)).output
        )
        found = by_run_id[run_id]
        assert found.info.status == "FINISHED"
        params, metrics, tags = found.data.params, found.data.metrics, found.data.tags
        assert params["model"] == shown["params"]["model"]
        assert params["dataset"] == "inline"
        assert params["dataset_hash"] == shown["dataset_hash"]
        assert tags["spyglass.dataset_hash"] == shown["dataset_hash"]
        assert tags["spyglass.version"] == shown["params"]["spyglass_version"]
        assert tags.get("spyglass.prompt") == shown["params"]["prompt"]  # None: inline
        expected = shown["metrics"]
        for name in ("exact", "close"):
            score = expected["scores"][name]
            assert metrics[f"{name}.mean"] == pytest.approx(score["mean"])
            if score["ci"] is not None:
                assert metrics[f"{name}.ci_low"] == pytest.approx(score["ci"][0])
                assert metrics[f"{name}.ci_high"] == pytest.approx(score["ci"][1])
        assert metrics["exact.pass_rate"] == pytest.approx(expected["scores"]["exact"]["pass_rate"])
        assert metrics["latency_p50_ms"] == pytest.approx(expected["latency_ms"]["p50"])
        assert metrics["latency_p95_ms"] == pytest.approx(expected["latency_ms"]["p95"])
        assert metrics["total_tokens"] == expected["tokens"]["total"]
        assert metrics["errors"] == expected["errors"] == 0
        if expected["cost_usd"] is not None:
            assert metrics["cost_usd"] == pytest.approx(expected["cost_usd"])

        table_path = client.download_artifacts(found.info.run_id, "results.json", str(tmp_path))
        table = json.loads(Path(table_path).read_text())
        rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
        assert [r["row"] for r in rows] == [r["row_index"] for r in shown["results"]]
        assert [r["output"] for r in rows] == [r["output"] for r in shown["results"]]
        assert [r["trace_id"] for r in rows] == [r["trace_id"] for r in shown["results"]]
        assert [r["exact.passed"] for r in rows] == [
            r["scores"]["exact"]["passed"] for r in shown["results"]
        ]
        assert [json.loads(r["inputs"]) for r in rows] == [r["inputs"] for r in shown["results"]]
    echo = by_run_id[ids[0]]
    assert echo.data.params["param.temperature"] == "0"
    assert echo.data.metrics["exact.mean"] == 1.0


def test_an_unreachable_server_is_a_warning(
    gateway_config: Path,
    eval_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    result = invoke(
        "eval",
        "run",
        str(eval_file()),
        "--config",
        str(gateway_config),
        "--mlflow-uri",
        "http://127.0.0.1:9",
    )
    assert result.exit_code == 0, result.output
    assert "could not log to MLflow" in result.output
    listed = json.loads(invoke("eval", "list", "--json", "--config", str(gateway_config)).output)
    assert all(run["status"] == "finished" for run in listed["runs"])
    assert len(listed["runs"]) == 2


def test_without_mlflow_installed_nothing_runs(
    gateway_config: Path, eval_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlflow" else real(name, *a),
    )
    result = invoke(
        "eval", "run", str(eval_file()), "--config", str(gateway_config), "--mlflow-uri", "x"
    )
    assert result.exit_code == 2
    assert "pip install 'spyglass[mlflow]'" in result.output
    listed = invoke("eval", "list", "--config", str(gateway_config))
    assert "no eval runs yet" in listed.output

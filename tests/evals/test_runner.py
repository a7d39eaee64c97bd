"""The runner: rows traced and linked to their run, retries and back-off on 429, kill -9 and
resume, --server against a served Spyglass, and tracked runs on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from evals import Throttle
from spyglass._cli import app

from .conftest import MOCK_MODELS

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def run_ids(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("runs: "))
    return line.removeprefix("runs: ").split(", ")


def test_each_row_is_a_trace_linked_to_its_run_row_variant_and_prompt(
    gateway_config: Path, eval_file: Callable[..., Path], tmp_path: Path
) -> None:
    from prompts import PromptStore
    from spyglass._db import create_store_engine, upgrade_store
    from tracing import TraceStore, get_trace

    engine = create_store_engine(f"sqlite:///{tmp_path / 'home' / 'spyglass.db'}")
    upgrade_store(engine)
    PromptStore(engine).create("city")
    PromptStore(engine).push("city", "{{city}}", model_config={"model": "echo"})
    path = eval_file(variants=[{"name": "registry", "prompt": "city"}])
    result = invoke("eval", "run", str(path), "--config", str(gateway_config))
    assert result.exit_code == 0, result.output
    (run_id,) = run_ids(result.output)
    shown = json.loads(
        invoke("eval", "show", run_id, "--json", "--config", str(gateway_config)).output
    )
    row = shown["results"][2]
    _summary, spans, _ = get_trace(TraceStore(engine), row["trace_id"])
    by_parent = {span["parent_span_id"]: span for span in spans}
    root = by_parent[None]
    attributes = root["attributes"]
    assert attributes["spyglass.eval.run_id"] == run_id
    assert attributes["spyglass.eval.row"] == 2
    assert attributes["spyglass.eval.variant"] == "registry"
    assert attributes["gen_ai.prompt.name"] == "city"
    assert attributes["gen_ai.prompt.version"] == 1
    # The gateway's request span is the row span's child, in the same trace.
    assert any(s["parent_span_id"] == root["span_id"] for s in spans)
    assert shown["params"]["prompt"] == "city" and shown["params"]["prompt_version"] == 1
    engine.dispose()


def test_429s_are_retried_after_their_retry_after(
    tmp_path: Path, eval_file: Callable[..., Path]
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "echo",
                "litellm_params": {
                    "model": "mock/echo",
                    "mock_mode": "echo",
                    "mock_error_status": 429,
                    "mock_error_rate": 0.5,
                    "mock_retry_after": 0,
                },
            },
            MOCK_MODELS["model_list"][1],
        ],
        "router_settings": {"num_retries": 0},
    }
    path = tmp_path / "flaky.yaml"
    path.write_text(yaml.safe_dump(config))
    spec = eval_file(settings={"concurrency": 4, "retries": 12})
    result = invoke("eval", "run", str(spec), "--config", str(path))
    assert result.exit_code == 0, result.output
    listed = json.loads(invoke("eval", "list", "--json", "--config", str(path)).output)
    assert all(run["metrics"]["errors"] == 0 for run in listed["runs"])


async def test_throttle_halves_on_429_pauses_and_grows_back() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(8, clock=lambda: now[0], sleep=sleep)
    throttle.throttled(2.0)
    assert throttle.limit == 4
    await throttle.acquire()
    assert slept == [2.0]  # everyone waits out the Retry-After
    await throttle.release()
    for _ in range(10):
        await throttle.succeeded()
    assert throttle.limit == 8  # back to the ceiling, not above


async def test_throttle_paces_requests_per_minute() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    throttle = Throttle(4, rpm=120, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await throttle.acquire()
        await throttle.release()
    assert now[0] == pytest.approx(1.5)  # 0, 0.5, 1.0, 1.5 s


def _results(db: Path) -> int:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM eval_results")).scalar_one())
    except Exception:
        return 0
    finally:
        engine.dispose()


def test_killed_mid_run_then_resumed_without_redoing_or_duplicating(
    tmp_path: Path, eval_file: Callable[..., Path]
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "mock/slow",
                    "mock_mode": "echo",
                    "mock_latency_ms": 100,
                },
            }
        ]
    }
    config_path = tmp_path / "slow.yaml"
    config_path.write_text(yaml.safe_dump(config))
    rows = [{"city": f"City {i}", "expected": f"City {i}"} for i in range(40)]
    spec = eval_file(
        dataset={"rows": rows},
        variants=[
            {"name": "a", "prompt": {"template": "{{city}}"}, "model": "slow"},
            {
                "name": "b",
                "prompt": {"template": "{{ city }}"},
                "model": "slow",
                "params": {"temperature": 0},
            },
        ],
        settings={"concurrency": 2},
    )
    db = tmp_path / "home" / "spyglass.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "eval", "run", str(spec), "--config", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SPYGLASS_TRACING__WRITER": "thread"},
    )
    try:
        deadline = time.monotonic() + 60
        while _results(db) < 10 and time.monotonic() < deadline:
            assert process.poll() is None, "the eval finished before it could be killed"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    written = _results(db)
    assert 10 <= written < 80
    listed = json.loads(invoke("eval", "list", "--json", "--config", str(config_path)).output)
    assert {run["status"] for run in listed["runs"]} == {"running"}
    run_id = listed["runs"][0]["id"]
    resumed = invoke("eval", "resume", run_id, "--config", str(config_path))
    assert resumed.exit_code == 0, resumed.output
    listed = json.loads(invoke("eval", "list", "--json", "--config", str(config_path)).output)
    assert [(r["status"], r["done"], r["total"]) for r in listed["runs"]] == [
        ("finished", 40, 40)
    ] * 2
    assert all(r["metrics"]["scores"]["exact"]["mean"] == 1.0 for r in listed["runs"])
    assert _results(db) == 80
    # Rows written before the kill were not called again: their results are the originals.
    again = invoke("eval", "resume", run_id, "--config", str(config_path))
    assert again.exit_code == 0 and "nothing to resume" in again.output


def test_server_mode_against_spyglass_serve(
    serve: Callable[..., Any], eval_file: Callable[..., Path], tmp_path: Path
) -> None:
    server = serve(MOCK_MODELS)
    path = eval_file()
    # No gateway config here: the models are the server's.
    result = invoke("eval", "run", str(path), "--server", server.url)
    assert result.exit_code == 0, result.output
    echo, _fixed = run_ids(result.output)
    shown = json.loads(invoke("eval", "show", echo, "--json").output)
    assert [r["output"] for r in shown["results"]] == ["Paris", "Rome", "Oslo", "Lima"]
    trace_id = shown["results"][0]["trace_id"]
    # The row span went to the server over OTLP; the gateway's span joined its trace there.
    deadline = time.monotonic() + 20
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/api/traces/{trace_id}", timeout=5)
        if answer.status_code == 200:
            spans = answer.json().get("spans", [])
            # The gateway's spans and the row span (sent over OTLP) arrive separately.
            if len(spans) >= 2 and any(s.get("parent_span_id") is None for s in spans):
                break
        time.sleep(0.2)
    roots = [s for s in spans if s.get("parent_span_id") is None]
    assert roots, (spans, server.log()[-4000:])
    assert roots[0]["attributes"]["spyglass.eval.run_id"] == echo
    assert len(spans) >= 2
    unknown = eval_file("unknown.yaml", variants=[{"prompt": {"template": "x"}, "model": "nope"}])
    bad = invoke("eval", "run", str(unknown), "--server", server.url)
    assert bad.exit_code == 2 and "unknown model 'nope'" in bad.output


@pytest.mark.postgres
def test_runs_are_tracked_on_postgresql(
    pg_url: str, gateway_config: Path, eval_file: Callable[..., Path]
) -> None:
    env = {"SPYGLASS_DATABASE_URL": pg_url}
    path = eval_file()
    first = invoke("eval", "run", str(path), "--config", str(gateway_config), env=env)
    assert first.exit_code == 0, first.output
    second = invoke("eval", "run", str(path), "--config", str(gateway_config), env=env)
    assert second.exit_code == 0, second.output
    listed = json.loads(
        invoke("eval", "list", "--json", "--config", str(gateway_config), env=env).output
    )
    ids = {run["id"]: run for run in listed["runs"]}
    for run_id in run_ids(second.output):
        assert ids[run_id]["metrics"]["cached"] == 4  # the cache lives in PostgreSQL too
    compared = invoke(
        "eval",
        "compare",
        *run_ids(first.output),
        "--json",
        "--config",
        str(gateway_config),
        env=env,
    )
    assert compared.exit_code == 0
    assert json.loads(compared.output)["comparison"]["scorers"][0]["scorer"] == "exact"

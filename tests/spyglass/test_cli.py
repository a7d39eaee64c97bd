"""The CLI: instant help, config checking, clear errors, db commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from spyglass._cli import app
from tests.conftest import REPO, Server

runner = CliRunner()


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys; from spyglass._cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = {'litellm', 'fastapi', 'sqlalchemy', 'httpx', 'aiohttp', 'uvicorn', 'gateway'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("spyglass ")


def test_serve_check_accepts_the_demo_config() -> None:
    result = runner.invoke(
        app, ["serve", "--check", "--config", str(REPO / "examples" / "demo.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "demo-balanced" in result.output


def test_serve_check_reports_errors_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("model_list:\n  - model_name: x\n    litellm_params:\n      rpm: 3\n")
    result = runner.invoke(app, ["serve", "--check", "--config", str(config)])
    assert result.exit_code == 2
    assert "bad.yaml:4" in result.output or "bad.yaml:3" in result.output
    assert "model_list[0].litellm_params.model" in result.output
    assert "Traceback" not in result.output


def test_serve_check_warns_on_unknown_keys(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model_list: []\nrouter_setings: {}\n")
    result = runner.invoke(app, ["serve", "--check", "--config", str(config)])
    assert result.exit_code == 0
    assert "unknown key `router_setings`" in result.output


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "current", "--json"])
    info = json.loads(result.output)
    assert info["revision"] == info["head"] is not None
    assert info["url"].endswith("spyglass.db")


def test_db_current_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPYGLASS_DATABASE_URL", "postgresql://user:hunter2@127.0.0.1:1/x")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert "hunter2" not in result.output
    assert "cannot open the store" in result.output


def test_serve_says_where_the_web_ui_is(serve: Callable[..., Server]) -> None:
    server = serve({"model_list": []})
    banner = server.log()
    assert f"web UI:          {server.url}/" in banner
    assert f"OpenAI base URL: {server.url}/v1" in banner
    assert httpx.get(server.url + "/", timeout=5).headers["content-type"].startswith("text/html")

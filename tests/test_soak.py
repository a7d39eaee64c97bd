"""A one-minute soak through the full stack (bench/soak.py): auth, limits, cache and tracing
on PostgreSQL and Redis; no errors, and the server's memory does not grow after warm-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_minute_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "soak.py"),
            "--duration",
            "60",
            "--rate",
            "60",
            "--warmup",
            "20",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["sent"] > 1000
    assert figures["errors"] == 0 and figures["log_errors"] == 0, result.stdout
    assert figures["growth"] <= 0.10, result.stdout
    assert figures["spans_stored"] >= figures["ok"]  # every call traced (streams: two spans)

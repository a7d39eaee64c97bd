"""The suite names a missing service, and how to start it, instead of failing obscurely."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import conftest
from tests.conftest import REPO, free_port


def test_a_service_nothing_answers_on_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setattr(conftest, "SERVICES", {"Redis": ("127.0.0.1", port)})
    assert conftest.missing_services() == [f"Redis at 127.0.0.1:{port}"]


def test_the_report_header_says_which_services_answer() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--co",
            "-p",
            "no:cacheprovider",
            "tests/test_services.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "services: PostgreSQL and Redis answer" in done.stdout, done.stdout[-2000:]

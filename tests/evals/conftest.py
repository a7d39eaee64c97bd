"""Eval tests' shared pieces: a gateway config on the mock provider, eval files, the store."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

MOCK_MODELS: dict[str, Any] = {
    "model_list": [
        {"model_name": "echo", "litellm_params": {"model": "mock/echo", "mock_mode": "echo"}},
        {
            "model_name": "fixed",
            "litellm_params": {"model": "mock/fixed", "mock_response": "Paris"},
        },
    ]
}

ROWS = [
    {"city": "Paris", "expected": "Paris"},
    {"city": "Rome", "expected": "Rome"},
    {"city": "Oslo", "expected": "Oslo"},
    {"city": "Lima", "expected": "Lima"},
]


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hugging Face's cache in tmp_path, and never the network."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return home


@pytest.fixture
def gateway_config(tmp_path: Path) -> Path:
    """A spyglass.yaml with the mock models ``echo`` and ``fixed``."""
    path = tmp_path / "spyglass.yaml"
    path.write_text(yaml.safe_dump(MOCK_MODELS))
    return path


@pytest.fixture
def eval_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an eval file (defaults: inline rows, two variants, exact_match) and return it."""

    def write(name: str = "qa.yaml", **sections: Any) -> Path:
        spec: dict[str, Any] = {
            "name": "qa",
            "dataset": {"rows": ROWS},
            "variants": [
                {"name": "echo", "prompt": {"template": "{{city}}"}, "model": "echo"},
                {"name": "fixed", "prompt": {"template": "{{city}}"}, "model": "fixed"},
            ],
            "scorers": [{"type": "exact_match", "name": "exact"}],
            "settings": {"concurrency": 4},
        }
        spec.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of the eval test's own: eval runs write traces too, and the session's
    shared ``pg_database`` is counted by other packages' tests."""
    from sqlalchemy import create_engine, text

    from ..conftest import PG_ADMIN_URL

    name = f"spyglass_eval_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

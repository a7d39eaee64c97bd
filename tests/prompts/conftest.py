"""Registries on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from prompts import PromptStore
from spyglass._db import create_store_engine, upgrade_store


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = create_store_engine(url)
    upgrade_store(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> PromptStore:
    return PromptStore(engine)


@pytest.fixture
def name() -> str:
    """A prompt name no other test uses (the PostgreSQL database is shared by the session)."""
    return f"team/summarize-{uuid.uuid4().hex[:8]}"

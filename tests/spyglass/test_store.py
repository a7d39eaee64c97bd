"""The store: migrations and readiness on the embedded SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from spyglass import Settings
from spyglass._db import (
    check_store,
    create_store_engine,
    current_revision,
    downgrade_store,
    head_revision,
    upgrade_store,
)
from tests.conftest import running_app


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'spyglass.db'}"
    url: str = request.getfixturevalue("pg_own_database")
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    downgrade_store(engine, "base")
    engine.dispose()


def test_migrations_apply_idempotently_and_revert(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade_store(engine)
    upgrade_store(engine)  # a second run changes nothing
    assert current_revision(engine) == head_revision()
    assert "alembic_version" in inspect(engine).get_table_names()
    downgrade_store(engine, "base")
    assert current_revision(engine) is None
    check_store(engine)


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a' / 'b.db'}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
    assert (tmp_path / "a" / "b.db").exists()
    engine.dispose()


@pytest.mark.postgres
async def test_server_on_postgres_is_ready_and_migrated(
    settings_from: Callable[..., Settings], pg_database: str
) -> None:
    settings = settings_from({"database_url": pg_database})
    async with running_app(settings) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["store"] == "ok"
    engine = create_store_engine(pg_database)
    assert current_revision(engine) == head_revision()
    downgrade_store(engine, "base")
    engine.dispose()


async def test_ready_is_503_when_the_store_is_unreachable(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from(
        {"database_url": "postgresql://nobody@127.0.0.1:1/none", "tracing": {"enabled": False}}
    )
    async with running_app(settings, migrate=False) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "store": "unreachable"}

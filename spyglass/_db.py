"""The store's engine and its schema migrations (Alembic), for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

__all__ = [
    "check_store",
    "create_store_engine",
    "current_revision",
    "downgrade_store",
    "head_revision",
    "upgrade_store",
]

_MIGRATIONS = Path(__file__).parent / "migrations"


def _loads(value: Any) -> Any:
    """A JSON column's value. orjson reads the text; SQLite hands back a bare number itself,
    for a column declared JSON has numeric affinity (a JSON scalar such as an expected answer
    of 42 is stored as the number)."""
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its directory created and WAL mode for concurrency."""
    parsed = make_url(url)
    # orjson reads JSON columns (span attributes, messages) in a third of json.loads' time.
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_deserializer=orjson.loads
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        json_deserializer=_loads,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the writer; NORMAL sync is durable at each checkpoint
        # and safe against corruption on a crash.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint every ~40 MB of WAL rather than 4 MB: a page the trace writer changes in
        # many batches is copied to the database once per checkpoint (~10% of its CPU).
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


# The newest migration (tests/test_migrations.py checks it against alembic's head): a store
# already there is upgraded without loading alembic, which every CLI command would pay.
HEAD_REVISION = "0016"


def upgrade_store(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    if revision == "head" and _stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade_store(engine: Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` removes every table)."""
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of Spyglass ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(
        _alembic_config(create_engine("sqlite://"))
    ).get_current_head()


def _stored_revision(engine: Engine) -> str | None:
    """The store's revision read directly, or None (no table yet, or several heads)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def check_store(engine: Engine) -> None:
    """Raise if the store cannot answer a query."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))

"""Alembic environment: runs migrations on the engine Spyglass hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import evals  # noqa: F401  (registers its tables on SQLModel.metadata)
import gateway  # noqa: F401
import prompts  # noqa: F401
import tracing  # noqa: F401

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Replicas starting together on an empty database take turns (held until commit).
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7254617734)")
    elif not connection.connection.driver_connection.in_transaction:
        # Python's sqlite3 opens a transaction only before an INSERT or UPDATE: without this,
        # a migration that starts with CREATE or DROP TABLE would run outside the migrations'
        # one transaction, and a later failure would not take it back.
        connection.exec_driver_sql("BEGIN")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()

"""Alembic environment: runs migrations on the engine Spyglass hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()

"""SQLite: the trace writer indexes new spans in FTS5 itself; the insert trigger goes.

FTS5 flushes its pending terms to a new segment at every savepoint, and each firing of an
``AFTER INSERT`` trigger runs in one: the trigger made every span its own index segment and
cost ~100 us a span to write (six times the index's own cost). ``TraceStore.write`` now gives
new spans their rowids and inserts their index rows in one statement after them. The delete
and update triggers stay (retention and the backfill are rare and batched).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 11:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS spans_search_insert")


def downgrade() -> None:
    # IF NOT EXISTS: SQLite's DDL is not rolled back with a later revision's failed downgrade
    # (0007's refuses when names clash), so this may run twice.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER IF NOT EXISTS spans_search_insert AFTER INSERT ON spans BEGIN "
            "INSERT INTO span_search (rowid, search_text, attribute_tokens) "
            "VALUES (new.rowid, new.search_text, new.attribute_tokens); END"
        )

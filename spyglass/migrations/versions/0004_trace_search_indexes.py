"""Trace search indexes: each span's searchable text and, on SQLite, its attribute facets.

SQLite: one FTS5 word index over ``spans.search_text`` and ``spans.attribute_tokens`` (external
content, keyed by the spans' rowid, kept in step by triggers). PostgreSQL: a GIN index on the
words of ``spans.search_text`` (its ``simple`` tsvector); its GIN index on ``attributes``
already serves ``attr=``.
Spans already stored are indexed here (``tracing.backfill_indexes``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = "search_text, attribute_tokens"
_TRIGGERS = {
    "spans_search_insert": "AFTER INSERT ON spans BEGIN "
    f"INSERT INTO span_search (rowid, {_COLUMNS}) "
    "VALUES (new.rowid, new.search_text, new.attribute_tokens); END",
    "spans_search_delete": "AFTER DELETE ON spans BEGIN "
    f"INSERT INTO span_search (span_search, rowid, {_COLUMNS}) "
    "VALUES ('delete', old.rowid, old.search_text, old.attribute_tokens); END",
    "spans_search_update": f"AFTER UPDATE OF {_COLUMNS} ON spans BEGIN "
    f"INSERT INTO span_search (span_search, rowid, {_COLUMNS}) "
    "VALUES ('delete', old.rowid, old.search_text, old.attribute_tokens); "
    f"INSERT INTO span_search (rowid, {_COLUMNS}) "
    "VALUES (new.rowid, new.search_text, new.attribute_tokens); END",
}


def upgrade() -> None:
    from tracing import backfill_indexes

    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("spans", sa.Column("search_text", sa.Text(), nullable=True))
    op.add_column("spans", sa.Column("attribute_tokens", sa.Text(), nullable=True))
    backfill_indexes(op.get_bind())
    if sqlite:
        # Words, not trigrams: a trigram index costs ~60 us a span to write, six times more,
        # which ingest at 20,000 spans/s cannot afford. Keyed by the spans' rowid, which
        # VACUUM keeps (SQLite 3.40 copies rowid tables with their rowids).
        op.execute(
            f"CREATE VIRTUAL TABLE span_search USING fts5({_COLUMNS}, content='spans', "
            "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute("INSERT INTO span_search (span_search) VALUES ('rebuild')")
        for name, body in _TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        # Words, as on SQLite (pg_trgm's substrings were tried: 0.2 s for a rare word at 1M
        # spans, its common trigrams' posting lists being long).
        op.execute(
            "CREATE INDEX ix_spans_search_text ON spans "
            "USING gin (to_tsvector('simple', search_text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS span_search")
        op.execute("ALTER TABLE spans DROP COLUMN attribute_tokens")
        op.execute("ALTER TABLE spans DROP COLUMN search_text")
    else:
        op.drop_index("ix_spans_search_text", table_name="spans")
        op.drop_column("spans", "attribute_tokens")
        op.drop_column("spans", "search_text")

"""Scores on traces, spans, sessions and eval rows, and the score configs of each project.

``scores`` keeps every score, corrections included: a corrected score names the one that
``superseded_by`` it. The indexes the trace list's score filters use hold current scores only
(partial indexes, ``WHERE superseded_by IS NULL``). ``score_configs`` is keyed by
``(project, name)``, ``project`` being ``''`` for the configs of no project (NULLs are distinct
in a primary key on neither database, but ``''`` keeps the key a plain column list).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_CURRENT = sa.text("superseded_by IS NULL")


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("session_id", sa.String(256), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("row_index", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("data_type", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("scorer", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("supersedes", sa.String(32), nullable=True),
        sa.Column("superseded_by", sa.String(32), nullable=True),
    )
    for name, columns in (
        ("ix_scores_name_value", ["name", "value", "trace_id"]),
        ("ix_scores_name_label", ["name", "label", "trace_id"]),
    ):
        op.create_index(name, "scores", columns, sqlite_where=_CURRENT, postgresql_where=_CURRENT)
    op.create_index("ix_scores_trace", "scores", ["trace_id", "span_id", "name"])
    op.create_index("ix_scores_session", "scores", ["session_id"])
    op.create_index("ix_scores_run_row", "scores", ["run_id", "row_index"])
    op.create_index("ix_scores_created", "scores", ["created_ns", "id"])
    op.create_index("ix_scores_project_created", "scores", ["project", "created_ns"])
    op.create_table(
        "score_configs",
        sa.Column("project", sa.String(200), primary_key=True, server_default=""),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("data_type", sa.String(16), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("categories", JSON, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("score_configs")
    op.drop_table("scores")

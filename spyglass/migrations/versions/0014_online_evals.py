"""Online evaluation: the trace feed, the queue of traces to score, and its position.

``trace_feed`` is written by the trace store when online evaluation is on (one row per trace
per written batch); ``online_eval_jobs`` holds one row per (rule, trace) until its scores are
written; ``online_eval_state`` the feed position the jobs were made up to.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_feed",
        sa.Column(
            "seq",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("arrived_ns", sa.BigInteger(), nullable=False),
        # SQLite: AUTOINCREMENT, so a number is never given again after the feed is trimmed.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "online_eval_jobs",
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("trace_id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("due_ns", sa.BigInteger(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("lease_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_online_eval_jobs_due", "online_eval_jobs", ["status", "due_ns"])
    op.create_table(
        "online_eval_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("online_eval_state")
    op.drop_table("online_eval_jobs")
    op.drop_table("trace_feed")

"""Review queues: traces (or spans) for people to score, handed to one reviewer at a time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "review_queues",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("score_names", JSON, nullable=False),
        sa.Column("source", JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_review_queues_project", "review_queues", ["project", "created_ns"])
    op.create_table(
        "review_items",
        sa.Column(
            "queue_id",
            sa.String(32),
            sa.ForeignKey("review_queues.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("assigned_to", sa.String(200), nullable=True),
        sa.Column("assigned_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("done_by", sa.String(200), nullable=True),
        sa.Column("done_ns", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_review_items_status", "review_items", ["queue_id", "status", "position"])


def downgrade() -> None:
    op.drop_table("review_items")
    op.drop_table("review_queues")

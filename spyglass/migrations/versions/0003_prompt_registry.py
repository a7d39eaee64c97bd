"""Prompt registry: prompts, their versions, labels and label history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _prompt_fk() -> sa.Column[int]:
    return sa.Column(
        "prompt_id",
        sa.Integer(),
        sa.ForeignKey("prompts.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "prompt_versions",
        _prompt_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("template", JSON, nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("model_config", JSON, nullable=False),
        sa.Column("tools", JSON, nullable=True),
        sa.Column("response_format", JSON, nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version"),
    )
    op.create_table(
        "prompt_labels",
        _prompt_fk(),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "label"),
    )
    op.create_table(
        "prompt_label_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        _prompt_fk(),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_prompt_label_events_prompt", "prompt_label_events", ["prompt_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_prompt_label_events_prompt", table_name="prompt_label_events")
    op.drop_table("prompt_label_events")
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")

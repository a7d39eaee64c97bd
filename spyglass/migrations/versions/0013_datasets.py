"""The dataset registry: named datasets, their immutable versions and their rows.

A row is stored once with the version that added it and the one that removed or replaced it
(``removed_in``): a version is read back as the rows added at or before it and not removed by
then. ``datasets`` is unique per ``(project, name)``, ``project`` being ``''`` for no project.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False, server_default=""),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_datasets_project_name", "datasets", ["project", "name"], unique=True)
    op.create_table(
        "dataset_versions",
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("removed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dataset_rows",
        sa.Column(
            "dataset_id",
            sa.Integer(),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("row_id", sa.String(32), primary_key=True),
        sa.Column("first_version", sa.Integer(), primary_key=True),
        sa.Column("removed_in", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("input", JSON, nullable=False),
        sa.Column("expected", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("source_trace_id", sa.String(32), nullable=True),
        sa.Column("source_span_id", sa.String(16), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_dataset_rows_version", "dataset_rows", ["dataset_id", "first_version", "position"]
    )
    op.create_index("ix_dataset_rows_source", "dataset_rows", ["source_trace_id"])


def downgrade() -> None:
    op.drop_table("dataset_rows")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")

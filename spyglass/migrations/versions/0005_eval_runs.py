"""Tracked eval runs: experiments, runs, per-row results, and the eval response cache.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "eval_experiments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=True),
        _when("created_at"),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer(),
            sa.ForeignKey("eval_experiments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("invocation", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("dataset_hash", sa.String(length=64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        _when("created_at"),
        _when("finished_at", nullable=True),
    )
    op.create_index("ix_eval_runs_experiment", "eval_runs", ["experiment_id", "created_at"])
    op.create_index("ix_eval_runs_invocation", "eval_runs", ["invocation"])
    op.create_table(
        "eval_results",
        sa.Column(
            "run_id",
            sa.String(length=32),
            sa.ForeignKey("eval_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("expected", JSON, nullable=True),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("run_id", "row_index", "repeat"),
    )
    op.create_table(
        "eval_cache",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("model", sa.String(length=400), nullable=False),
        sa.Column("response", JSON, nullable=False),
        _when("created_at"),
    )


def downgrade() -> None:
    op.drop_table("eval_cache")
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_invocation", table_name="eval_runs")
    op.drop_index("ix_eval_runs_experiment", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("eval_experiments")

"""Trace store: one row per span, one summary row per trace, with their query indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:31:40.240250
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("span_kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("scope_name", sa.String(length=256), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("prompt", sa.String(length=256), nullable=True),
        sa.Column("is_attempt", sa.Boolean(), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("trace_id", "span_id"),
    )
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index("ix_spans_kind_start", ["kind", "start_ns"], unique=False)
        batch_op.create_index("ix_spans_start", ["start_ns"], unique=False)
        batch_op.create_index("ix_spans_trace_parent", ["trace_id", "parent_span_id"], unique=False)
        batch_op.create_index("ix_spans_trace_start", ["trace_id", "start_ns"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Attribute-equality filters use JSONB containment (@>), which this index serves.
        op.create_index(
            "ix_spans_attributes",
            "spans",
            ["attributes"],
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        )

    op.create_table(
        "traces",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("root_span_id", sa.String(length=16), nullable=True),
        sa.Column("service_name", sa.String(length=256), nullable=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("llm_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.Column("prompt", sa.String(length=256), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("trace_id"),
    )
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.create_index("ix_traces_cost", ["cost"], unique=False)
        batch_op.create_index("ix_traces_duration", ["duration_ms"], unique=False)
        batch_op.create_index("ix_traces_key_start", ["key_id", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_model_start", ["model", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_name_start", ["name", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_prompt_start", ["prompt", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_provider_start", ["provider", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_session_start", ["session_id", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_start", ["start_ns", "trace_id"], unique=False)
        batch_op.create_index("ix_traces_status_start", ["status", "start_ns"], unique=False)
        batch_op.create_index("ix_traces_user_start", ["user_id", "start_ns"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("traces", schema=None) as batch_op:
        batch_op.drop_index("ix_traces_user_start")
        batch_op.drop_index("ix_traces_status_start")
        batch_op.drop_index("ix_traces_start")
        batch_op.drop_index("ix_traces_session_start")
        batch_op.drop_index("ix_traces_provider_start")
        batch_op.drop_index("ix_traces_prompt_start")
        batch_op.drop_index("ix_traces_name_start")
        batch_op.drop_index("ix_traces_model_start")
        batch_op.drop_index("ix_traces_key_start")
        batch_op.drop_index("ix_traces_duration")
        batch_op.drop_index("ix_traces_cost")

    op.drop_table("traces")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_spans_attributes", table_name="spans")
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("ix_spans_trace_start")
        batch_op.drop_index("ix_spans_trace_parent")
        batch_op.drop_index("ix_spans_start")
        batch_op.drop_index("ix_spans_kind_start")

    op.drop_table("spans")

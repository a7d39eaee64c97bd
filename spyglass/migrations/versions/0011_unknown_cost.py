"""A call whose price is unknown has no cost, not a cost of 0: traces count such calls.

``traces.unpriced_count`` is how many of a trace's counted calls have no known cost (a call
that failed without using a token cost nothing, so is not one of them); the API
shows a trace's cost as unknown (null) when none of its calls has one. Stored traces are
counted here. Spans stored before this revision keep the cost they were stored with: calls
through an unpriced gateway deployment then said 0, and stay 0.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "traces",
        sa.Column("unpriced_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE traces SET unpriced_count = (SELECT count(*) FROM spans "
        "WHERE spans.trace_id = traces.trace_id AND spans.kind IN ('llm', 'embedding') "
        "AND NOT spans.is_attempt AND NOT spans.wraps_call AND spans.cost IS NULL "
        "AND (spans.input_tokens IS NOT NULL OR spans.output_tokens IS NOT NULL "
        "OR spans.status <> 'error')) "
        "WHERE llm_count > 0"
    )


def downgrade() -> None:
    """SQLite runs DDL outside the migration's transaction (see 0010): skip a done step."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("traces")}
    if "unpriced_count" in columns:
        op.drop_column("traces", "unpriced_count")

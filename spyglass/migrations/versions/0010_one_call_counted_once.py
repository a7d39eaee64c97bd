"""One call is counted once: an LLM span with an LLM call beneath it is a wrapper.

An application that traces its LLM client and calls the gateway with ``traceparent`` sends a
span for the same call the gateway's request span records; LangChain's span around an OpenAI
instrumentation's is another. ``spans.wraps_call`` marks such wrappers, and trace summaries
leave their usage out (see ``tracing._store``). Spans stored before this revision are marked
here, and the summaries of their traces recomputed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_CALL = "{0}.kind IN ('llm', 'embedding') AND NOT {0}.is_attempt"
_COUNTED = (
    "FROM spans WHERE spans.trace_id = traces.trace_id AND "
    + _CALL.format("spans")
    + " AND NOT spans.wraps_call"
)


def upgrade() -> None:
    op.add_column(
        "spans",
        sa.Column("wraps_call", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    true = "true" if op.get_bind().dialect.name == "postgresql" else "1"
    op.execute(
        f"UPDATE spans SET wraps_call = {true} WHERE {_CALL.format('spans')} AND EXISTS "
        "(SELECT 1 FROM spans AS child WHERE child.trace_id = spans.trace_id "
        f"AND child.parent_span_id = spans.span_id AND {_CALL.format('child')})"
    )
    op.execute(
        "UPDATE traces SET "
        f"llm_count = (SELECT count(*) {_COUNTED}), "
        f"input_tokens = (SELECT coalesce(sum(spans.input_tokens), 0) {_COUNTED}), "
        f"output_tokens = (SELECT coalesce(sum(spans.output_tokens), 0) {_COUNTED}), "
        f"cost = (SELECT coalesce(sum(spans.cost), 0) {_COUNTED}) "
        "WHERE trace_id IN (SELECT trace_id FROM spans WHERE wraps_call)"
    )


def downgrade() -> None:
    """Summaries keep the corrected figures. SQLite runs DDL outside the migration's
    transaction, so a later step refusing to go on (0007's) may leave this one done: run
    again, it finds the column gone and skips."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("spans")}
    if "wraps_call" in columns:
        op.drop_column("spans", "wraps_call")

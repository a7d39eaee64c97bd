"""A trace's status no longer counts its gateway attempts: a call that succeeded on a retry
is an ok trace (its failed attempt stays a failed attempt span).

Until now any failed span made its trace an error. Traces stored that way are recomputed:
an error only when a span that is not an attempt failed, its error message that span's.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_FAILED = (
    "FROM spans WHERE spans.trace_id = traces.trace_id AND spans.status = 'error' "
    "AND NOT spans.is_attempt"
)


def upgrade() -> None:
    op.execute(
        "UPDATE traces SET "
        f"error = (SELECT coalesce(spans.status_message, spans.name) {_FAILED} "
        "ORDER BY spans.start_ns LIMIT 1), "
        f"status = CASE WHEN EXISTS (SELECT 1 {_FAILED}) THEN 'error' ELSE 'ok' END "
        "WHERE status = 'error'"
    )


def downgrade() -> None:
    """Nothing to undo: the older rule would count the attempts again for new traces only."""

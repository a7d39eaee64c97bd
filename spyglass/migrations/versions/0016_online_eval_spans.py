"""A span says which online rule a judge's call was for (``spans.online_eval``).

Such calls are not user traffic: usage statistics leave them out unless asked for them, and a
rule's judges' cost is theirs. The column is new and nullable: adding it rewrites nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spans", sa.Column("online_eval", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column("spans", "online_eval")

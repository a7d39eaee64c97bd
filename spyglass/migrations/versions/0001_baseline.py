"""Baseline: the store starts versioned; later revisions add each package's tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create: this revision marks a store as managed by Spyglass."""


def downgrade() -> None:
    """Nothing to drop."""

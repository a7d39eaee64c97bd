"""Review queues' tables: a queue of traces (or spans) for people to score, and its items.

An item is handed to one reviewer at a time, for ``lease`` seconds: several reviewers work
through a queue at once without scoring the same trace twice, and an item a reviewer left
(closed the tab) goes to the next one when its lease runs out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["REVIEW_ITEMS", "REVIEW_QUEUES", "ReviewItemRecord", "ReviewQueueRecord"]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class ReviewQueueRecord(SQLModel, table=True):
    """A queue: its name, the score configs reviewers are asked for, where its items came from."""

    __tablename__ = "review_queues"
    __table_args__ = (Index("ix_review_queues_project", "project", "created_ns"),)

    id: str = Field(primary_key=True, max_length=32)
    project: str | None = Field(default=None, max_length=200)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    score_names: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str | None = Field(default=None, max_length=200)
    created_ns: int = Field(sa_type=BigInteger)


class ReviewItemRecord(SQLModel, table=True):
    """One trace (or span) of a queue, in order, and who is on it or did it."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_status", "queue_id", "status", "position"),)

    queue_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("review_queues.id", ondelete="CASCADE"), primary_key=True
        )
    )
    position: int = Field(primary_key=True)
    trace_id: str = Field(max_length=32)
    span_id: str | None = Field(default=None, max_length=16)
    status: str = Field(default="pending", max_length=16, description="pending, done or skipped")
    assigned_to: str | None = Field(default=None, max_length=200)
    assigned_until_ns: int | None = Field(default=None, sa_type=BigInteger)
    done_by: str | None = Field(default=None, max_length=200)
    done_ns: int | None = Field(default=None, sa_type=BigInteger)


REVIEW_QUEUES: Table = ReviewQueueRecord.__table__  # type: ignore[attr-defined]
REVIEW_ITEMS: Table = ReviewItemRecord.__table__  # type: ignore[attr-defined]

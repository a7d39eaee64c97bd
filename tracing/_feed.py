"""The trace feed: which traces the store received, in the order it received them.

Written by the store when something consumes it (online evaluation): one row per trace per
written batch, in the batch's transaction, under the lock writers already take in turn, so
``seq`` grows in commit order with no gaps a reader could skip. Readers keep their own place
(``after``) and trim what every reader has passed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Integer, Table, delete, select
from sqlmodel import Field, SQLModel

__all__ = ["TRACE_FEED", "TraceFeedRecord", "read_feed", "trim_feed"]


class TraceFeedRecord(SQLModel, table=True):
    """A trace that arrived (or got more spans) in one write."""

    __tablename__ = "trace_feed"
    # Never reuse a number (SQLite would give a trimmed feed's next row the last one's again).
    __table_args__ = {"sqlite_autoincrement": True}

    # SQLite numbers rows itself only for an INTEGER PRIMARY KEY (its rowid, 64 bits anyway).
    seq: int | None = Field(
        default=None,
        sa_column=Column(
            Integer().with_variant(BigInteger(), "postgresql"),
            primary_key=True,
            autoincrement=True,
        ),
    )
    trace_id: str = Field(max_length=32)
    arrived_ns: int = Field(sa_type=BigInteger)


TRACE_FEED: Table = TraceFeedRecord.__table__  # type: ignore[attr-defined]


def read_feed(engine: Engine, after: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Feed rows past ``after``, oldest first: ``{seq, trace_id, arrived_ns}``."""
    f = TRACE_FEED.c
    query = select(TRACE_FEED).where(f.seq > after).order_by(f.seq).limit(limit)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def trim_feed(engine: Engine, upto: int) -> int:
    """Delete the feed rows up to ``upto`` (every reader is past them); returns how many."""
    with engine.begin() as connection:
        done = connection.execute(delete(TRACE_FEED).where(TRACE_FEED.c.seq <= upto))
    return int(done.rowcount)

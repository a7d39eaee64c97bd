"""Online evaluation's tables: the persisted queue of traces to score, and the feed position.

A job is one (rule, trace): its primary key, so a trace sampled by a rule is queued once
however many replicas read the feed. A claimed job carries who claimed it and until when; a
replica that dies leaves its jobs to be claimed again when the lease runs out.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Table
from sqlmodel import Field, SQLModel

__all__ = ["JOBS", "STATE", "OnlineJobRecord", "OnlineStateRecord"]


class OnlineJobRecord(SQLModel, table=True):
    """A trace waiting for (or being given) a rule's scores."""

    __tablename__ = "online_eval_jobs"
    __table_args__ = (Index("ix_online_eval_jobs_due", "status", "due_ns"),)

    rule: str = Field(primary_key=True, max_length=100)
    trace_id: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="pending", max_length=16, description="pending or running")
    due_ns: int = Field(sa_type=BigInteger, description="not before: arrival + the rule's delay")
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until_ns: int | None = Field(default=None, sa_type=BigInteger)
    attempts: int = 0
    created_ns: int = Field(sa_type=BigInteger)


class OnlineStateRecord(SQLModel, table=True):
    """Named positions: ``feed`` is the last trace-feed row turned into jobs."""

    __tablename__ = "online_eval_state"

    name: str = Field(primary_key=True, max_length=64)
    value: int = Field(default=0, sa_type=BigInteger)


JOBS: Table = OnlineJobRecord.__table__  # type: ignore[attr-defined]
STATE: Table = OnlineStateRecord.__table__  # type: ignore[attr-defined]

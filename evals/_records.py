"""The tracked runs' tables: experiments, runs, per-row results, and the response cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["CacheRecord", "ExperimentRecord", "ResultRecord", "RunRecord"]

JSONType = JSON().with_variant(JSONB(), "postgresql")


def _when(nullable: bool = False) -> Any:
    return Column(DateTime(timezone=True), nullable=nullable)


def _json(nullable: bool = False) -> Any:
    return Column(JSONType, nullable=nullable)


class ExperimentRecord(SQLModel, table=True):
    """One experiment per eval name; its runs accumulate over time."""

    __tablename__ = "eval_experiments"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    description: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_column=_when())


class RunRecord(SQLModel, table=True):
    """One variant of one invocation: its params, its metrics once finished, tags and notes.

    ``spec`` holds what ``eval resume`` / ``eval rerun`` need to run it again exactly: the
    dataset section, the variant with its prompt pinned to a version, scorers and settings.
    """

    __tablename__ = "eval_runs"
    __table_args__ = (
        Index("ix_eval_runs_experiment", "experiment_id", "created_at"),
        Index("ix_eval_runs_invocation", "invocation"),
        Index("ix_eval_runs_project", "project", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    experiment_id: int = Field(
        sa_column=Column(ForeignKey("eval_experiments.id", ondelete="CASCADE"), nullable=False)
    )
    invocation: str = Field(max_length=32)
    variant: str = Field(max_length=400)
    status: str = Field(max_length=16)
    total: int
    dataset_hash: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    metrics: dict[str, Any] | None = Field(default=None, sa_column=_json(nullable=True))
    tags: list[str] = Field(default_factory=list, sa_column=_json())
    notes: str | None = Field(default=None, sa_type=Text)
    project: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=_when())
    finished_at: datetime | None = Field(default=None, sa_column=_when(nullable=True))


class ResultRecord(SQLModel, table=True):
    """One row of a run (per repeat): inputs, output, expected, scores, and its trace."""

    __tablename__ = "eval_results"

    run_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True
        )
    )
    row_index: int = Field(primary_key=True)
    repeat: int = Field(default=0, primary_key=True)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    output: str | None = Field(default=None, sa_type=Text)
    expected: Any = Field(default=None, sa_column=_json(nullable=True))
    scores: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    error: str | None = Field(default=None, sa_type=Text)
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    trace_id: str | None = Field(default=None, max_length=32)
    cached: bool = False
    created_at: datetime = Field(sa_column=_when())


class CacheRecord(SQLModel, table=True):
    """A model's answer, keyed on a hash of (model, messages, params[, repeat])."""

    __tablename__ = "eval_cache"

    key: str = Field(primary_key=True, max_length=64)
    model: str = Field(max_length=400)
    response: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime = Field(sa_column=_when())

"""The score tables: scores on traces, spans, sessions and eval result rows, and their configs.

A score is never updated in place but once: when a correction arrives, the score it corrects
gets ``superseded_by`` (and the correction ``supersedes``), so a target's history is kept and
its current scores are those with no ``superseded_by``. The indexes that serve the trace list's
score filters hold only current scores (partial indexes on both databases).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["SCORES", "SCORE_CONFIGS", "ScoreConfigRecord", "ScoreRecord"]

JSONType = JSON().with_variant(JSONB(), "postgresql")
_CURRENT = text("superseded_by IS NULL")


class ScoreRecord(SQLModel, table=True):
    """One score: a name and a value (a number, a boolean or a category label) for a target."""

    __tablename__ = "scores"
    __table_args__ = (
        Index(
            "ix_scores_name_value",
            "name",
            "value",
            "trace_id",
            sqlite_where=_CURRENT,
            postgresql_where=_CURRENT,
        ),
        Index(
            "ix_scores_name_label",
            "name",
            "label",
            "trace_id",
            sqlite_where=_CURRENT,
            postgresql_where=_CURRENT,
        ),
        Index("ix_scores_trace", "trace_id", "span_id", "name"),
        Index("ix_scores_session", "session_id"),
        Index("ix_scores_run_row", "run_id", "row_index"),
        Index("ix_scores_created", "created_ns", "id"),
        Index("ix_scores_project_created", "project", "created_ns"),
    )

    id: str = Field(primary_key=True, max_length=32)
    project: str | None = Field(default=None, max_length=200)
    target: str = Field(max_length=16, description="trace, span, session or eval_row")
    trace_id: str | None = Field(default=None, max_length=32)
    span_id: str | None = Field(default=None, max_length=16)
    session_id: str | None = Field(default=None, max_length=256)
    run_id: str | None = Field(default=None, max_length=32)
    row_index: int | None = None
    name: str = Field(max_length=200)
    data_type: str = Field(max_length=16, description="numeric, boolean or categorical")
    value: float | None = Field(default=None, description="the number; 1 or 0 for a boolean")
    label: str | None = Field(default=None, max_length=200, description="a category's label")
    comment: str | None = Field(default=None, sa_type=Text)
    source: str = Field(max_length=16, description="human, api, online or eval")
    author: str | None = Field(default=None, max_length=200, description="the key that wrote it")
    user_id: str | None = Field(default=None, max_length=256, description="the end user, if any")
    scorer: str | None = Field(default=None, max_length=200, description="the rule or scorer")
    error: str | None = Field(default=None, sa_type=Text, description="why a scorer failed")
    metadata_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSONType, nullable=False)
    )
    created_ns: int = Field(sa_type=BigInteger)
    supersedes: str | None = Field(default=None, max_length=32)
    superseded_by: str | None = Field(default=None, max_length=32)


class ScoreConfigRecord(SQLModel, table=True):
    """What a score name means in a project: its type, range or categories.

    ``project`` is ``''`` for the configs of no project, which projects fall back to.
    """

    __tablename__ = "score_configs"

    project: str = Field(default="", primary_key=True, max_length=200)
    name: str = Field(primary_key=True, max_length=200)
    data_type: str = Field(max_length=16)
    min_value: float | None = None
    max_value: float | None = None
    categories: list[str] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    description: str | None = Field(default=None, sa_type=Text)
    archived: bool = False
    created_ns: int = Field(sa_type=BigInteger)
    updated_ns: int = Field(sa_type=BigInteger)


SCORES: Table = ScoreRecord.__table__  # type: ignore[attr-defined]
SCORE_CONFIGS: Table = ScoreConfigRecord.__table__  # type: ignore[attr-defined]

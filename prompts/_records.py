"""The registry's tables: prompts, their versions, where labels point, and label moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = ["LabelEventRecord", "LabelRecord", "PromptRecord", "PromptVersionRecord"]

JSONType = JSON().with_variant(JSONB(), "postgresql")


def _when() -> Any:
    return Column(DateTime(timezone=True), nullable=False)


class PromptRecord(SQLModel, table=True):
    """A prompt: its name (unique in its project), description and tags.

    ``project`` is ``''`` for prompts outside any project, not NULL: NULLs are distinct in a
    unique index, so two unscoped prompts could otherwise share a name.
    """

    __tablename__ = "prompts"
    __table_args__ = (Index("ux_prompts_project_name", "project", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    project: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    description: str | None = Field(default=None, sa_type=Text)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(sa_column=_when())
    updated_at: datetime = Field(sa_column=_when())


class PromptVersionRecord(SQLModel, table=True):
    """One immutable version; ``content_hash`` makes a re-push of the same content a no-op."""

    __tablename__ = "prompt_versions"

    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int = Field(primary_key=True)
    engine: str = Field(max_length=16)
    template: Any = Field(sa_column=Column(JSONType, nullable=False))
    variables: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    model_config_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("model_config", JSONType, nullable=False)
    )
    tools: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    response_format: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    message: str | None = Field(default=None, sa_type=Text)
    author: str | None = Field(default=None, max_length=200)
    content_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_when())


class LabelRecord(SQLModel, table=True):
    """Where a label points now."""

    __tablename__ = "prompt_labels"

    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    )
    label: str = Field(primary_key=True, max_length=64)
    version: int
    updated_by: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(sa_column=_when())


class LabelEventRecord(SQLModel, table=True):
    """A label move: who, when, from which version to which (None: created / removed)."""

    __tablename__ = "prompt_label_events"
    __table_args__ = (Index("ix_prompt_label_events_prompt", "prompt_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(
        sa_column=Column(Integer, ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False)
    )
    label: str = Field(max_length=64)
    from_version: int | None = None
    to_version: int | None = None
    actor: str | None = Field(default=None, max_length=200)
    at: datetime = Field(sa_column=_when())

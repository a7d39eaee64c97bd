"""The dataset registry's tables: named datasets, their immutable versions, and their rows.

A version is never rewritten. A row is stored once, with the version that added it
(``first_version``) and the one that removed or replaced it (``removed_in``, NULL while it is
still there): version N holds the rows with ``first_version <= N < removed_in``. An edit
removes the row in the new version and adds its new content under the same ``row_id``, so a
change costs what it changes, and any version reads back exactly as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "DATASETS",
    "DATASET_ROWS",
    "DATASET_VERSIONS",
    "DatasetRecord",
    "DatasetRowRecord",
    "DatasetVersionRecord",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")


class DatasetRecord(SQLModel, table=True):
    """A named dataset of a project (``''``: of no project) and its newest version."""

    __tablename__ = "datasets"
    __table_args__ = (Index("ux_datasets_project_name", "project", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    project: str = Field(default="", max_length=200)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    latest_version: int = 0
    created_ns: int = Field(sa_type=BigInteger)
    updated_ns: int = Field(sa_type=BigInteger)


class DatasetVersionRecord(SQLModel, table=True):
    """One immutable version: who made it, why, and what it changed."""

    __tablename__ = "dataset_versions"

    dataset_id: int = Field(
        sa_column=Column(Integer, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int = Field(primary_key=True)
    row_count: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    message: str | None = Field(default=None, sa_type=Text)
    author: str | None = Field(default=None, max_length=200)
    created_ns: int = Field(sa_type=BigInteger)


class DatasetRowRecord(SQLModel, table=True):
    """A row's content in the versions from ``first_version`` until ``removed_in``."""

    __tablename__ = "dataset_rows"
    __table_args__ = (
        Index("ix_dataset_rows_version", "dataset_id", "first_version", "position"),
        Index("ix_dataset_rows_source", "source_trace_id"),
    )

    dataset_id: int = Field(
        sa_column=Column(Integer, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    )
    row_id: str = Field(primary_key=True, max_length=32)
    first_version: int = Field(primary_key=True)
    removed_in: int | None = None
    position: int = Field(description="its order among the rows its version added")
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    expected: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    metadata_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSONType, nullable=False)
    )
    source_trace_id: str | None = Field(default=None, max_length=32)
    source_span_id: str | None = Field(default=None, max_length=16)
    content_hash: str = Field(max_length=64)


DATASETS: Table = DatasetRecord.__table__  # type: ignore[attr-defined]
DATASET_VERSIONS: Table = DatasetVersionRecord.__table__  # type: ignore[attr-defined]
DATASET_ROWS: Table = DatasetRowRecord.__table__  # type: ignore[attr-defined]

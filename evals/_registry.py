"""The dataset registry: named datasets whose every change makes a new, immutable version.

``DatasetStore(engine)`` pushes a file's rows as a new version (rows already there are kept,
the others removed or added), adds, edits and deletes rows (each call one new version), reads
any version back exactly, and diffs two versions. A row has ``input`` (the columns a prompt
uses), ``expected`` (the reference answer), ``metadata``, and, when it came from production,
the trace and span it was taken from. Datasets belong to a project (``None``: to no project).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, or_, select, update

from ._registry_records import DATASET_ROWS, DATASET_VERSIONS, DATASETS
from .errors import DatasetError, DatasetNotFoundError

__all__ = ["DatasetRow", "DatasetStore", "NewRow", "rows_from_columns"]

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass
class NewRow:
    """A row to add: its input columns, expected answer, metadata and production source."""

    input: dict[str, Any]
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source_trace_id: str | None = None
    source_span_id: str | None = None

    def content_hash(self) -> str:
        body = {"input": self.input, "expected": self.expected, "metadata": self.metadata}
        try:
            text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
        except TypeError:  # an integer past 64 bits, which orjson refuses: json holds it
            text = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(text).hexdigest()


@dataclass(frozen=True)
class DatasetRow:
    """A row as a version holds it."""

    row_id: str
    input: dict[str, Any]
    expected: Any
    metadata: dict[str, Any]
    source_trace_id: str | None
    source_span_id: str | None
    version_added: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "input": self.input,
            "expected": self.expected,
            "metadata": self.metadata,
            "source_trace_id": self.source_trace_id,
            "source_span_id": self.source_span_id,
            "version_added": self.version_added,
        }

    def columns(self, expected_column: str = "expected") -> dict[str, Any]:
        """The row as an eval reads it: its input columns and the expected answer."""
        return {**self.input, expected_column: self.expected}


def rows_from_columns(
    records: Iterable[dict[str, Any]], *, expected: str = "expected", metadata: str = "metadata"
) -> list[NewRow]:
    """Flat records (a file's rows) as registry rows: ``expected`` and ``metadata`` columns
    apart, every other column an input."""
    out = []
    for record in records:
        extra = record.get(metadata)
        out.append(
            NewRow(
                input={k: v for k, v in record.items() if k not in (expected, metadata)},
                expected=record.get(expected),
                metadata=extra if isinstance(extra, dict) else {},
            )
        )
    return out


def _check_name(name: str) -> None:
    if not name or len(name) > 200 or not set(name) <= NAME_CHARS or name[0] == ".":
        raise DatasetError(
            f"a dataset name is letters, digits, - _ and . (got {name!r})", where="name"
        )


class DatasetStore:
    """Registry datasets in the store (SQLite or PostgreSQL), through one engine."""

    def __init__(self, engine: Engine, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.engine = engine
        self.clock = clock

    # -- reading --------------------------------------------------------------------------

    def datasets(self, project: str | None = None) -> list[dict[str, Any]]:
        """A project's datasets by name, with their newest version and its row count."""
        d, v = DATASETS.c, DATASET_VERSIONS.c
        query = (
            select(d.name, d.description, d.latest_version, d.updated_ns, v.row_count)
            .select_from(
                DATASETS.outerjoin(
                    DATASET_VERSIONS, and_(v.dataset_id == d.id, v.version == d.latest_version)
                )
            )
            .where(d.project == (project or ""))
            .order_by(d.name)
        )
        with self.engine.connect() as connection:
            return [
                {**dict(row._mapping), "row_count": row.row_count or 0, "project": project}
                for row in connection.execute(query)
            ]

    def _dataset(self, connection: Connection, name: str, project: str | None) -> Any:
        d = DATASETS.c
        row = connection.execute(
            select(DATASETS).where(d.project == (project or ""), d.name == name)
        ).first()
        if row is None:
            raise DatasetNotFoundError(f"no dataset {name!r}", where="name")
        return row

    def resolve(self, name: str, version: int | str | None, project: str | None) -> int:
        """The number ``version`` names (``latest``/None: the newest); DatasetNotFoundError."""
        with self.engine.connect() as connection:
            dataset = self._dataset(connection, name, project)
        return self._resolved(dataset, version)

    @staticmethod
    def _resolved(dataset: Any, version: int | str | None) -> int:
        if version in (None, "latest"):
            if dataset.latest_version == 0:
                raise DatasetNotFoundError(
                    f"dataset {dataset.name!r} has no rows yet", where="version"
                )
            return int(dataset.latest_version)
        if not isinstance(version, int) or isinstance(version, bool):
            raise DatasetError(
                f"expected a version number or latest, got {version!r}", where="version"
            )
        if not 1 <= version <= dataset.latest_version:
            raise DatasetNotFoundError(
                f"dataset {dataset.name!r} has versions 1 to {dataset.latest_version}, "
                f"not {version}",
                where="version",
            )
        return version

    def reader(
        self, project: str | None
    ) -> Callable[[str, int | str | None], tuple[int, list[dict[str, Any]]]]:
        """Reads a project's datasets as eval files name them (``evals.Registry``): the
        version read, and its rows as columns (inputs, and ``expected``)."""

        def read(name: str, version: int | str | None) -> tuple[int, list[dict[str, Any]]]:
            number, found = self.rows(name, version, project)
            return number, [row.columns() for row in found]

        return read

    def versions(self, name: str, project: str | None = None) -> list[dict[str, Any]]:
        """A dataset's versions, newest first."""
        v = DATASET_VERSIONS.c
        with self.engine.connect() as connection:
            dataset = self._dataset(connection, name, project)
            rows = connection.execute(
                select(DATASET_VERSIONS)
                .where(v.dataset_id == dataset.id)
                .order_by(v.version.desc())
            )
            return [
                {k: val for k, val in row._mapping.items() if k != "dataset_id"} for row in rows
            ]

    def rows(
        self, name: str, version: int | str | None = None, project: str | None = None
    ) -> tuple[int, list[DatasetRow]]:
        """The version's number and its rows in order (the order they were added in)."""
        with self.engine.connect() as connection:
            dataset = self._dataset(connection, name, project)
            number = self._resolved(dataset, version)
            return number, self._rows_at(connection, dataset.id, number)

    def _rows_at(self, connection: Connection, dataset_id: int, version: int) -> list[DatasetRow]:
        r = DATASET_ROWS.c
        query = (
            select(DATASET_ROWS)
            .where(
                r.dataset_id == dataset_id,
                r.first_version <= version,
                or_(r.removed_in.is_(None), r.removed_in > version),
            )
            .order_by(r.first_version, r.position)
        )
        return [
            DatasetRow(
                row_id=row.row_id,
                input=row.input,
                expected=row.expected,
                metadata=row.metadata or {},
                source_trace_id=row.source_trace_id,
                source_span_id=row.source_span_id,
                version_added=row.first_version,
            )
            for row in connection.execute(query)
        ]

    def diff(
        self, name: str, before: int | str, after: int | str, project: str | None = None
    ) -> dict[str, Any]:
        """What changed from one version to another: rows added, removed and changed."""
        with self.engine.connect() as connection:
            dataset = self._dataset(connection, name, project)
            a, b = self._resolved(dataset, before), self._resolved(dataset, after)
            old = {row.row_id: row for row in self._rows_at(connection, dataset.id, a)}
            new = {row.row_id: row for row in self._rows_at(connection, dataset.id, b)}
        changed = [
            {"before": old[k].to_dict(), "after": new[k].to_dict()}
            for k in new
            if k in old and old[k].version_added != new[k].version_added
        ]
        return {
            "before": a,
            "after": b,
            "added": [new[k].to_dict() for k in new if k not in old],
            "removed": [old[k].to_dict() for k in old if k not in new],
            "changed": changed,
        }

    # -- writing --------------------------------------------------------------------------

    def push(
        self,
        name: str,
        rows: Sequence[NewRow],
        *,
        project: str | None = None,
        message: str | None = None,
        author: str | None = None,
        description: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Make ``rows`` the dataset's content (creating it): rows already there stay, the rest
        are removed or added. Returns the version and whether it is new (the same rows again
        make no version)."""
        _check_name(name)

        def change(current: list[DatasetRow]) -> tuple[list[str], list[NewRow]]:
            by_hash: dict[str, list[str]] = defaultdict(list)
            for old in current:
                by_hash[_hash_of(old)].append(old.row_id)
            added = []
            for new in rows:
                kept = by_hash.get(new.content_hash())
                if kept:
                    kept.pop(0)
                else:
                    added.append(new)
            removed = [row_id for ids in by_hash.values() for row_id in ids]
            return removed, added

        return self._change(
            name, project, message, author, change, create=True, description=description
        )

    def add(
        self,
        name: str,
        rows: Sequence[NewRow],
        *,
        project: str | None = None,
        message: str | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Add rows (creating the dataset): one new version."""
        _check_name(name)
        if not rows:
            raise DatasetError("no rows to add", where="rows")
        version, _ = self._change(
            name, project, message, author, lambda current: ([], list(rows)), create=True
        )
        return version

    def edit(
        self,
        name: str,
        row_id: str,
        row: NewRow,
        *,
        project: str | None = None,
        message: str | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Replace a row's content (it keeps its id and its source): one new version."""

        def change(current: list[DatasetRow]) -> tuple[list[str], list[NewRow]]:
            found = next((r for r in current if r.row_id == row_id), None)
            if found is None:
                raise DatasetNotFoundError(f"no row {row_id} in dataset {name!r}", where="row_id")
            row.source_trace_id = row.source_trace_id or found.source_trace_id
            row.source_span_id = row.source_span_id or found.source_span_id
            return [row_id], [row]

        version, _ = self._change(name, project, message, author, change, keep_ids={0: row_id})
        return version

    def delete(
        self,
        name: str,
        row_ids: Sequence[str],
        *,
        project: str | None = None,
        message: str | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Remove rows: one new version."""

        def change(current: list[DatasetRow]) -> tuple[list[str], list[NewRow]]:
            present = {r.row_id for r in current}
            for row_id in row_ids:
                if row_id not in present:
                    raise DatasetNotFoundError(
                        f"no row {row_id} in dataset {name!r}", where="row_id"
                    )
            return list(row_ids), []

        version, _ = self._change(name, project, message, author, change)
        return version

    def _change(
        self,
        name: str,
        project: str | None,
        message: str | None,
        author: str | None,
        change: Callable[[list[DatasetRow]], tuple[list[str], list[NewRow]]],
        *,
        create: bool = False,
        description: str | None = None,
        keep_ids: dict[int, str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """One new version, made by ``change(current rows) -> (ids removed, rows added)``, in
        one transaction that holds the dataset's row (writers of one dataset take turns)."""
        now = self.clock()
        d, r = DATASETS.c, DATASET_ROWS.c
        with self.engine.begin() as connection:
            dataset = self._locked(connection, name, project, create, description, now)
            current_version = int(dataset.latest_version)
            current = (
                self._rows_at(connection, dataset.id, current_version) if current_version else []
            )
            removed, added = change(current)
            if not removed and not added:
                if current_version == 0:
                    raise DatasetError(
                        "no rows: a dataset's first version needs some", where="rows"
                    )
                return self._version(connection, dataset.id, current_version), False
            version = current_version + 1
            present = {row.row_id for row in current}
            if removed:
                connection.execute(
                    update(DATASET_ROWS)
                    .where(
                        r.dataset_id == dataset.id,
                        r.row_id.in_(removed),
                        r.removed_in.is_(None),
                    )
                    .values(removed_in=version)
                )
            if added:
                connection.execute(
                    DATASET_ROWS.insert(),
                    [
                        {
                            "dataset_id": dataset.id,
                            "row_id": (keep_ids or {}).get(index) or uuid.uuid4().hex,
                            "first_version": version,
                            "removed_in": None,
                            "position": index,
                            "input": row.input,
                            "expected": row.expected,
                            "metadata": row.metadata or {},
                            "source_trace_id": row.source_trace_id,
                            "source_span_id": row.source_span_id,
                            "content_hash": row.content_hash(),
                        }
                        for index, row in enumerate(added)
                    ],
                )
            edited = len(set(removed) & set((keep_ids or {}).values()))
            count = len(present) - len(removed) + len(added)
            connection.execute(
                DATASET_VERSIONS.insert().values(
                    dataset_id=dataset.id,
                    version=version,
                    row_count=count,
                    added=len(added) - edited,
                    removed=len(removed) - edited,
                    changed=edited,
                    message=message,
                    author=author,
                    created_ns=now,
                )
            )
            connection.execute(
                update(DATASETS)
                .where(d.id == dataset.id)
                .values(latest_version=version, updated_ns=now)
            )
            return self._version(connection, dataset.id, version), True

    def _locked(
        self,
        connection: Connection,
        name: str,
        project: str | None,
        create: bool,
        description: str | None,
        now: int,
    ) -> Any:
        d = DATASETS.c
        key = project or ""
        query = select(DATASETS).where(d.project == key, d.name == name)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        else:  # SQLite: take the write lock now, not at the first write
            connection.exec_driver_sql("UPDATE datasets SET id = id WHERE 0")
        row = connection.execute(query).first()
        if row is not None:
            return row
        if not create:
            raise DatasetNotFoundError(f"no dataset {name!r}", where="name")
        connection.execute(
            DATASETS.insert().values(
                project=key,
                name=name,
                description=description,
                latest_version=0,
                created_ns=now,
                updated_ns=now,
            )
        )
        return connection.execute(query).first()

    def _version(self, connection: Connection, dataset_id: int, version: int) -> dict[str, Any]:
        v = DATASET_VERSIONS.c
        row = connection.execute(
            select(DATASET_VERSIONS).where(v.dataset_id == dataset_id, v.version == version)
        ).first()
        assert row is not None
        return {k: val for k, val in row._mapping.items() if k != "dataset_id"}


def _hash_of(row: DatasetRow) -> str:
    return NewRow(row.input, row.expected, row.metadata).content_hash()

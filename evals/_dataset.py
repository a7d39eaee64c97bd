"""Eval datasets, loaded with Hugging Face ``datasets``, never from the network.

Sources: a CSV, JSON Lines, JSON or Parquet file, a directory written by ``save_to_disk``, a
dataset already in the local Hugging Face cache (by name, offline), or rows written inline.
The rows evaluated (after split, shuffle and limit) are hashed, so a run records exactly what
it saw and ``eval rerun`` can tell when the data changed.

``datasets`` brings pyarrow and pandas (about 145 MB resident, ~2 s to start), so the runner
reads the rows in a child process (``load_rows(..., isolated=True)``) and keeps only the rows
themselves. The common case needs neither: JSON Lines files and inline rows whose columns each
hold one kind of JSON scalar are read here with orjson (:func:`_plain_rows`), giving exactly the
rows ``datasets`` would (same column order, missing keys as None, ints widened to floats in a
column that mixes them). Anything else - nested values, mixed kinds, a shuffle, a line that is
not an object - goes to ``datasets``, as before.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ._spec import DatasetSpec
from .errors import DatasetError

__all__ = ["LoadedDataset", "Registry", "load_rows"]

Registry = Callable[[str, "int | str | None"], tuple[int, list[dict[str, Any]]]]
"""Reads a registry dataset: (name, version or latest) -> (the version, its rows as columns)."""

_BUILDERS = {"csv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet"}
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class LoadedDataset:
    """The rows to evaluate, their columns, a display name and the hash of their content."""

    name: str
    rows: list[dict[str, Any]]
    columns: tuple[str, ...]
    content_hash: str
    version: int | None = None  # a registry dataset's version


def _datasets() -> Any:
    # Eval data never comes from the Hub: only files and what the local cache already holds.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets  # type: ignore[import-untyped]

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def content_hash(rows: list[dict[str, Any]]) -> str:
    """A hash of the rows' content (order matters; key order does not)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str))
        digest.update(b"\n")
    return digest.hexdigest()


def load_rows(
    spec: DatasetSpec,
    base: Path,
    *,
    limit: int | None = None,
    isolated: bool = False,
    registry: Registry | None = None,
) -> LoadedDataset:
    """Load the rows ``spec`` names; relative paths are relative to ``base`` (the eval file).

    Args:
        spec: the ``dataset`` section.
        base: the eval file's directory.
        limit: a limit from the command line; the smaller of it and the file's wins.
        isolated: read in a child process, so ``datasets`` never loads into this one.
        registry: reads registry datasets (``dataset: {registry: NAME}``) from the store.

    Raises:
        DatasetError: the source cannot be read, the split does not exist, or a mapped column
            is missing (the message names it).
    """
    caps = [n for n in (spec.limit, limit) if n is not None]
    version = None
    plain = _plain_rows(spec, base)
    if spec.registry is not None:
        version, rows = _registry_rows(spec, registry)
        if spec.shuffle is not None:
            random.Random(spec.shuffle).shuffle(rows)
        if caps:
            rows = rows[: min(caps)]
        name = f"{spec.registry}@{version}"
        columns = tuple(dict.fromkeys(key for row in rows for key in row))
        rows = [{column: row.get(column) for column in columns} for row in rows]
    elif plain is not None:
        name, rows, columns = plain
        if caps:
            rows = rows[: min(caps)]
    elif isolated:
        return _load_in_child(spec, base, limit)
    else:
        name, rows, columns = _load_table(spec, base, caps)
    for variable, column in spec.columns.items():
        if column not in columns:
            raise DatasetError(
                f"column {column!r} (for {variable!r}) is not in the dataset "
                f"(columns: {', '.join(columns) or 'none'})",
                where=f"dataset.columns.{variable}",
            )
    if spec.columns:
        rows = [{**row, **{v: row[c] for v, c in spec.columns.items()}} for row in rows]
        columns = tuple(dict.fromkeys([*columns, *spec.columns]))
    return LoadedDataset(name, rows, columns, content_hash(rows), version)


def _registry_rows(
    spec: DatasetSpec, registry: Registry | None
) -> tuple[int, list[dict[str, Any]]]:
    assert spec.registry is not None
    if registry is None:
        raise DatasetError(
            "a registry dataset is read from the store: run it with `spyglass eval run`",
            where="dataset.registry",
        )
    try:
        return registry(spec.registry, spec.version)
    except DatasetError as exc:
        where = "dataset.version" if exc.where == "version" else "dataset.registry"
        raise DatasetError(exc.message, where=where) from None


def _load_table(
    spec: DatasetSpec, base: Path, caps: list[int]
) -> tuple[str, list[dict[str, Any]], tuple[str, ...]]:
    """The rows through ``datasets``: shuffled, then cut to the smallest of ``caps``."""
    where = "dataset"
    try:
        table, name = _load(spec, base)
    except DatasetError:
        raise
    except FileNotFoundError as exc:
        raise DatasetError(f"not found: {exc}", where=where) from None
    except Exception as exc:
        raise DatasetError(f"cannot load: {type(exc).__name__}: {exc}", where=where) from None
    if spec.shuffle is not None:
        table = table.shuffle(seed=spec.shuffle)
    if caps:
        table = table.select(range(min(min(caps), len(table))))
    return name, table.to_list(), tuple(table.column_names)


# The JSON scalars a column may hold for orjson to read it as ``datasets`` would.
_SCALARS = (str, bool, int, float)
_INT64 = range(-(2**63), 2**63)


def _plain_rows(
    spec: DatasetSpec, base: Path
) -> tuple[str, list[dict[str, Any]], tuple[str, ...]] | None:
    """Inline rows or a JSON Lines file read without ``datasets``, or None when it needs it."""
    if spec.shuffle is not None or spec.registry is not None:
        return None
    if spec.rows is not None:
        if spec.split is not None:
            return None
        # ``Dataset.from_list`` takes its columns from the first row.
        columns = tuple(spec.rows[0]) if spec.rows else ()
        rows = _uniform(spec.rows, columns)
        return None if rows is None else ("inline", rows, columns)
    if spec.path is None:
        return None
    path = Path(spec.path).expanduser()
    if not path.is_absolute():
        path = base / path
    kind = spec.format or _SUFFIXES.get(path.suffix.lower())
    if kind != "jsonl" or spec.split not in (None, "train") or not path.is_file():
        return None
    try:
        text = path.read_bytes()
        parsed = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, orjson.JSONDecodeError):
        return None  # ``datasets`` says what is wrong, as it always has
    if not parsed or not all(isinstance(row, dict) for row in parsed):
        return None
    # The json builder takes every key it meets, in the order it first meets them.
    seen: dict[str, None] = {}
    for row in parsed:
        seen.update(dict.fromkeys(row))
    columns = tuple(seen)
    rows = _uniform(parsed, columns)
    return None if rows is None else (path.name, rows, columns)


def _uniform(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]] | None:
    """``rows`` over ``columns`` (None where a key is missing), or None unless each column holds
    one kind of scalar (ints and floats together become floats, as Arrow makes them)."""
    widen: list[str] = []
    for column in columns:
        kinds = set()
        for row in rows:
            value = row.get(column)
            if value is None:
                continue
            kind = type(value)
            if kind not in _SCALARS or (kind is int and value not in _INT64):
                return None
            kinds.add(kind)
        if len(kinds) > 1:
            if kinds != {int, float}:
                return None
            widen.append(column)
    out = [{column: row.get(column) for column in columns} for row in rows]
    for column in widen:
        for row in out:
            if row[column] is not None:
                row[column] = float(row[column])
    return out


def _load(spec: DatasetSpec, base: Path) -> tuple[Any, str]:
    datasets = _datasets()
    if spec.rows is not None:
        return datasets.Dataset.from_list(spec.rows), "inline"
    if spec.name is not None:
        loaded = datasets.load_dataset(spec.name, spec.subset, cache_dir=spec.cache_dir)
        return _split(loaded, spec.split), spec.name
    assert spec.path is not None
    path = Path(spec.path).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        raise DatasetError(f"no such file or directory: {path}", where="dataset.path")
    kind = spec.format or ("saved" if path.is_dir() else _SUFFIXES.get(path.suffix.lower()))
    if kind is None:
        raise DatasetError(
            f"cannot tell the format of {path.name}: set `format` "
            "(csv, json, jsonl, parquet or saved)",
            where="dataset.format",
        )
    if kind == "saved":
        return _split(datasets.load_from_disk(str(path)), spec.split), path.name
    if kind == "hub":
        raise DatasetError("`format: hub` needs `name`, not `path`", where="dataset.format")
    options: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    # Read into memory through a scratch cache: files leave nothing in the HF cache behind.
    with tempfile.TemporaryDirectory(prefix="spyglass-eval-") as scratch:
        loaded = datasets.load_dataset(
            _BUILDERS[kind], data_files=str(path), keep_in_memory=True, cache_dir=scratch, **options
        )
    return _split(loaded, spec.split), path.name


def _split(loaded: Any, split: str | None) -> Any:
    """One split of a ``DatasetDict`` (``train`` unless named), or the dataset itself."""
    if not hasattr(loaded, "keys"):
        if split is not None:
            raise DatasetError(
                f"split {split!r} given, but the dataset has no splits", where="dataset.split"
            )
        return loaded
    names = list(loaded.keys())
    chosen = split or ("train" if "train" in names else names[0])
    if chosen not in loaded:
        raise DatasetError(
            f"no split {chosen!r} (splits: {', '.join(names)})", where="dataset.split"
        )
    return loaded[chosen]


def _load_in_child(spec: DatasetSpec, base: Path, limit: int | None) -> LoadedDataset:
    request = {"spec": spec.model_dump(), "base": str(base), "limit": limit}
    done = subprocess.run(
        [sys.executable, "-m", "evals._dataset"],
        input=orjson.dumps(request),
        capture_output=True,
        check=False,
    )
    try:
        answer = orjson.loads(done.stdout)
    except orjson.JSONDecodeError:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise DatasetError(f"cannot load: {detail[0]}", where="dataset") from None
    if "error" in answer:
        raise DatasetError(answer["error"]["message"], where=answer["error"]["where"])
    found = answer["dataset"]
    return LoadedDataset(
        found["name"], found["rows"], tuple(found["columns"]), found["content_hash"]
    )


def _child() -> None:
    """``python -m evals._dataset``: a request on stdin, the rows (or the error) on stdout."""
    request = orjson.loads(sys.stdin.buffer.read())
    spec = DatasetSpec.model_validate(request["spec"])
    try:
        loaded = load_rows(spec, Path(request["base"]), limit=request["limit"])
    except DatasetError as exc:
        answer: dict[str, Any] = {"error": {"message": exc.message, "where": exc.where}}
    else:
        answer = {
            "dataset": {
                "name": loaded.name,
                "rows": loaded.rows,
                "columns": list(loaded.columns),
                "content_hash": loaded.content_hash,
            }
        }
    sys.stdout.buffer.write(orjson.dumps(answer, default=str))


if __name__ == "__main__":
    _child()

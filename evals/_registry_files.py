"""Dataset files in and out of the registry: CSV, JSON Lines, Parquet, ``save_to_disk``.

Reading goes through the eval runner's loader (Hugging Face ``datasets``, in a child process,
or orjson for plain JSON Lines), after a check of text files that names the file, line and
column of a malformed line, which ``datasets`` would not. Writing JSON Lines and CSV needs
nothing more; Parquet and ``save_to_disk`` are written by ``datasets``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson

from ._dataset import load_rows
from ._spec import DatasetSpec
from .errors import DatasetError

__all__ = ["FORMATS", "format_of", "read_records", "write_records"]

FORMATS = ("jsonl", "csv", "parquet", "saved")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def format_of(path: Path, given: str | None = None) -> str:
    """The format a path is read or written in: ``given``, else its suffix (a directory:
    ``saved``); a DatasetError names the choices when neither tells."""
    if given is not None:
        if given not in FORMATS:
            raise DatasetError(
                f"expected one of {', '.join(FORMATS)}, got {given!r}", where="format"
            )
        return given
    if path.is_dir():
        return "saved"
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise DatasetError(
            f"cannot tell the format of {path.name}: give --format ({', '.join(FORMATS)})",
            where="format",
        )
    return found


def _check_jsonl(path: Path) -> None:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DatasetError(
                    f"{path}:{number}:{exc.colno}: not JSON ({exc.msg})", where="file"
                ) from None
            if not isinstance(value, dict):
                raise DatasetError(
                    f"{path}:{number}:1: expected an object per line, got {type(value).__name__}",
                    where="file",
                )


def _check_csv(path: Path) -> None:
    with path.open(newline="", encoding="utf-8", errors="strict") as handle:
        try:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if not header:
                raise DatasetError(f"{path}:1:1: no header row", where="file")
            for row in reader:
                if row and len(row) != len(header):
                    raise DatasetError(
                        f"{path}:{reader.line_num}:1: {len(row)} fields, the header has "
                        f"{len(header)} ({', '.join(header)})",
                        where="file",
                    )
        except csv.Error as exc:
            raise DatasetError(f"{path}:{reader.line_num}: {exc}", where="file") from None
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})", where="file") from None


def read_records(path: Path, given: str | None = None) -> list[dict[str, Any]]:
    """The rows of a dataset file or ``save_to_disk`` directory, as dicts of columns."""
    if not path.exists():
        raise DatasetError(f"no such file or directory: {path}", where="file")
    kind = format_of(path, given)
    if kind == "jsonl":
        _check_jsonl(path)
    elif kind == "csv":
        _check_csv(path)
    spec = DatasetSpec(path=str(path.resolve()), format="saved" if kind == "saved" else kind)
    try:
        loaded = load_rows(spec, path.parent, isolated=True)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc.message}", where="file") from None
    return loaded.rows


def write_records(records: list[dict[str, Any]], path: Path | None, kind: str) -> bytes | None:
    """Write rows to ``path`` in ``kind``; with no path, return them (JSON Lines or CSV)."""
    if kind == "jsonl":
        data = b"".join(orjson.dumps(r, default=str) + b"\n" for r in records)
    elif kind == "csv":
        columns = list(dict.fromkeys(key for r in records for key in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns)
        writer.writeheader()
        for record in records:
            writer.writerow({k: _cell(v) for k, v in record.items()})
        data = buffer.getvalue().encode()
    else:
        if path is None:
            raise DatasetError(f"{kind} is written to a path: give --output", where="output")
        from ._dataset import _datasets

        table = _datasets().Dataset.from_list(records)
        if kind == "parquet":
            table.to_parquet(str(path))
        else:
            table.save_to_disk(str(path))
        return None
    if path is None:
        return data
    path.write_bytes(data)
    return None


def _cell(value: Any) -> Any:
    """A CSV cell: text and numbers as they are, anything else as JSON."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return orjson.dumps(value, default=str).decode()

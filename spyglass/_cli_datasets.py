"""``spyglass datasets``: push files to the dataset registry, pull versions out, list, show, diff.

A file's ``expected`` column (``--expected``) is the rows' expected answer, its ``metadata``
column (an object) their metadata, and every other column an input. Pulled files have the same
shape, so a pulled version pushes back unchanged, and an eval file reads it directly.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._cli_common import (
    EXIT_NOT_FOUND,
    ConfigOption,
    err,
    fail,
    load,
    out,
    print_json,
    project_name,
    safe,
)

if TYPE_CHECKING:
    from evals import DatasetRow, DatasetStore

__all__ = ["datasets_app"]

datasets_app = typer.Typer(
    help="The dataset registry: named datasets whose every change is a new version.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectOption = Annotated[
    str | None, typer.Option(help="The project's datasets.", callback=project_name)
]
VersionOption = Annotated[str, typer.Option("--version", "-v", help="A version number, or latest.")]


@contextmanager
def _store(config: Path | None, *, write: bool = False) -> Iterator[DatasetStore]:
    """The registry in the server's store; a DatasetError ends the command naming the option."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from evals import DatasetError, DatasetNotFoundError, DatasetStore

    from ._db import create_store_engine, upgrade_store

    url = load(config).database_url_value()
    try:
        engine = create_store_engine(url)
        if write:
            upgrade_store(engine)
        elif not inspect(engine).has_table("datasets"):
            engine.dispose()
            fail("no datasets yet: push one with `spyglass datasets push FILE`", EXIT_NOT_FOUND)
    except typer.Exit:
        raise
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        yield DatasetStore(engine)
    except DatasetError as exc:
        option = _OPTIONS.get(exc.where or "", "")
        missing = isinstance(exc, DatasetNotFoundError)
        fail(
            f"{option}: {exc.message}" if option else exc.message, EXIT_NOT_FOUND if missing else 2
        )
    except SQLAlchemyError as exc:
        fail(f"cannot use the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    finally:
        engine.dispose()


_OPTIONS = {"name": "NAME", "version": "--version", "format": "--format", "output": "--output"}


def _version(text: str) -> int | str:
    if text == "latest":
        return text
    try:
        return int(text)
    except ValueError:
        fail(f"--version: expected a number or latest (got {text!r})")


def flat(row: DatasetRow, expected: str = "expected") -> dict[str, Any]:
    """A registry row as a file's row: its inputs, the expected answer, its metadata."""
    record = row.columns(expected)
    if row.metadata:
        record["metadata"] = row.metadata
    return record


@datasets_app.command("push")
def push_command(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines, Parquet, or a save_to_disk dir.")],
    name: Annotated[
        str | None, typer.Option(help="The dataset's name (default: the file's stem).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Why.")] = None,
    expected: Annotated[
        str, typer.Option(help="The column holding the expected answer.")
    ] = "expected",
    format_: Annotated[
        str | None, typer.Option("--format", help="jsonl, csv, parquet or saved.")
    ] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Make a file's rows the dataset's content: a new version unless nothing changed."""
    from evals import DatasetError, read_records, rows_from_columns

    try:
        records = read_records(file, format_)
    except DatasetError as exc:
        fail(f"--format: {exc.message}" if exc.where == "format" else exc.message)
    if not records:
        fail(f"{file}: no rows")
    target = name or file.stem
    with _store(config, write=True) as store:
        version, created = store.push(
            target,
            rows_from_columns(records, expected=expected),
            project=project,
            message=message,
            author="cli",
        )
    if created:
        out.print(
            f"pushed {target} version {version['version']}: {version['row_count']} rows "
            f"(+{version['added']} -{version['removed']})",
            highlight=False,
        )
    else:
        out.print(f"{target} unchanged: version {version['version']}", highlight=False)


@datasets_app.command("pull")
def pull_command(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    version: VersionOption = "latest",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    format_: Annotated[
        str | None,
        typer.Option("--format", help="jsonl, csv, parquet or saved (default: from --output)."),
    ] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Write a version's rows to a file (or stdout), in the shape `push` and eval files read."""
    from evals import DatasetError, format_of, write_records

    with _store(config) as store:
        number, rows = store.rows(name, _version(version), project)
    try:
        kind = format_ or (format_of(output) if output is not None else "jsonl")
        data = write_records([flat(r) for r in rows], output, kind)
    except DatasetError as exc:
        fail(f"--{exc.where}: {exc.message}")
    if data is not None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if output is not None:
        err.print(f"wrote {len(rows)} rows of {name} version {number} to {output}")


@datasets_app.command("list")
def list_command(
    project: ProjectOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The datasets, with their newest version and its size."""
    with _store(config) as store:
        found = store.datasets(project)
    if as_json:
        print_json({"data": found})
        return
    if not found:
        out.print("no datasets: push one with `spyglass datasets push FILE`", highlight=False)
        return
    from rich.table import Table

    from ._cli_render import local_time

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "version", "rows", "updated", "description"):
        table.add_column(column)
    for d in found:
        table.add_row(
            d["name"],
            str(d["latest_version"]),
            str(d["row_count"]),
            local_time(d["updated_ns"]),
            d["description"] or "",
        )
    out.print(table)


@datasets_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    version: VersionOption = "latest",
    limit: Annotated[int, typer.Option(help="Rows shown (all with --json).")] = 20,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A dataset's versions, and one version's rows."""
    with _store(config) as store:
        versions = store.versions(name, project)
        number, rows = store.rows(name, _version(version), project)
    if as_json:
        print_json(
            {
                "name": name,
                "version": number,
                "versions": versions,
                "rows": [r.to_dict() for r in rows],
            }
        )
        return
    out.print(_versions_table(versions))
    out.print(f"\nversion {number}: {len(rows)} rows", highlight=False)
    out.print(_rows_table(rows[:limit]))
    if len(rows) > limit:
        out.print(f"… {len(rows) - limit} more (--limit, or pull it)", style="dim")


@datasets_app.command("diff")
def diff_command(
    name: Annotated[str, typer.Argument(help="The dataset.")],
    before: Annotated[str, typer.Argument(help="A version number.")],
    after: Annotated[str, typer.Argument(help="A version number, or latest.")] = "latest",
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rows added, removed and changed from one version to another."""
    with _store(config) as store:
        found = store.diff(name, _version(before), _version(after), project)
    if as_json:
        print_json(found)
        return
    out.print(f"{name}: version {found['before']} -> {found['after']}", highlight=False)
    for title, key, style in (("added", "added", "green"), ("removed", "removed", "red")):
        for row in found[key]:
            out.print(f"{title[0].upper()} {row['row_id'][:8]}  {_brief(row)}", style=style)
    for pair in found["changed"]:
        out.print(f"~ {pair['after']['row_id'][:8]}", style="yellow")
        out.print(f"    - {_brief(pair['before'])}", style="red")
        out.print(f"    + {_brief(pair['after'])}", style="green")
    totals = f"{len(found['added'])} added, {len(found['removed'])} removed"
    out.print(f"{totals}, {len(found['changed'])} changed", highlight=False)


def _cut(value: Any, width: int) -> str:
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def _brief(row: dict[str, Any], width: int = 100) -> str:
    return _cut({**row["input"], "expected": row["expected"]}, width)


def _versions_table(versions: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    from ._cli_render import local_time

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("version", "rows", "+", "-", "~", "when", "by", "message"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v["version"]),
            str(v["row_count"]),
            str(v["added"]),
            str(v["removed"]),
            str(v["changed"]),
            local_time(v["created_ns"]),
            v["author"] or "",
            v["message"] or "",
        )
    return table


def _rows_table(rows: list[DatasetRow]) -> Any:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("row", "input", "expected", "from trace"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.row_id[:8],
            _cut(row.input, 80),
            "" if row.expected is None else _cut(row.expected, 80),
            row.source_trace_id or "",
        )
    return table

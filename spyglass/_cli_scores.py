"""``spyglass scores``: add, list and export scores, and manage score configs, in the store.

Scores written here are a person's (source ``human``, author ``cli:USER``) unless
``--source api`` says otherwise; they are checked against the project's score configs as
the API checks them.
"""

from __future__ import annotations

import csv
import getpass
import sys
import time
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
    from tracing import ScoreStore

__all__ = ["scores_app"]

scores_app = typer.Typer(
    help="Scores on traces, spans, sessions and eval rows, and the configs that type them.",
    no_args_is_help=True,
)
configs_app = typer.Typer(help="Score configs: what each score name means.", no_args_is_help=True)
scores_app.add_typer(configs_app, name="configs")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectOption = Annotated[
    str | None,
    typer.Option(help="Work in this project (its targets and configs).", callback=project_name),
]
WHEN_HELP = "a duration back from now (30m, 24h, 7d), epoch seconds or ISO 8601"
# The columns an export writes, in order (CSV); JSON Lines carries each score whole.
EXPORT_COLUMNS = (
    "id",
    "created_ns",
    "project",
    "target",
    "trace_id",
    "span_id",
    "session_id",
    "run_id",
    "row_index",
    "name",
    "data_type",
    "value",
    "comment",
    "source",
    "author",
    "user_id",
    "scorer",
    "error",
    "supersedes",
    "superseded_by",
)


@contextmanager
def _store(config: Path | None, *, write: bool = False) -> Iterator[ScoreStore]:
    """The score store in the server's database; writing commands migrate it first.

    A ``ScoreError`` ends the command naming the option at fault.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from tracing import ScoreError, ScoreNotFoundError, ScoreStore, ScoreTargetNotFound

    from ._db import create_store_engine, upgrade_store

    url = load(config).database_url_value()
    try:
        engine = create_store_engine(url)
        if write:
            upgrade_store(engine)
        elif not inspect(engine).has_table("scores"):
            engine.dispose()
            fail("no scores yet: add one with `spyglass scores add NAME VALUE --trace ID`", 1)
    except typer.Exit:
        raise
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        yield ScoreStore(engine)
    except ScoreError as exc:
        option = _OPTIONS.get(exc.field or "", exc.field)
        message = f"{option}: {exc.message}" if option else exc.message
        missing = isinstance(exc, ScoreNotFoundError | ScoreTargetNotFound)
        fail(message, EXIT_NOT_FOUND if missing else 2)
    except SQLAlchemyError as exc:
        fail(f"cannot use the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    finally:
        engine.dispose()


# The store names fields as the API does; a person typed these options.
_OPTIONS = {
    "trace_id": "--trace",
    "span_id": "--span",
    "session_id": "--session",
    "run_id": "--run",
    "row_index": "--row",
    "value": "VALUE",
    "name": "NAME",
    "data_type": "--type",
    "min_value": "--min",
    "max_value": "--max",
    "categories": "--categories",
    "supersedes": "--supersedes",
    "source": "--source",
    "cursor": "--cursor",
    "limit": "--limit",
}


def _value(text: str, data_type: str | None) -> Any:
    """VALUE as typed on the command line, read as the score's config says (else guessed)."""
    if data_type == "categorical":
        return text
    if text.lower() in ("true", "false", "yes", "no", "y", "n"):
        return text.lower() in ("true", "yes", "y")
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and data_type != "numeric" else number


@scores_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The score's name (a score config's).")],
    value: Annotated[str, typer.Argument(help="A number, true/false, or a category's label.")],
    trace: Annotated[str | None, typer.Option(help="The trace scored.")] = None,
    span: Annotated[str | None, typer.Option(help="A span of --trace, scored instead.")] = None,
    session: Annotated[str | None, typer.Option(help="A session scored instead.")] = None,
    run: Annotated[str | None, typer.Option(help="An eval run whose --row is scored.")] = None,
    row: Annotated[int | None, typer.Option(help="The eval run's row index.", min=0)] = None,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    source: Annotated[str, typer.Option(help="human (default) or api.")] = "human",
    supersedes: Annotated[str | None, typer.Option(help="The id of a score it corrects.")] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a trace, a span, a session or an eval row."""
    from tracing import NewScore

    if source not in ("human", "api"):
        fail(f"--source: expected human or api (got {source!r})")
    with _store(config, write=True) as store:
        known = store.config(name, project)
        score = NewScore(
            name=name,
            value=_value(value, known.data_type if known else None),
            trace_id=trace,
            span_id=span,
            session_id=session,
            run_id=run,
            row_index=row,
            comment=comment,
            source=source,
            supersedes=supersedes,
        )
        (made,) = store.create([score], project=project, author=f"cli:{_user()}")
    if as_json:
        print_json(made)
        return
    from ._cli_render import score_value

    corrected = f", correcting {made['supersedes']}" if made["supersedes"] else ""
    out.print(
        f"scored {made['target']} {name} = {score_value(made)} ({made['id']}{corrected})",
        highlight=False,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without one): still a person at a shell
        return "unknown"


def _query(
    project: str | None,
    trace: str | None,
    name: str | None,
    source: str | None,
    min_value: float | None,
    max_value: float | None,
    since: str | None,
    history: bool,
) -> Any:
    from tracing import ScoreQuery

    from ._cli_traces import parse_time

    if source is not None and source not in ("human", "api", "online", "eval"):
        fail(f"--source: expected human, api, online or eval (got {source!r})")
    return ScoreQuery(
        project=project,
        trace_id=trace,
        name=name,
        source=source,
        min_value=min_value,
        max_value=max_value,
        since_ns=parse_time(since, "--since", time.time_ns()) if since else None,
        history=history,
    )


TraceFilter = Annotated[str | None, typer.Option("--trace", help="Only this trace's (and spans').")]
NameFilter = Annotated[str | None, typer.Option("--name", help="Only scores of this name.")]
SourceFilter = Annotated[str | None, typer.Option("--source", help="human, api, online or eval.")]
MinFilter = Annotated[float | None, typer.Option("--min", help="A value of at least this.")]
MaxFilter = Annotated[float | None, typer.Option("--max", help="A value of at most this.")]
SinceFilter = Annotated[str | None, typer.Option("--since", help=f"Written since: {WHEN_HELP}.")]
HistoryFlag = Annotated[
    bool, typer.Option("--history", help="Also the scores later ones corrected.")
]


@scores_app.command("list")
def list_command(
    trace: TraceFilter = None,
    name: NameFilter = None,
    source: SourceFilter = None,
    min_value: MinFilter = None,
    max_value: MaxFilter = None,
    since: SinceFilter = None,
    history: HistoryFlag = False,
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(help="Scores per page, 1 to 10000.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page, as printed.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Scores, newest first, one page at a time."""
    query = _query(project, trace, name, source, min_value, max_value, since, history)
    with _store(config) as store:
        rows, after = store.find(query, limit=limit, cursor=cursor)
    if as_json:
        print_json({"data": rows, "next_cursor": after})
        return
    if not rows:
        out.print("no scores match" if cursor is None else "no more scores", highlight=False)
        return
    from ._cli_render import score_table

    out.print(score_table(rows))
    if after is not None:
        out.print(f"more: add --cursor {after}", style="dim", highlight=False, soft_wrap=True)


@scores_app.command("export")
def export_command(
    trace: TraceFilter = None,
    name: NameFilter = None,
    source: SourceFilter = None,
    min_value: MinFilter = None,
    max_value: MaxFilter = None,
    since: SinceFilter = None,
    history: HistoryFlag = False,
    project: ProjectOption = None,
    format_: Annotated[
        str, typer.Option("--format", help="jsonl (one score a line) or csv.")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Every score that matches, as JSON Lines or CSV (newest first)."""
    import orjson

    if format_ not in ("jsonl", "csv"):
        fail(f"--format: expected jsonl or csv (got {format_!r})")
    query = _query(project, trace, name, source, min_value, max_value, since, history)
    sink = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    count = 0
    try:
        writer = (
            csv.DictWriter(sink, EXPORT_COLUMNS, extrasaction="ignore")
            if format_ == "csv"
            else None
        )
        if writer is not None:
            writer.writeheader()
        with _store(config) as store:
            cursor: str | None = None
            while True:
                rows, cursor = store.find(query, limit=5000, cursor=cursor)
                for row in rows:
                    if writer is not None:
                        writer.writerow(row)
                    else:
                        sink.write(orjson.dumps(row).decode() + "\n")
                count += len(rows)
                if cursor is None:
                    break
    finally:
        if output:
            sink.close()
    if output:
        err.print(f"wrote {count} score(s) to {output}", highlight=False)


@configs_app.command("list")
def configs_list_command(
    project: ProjectOption = None,
    archived: Annotated[bool, typer.Option("--archived", help="Archived ones too.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The score configs a project uses: its own, and those of no project."""
    with _store(config, write=True) as store:
        found = store.configs(project, archived=archived)
    if as_json:
        print_json({"data": [c.to_dict() for c in found]})
        return
    if not found:
        out.print(
            "no score configs: add one with `spyglass scores configs add NAME --type numeric`",
            highlight=False,
        )
        return
    from ._cli_render import config_table

    out.print(config_table([c.to_dict() for c in found]))


@configs_app.command("add")
def configs_add_command(
    name: Annotated[str, typer.Argument(help="The score's name.")],
    data_type: Annotated[
        str, typer.Option("--type", help="numeric, boolean or categorical.")
    ] = "numeric",
    min_value: Annotated[float | None, typer.Option("--min", help="numeric: the lowest.")] = None,
    max_value: Annotated[float | None, typer.Option("--max", help="numeric: the highest.")] = None,
    categories: Annotated[
        str | None, typer.Option(help="categorical: comma-separated labels, e.g. good,bad.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What it measures.")] = None,
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a score config, or update one (its type is fixed once it has scores)."""
    from tracing import ScoreConfig

    labels = tuple(c.strip() for c in categories.split(",")) if categories is not None else None
    with _store(config, write=True) as store:
        saved, created = store.put_config(
            ScoreConfig(
                name=name,
                data_type=data_type,  # type: ignore[arg-type]  # put_config checks it
                min_value=min_value,
                max_value=max_value,
                categories=labels,
                description=description,
                project=project,
            )
        )
    out.print(f"{'created' if created else 'updated'} score config {saved.name}", highlight=False)


@configs_app.command("archive")
def configs_archive_command(
    name: Annotated[str, typer.Argument(help="The score's name.")],
    project: ProjectOption = None,
    config: ConfigOption = None,
) -> None:
    """Archive a score config: its scores stay; new ones from people and apps are refused."""
    with _store(config, write=True) as store:
        store.archive_config(name, project)
    out.print(f"archived score config {name}", highlight=False)

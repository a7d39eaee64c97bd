"""``spyglass traces``: list, show and prune the traces in the store ``spyglass serve`` writes.

Each command reads the same settings and store as the server, and ``--json`` prints what the
API (``/api/traces``) answers. The store and query modules are imported inside the commands.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

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
    from tracing import TraceStore

__all__ = ["parse_time", "traces_app"]

traces_app = typer.Typer(help="List, show and prune the traces in the store.", no_args_is_help=True)

NO_TRACES = "no traces yet: start `spyglass serve` and send a request"
# `show` draws at most this many spans; --json prints them all.
SHOW_LIMIT = 2000
_PAGE = 1000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGO = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# QueryError's parameter names, as the options that set them are spelled.
_OPTIONS = {"trace_id": "TRACE_ID", "text": "--search", "start": "--since", "end": "--until"}

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
WHEN_HELP = "30m, 1h, 2d, 1w ago, or an ISO 8601 time (local unless it has an offset)"


def parse_time(value: str, option: str, now_ns: int | None = None) -> int:
    """``30m``/``1h``/``2d``/``1w`` ago, or an ISO 8601 time, as nanoseconds since the epoch.

    A time without an offset is local, as the tables show times.
    """
    text = value.strip()
    ago = _AGO.fullmatch(text.lower())
    if ago is not None:
        now = time.time_ns() if now_ns is None else now_ns
        return now - int(float(ago[1]) * _UNITS[ago[2]] * 10**9)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected a time like 30m, 1h, 2d, 1w or 2024-05-01T12:00 (got {value!r})")
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _attributes(pairs: list[str]) -> list[tuple[str, str]]:
    found = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--attr: expected KEY=VALUE (got {pair!r})")
        found.append((key, value))
    return found


@contextmanager
def _reading() -> Iterator[None]:
    """A QueryError (invalid input) or a database error ends the command with one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from tracing import QueryError

    try:
        yield
    except QueryError as exc:
        option = _OPTIONS.get(exc.param, "--" + exc.param.replace("_", "-"))
        fail(f"{option}: {exc.message}")
    except SQLAlchemyError as exc:
        fail(f"cannot read the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)


@contextmanager
def _open_store(config: Path | None) -> Iterator[TraceStore | None]:
    """The server's trace store, or None when nothing has created it yet."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from tracing import TraceStore

    from ._db import create_store_engine

    url = load(config).database_url_value()
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        if not Path(database).is_file():  # opening it would create it
            yield None
            return
    try:
        engine = create_store_engine(url)
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        try:
            ready = inspect(engine).has_table("traces")
        except Exception as exc:
            fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
        yield TraceStore(engine) if ready else None
    finally:
        engine.dispose()


@traces_app.command("list")
def list_command(
    config: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help=f"Started from this time: {WHEN_HELP}.", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Started before this time: {WHEN_HELP}.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="ok or error.")] = None,
    model: Annotated[str | None, typer.Option(help="The model asked for.")] = None,
    provider: Annotated[str | None, typer.Option(help="openai, anthropic, ...")] = None,
    name: Annotated[str | None, typer.Option(help="The root span's name.")] = None,
    session: Annotated[str | None, typer.Option(help="Session (conversation) id.")] = None,
    user: Annotated[str | None, typer.Option(help="End user id.")] = None,
    key: Annotated[str | None, typer.Option(help="Gateway key id.")] = None,
    project: Annotated[
        str | None, typer.Option(help="Only this project's traces.", callback=project_name)
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt name, or name/version.")] = None,
    service: Annotated[str | None, typer.Option(help="The root span's service.name.")] = None,
    tag: Annotated[str | None, typer.Option(help="A tag of the trace.")] = None,
    min_duration_ms: Annotated[
        float | None, typer.Option(help="At least this many milliseconds long.")
    ] = None,
    min_cost: Annotated[float | None, typer.Option(help="Costing at least this (USD).")] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="A span attribute's value; repeatable (AND)."),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="Text in span names and messages (case-insensitive).")
    ] = None,
    score: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FILTER",
            help="A score: NAME (has one), !NAME (has none), NAME>=4, NAME=label; "
            "repeatable (AND).",
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="start (newest first), duration or cost (largest first), or score:NAME "
            "(highest first; traces without that score are left out)."
        ),
    ] = "start",
    limit: Annotated[int, typer.Option(help="Traces per page, 1 to 500.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next page, as printed after the previous one.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Traces, newest first (or longest, or costliest), filtered, one page at a time."""
    for option, minimum in (("--min-duration-ms", min_duration_ms), ("--min-cost", min_cost)):
        if minimum is not None and minimum < 0:
            fail(f"{option}: expected 0 or more (got {minimum:g})")
    now = time.time_ns()
    from tracing import TraceFilter, list_traces, parse_score_filter, scored_traces

    conditions = []
    for text in score or []:
        try:
            conditions.append(parse_score_filter(text))
        except ValueError as error:
            fail(f"--score: {error} (got {text!r})")

    where = TraceFilter(
        start_after_ns=parse_time(since, "--since", now) if since else None,
        start_before_ns=parse_time(until, "--until", now) if until else None,
        status=status,
        model=model,
        provider=provider,
        name=name,
        session_id=session,
        user_id=user,
        key_id=key,
        project=project,
        prompt=prompt,
        service=service,
        min_duration_ms=min_duration_ms,
        min_cost=min_cost,
        tag=tag,
        attributes=_attributes(attr or []),
        text=search,
        scores=conditions,
    )
    with _open_store(config) as store:
        if store is None:
            rows: list[dict[str, Any]] = []
            next_cursor = None
            err.print(NO_TRACES, highlight=False)
        else:
            with _reading():
                # An unknown sort key is list_traces' to refuse, naming it.
                rows, next_cursor = list_traces(
                    store, where, sort=cast(Any, sort), limit=limit, cursor=cursor
                )
                if as_json:
                    data = scored_traces(store.engine, rows)
    if as_json:
        print_json({"data": data if store is not None else [], "next_cursor": next_cursor})
        return
    if store is None:
        return
    from ._cli_render import trace_table

    if not rows:
        out.print("no traces match" if cursor is None else "no more traces", highlight=False)
        return
    out.print(trace_table(rows, out.width))
    if next_cursor is not None:
        out.print(f"more: add --cursor {next_cursor}", style="dim", highlight=False, soft_wrap=True)


@traces_app.command("show")
def show_command(
    trace_id: Annotated[str, typer.Argument(help="The trace's id (32 hexadecimal digits).")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """A trace's summary and its span tree (children in start order)."""
    wanted = trace_id.strip().lower()
    if len(wanted) != 32 or any(c not in "0123456789abcdef" for c in wanted):
        fail(f"TRACE_ID: expected 32 hexadecimal digits (got {trace_id!r})")
    from tracing import scored_trace

    with _open_store(config) as store:
        if store is None:
            fail(f"no trace {wanted}: {NO_TRACES}", EXIT_NOT_FOUND)
        with _reading():
            summary, spans, complete = _fetch(store, wanted, None if as_json else SHOW_LIMIT)
            if summary is not None:
                shown, shown_spans = scored_trace(store.engine, summary, spans)
    if summary is None:
        fail(f"no trace {wanted}", EXIT_NOT_FOUND)
    if as_json:
        print_json(
            {
                "trace": shown,
                "spans": shown_spans,
                "next_cursor": None,
            }
        )
        return
    from ._cli_render import score_lines, span_tree, trace_summary

    out.print(trace_summary(summary))
    if shown["scores"]:
        out.print(score_lines(shown["scores"]), highlight=False)
    out.print(span_tree(summary, spans))
    if not complete:
        out.print(
            f"showing the first {len(spans)} of {summary['span_count']} spans (in start order);"
            " --json prints them all",
            style="yellow",
            highlight=False,
        )


def _fetch(
    store: TraceStore, trace_id: str, cap: int | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], bool]:
    """The trace's summary and spans, page after page; whether all of them were read."""
    from tracing import get_trace

    spans: list[dict[str, Any]] = []
    cursor = None
    while True:
        summary, page, cursor = get_trace(store, trace_id, limit=_PAGE, cursor=cursor)
        if summary is None:
            return None, [], True
        spans.extend(page)
        if cursor is None:
            return summary, spans, True
        if cap is not None and len(spans) >= cap:
            return summary, spans[:cap], False


@traces_app.command("prune")
def prune_command(
    older_than: Annotated[
        str,
        typer.Option(
            help="Delete traces started before this: 30d, 12h, 2w ago, or an ISO 8601 time.",
            show_default=False,
        ),
    ],
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
) -> None:
    """Delete old traces and their spans now (the server does it hourly with retention_days)."""
    cutoff = parse_time(older_than, "--older-than")
    from tracing import count_older_than, delete_older_than

    from ._cli_render import local_time

    when = local_time(cutoff)
    with _open_store(config) as store:
        if store is None:
            out.print(f"nothing to delete: {NO_TRACES}", highlight=False)
            return
        with _reading():
            found = count_older_than(store, cutoff)
            if found == 0:
                out.print(f"no traces started before {when}", highlight=False)
                return
            if not yes:
                typer.confirm(
                    f"Delete {found} trace(s) started before {when}, with their spans?",
                    abort=True,
                )
            deleted = [0, 0]

            def tally(traces: int, spans: int) -> None:
                deleted[0] += traces
                deleted[1] += spans

            with err.status("deleting...") if err.is_terminal else nullcontext():
                delete_older_than(store, cutoff, on_batch=tally)
    out.print(
        f"deleted {deleted[0]} trace(s) and {deleted[1]} span(s) started before {when}",
        highlight=False,
    )

"""``spyglass keys``: create, list and revoke virtual keys, and show their usage.

The commands work on the store directly (whoever can run them can read the store anyway);
the same operations are ``/api/keys`` for admins over HTTP.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._cli_common import EXIT_NOT_FOUND, ConfigOption, err, fail, load, out, pairs, safe

if TYPE_CHECKING:
    from gateway import KeyStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Virtual keys: who may call, with which limits and budget.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")]


@contextmanager
def _store(config: Path | None) -> Iterator[tuple[KeyStore, Any]]:
    from gateway import KeyStore

    from ._db import create_store_engine, upgrade_store

    settings = load(config)
    try:
        engine = create_store_engine(settings.database_url_value())
        upgrade_store(engine)
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        yield KeyStore(engine), engine
    finally:
        engine.dispose()


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _expiry(value: str | None) -> datetime | None:
    if value is None:
        return None
    from gateway import parse_period

    try:
        return datetime.now(UTC) + timedelta(seconds=parse_period(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--expires: expected a period (90d, 12h) or a date (2027-01-31), got {value!r}")
    return moment if moment.tzinfo else moment.astimezone()


@keys_app.command()
def create(
    name: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    owner: Annotated[str | None, typer.Option(help="Who holds it.")] = None,
    team: Annotated[
        str | None, typer.Option(help="Its team (team limits from auth.teams).")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Its project.")] = None,
    role: Annotated[
        str,
        typer.Option(
            help="admin, member (call models), viewer (read only), ingest (OTLP) or "
            "feedback (write scores only)."
        ),
    ] = "member",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model names it may use (default: all).")
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute.", min=1)] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute.", min=1)] = None,
    budget: Annotated[
        float | None, typer.Option(help="Spend allowed per budget period, in USD.", min=0)
    ] = None,
    budget_period: Annotated[
        str | None, typer.Option(help="How often the budget resets: 30d, 7d, 1h... [default: 30d]")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="When it stops working: 90d from now, or a date.")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE kept with the key (repeatable).")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key. It is printed once: store it now, it cannot be shown again."""
    from gateway import KeySettingsError

    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    with _store(config) as (store, _):
        try:
            key, info = store.create(
                name=name,
                owner=owner,
                team=team,
                project=project,
                role=role,
                models=allowed,
                rpm=rpm,
                tpm=tpm,
                budget_usd=budget,
                budget_period=budget_period,
                expires_at=_expiry(expires),
                metadata=pairs(metadata or [], "--metadata"),
                created_by="cli",
            )
        except KeySettingsError as exc:
            option = {"budget_usd": "--budget", "expires_at": "--expires"}.get(
                exc.field, "--" + exc.field.replace("_", "-")
            )
            fail(f"{option}: {exc.message.split(': ', 1)[-1]}")
    if as_json:
        _print_json({"key": key, **info.to_dict()})
        return
    out.print(f"created {info.id} ({info.role})", highlight=False)
    sys.stdout.write(key + "\n")
    err.print("[yellow]Store this key now: it is not shown again.[/]")


@keys_app.command("list")
def list_command(
    team: Annotated[str | None, typer.Option(help="One team only.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List keys (never the keys themselves)."""
    from rich.table import Table

    with _store(config) as (store, _):
        keys = store.list_keys(team=team, include_revoked=revoked)
    if as_json:
        _print_json([k.to_dict() for k in keys])
        return
    if not keys:
        err.print("no keys yet: create one with `spyglass keys create --name my-app`")
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "prefix", "name", "role", "team", "models", "rpm", "tpm", "budget"):
        table.add_column(column)
    table.add_column("state")
    now = datetime.now(UTC)
    for k in keys:
        state = "revoked" if k.revoked_at else ("expired" if not k.usable(now) else "active")
        budget = f"${k.budget_usd:g}/{(k.budget_period_s or 0) // 86400}d" if k.budget_usd else ""
        table.add_row(
            k.id,
            k.prefix + "…",
            k.name or "",
            k.role,
            k.team or "",
            ",".join(k.models) if k.models is not None else "all",
            str(k.rpm or ""),
            str(k.tpm or ""),
            budget,
            state,
        )
    out.print(table)


@keys_app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key: servers refuse it within auth.key_cache_ttl seconds (default 5)."""
    with _store(config) as (store, _):
        info = store.revoke(key_id)
    if info is None:
        fail(f"no key with id {key_id!r}", EXIT_NOT_FOUND)
    out.print(f"revoked {key_id}", highlight=False)


@keys_app.command()
def usage(
    by: Annotated[
        str, typer.Option(help="Group by: key, team, project, model, day (comma-separated).")
    ] = ("key,model"),
    days: Annotated[int, typer.Option(help="The last N days.", min=1, max=366)] = 30,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Requests, tokens and spend from the trace store, grouped."""
    from rich.table import Table

    from ._usage import usage_rows

    groups = [g.strip() for g in by.split(",") if g.strip()]
    bad = [g for g in groups if g not in ("key", "team", "project", "model", "day")]
    if bad or not groups:
        fail(f"--by: expected key, team, project, model and/or day, got {by!r}")
    with _store(config) as (store, engine):
        rows = usage_rows(engine, store, groups, days, None, None)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        err.print(f"no usage by keys in the last {days} days")
        return
    table = Table(box=None, header_style="bold")
    for column in (*groups, "requests", "errors", "input tokens", "output tokens", "cost (USD)"):
        table.add_column(column, justify="left" if column in groups else "right")
    for row in rows:
        table.add_row(
            *(str(row[g] or "-") for g in groups),
            str(row["requests"]),
            str(row["errors"]),
            str(row["input_tokens"]),
            str(row["output_tokens"]),
            f"{row['cost']:.6f}",
        )
    out.print(table)

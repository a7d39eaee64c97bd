"""``spyglass online-evals``: the configured rules, the queue, and backfilling past traces."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer

from ._cli_common import EXIT_NOT_FOUND, ConfigOption, err, fail, load, out, safe

__all__ = ["online_app"]

online_app = typer.Typer(
    help="Online evaluation: rules that score production traces as they arrive.",
    no_args_is_help=True,
)


def _rules(settings: Any) -> list[Any]:
    from evals import EvalConfigError, build_rules

    try:
        return build_rules(
            settings.online_evals,
            models={entry.model_name for entry in settings.model_list},
            base_dir=settings.config_dir(),
        )
    except EvalConfigError as exc:
        fail(exc.message)


@online_app.command("list")
def list_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The rules, what each has waiting in the queue, and what its judges' calls cost."""
    settings = load(config)
    rules = _rules(settings)
    waiting, costs = _waiting(settings) if rules else ({}, {})
    shown = [
        {
            "name": rule.config.name,
            "enabled": rule.config.enabled,
            "sample_rate": rule.config.sample_rate,
            "delay_seconds": rule.config.delay_seconds,
            "filter": rule.config.filter.model_dump(exclude_defaults=True),
            "scorers": [s.name for s in rule.scorers],
            "waiting": waiting.get(rule.config.name, 0),
            "judge_calls": costs.get(rule.config.name, {}).get("calls", 0),
            "judge_cost_usd": costs.get(rule.config.name, {}).get("cost"),
        }
        for rule in rules
    ]
    if as_json:
        import orjson

        typer.echo(orjson.dumps({"data": shown}).decode())
        return
    if not shown:
        out.print("no online rules: add them under `online_evals.rules` in the config")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("rule", "sample", "delay", "filter", "scorers", "waiting", "judge calls"):
        table.add_column(column)
    for rule in shown:
        table.add_row(
            rule["name"] + ("" if rule["enabled"] else " (off)"),
            f"{rule['sample_rate']:.0%}",
            f"{rule['delay_seconds']:g} s",
            ", ".join(f"{k}={v}" for k, v in rule["filter"].items()) or "all traces",
            ", ".join(rule["scorers"]),
            str(rule["waiting"]),
            f"{rule['judge_calls']}"
            + (f" (${rule['judge_cost_usd']:.4f})" if rule["judge_cost_usd"] is not None else ""),
        )
    out.print(table)


def _waiting(settings: Any) -> tuple[dict[str, int], dict[str, Any]]:
    """Traces waiting per rule, and each rule's judge calls and their cost (all time)."""
    from sqlalchemy import inspect

    from evals import OnlineQueue
    from tracing import TraceStore, online_eval_costs

    from ._db import create_store_engine

    engine = create_store_engine(settings.database_url_value())
    try:
        if not inspect(engine).has_table("online_eval_jobs"):
            return {}, {}
        return OnlineQueue(engine).waiting(), online_eval_costs(TraceStore(engine))
    finally:
        engine.dispose()


@online_app.command("backfill")
def backfill_command(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule to apply.")],
    since: Annotated[
        str, typer.Option(help="Traces started since: 30m, 24h, 7d, epoch seconds or ISO 8601.")
    ] = "7d",
    until: Annotated[str | None, typer.Option(help="... and before this.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many traces.", min=1)] = None,
    config: ConfigOption = None,
) -> None:
    """Score past traces with a rule (its filter and sample), here, with a progress bar."""
    from evals import OnlineQueue

    from ._cli_traces import parse_time
    from ._db import create_store_engine, upgrade_store

    settings = load(config)
    rules = {rule.config.name: rule for rule in _rules(settings)}
    if rule_name not in rules:
        known = ", ".join(rules) or "none configured"
        fail(f"RULE: no online rule {rule_name!r} (rules: {known})", EXIT_NOT_FOUND)
    rule = rules[rule_name]
    now = time.time_ns()
    since_ns = parse_time(since, "--since", now)
    until_ns = parse_time(until, "--until", now) if until else None
    try:
        engine = create_store_engine(settings.database_url_value())
        upgrade_store(engine)
    except Exception as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {safe(exc)}", EXIT_NOT_FOUND)
    try:
        queue = OnlineQueue(engine, queue_size=max(settings.online_evals.queue_size, limit or 0))
        queued = queue.backfill(rule.config, since_ns=since_ns, until_ns=until_ns, limit=limit)
        err.print(f"{rule_name}: {queued} trace(s) queued", highlight=False)
        if queued:
            asyncio.run(_drain(settings, engine, rule, queued))
    finally:
        engine.dispose()


async def _drain(settings: Any, engine: Any, rule: Any, total: int) -> None:
    """Score the rule's queued traces here, through an in-process gateway for judges."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from evals import GatewayClient, OnlineEvaluator, Throttle
    from tracing import TraceStore

    from ._eval_session import open_gateway

    concurrency = settings.online_evals.concurrency
    async with open_gateway(settings, engine, server=None, concurrency=concurrency) as gateway:
        client = GatewayClient(
            gateway.http, Throttle(concurrency), headers={"x-spyglass-online-eval": "online-evals"}
        )
        worker = OnlineEvaluator(engine, TraceStore(engine), settings.online_evals, [rule], client)
        columns = (*Progress.get_default_columns()[:2], BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=err) as progress:
            task = progress.add_task(f"scoring with {rule.config.name}", total=total)
            while True:
                jobs = await asyncio.to_thread(
                    worker.queue.claim,
                    worker.worker,
                    limit=settings.online_evals.batch_size,
                    lease_seconds=settings.online_evals.lease_seconds,
                    rules=[rule.config.name],
                )
                if not jobs:
                    break
                await worker.process(jobs)
                progress.advance(task, len(jobs))
    stats = worker.stats
    out.print(
        f"{rule.config.name}: {stats.scored} trace(s) scored, {stats.scores} score(s) "
        f"({stats.errored_scores} errored), {stats.skipped} skipped (no messages)",
        highlight=False,
    )

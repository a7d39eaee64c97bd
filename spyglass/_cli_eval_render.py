"""What ``spyglass eval`` draws: the progress bar, run lists, the comparison table."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ._cli_common import err

__all__ = ["RunProgress", "comparison_table", "runs_table", "show_run", "significance_table"]


class RunProgress:
    """Rows done/total, errors, rate, ETA and running cost, on stderr."""

    def __init__(self, label: str) -> None:
        self.errors = 0
        self.cached = 0
        self.cost = 0.0
        self._started = time.monotonic()
        self._done = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            TextColumn("${task.fields[cost]}"),
            console=err,
            transient=False,
            disable=not err.is_terminal,
        )
        self._task = self._progress.add_task(label, total=None, errors=0, rate="-", cost="0")

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, total: int) -> None:
        """Set how many rows are left to do."""
        self._started = time.monotonic()
        self._progress.update(self._task, total=total)

    def advance(self, outcome: Any) -> None:
        """One row finished."""
        self._done += 1
        if outcome.error:
            self.errors += 1
        if outcome.cached:
            self.cached += 1
        if outcome.cost_usd:
            self.cost += outcome.cost_usd
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            self._task,
            advance=1,
            errors=self.errors,
            rate=f"{self._done / elapsed:.1f}",
            cost=f"{self.cost:.4f}",
        )


def _mean_text(entry: Mapping[str, Any]) -> str:
    mean = entry.get("mean")
    if mean is None:
        return "-"
    text = f"{mean:.3f}"
    ci = entry.get("ci")
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" ± {(ci[1] - ci[0]) / 2:.3f}"
    if entry.get("pass_rate") is not None:
        text += f"  ({entry['pass_rate']:.0%} pass)"
    return text


def _best(runs: Sequence[Mapping[str, Any]], scorer: str) -> set[str]:
    """The ids of the runs with the best mean for ``scorer`` (its direction decides), or the
    best pass rate for a scorer judged by its verdicts (a length within bounds)."""
    means = {}
    direction = "higher"
    for run in runs:
        entry = ((run.get("metrics") or {}).get("scores") or {}).get(scorer) or {}
        figure = "pass_rate" if entry.get("judged_by") == "verdict" else "mean"
        if entry.get(figure) is not None:
            means[run["id"]] = entry[figure]
            direction = "higher" if figure == "pass_rate" else entry.get("direction") or direction
    if len(means) < 2:
        return set()
    best = max(means.values()) if direction == "higher" else min(means.values())
    return {run_id for run_id, mean in means.items() if mean == best}


def comparison_table(runs: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    """Variants as columns, scorers as rows (mean ± 95% CI, pass rate); best in bold green."""
    table = Table(title=title, show_lines=False)
    table.add_column("scorer", style="bold")
    for run in runs:
        table.add_column(f"{escape(run['variant'])}\n[dim]{run['id']}[/]", justify="right")
    scorers: dict[str, None] = {}
    for run in runs:
        for name in (run.get("metrics") or {}).get("scores") or {}:
            scorers.setdefault(name)
    for name in scorers:
        best = _best(runs, name)
        cells = []
        for run in runs:
            entry = ((run.get("metrics") or {}).get("scores") or {}).get(name) or {}
            text = escape(_mean_text(entry))
            cells.append(f"[bold green]{text}[/]" if run["id"] in best else text)
        table.add_row(escape(name), *cells)
    table.add_section()
    for label, path in (
        ("latency p50 (ms)", ("latency_ms", "p50")),
        ("latency p95 (ms)", ("latency_ms", "p95")),
    ):
        table.add_row(label, *[_figure(run, path, "{:.0f}") for run in runs])
    table.add_row("tokens", *[_figure(run, ("tokens", "total"), "{:,}") for run in runs])
    table.add_row("cost (USD)", *[_figure(run, ("cost_usd",), "{:.4f}") for run in runs])
    table.add_row("errors", *[_figure(run, ("errors",), "{}") for run in runs])
    return table


def _figure(run: Mapping[str, Any], path: tuple[str, ...], pattern: str) -> str:
    value: Any = run.get("metrics") or {}
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return "-" if value is None else pattern.format(value)


def runs_table(runs: Sequence[Mapping[str, Any]]) -> Table:
    """``eval list``: one line per run, newest first."""
    table = Table(show_lines=False)
    for column in ("run", "experiment", "variant", "status", "rows", "scores", "started"):
        table.add_column(column)
    for run in runs:
        scores = (run.get("metrics") or {}).get("scores") or {}
        summary = ", ".join(
            f"{name} {entry['mean']:.2f}"
            for name, entry in scores.items()
            if entry.get("mean") is not None
        )
        status = run["status"]
        style = {"finished": "green", "running": "yellow"}.get(status, "red")
        table.add_row(
            run["id"],
            escape(run["experiment"]),
            escape(run["variant"]),
            f"[{style}]{status}[/]",
            f"{run['done']}/{run['total']}",
            escape(summary) or "-",
            (run["created_at"] or "")[:19].replace("T", " "),
        )
    return table


def show_run(run: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> list[Any]:
    """``eval show``: the run's params, its metrics table and its first rows."""
    params = run.get("params") or {}
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    prompt = params.get("prompt")
    rows = [
        ("run", run["id"]),
        ("experiment", run["experiment"]),
        ("variant", run["variant"]),
        ("status", f"{run['status']} ({run['done']}/{run['total']} rows)"),
        ("prompt", f"{prompt}/{params.get('prompt_version')}" if prompt else "inline"),
        ("model", str(params.get("model"))),
        ("params", str(params.get("params") or {})),
        ("dataset", f"{params.get('dataset')} ({(run.get('dataset_hash') or '')[:12]})"),
        ("git commit", str(params.get("git_commit") or "-")),
        ("spyglass", str(params.get("spyglass_version"))),
        ("tags", ", ".join(run.get("tags") or []) or "-"),
        ("notes", run.get("notes") or "-"),
        ("started", run.get("created_at") or "-"),
        ("finished", run.get("finished_at") or "-"),
    ]
    for key, value in rows:
        head.add_row(key, escape(str(value)))
    parts: list[Any] = [head]
    if run.get("metrics"):
        parts.append(comparison_table([run]))
    table = Table(title=f"results (first {min(len(results), 20)} of {len(results)})")
    for column in ("row", "output", "expected", "scores", "trace"):
        table.add_column(column, overflow="fold")
    for result in results[:20]:
        scores = ", ".join(
            f"{name}={'-' if s.get('value') is None else round(s['value'], 3)}"
            + ("" if s.get("passed") is None else (" ✓" if s["passed"] else " ✗"))
            for name, s in (result.get("scores") or {}).items()
        )
        table.add_row(
            str(result["row_index"]),
            escape((result.get("error") and f"error: {result['error']}") or result["output"] or ""),
            escape("" if result["expected"] is None else str(result["expected"]))[:200],
            escape(scores),
            result.get("trace_id") or "-",
        )
    parts.append(table)
    return parts


def significance_table(comparison: Any) -> Table:
    """Per scorer: B - A, the paired test and its p-value, and the rows whose verdict changed."""
    table = Table(
        title=f"{comparison.after} vs {comparison.before} (paired by {comparison.paired_by})"
    )
    for column in ("scorer", "difference", "test", "p-value", "verdict changed on rows"):
        table.add_column(column)
    for entry in comparison.scorers:
        difference = "-" if entry.difference is None else f"{entry.difference:+.3f}"
        p_value = "-" if entry.p_value is None else f"{entry.p_value:.3g}"
        if entry.regression:
            difference = f"[bold red]{difference} (worse)[/]"
        elif entry.significant:
            difference = f"[bold green]{difference} (better)[/]"
        rows = entry.changed_rows
        shown = ", ".join(str(r) for r in rows[:15]) + (
            f" ... ({len(rows)})" if len(rows) > 15 else ""
        )
        table.add_row(escape(entry.scorer), difference, entry.test, p_value, shown or "-")
    return table

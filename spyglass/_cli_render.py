"""How traces look in a terminal: the trace table, a trace's summary, its span tree.

Every value from the store is put in a ``Text``, never in markup: span names are user data.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

__all__ = ["local_time", "span_tree", "trace_summary", "trace_table"]

Row = dict[str, Any]


def local_time(ns: int) -> str:
    """Nanoseconds since the epoch as the local date and time, to the second."""
    return datetime.fromtimestamp(ns // 10**9).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: float | None) -> str:
    """Milliseconds as a person reads them: 0.4 ms, 85 ms, 1.25 s, 3m 05s."""
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def cost(usd: float | None) -> str:
    """Dollars; small amounts keep four significant digits."""
    if not usd:
        return "-"
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4g}"


def summary_cost(row: Row) -> str:
    """A trace's cost: ``-`` without LLM calls, ``unknown`` when none of its calls has a
    known price (not $0), ``≥ $x`` when only some have."""
    calls, unpriced = row.get("llm_count") or 0, row.get("unpriced_count") or 0
    if not calls:
        return "-"
    if unpriced >= calls:
        return "unknown"
    usd = float(row.get("cost") or 0.0)
    shown = cost(usd) if usd else "$0"
    return f"≥ {shown}" if unpriced else shown


def tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """``in / out``, or ``-`` when nothing was counted."""
    if not input_tokens and not output_tokens:
        return "-"
    return f"{input_tokens or 0:,} / {output_tokens or 0:,}"


def _status(status: str) -> Text:
    return Text(status, style="red" if status == "error" else "green")


def _plain(value: Any) -> Text:
    return Text("-" if value is None or value == "" else str(value))


# The trace table's columns, most wanted first: (header, cell of a row, options). Columns that
# do not fit the terminal are left out, last first, rather than squeezing the trace id.
_COLUMNS: list[tuple[str, Any, dict[str, Any]]] = [
    ("started (local)", lambda r: local_time(r["start_ns"]), {}),
    ("trace id", lambda r: r["trace_id"], {}),
    ("status", lambda r: _status(r["status"]), {}),
    ("name", lambda r: _plain(r["name"]), {"overflow": "ellipsis"}),
    ("duration", lambda r: duration(r["duration_ms"]), {"justify": "right"}),
    ("cost", summary_cost, {"justify": "right"}),
    (
        "tokens in / out",
        lambda r: tokens(r["input_tokens"], r["output_tokens"]),
        {"justify": "right"},
    ),
    ("model", lambda r: _plain(r["model"]), {"overflow": "ellipsis", "max_width": 30}),
    ("session", lambda r: _plain(r["session_id"]), {"overflow": "ellipsis", "max_width": 24}),
    ("user", lambda r: _plain(r["user_id"]), {"overflow": "ellipsis", "max_width": 24}),
]
_ORDER = [
    "started (local)",
    "name",
    "status",
    "duration",
    "tokens in / out",
    "cost",
    "model",
    "session",
    "user",
    "trace id",
]


def trace_table(rows: list[Row], width: int = 250) -> Table:
    """One line per trace summary, in the order given, with the columns that fit ``width``."""
    cells = [(h, [cell(row) for row in rows], dict(options)) for h, cell, options in _COLUMNS]
    chosen: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    used = -3  # columns are 3 apart, with nothing at the edges
    name_width = 0
    for header, values, options in cells:
        widest = min(
            max([len(header), *(len(str(v)) for v in values)]), options.get("max_width", 40)
        )
        if header == "name":
            # A name may be cut short (with an ellipsis) to make room for other columns.
            name_width = widest
            widest = min(widest, 12)
        if chosen and used + widest + 3 > width:
            break
        chosen[header] = (values, options)
        used += widest + 3
    if "name" in chosen:
        chosen["name"][1]["width"] = min(name_width, 12 + width - used)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    shown = [header for header in _ORDER if header in chosen]
    for header in shown:
        table.add_column(header, no_wrap=True, **chosen[header][1])
    for index in range(len(rows)):
        table.add_row(*(chosen[header][0][index] for header in shown))
    return table


def trace_summary(trace: Row) -> Table:
    """A trace's summary as labelled lines; unset fields are left out."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = _status(trace["status"])
    if trace.get("error"):
        status.append(f": {_cut(trace['error'], 300)}", style="red")
    calls = trace["llm_count"]
    lines: list[tuple[str, Any]] = [
        ("trace", trace["trace_id"]),
        ("name", trace["name"]),
        ("status", status),
        ("started", local_time(trace["start_ns"])),
        ("duration", duration(trace["duration_ms"])),
        ("spans", f"{trace['span_count']} ({calls} LLM call{'' if calls == 1 else 's'})"),
        ("tokens in / out", tokens(trace["input_tokens"], trace["output_tokens"])),
        ("cost", summary_cost(trace)),
        ("ttft", duration(trace["ttft_ms"]) if trace.get("ttft_ms") is not None else None),
        ("model", trace["model"]),
        ("provider", trace["provider"]),
        ("service", trace["service_name"]),
        ("session", trace["session_id"]),
        ("user", trace["user_id"]),
        ("key", trace["key_id"]),
        ("prompt", trace["prompt"]),
        ("tags", ", ".join(trace.get("tags") or []) or None),
    ]
    for label, value in lines:
        if value is not None and value != "":
            grid.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    return grid


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def span_label(span: Row) -> Text:
    """Name, kind, duration, status, model and tokens of one span; red when it failed."""
    failed = span["status"] == "error"
    label = Text(span["name"], style="bold red" if failed else "bold")
    label.append(f"  {span['kind']}", style="dim")
    if span.get("is_attempt"):
        label.append(" (attempt)", style="dim")
    label.append(f"  {duration(span['duration_ms'])}")
    if failed:
        message = span.get("status_message")
        label.append("  error" + (f": {_cut(message, 200)}" if message else ""), style="red")
    elif span["status"] == "ok":
        label.append("  ok", style="green")
    if span.get("model"):
        label.append(f"  {span['model']}", style="cyan")
    if span.get("input_tokens") is not None or span.get("output_tokens") is not None:
        label.append(f"  {span.get('input_tokens') or 0}→{span.get('output_tokens') or 0} tok")
    return label


def span_tree(trace: Row, spans: list[Row]) -> Tree:
    """The spans as a tree under the trace, each span's children in start order.

    ``spans`` come in start order. A span whose parent is not among them (not arrived, or in
    another trace's page) is shown at the top; so is a span caught in a parent cycle.
    """
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[Row]] = defaultdict(list)
    for span in spans:
        parent = span["parent_span_id"]
        known = parent in ids and parent != span["span_id"]
        children[parent if known else None].append(span)
    title = Text(trace["name"] or "(unnamed trace)", style="bold")
    title.append(f"  {trace['trace_id']}", style="dim")
    root = Tree(title, guide_style="dim")
    placed: set[str] = set()
    tops = list(children[None])
    while True:
        # Iterative: a deep chain of spans must not exhaust Python's recursion limit.
        stack = [(root, span) for span in reversed(tops)]
        while stack:
            node, span = stack.pop()
            if span["span_id"] in placed:
                continue
            placed.add(span["span_id"])
            branch = node.add(span_label(span))
            stack.extend((branch, child) for child in reversed(children[span["span_id"]]))
        tops = [span for span in spans if span["span_id"] not in placed][:1]
        if not tops:
            return root


def score_value(score: Row) -> str:
    """A score's value as a person reads it: 4, yes/no, a label, or why its scorer failed."""
    value = score["value"]
    if score.get("error") and value is None:
        return f"error: {_cut(score['error'], 80)}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def score_lines(scores: list[Row]) -> Table:
    """A trace's scores, one a line: name, value, where (trace or span), who, comment."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for score in scores:
        where = f"span {score['span_id']}" if score.get("span_id") else "trace"
        who = score.get("author") or score.get("scorer") or score["source"]
        line = f"{score_value(score)}  ({where}, {score['source']}: {who})"
        if score.get("comment"):
            line += f"  {_cut(score['comment'], 120)}"
        grid.add_row(f"score {score['name']}", Text(line))
    return grid


def score_table(scores: list[Row]) -> Table:
    """Scores, one a row: when, target, name, value, source and who, comment."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("written", "target", "name", "value", "source", "by", "comment"):
        table.add_column(column, overflow="fold" if column == "comment" else "ellipsis")
    for score in scores:
        if score.get("span_id"):
            target = f"span {score['trace_id']}/{score['span_id']}"
        elif score.get("trace_id"):
            target = f"trace {score['trace_id']}"
        elif score.get("session_id"):
            target = f"session {score['session_id']}"
        else:
            target = f"eval {score['run_id']}#{score['row_index']}"
        table.add_row(
            local_time(score["created_ns"]),
            target,
            score["name"],
            score_value(score),
            score["source"],
            score.get("author") or score.get("scorer") or "",
            _cut(score.get("comment") or "", 120),
        )
    return table


def config_table(configs: list[Row]) -> Table:
    """Score configs, one a row: name, type, range or categories, description."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "type", "values", "project", "description"):
        table.add_column(column)
    for config in configs:
        if config["data_type"] == "categorical":
            values = ", ".join(config["categories"] or [])
        elif config["data_type"] == "boolean":
            values = "true, false"
        else:
            low, high = config["min_value"], config["max_value"]
            values = f"{'' if low is None else f'{low:g}'} to {'' if high is None else f'{high:g}'}"
            values = "any number" if low is None and high is None else values
        name = config["name"] + (" (archived)" if config.get("archived") else "")
        table.add_row(
            name,
            config["data_type"],
            values,
            config.get("project") or "",
            config.get("description") or "",
        )
    return table

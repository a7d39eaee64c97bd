"""The JSON shapes of a trace summary and a span, as the API and the CLI print them."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["iso_time", "known_cost", "span_json", "trace_json"]


def iso_time(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 in UTC, to the microsecond."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def trace_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ``traces`` row (from ``list_traces`` or ``get_trace``) with its start time in ISO.

    Its ``cost`` is null when none of its calls has a known price (``unpriced_count`` of
    them have none): unknown, which is not $0.
    """
    shaped = dict(row)
    shaped["start_time"] = iso_time(row["start_ns"])
    shaped["cost"] = known_cost(row)
    return shaped


def known_cost(row: dict[str, Any]) -> float | None:
    """The summed cost of a trace or session row, or None when every call's is unknown."""
    calls, unpriced = row.get("llm_count") or 0, row.get("unpriced_count") or 0
    if calls and unpriced >= calls:
        return None
    cost = row.get("cost")
    return float(cost) if cost is not None else None


def span_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ``spans`` row (from ``get_trace``) with its start time in ISO."""
    shaped = dict(row)
    shaped["start_time"] = iso_time(row["start_ns"])
    return shaped

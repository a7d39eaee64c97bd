"""The JSON shapes of a trace summary and a span, as the API and the CLI print them."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["iso_time", "span_json", "trace_json"]


def iso_time(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 in UTC, to the microsecond."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def trace_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ``traces`` row (from ``list_traces`` or ``get_trace``) with its start time in ISO."""
    shaped = dict(row)
    shaped["start_time"] = iso_time(row["start_ns"])
    return shaped


def span_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ``spans`` row (from ``get_trace``) with its start time in ISO."""
    shaped = dict(row)
    shaped["start_time"] = iso_time(row["start_ns"])
    return shaped

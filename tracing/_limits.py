"""What one span received over OTLP may hold, and the times it may carry.

OpenTelemetry's SDKs bound a span's attributes, events and links (``SpanLimits``, 128 each by
default); a receiver that takes whatever arrives lets one client store a span with 100,000
attributes. The receiver applies the same bounds, keeps the first ones (as the specification
asks of an SDK), and counts what it dropped on the span, adding the counts the sender reported:

- ``spyglass.dropped.attributes``, ``spyglass.dropped.events``, ``spyglass.dropped.links``;
- an event's own dropped attributes as its ``dropped_attributes`` field.

Times: a span that starts before 2000 (a zero or missing start time is 1970) or more than
``max_future_seconds`` from now is rejected, counted in the answer's ``partial_success``,
rather than stored where it would sit first or last in every time-ordered list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EARLIEST_START_NS", "SpanLimits", "SpanLimitsConfig"]

EARLIEST_START_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z

DROPPED_ATTRIBUTES = "spyglass.dropped.attributes"
DROPPED_EVENTS = "spyglass.dropped.events"
DROPPED_LINKS = "spyglass.dropped.links"


class SpanLimitsConfig(BaseModel):
    """The ``tracing.span_limits:`` settings (OpenTelemetry's ``SpanLimits`` defaults)."""

    model_config = ConfigDict(extra="forbid")

    attributes: int = Field(default=128, ge=1, description="attributes kept per span")
    events: int = Field(default=128, ge=0, description="events kept per span")
    links: int = Field(default=128, ge=0, description="links kept per span")
    event_attributes: int = Field(default=128, ge=0, description="attributes kept per event")
    link_attributes: int = Field(default=128, ge=0, description="attributes kept per link")
    max_future_seconds: float = Field(
        default=86_400,
        gt=0,
        description="spans starting later than this after the receiver's clock are rejected",
    )

    def limits(self) -> SpanLimits:
        return SpanLimits(**self.model_dump())


@dataclass(frozen=True, slots=True)
class SpanLimits:
    """The bounds :func:`tracing._convert.otlp_to_rows` applies; see the module docstring."""

    attributes: int = 128
    events: int = 128
    links: int = 128
    event_attributes: int = 128
    link_attributes: int = 128
    max_future_seconds: float = 86_400

    def latest_start_ns(self) -> int:
        """The latest start time accepted now."""
        return time.time_ns() + int(self.max_future_seconds * 1e9)


DEFAULT_LIMITS = SpanLimits()


def out_of_time(name: str, start_ns: int, latest_ns: int) -> str | None:
    """Why a span's start time is refused, or None when it is within the window."""
    if start_ns < EARLIEST_START_NS:
        return f"span {name!r}: start time {start_ns} ns is before 2000 (missing or zero?)"
    if start_ns > latest_ns:
        return f"span {name!r}: start time {start_ns} ns is too far in the future"
    return None

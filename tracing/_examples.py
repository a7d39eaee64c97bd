"""A trace or span as a dataset example: what it was asked (input) and what it answered
(expected), for "add to dataset".

The input is ``{"input": the last user message's text, "messages": the conversation as
OpenAI-style messages}`` (plus ``system`` when there were instructions), so an eval prompt can
use ``{{input}}`` or replay the messages; the expected answer is the output's text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ._messages import as_text, loads
from ._records import SPANS, TRACES
from ._store import TraceStore

__all__ = ["example_of", "examples_of"]


def _text(message: Any) -> str:
    """The text parts of a semconv message, joined; other parts as JSON."""
    if not isinstance(message, dict):
        return as_text(message)
    pieces = []
    for part in message.get("parts") or []:
        if isinstance(part, dict) and part.get("type") == "text":
            pieces.append(str(part.get("content") or ""))
        elif isinstance(part, dict) and part.get("type") == "tool_call":
            pieces.append(
                as_text({"tool_call": part.get("name"), "arguments": part.get("arguments")})
            )
    return "\n".join(pieces)


def _openai(message: Any) -> dict[str, Any]:
    role = message.get("role", "user") if isinstance(message, dict) else "user"
    return {"role": role, "content": _text(message)}


def _example(content: Any) -> tuple[dict[str, Any], Any] | None:
    value = loads(content)
    if not isinstance(value, dict):
        return None
    asked = [m for m in value.get("input") or [] if isinstance(m, dict)]
    answered = [m for m in value.get("output") or [] if isinstance(m, dict)]
    if not asked and value.get("input_value") is None:
        return None
    example: dict[str, Any] = {}
    if asked:
        users = [m for m in asked if m.get("role") == "user"] or asked
        example["input"] = _text(users[-1])
        example["messages"] = [_openai(m) for m in asked]
    else:
        example["input"] = as_text(value["input_value"])
    system = value.get("system")
    if system:
        example["system"] = (
            _text({"parts": system}) if isinstance(system, list) else as_text(system)
        )
    if answered:
        expected: Any = _text(answered[0])
    elif value.get("output_value") is not None:
        expected = as_text(value["output_value"])
    else:
        expected = None
    return example, expected


def example_of(
    store: TraceStore, trace_id: str, span_id: str | None = None, project: str | None = None
) -> dict[str, Any] | None:
    """A dataset example from a span (or, for a trace, its first span that has messages):
    ``{"trace_id", "span_id", "input", "expected"}``; None when there is no such trace or span
    (in ``project``) or it carries no messages (content capture off)."""
    trace_id = trace_id.lower()
    with store.engine.connect() as connection:
        trace = connection.execute(
            select(TRACES.c.project).where(TRACES.c.trace_id == trace_id)
        ).first()
        if trace is None or (project is not None and trace.project != project):
            return None
        query = select(SPANS.c.span_id, SPANS.c.content).where(
            SPANS.c.trace_id == trace_id, SPANS.c.content.is_not(None), ~SPANS.c.is_attempt
        )
        if span_id is not None:
            query = query.where(SPANS.c.span_id == span_id.lower())
        for found_id, content in connection.execute(query.order_by(SPANS.c.start_ns).limit(50)):
            example = _example(content)
            if example is not None:
                return {
                    "trace_id": trace_id,
                    "span_id": found_id,
                    "input": example[0],
                    "expected": example[1],
                }
    return None


def examples_of(store: TraceStore, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``example_of`` for many traces at once (online evaluation scores them in batches), by
    trace id; traces without messages are left out."""
    found: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as connection:
        for start in range(0, len(trace_ids), 500):
            query = (
                select(SPANS.c.trace_id, SPANS.c.span_id, SPANS.c.content)
                .where(
                    SPANS.c.trace_id.in_(trace_ids[start : start + 500]),
                    SPANS.c.content.is_not(None),
                    ~SPANS.c.is_attempt,
                )
                .order_by(SPANS.c.trace_id, SPANS.c.start_ns)
            )
            for trace_id, span_id, content in connection.execute(query):
                if trace_id in found:
                    continue
                example = _example(content)
                if example is not None:
                    found[trace_id] = {
                        "trace_id": trace_id,
                        "span_id": span_id,
                        "input": example[0],
                        "expected": example[1],
                    }
    return found

"""The trace list's score filters: ``score=NAME`` (has one), ``score=!NAME`` (has none),
``score=NAME>=4`` (``>``, ``<``, ``<=``, ``=``, ``!=``; a number, ``true``/``false``, or a
category's label after ``=`` and ``!=``).

A trace matches on its current scores and those of its spans; a scorer's failure (a score
with an error and no value) is not a score it has.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, or_, select

from ._records import TRACES
from ._score_records import SCORES

__all__ = ["ScoreCondition", "parse_score_filter", "score_condition", "score_sort_column"]

Op = Literal["has", "not", ">=", "<=", ">", "<", "=", "!="]
_FILTER = re.compile(r"^(?P<name>[^<>=!]+?)\s*(?P<op>>=|<=|!=|>|<|=)\s*(?P<value>.*)$")


@dataclass(frozen=True)
class ScoreCondition:
    """One score filter: a name, how it compares, and to what (a number or a label)."""

    name: str
    op: Op
    value: float | str | None = None


def parse_score_filter(text: str) -> ScoreCondition:
    """``helpful``, ``!helpful``, ``helpful>=4``, ``sentiment=negative``, ``thumbs=true``.

    Raises:
        ValueError: the text is none of these (the message says what is expected).
    """
    text = text.strip()
    expected = "expected NAME, !NAME, or NAME then >=, <=, >, <, = or != and a value"
    if not text:
        raise ValueError(expected)
    if text.startswith("!") and not _FILTER.match(text[1:]):
        name = text[1:].strip()
        if not name:
            raise ValueError(expected)
        return ScoreCondition(name, "not")
    match = _FILTER.match(text)
    if match is None:
        if any(c in text for c in "<>=!"):
            raise ValueError(expected)
        return ScoreCondition(text, "has")
    name, op, raw = match["name"].strip(), match["op"], match["value"].strip()
    if not raw:
        raise ValueError(f"{expected}: no value after {op}")
    value: float | str
    if raw.lower() in ("true", "false"):
        value = 1.0 if raw.lower() == "true" else 0.0
    else:
        try:
            value = float(raw)
        except ValueError:
            value = raw
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if isinstance(value, str) and op not in ("=", "!="):
        raise ValueError(f"{op} compares numbers; {raw!r} is not one")
    return ScoreCondition(name, op, value)  # type: ignore[arg-type]


def score_condition(condition: ScoreCondition, project: str | None = None) -> Any:
    """The SQL condition on ``traces`` for one score filter."""
    s = SCORES.c
    where: list[Any] = [s.name == condition.name, s.superseded_by.is_(None)]
    if project is not None:
        where.append(s.project == project)
    value = condition.value
    if condition.op in ("has", "not"):
        where.append(or_(s.value.is_not(None), s.label.is_not(None)))
    elif isinstance(value, str):
        where.append(s.label == value if condition.op == "=" else s.label != value)
    else:
        column = s.value
        compare = {
            ">=": column >= value,
            "<=": column <= value,
            ">": column > value,
            "<": column < value,
            "=": column == value,
            "!=": column != value,
        }
        where.append(compare[condition.op])
    scored = select(s.trace_id).where(*where, s.trace_id.is_not(None))
    if condition.op == "not":
        return TRACES.c.trace_id.not_in(scored)
    return TRACES.c.trace_id.in_(scored)


def score_sort_column(name: str, project: str | None = None) -> Any:
    """For ``sort=score:NAME``: each trace's highest current value of the score (its own or
    its spans'), as a subquery to join the traces to; traces without one are not listed."""
    s = SCORES.c
    where = [s.name == name, s.superseded_by.is_(None), s.value.is_not(None)]
    if project is not None:
        where.append(s.project == project)
    return (
        select(s.trace_id.label("trace_id"), func.max(s.value).label("score_value"))
        .where(*where, s.trace_id.is_not(None))
        .group_by(s.trace_id)
        .subquery("sorted_by_score")
    )

"""What a score is: its types, configs and targets, how a value is checked, and its JSON.

``typed`` turns a value into what the store keeps (a number, a label, or both for nothing:
a scorer's failure), checked against the name's config when it has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidScoreError

__all__ = [
    "DATA_TYPES",
    "SOURCES",
    "DataType",
    "NewScore",
    "ScoreConfig",
    "ScoreQuery",
    "check_config",
    "check_meta",
    "config_of",
    "is_hex",
    "score_json",
    "typed",
]

DataType = Literal["numeric", "boolean", "categorical"]
DATA_TYPES: tuple[DataType, ...] = ("numeric", "boolean", "categorical")
SOURCES = ("human", "api", "online", "eval")
TARGETS = ("trace", "span", "session", "eval_row")
# Sources whose names must be configured: people and apps. Scorers name their own scores.
_CONFIGURED_SOURCES = ("human", "api")


@dataclass(frozen=True)
class ScoreConfig:
    """A score name's meaning in a project (``project`` None: the configs of no project)."""

    name: str
    data_type: DataType
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[str, ...] | None = None
    description: str | None = None
    project: str | None = None
    archived: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data_type": self.data_type,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "categories": list(self.categories) if self.categories is not None else None,
            "description": self.description,
            "project": self.project,
            "archived": self.archived,
        }


@dataclass
class NewScore:
    """A score to write. Exactly one target: ``trace_id`` (with ``span_id`` for a span),
    ``session_id``, or ``run_id`` with ``row_index``."""

    name: str
    value: Any
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    row_index: int | None = None
    comment: str | None = None
    source: str = "api"
    user_id: str | None = None
    scorer: str | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    supersedes: str | None = None
    data_type: DataType | None = None


@dataclass
class ScoreQuery:
    """What scores may be listed by (all optional, combined with AND)."""

    project: str | None = None
    target: str | None = None  # trace, span, session or eval_row
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    name: str | None = None
    source: str | None = None
    author: str | None = None
    scorer: str | None = None
    label: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    history: bool = False  # also the scores later ones superseded


def score_json(row: dict[str, Any]) -> dict[str, Any]:
    """A score row as the API shows it: ``value`` typed (number, boolean or label)."""
    kind = row["data_type"]
    value: Any = row["value"]
    if kind == "boolean" and value is not None:
        value = value >= 0.5
    elif kind == "categorical":
        value = row["label"]
    return {
        "id": row["id"],
        "project": row["project"],
        "target": row["target"],
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "session_id": row["session_id"],
        "run_id": row["run_id"],
        "row_index": row["row_index"],
        "name": row["name"],
        "data_type": kind,
        "value": value,
        "comment": row["comment"],
        "source": row["source"],
        "author": row["author"],
        "user_id": row["user_id"],
        "scorer": row["scorer"],
        "error": row["error"],
        "metadata": row["metadata"] or {},
        "created_ns": row["created_ns"],
        "supersedes": row["supersedes"],
        "superseded_by": row["superseded_by"],
    }


def config_of(row: Any) -> ScoreConfig:
    categories = row.categories
    return ScoreConfig(
        name=row.name,
        data_type=row.data_type,
        min_value=row.min_value,
        max_value=row.max_value,
        categories=tuple(categories) if categories is not None else None,
        description=row.description,
        project=row.project or None,
        archived=bool(row.archived),
    )


def is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


def check_config(config: ScoreConfig) -> None:
    """Raise ``InvalidScoreError`` naming the field when a config contradicts itself."""
    if not config.name or not config.name.strip() or len(config.name) > 200:
        raise InvalidScoreError("expected a name of 1 to 200 characters", "name")
    if config.data_type not in DATA_TYPES:
        raise InvalidScoreError("expected numeric, boolean or categorical", "data_type")
    if config.data_type == "categorical":
        if not config.categories or len(set(config.categories)) != len(config.categories):
            raise InvalidScoreError("a categorical score needs distinct categories", "categories")
        if any(not c or len(c) > 200 for c in config.categories):
            raise InvalidScoreError("a category is 1 to 200 characters", "categories")
    elif config.categories is not None:
        raise InvalidScoreError(f"a {config.data_type} score has no categories", "categories")
    if config.data_type != "numeric" and (
        config.min_value is not None or config.max_value is not None
    ):
        raise InvalidScoreError(f"a {config.data_type} score has no range", "min_value")
    for name, bound in (("min_value", config.min_value), ("max_value", config.max_value)):
        if bound is not None and not math.isfinite(bound):
            raise InvalidScoreError("expected a finite number", name)
    if (
        config.min_value is not None
        and config.max_value is not None
        and config.min_value > config.max_value
    ):
        raise InvalidScoreError("min_value is above max_value", "min_value")


def typed(
    score: NewScore, config: ScoreConfig | None, where: str
) -> tuple[DataType, float | None, str | None]:
    """The score's type, number and label, checked against its config (if any)."""
    value = score.value
    if score.error is not None and value is None:  # a scorer failed: no value, a reason
        return config.data_type if config else (score.data_type or "numeric"), None, None
    kind: DataType
    if config is not None:
        kind = config.data_type
        if score.data_type is not None and score.data_type != kind:
            raise InvalidScoreError(
                f"score {score.name!r} is {kind}, not {score.data_type}", f"{where}data_type"
            )
    elif score.data_type is not None:
        kind = score.data_type
    elif isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "numeric"
    elif isinstance(value, str):
        kind = "categorical"
    else:
        raise InvalidScoreError("expected a number, a boolean or a label", f"{where}value")
    if kind == "boolean":
        if isinstance(value, bool):
            return kind, float(value), None
        if isinstance(value, int | float) and value in (0, 1):
            return kind, float(value), None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return kind, float(value.lower() == "true"), None
        raise InvalidScoreError(f"score {score.name!r} is boolean: true or false", f"{where}value")
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidScoreError(f"score {score.name!r} is numeric: a number", f"{where}value")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidScoreError("expected a finite number", f"{where}value")
        if config is not None:
            low, high = config.min_value, config.max_value
            if (low is not None and number < low) or (high is not None and number > high):
                bounds = f"{'' if low is None else low} to {'' if high is None else high}"
                raise InvalidScoreError(
                    f"score {score.name!r} is out of range: {number:g} not in {bounds}",
                    f"{where}value",
                )
        return kind, number, None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidScoreError(
            f"score {score.name!r} is categorical: a label of 1 to 200 characters",
            f"{where}value",
        )
    if config is not None and config.categories is not None and value not in config.categories:
        raise InvalidScoreError(
            f"score {score.name!r} has no category {value!r}; expected one of "
            + ", ".join(config.categories),
            f"{where}value",
        )
    return kind, None, value


def check_meta(score: NewScore, config: ScoreConfig | None, where: str) -> None:
    if not score.name or len(score.name) > 200:
        raise InvalidScoreError("expected a name of 1 to 200 characters", f"{where}name")
    if score.source not in SOURCES:
        raise InvalidScoreError("expected human, api, online or eval", f"{where}source")
    if score.source in _CONFIGURED_SOURCES:
        if config is None:
            raise InvalidScoreError(
                f"no score config {score.name!r}: create it first "
                "(spyglass scores configs add, or POST /api/score-configs)",
                f"{where}name",
            )
        if config.archived:
            raise InvalidScoreError(f"score config {score.name!r} is archived", f"{where}name")
    if score.error is None and score.value is None:
        raise InvalidScoreError("expected a value", f"{where}value")

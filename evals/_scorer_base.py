"""What every scorer shares: reading its YAML entry, the threshold and direction that decide
``passed``, the value it compares against, and turning its failures into an errored ``Score``.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ._scoring import Direction, ModelClient, Score, ScoreInput
from .errors import EvalConfigError

__all__ = [
    "BaseScorer",
    "Builder",
    "Check",
    "Common",
    "Options",
    "Reference",
    "clip",
    "strip_fences",
    "text_of",
]

_MISSING: Any = object()


class Options:
    """One scorer entry, read key by key; every error names the key (``scorers[2].threshold``).

    Keys read are remembered, so ``finish`` can reject the ones no scorer of this type knows.
    """

    def __init__(self, spec: Mapping[str, Any], where: str) -> None:
        if not isinstance(spec, Mapping):
            raise EvalConfigError(f"expected a mapping, got {_kind(spec)}", where=where)
        for key in spec:
            if not isinstance(key, str):
                raise EvalConfigError(f"keys must be strings, got {key!r}", where=where)
        self.spec = spec
        self.where = where
        self._read: set[str] = set()

    def at(self, key: str) -> str:
        """The path of ``key``."""
        return f"{self.where}.{key}"

    def fail(self, key: str, message: str) -> NoReturn:
        raise EvalConfigError(message, where=self.at(key))

    def has(self, key: str) -> bool:
        self._read.add(key)
        return self.spec.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        value = self.spec.get(key)
        return default if value is None else value

    def string(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key)
        if value is None:
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {_kind(value)}")
        return value

    def number(self, key: str, default: Any = None, *, minimum: float | None = None) -> Any:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number, got {_kind(value)}")
        if minimum is not None and value < minimum:
            self.fail(key, f"expected a number >= {minimum:g}, got {value!r}")
        return float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_kind(value)}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def strings(self, key: str) -> list[str] | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{key}[{index}]", f"expected a string, got {_kind(item)}")
        return list(value)

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key)
        if value is None:
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a mapping, got {_kind(value)}")
        return dict(value)

    def finish(self) -> None:
        """Reject keys this scorer type does not read."""
        unknown = sorted(set(self.spec) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            self.fail(unknown[0], f"unknown key for this scorer type (known: {known})")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({value!r})".lower()
    if isinstance(value, str):
        return f"the string {value!r}" if value else "an empty string"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


@dataclass(frozen=True)
class Reference:
    """Where a scorer's reference value comes from: a literal (``value:``), a dataset column
    (``column:``), or, with neither, the row's expected value (``expected``: the column the
    dataset names as expected, else a column called ``expected``)."""

    literal: Any = None
    column: str | None = None
    expected: bool = False

    @classmethod
    def read(cls, options: Options, *, key: str = "value", expected: bool = True) -> Reference:
        if options.has(key) and options.has("column"):
            options.fail("column", f"give either {key} or column, not both")
        if options.has(key):
            return cls(literal=options.raw(key))
        column = options.string("column", None)
        if column is not None:
            return cls(column=column)
        if not expected:
            options.fail(key, f"is required (or column: a dataset column holding the {key})")
        return cls(expected=True)

    @property
    def literal_given(self) -> bool:
        return self.column is None and not self.expected

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.column else ()

    def get(self, item: ScoreInput) -> Any:
        """The reference value for this row."""
        if self.expected:
            if item.expected is not None:
                return item.expected
            if item.row.get("expected") is not None:
                return item.row["expected"]
            raise LookupError(
                "the row has no expected value (name the dataset's expected column, "
                "or give the scorer value: or column:)"
            )
        if self.column is None:
            return self.literal
        if self.column in item.row:
            return item.row[self.column]
        raise LookupError(f"the row has no column {self.column!r}")


@dataclass(frozen=True)
class Common:
    """The keys every scorer has: ``name`` (default: the type), ``threshold``, ``direction``."""

    type: str
    name: str
    threshold: float | None
    direction: Direction


class BaseScorer(ABC):
    """A configured scorer: the ``Scorer`` protocol, with errors caught and verdicts decided
    the same way for every type.

    Besides the protocol's attributes, ``expects`` says whether it reads the row's expected
    value (so a plan can check the dataset has one), and ``judged_by`` how two runs compare
    on it: by its values (``value``, in its ``direction``), or by its pass/fail verdicts only
    (``verdict``: a measurement within bounds, where neither more nor less is better). A
    subclass implements ``measure``, returning a ``Score``, usually through ``verdict``.
    """

    judged_by = "value"

    def __init__(
        self,
        common: Common,
        *,
        columns: tuple[str, ...] = (),
        models: tuple[str, ...] = (),
        expects: bool = False,
    ) -> None:
        self.type = common.type
        self.name = common.name
        self.threshold = common.threshold
        self.direction: Direction = common.direction
        self.columns = columns
        self.models = models
        self.expects = expects

    def __repr__(self) -> str:
        return f"<{self.type} scorer {self.name!r}>"

    async def score(self, item: ScoreInput, client: ModelClient) -> Score:
        """Score one output; an exception inside the scorer becomes ``Score(error=...)``."""
        try:
            return await self.measure(item, client)
        except Exception as exc:
            return Score(value=None, passed=None, error=f"{type(exc).__name__}: {exc}")

    @abstractmethod
    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        """The score of one output (exceptions are caught by ``score``)."""

    def verdict(
        self, value: float, natural: bool | None = None, explanation: str | None = None
    ) -> Score:
        """A score for ``value``: passed by the threshold when there is one (``>=`` when
        higher is better, ``<=`` when lower is), else by ``natural``."""
        return Score(
            value=float(value), passed=self.passes(value, natural), explanation=explanation
        )

    def passes(self, value: float, natural: bool | None = None) -> bool | None:
        if self.threshold is None:
            return natural
        if self.direction == "higher":
            return value >= self.threshold
        return value <= self.threshold


class Check(BaseScorer):
    """A pass/fail scorer: value 1.0 when the check holds, else 0.0; ``negate`` inverts it."""

    def __init__(
        self,
        common: Common,
        *,
        negate: bool = False,
        columns: tuple[str, ...] = (),
        expects: bool = False,
    ) -> None:
        super().__init__(common, columns=columns, expects=expects)
        self.negate = negate

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        holds, explanation = self.check(item)
        if self.negate:
            holds = not holds
        return self.verdict(1.0 if holds else 0.0, holds, explanation)

    @abstractmethod
    def check(self, item: ScoreInput) -> tuple[bool, str]:
        """Whether the check holds, and what was found (said plainly, whatever ``negate``)."""


Builder = Callable[[Options, Common], BaseScorer]
"""Builds one scorer type from its entry's options (the common keys already read)."""


def text_of(value: Any) -> str:
    """A reference value as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def clip(text: Any, limit: int = 120) -> str:
    """A value quoted for an explanation, shortened."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


def strip_fences(text: str) -> str:
    """The inside of a Markdown code fence (```json ... ```), or the text as it is."""
    found = _FENCE.match(text)
    return found.group(1) if found else text

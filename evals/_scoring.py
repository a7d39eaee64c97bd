"""The contract between the runner and the scorers.

The runner builds one ``ScoreInput`` per (row, variant, repeat) once the model answered, and
awaits each scorer's ``score``. Scorers that call a model (LLM-as-judge, embedding similarity)
do so through the ``ModelClient`` the runner hands them, so their calls go through the gateway
like every other call, and are traced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Direction", "ModelClient", "Score", "ScoreInput", "Scorer"]

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one output.

    ``value`` is None when the scorer could not score (``error`` says why); ``passed`` is None
    when the scorer has no threshold and no natural pass/fail.
    """

    value: float | None
    passed: bool | None
    explanation: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ScoreInput:
    """What a scorer sees: the output, the expectation, and how the call went."""

    output: str
    expected: Any = None
    row: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    messages: Sequence[Mapping[str, Any]] = ()
    latency_ms: float = 0.0
    cost_usd: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    response: Mapping[str, Any] = field(default_factory=dict)


class ModelClient(Protocol):
    """Model calls for scorers, through the gateway (in-process or ``--server``)."""

    async def chat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> dict[str, Any]:
        """A ``chat.completion`` JSON object."""
        ...

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        """One embedding per input."""
        ...


class Scorer(Protocol):
    """A configured scorer. ``columns`` and ``models`` let the runner validate a file before any
    call: the dataset columns it reads, and the gateway models it calls."""

    name: str
    threshold: float | None
    direction: Direction
    columns: tuple[str, ...]
    models: tuple[str, ...]

    async def score(self, item: ScoreInput, client: ModelClient) -> Score: ...

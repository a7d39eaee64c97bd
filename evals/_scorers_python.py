"""Custom scorers written in Python, registered with the ``@scorer`` decorator.

A scorer function asks for what it needs by parameter name (``output``, ``expected``, ``row``,
``variables``, ``messages``, ``latency_ms``, ``cost_usd``, ``usage``, ``response``, ``item``
for the whole ``ScoreInput``, ``client`` for the ``ModelClient``, ``options`` for the entry's
``options:`` mapping), may be sync or async, and returns a ``Score``, a number, a bool, or a
dict with ``score`` (or ``value``), ``passed`` and ``explanation``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from ._scorer_base import BaseScorer, Common, Options
from ._scoring import Direction, ModelClient, Score, ScoreInput

__all__ = ["PARAMETERS", "ScorerFunction", "build_python", "registered_scorers", "scorer"]

PARAMETERS = (
    "output",
    "expected",
    "row",
    "variables",
    "messages",
    "latency_ms",
    "cost_usd",
    "usage",
    "response",
    "item",
    "client",
    "options",
)
"""The parameter names a scorer function may declare."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ScorerFunction:
    """A function registered with ``@scorer``, and the defaults its YAML entry may override."""

    function: Callable[..., Any]
    name: str
    threshold: float | None
    direction: Direction
    origin: str
    wanted: tuple[str, ...]
    takes_all: bool


_REGISTRY: dict[str, ScorerFunction] = {}


@overload
def scorer(function: F, /) -> F: ...


@overload
def scorer(
    *, name: str | None = None, threshold: float | None = None, direction: Direction = "higher"
) -> Callable[[F], F]: ...


def scorer(
    function: Any = None,
    /,
    *,
    name: str | None = None,
    threshold: float | None = None,
    direction: Direction = "higher",
) -> Any:
    """Register a custom scorer function; it stays an ordinary function.

    Use as ``@scorer`` or ``@scorer(name="tone", threshold=0.8, direction="higher")``. The eval
    file then names it by ``function: "module:function"`` (or ``"path/to/file.py:function"``),
    or by its registered name once its module is imported.

    Args:
        name: the registered name (default: the function's name); also the scorer's default
            name in results.
        threshold: the default threshold for numeric results.
        direction: whether ``higher`` or ``lower`` values are better.

    Raises:
        TypeError: the function asks for a parameter no scorer is given.
        ValueError: another function already holds the name.
    """

    def register(fn: F) -> F:
        signature = inspect.signature(fn)
        wanted, takes_all = [], False
        for parameter in signature.parameters.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                takes_all = True
            elif parameter.kind is parameter.VAR_POSITIONAL:
                continue
            elif parameter.name in PARAMETERS:
                wanted.append(parameter.name)
            elif parameter.default is parameter.empty:
                raise TypeError(
                    f"scorer {fn.__qualname__}: unknown parameter {parameter.name!r} "
                    f"(a scorer may take {', '.join(PARAMETERS)})"
                )
        key = name or fn.__name__
        origin = f"{fn.__module__}:{fn.__qualname__}"
        held = _REGISTRY.get(key)
        # The same function loaded again (a module reloaded, or a file imported under another
        # module name) takes its place; another function may not take its name.
        if held is not None and _source(held.function) != _source(fn):
            raise ValueError(f"scorer name {key!r} is already registered by {held.origin}")
        if direction not in ("higher", "lower"):
            raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
        _REGISTRY[key] = ScorerFunction(
            fn, key, threshold, direction, origin, tuple(wanted), takes_all
        )
        return fn

    return register(function) if function is not None else register


def _source(fn: Callable[..., Any]) -> tuple[str | None, str]:
    try:
        path: str | None = inspect.getfile(fn)
    except TypeError:
        path = None
    return path, fn.__qualname__


def registered_scorers() -> dict[str, ScorerFunction]:
    """The scorer functions registered so far, by name."""
    return dict(_REGISTRY)


class _PythonScorer(BaseScorer):
    def __init__(
        self, common: Common, registered: ScorerFunction, options: Mapping[str, Any]
    ) -> None:
        super().__init__(common)
        self.registered = registered
        self.options = dict(options)

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        given = {
            "output": item.output,
            "expected": item.expected,
            "row": item.row,
            "variables": item.variables,
            "messages": item.messages,
            "latency_ms": item.latency_ms,
            "cost_usd": item.cost_usd,
            "usage": item.usage,
            "response": item.response,
            "item": item,
            "client": client,
            "options": self.options,
        }
        chosen = self.registered.wanted if not self.registered.takes_all else PARAMETERS
        result = self.registered.function(**{key: given[key] for key in chosen})
        if inspect.isawaitable(result):
            result = await result
        return self.to_score(result)

    def to_score(self, result: Any) -> Score:
        if isinstance(result, Score):
            return result
        if isinstance(result, bool):
            return self.verdict(1.0 if result else 0.0, result)
        if isinstance(result, int | float):
            return self.verdict(result)
        if isinstance(result, Mapping):
            raw = result.get("score", result.get("value"))
            explanation = result.get("explanation")
            explanation = None if explanation is None else str(explanation)
            passed = result.get("passed")
            if isinstance(raw, bool):
                passed, raw = raw if passed is None else passed, float(raw)
            if raw is None:
                return Score(None, None if passed is None else bool(passed), explanation)
            if not isinstance(raw, int | float):
                raise TypeError(f"the score {raw!r} is not a number")
            if passed is None:
                return self.verdict(raw, None, explanation)
            return Score(float(raw), bool(passed), explanation)
        raise TypeError(
            f"the scorer returned {type(result).__name__}; expected a Score, a number, a bool "
            "or a dict with score, passed and explanation"
        )


def _load(reference: str, base_dir: Path | None) -> Callable[..., Any]:
    module_name, _, attribute = reference.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ImportError(f"no file {str(path)!r}")
        spec = importlib.util.spec_from_file_location(f"spyglass_scorers_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {str(path)!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        added = base_dir is not None and str(base_dir) not in sys.path
        if added:
            sys.path.insert(0, str(base_dir))
        try:
            module = importlib.import_module(module_name)
        finally:
            if added:
                sys.path.remove(str(base_dir))
    found = getattr(module, attribute, None)
    if found is None:
        raise ImportError(f"{module_name} has no attribute {attribute!r}")
    return found  # type: ignore[no-any-return]


def build_python(options: Options, common: Common, base_dir: Path | None) -> _PythonScorer:
    """``python``: ``function`` (``module:function``, ``file.py:function`` or a registered
    name) and ``options`` (a mapping handed to the function)."""
    reference = options.string("function")
    if ":" in reference:
        try:
            function = _load(reference, base_dir)
        except Exception as exc:
            options.fail("function", f"cannot import {reference!r}: {exc}")
        registered = next((r for r in _REGISTRY.values() if r.function is function), None)
        if registered is None:
            options.fail(
                "function", f"{reference!r} is not registered: decorate it with @evals.scorer"
            )
    else:
        registered = _REGISTRY.get(reference)
        if registered is None:
            known = ", ".join(sorted(_REGISTRY)) or "none yet"
            options.fail(
                "function",
                f"no scorer function registered as {reference!r} (registered: {known}); "
                "use module:function to import it",
            )
    spec = options.spec
    common = Common(
        common.type,
        common.name if "name" in spec else registered.name,
        common.threshold if "threshold" in spec else registered.threshold,
        common.direction if "direction" in spec else registered.direction,
    )
    return _PythonScorer(common, registered, options.mapping("options", {}))

"""Scorers from the eval file: ``build_scorer`` reads one ``scorers:`` entry, checks every key,
and returns a configured scorer; ``SCORER_TYPES`` lists the types it knows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._scorer_base import BaseScorer, Builder, Common, Options
from ._scorers_json import JSON_SCORERS
from ._scorers_metrics import METRIC_SCORERS
from ._scorers_model import build_embedding, build_judge
from ._scorers_python import build_python
from ._scorers_text import TEXT_SCORERS
from ._scoring import Direction, Scorer

if TYPE_CHECKING:
    from prompts import ProjectPrompts, PromptStore

__all__ = ["SCORER_TYPES", "build_scorer"]

_BUILT_IN: dict[str, Builder] = {**TEXT_SCORERS, **JSON_SCORERS, **METRIC_SCORERS}
_CALLING = ("embedding_similarity", "llm_judge", "python")

SCORER_TYPES: tuple[str, ...] = (*_BUILT_IN, *_CALLING)
"""Every scorer ``type`` an eval file may use."""

_LOWER_IS_BETTER = frozenset({"latency", "cost"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def build_scorer(
    spec: Mapping[str, Any],
    *,
    where: str,
    prompts: PromptStore | ProjectPrompts | None = None,
    base_dir: Path | None = None,
) -> Scorer:
    """Validate one ``scorers:`` entry and build its scorer. Nothing is called yet.

    Args:
        spec: the entry: ``{type, name?, threshold?, direction?, ...type-specific keys}``.
        where: its place in the file (``scorers[2]``), the prefix of every error.
        prompts: the prompt registry, for a judge whose ``prompt`` is a registry reference.
        base_dir: where relative ``function: module:fn`` / ``file.py:fn`` of a ``python``
            scorer are found (the eval file's directory).

    Returns:
        A ``Scorer``: ``name``, ``threshold``, ``direction``, the dataset ``columns`` it reads
        and the gateway ``models`` it calls.

    Raises:
        EvalConfigError: naming the key at fault (``scorers[2].threshold: expected a number``);
            an unknown ``type`` lists the known ones.
    """
    options = Options(spec, where)
    kind = options.raw("type")
    if kind is None:
        options.fail("type", f"is required (one of: {', '.join(SCORER_TYPES)})")
    if not isinstance(kind, str) or kind not in SCORER_TYPES:
        options.fail("type", f"unknown scorer type {kind!r} (known: {', '.join(SCORER_TYPES)})")
    name = options.string("name", kind)
    if not _NAME.fullmatch(name):
        options.fail(
            "name", f"{name!r} may hold only letters, digits and _ . - (and start with one)"
        )
    default: Direction = "lower" if kind in _LOWER_IS_BETTER else "higher"
    direction: Direction = (
        "lower"
        if options.choice("direction", ("higher", "lower"), default) == "lower"
        else "higher"
    )
    common = Common(kind, name, options.number("threshold"), direction)
    built: BaseScorer
    if kind == "embedding_similarity":
        built = build_embedding(options, common)
    elif kind == "llm_judge":
        built = build_judge(options, common, prompts)
    elif kind == "python":
        built = build_python(options, common, base_dir)
    else:
        built = _BUILT_IN[kind](options, common)
    options.finish()
    return built

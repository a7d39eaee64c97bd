"""Numeric scorers: levenshtein and similarity (rapidfuzz), rouge_l (rouge-score), bleu
(sacrebleu), length bounds, latency and cost. Their libraries are imported when a scorer of
that type is built, not when evals is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._scorer_base import BaseScorer, Builder, Common, Options, Reference, text_of
from ._scoring import ModelClient, Score, ScoreInput

__all__ = ["METRIC_SCORERS", "SIMILARITY_METHODS"]

SIMILARITY_METHODS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio")


class _Against(BaseScorer):
    """A number from the output and a reference (literal or column), in [0, 1]."""

    def __init__(
        self,
        common: Common,
        reference: Reference,
        measure: Callable[[str, Any], float],
        *,
        ignore_case: bool = False,
    ) -> None:
        super().__init__(common, columns=reference.columns, expects=reference.expected)
        self.reference = reference
        self.compute = measure
        self.ignore_case = ignore_case

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        wanted = self.reference.get(item)
        output = item.output
        if self.ignore_case:
            output = output.casefold()
            wanted = (
                [text_of(w).casefold() for w in wanted]
                if isinstance(wanted, list)
                else (text_of(wanted).casefold())
            )
        return self.verdict(self.compute(output, wanted))


def _levenshtein(options: Options, common: Common) -> _Against:
    from rapidfuzz.distance import Levenshtein

    def measure(output: str, wanted: Any) -> float:
        return float(Levenshtein.normalized_similarity(output, text_of(wanted)))

    return _Against(
        common, Reference.read(options), measure, ignore_case=options.boolean("ignore_case")
    )


def _similarity(options: Options, common: Common) -> _Against:
    from rapidfuzz import fuzz

    method: Callable[..., float] = getattr(
        fuzz, options.choice("method", SIMILARITY_METHODS, "ratio")
    )

    def measure(output: str, wanted: Any) -> float:
        return float(method(output, text_of(wanted))) / 100

    return _Against(
        common, Reference.read(options), measure, ignore_case=options.boolean("ignore_case")
    )


def _rouge_l(options: Options, common: Common) -> _Against:
    from rouge_score import rouge_scorer

    measure_name = options.choice("measure", ("fmeasure", "precision", "recall"), "fmeasure")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=options.boolean("use_stemmer"))

    def measure(output: str, wanted: Any) -> float:
        if isinstance(wanted, list):
            found = scorer.score_multi([text_of(w) for w in wanted], output)
        else:
            found = scorer.score(text_of(wanted), output)
        return float(getattr(found["rougeL"], measure_name))

    return _Against(common, Reference.read(options), measure)


def _bleu(options: Options, common: Common) -> _Against:
    from sacrebleu.metrics.bleu import BLEU

    tokenize = options.string("tokenize", "13a")
    try:
        metric = BLEU(
            tokenize=tokenize,
            lowercase=options.boolean("ignore_case"),
            effective_order=True,
        )
    except Exception as exc:
        options.fail("tokenize", f"sacrebleu cannot use {tokenize!r}: {exc}")

    def measure(output: str, wanted: Any) -> float:
        references = [text_of(w) for w in wanted] if isinstance(wanted, list) else [wanted]
        return metric.sentence_score(output, [text_of(r) for r in references]).score / 100

    return _Against(common, Reference.read(options), measure)


class _Length(BaseScorer):
    def __init__(self, common: Common, *, unit: str, low: float | None, high: float | None) -> None:
        super().__init__(common)
        self.unit = unit
        self.low = low
        self.high = high

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        size = len(item.output.split()) if self.unit == "words" else len(item.output)
        too_short = self.low is not None and size < self.low
        too_long = self.high is not None and size > self.high
        bounds = f"[{_bound(self.low)}, {_bound(self.high)}]"
        explanation = f"{size} {self.unit}" + (
            f", outside {bounds}" if too_short or too_long else f", within {bounds}"
        )
        return self.verdict(size, not (too_short or too_long), explanation)


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _length(options: Options, common: Common) -> _Length:
    unit = options.choice("unit", ("chars", "words"), "chars")
    low = options.number("min", minimum=0)
    high = options.number("max", minimum=0)
    if low is None and high is None:
        options.fail("max", "give min, max or both")
    if low is not None and high is not None and low > high:
        options.fail("min", f"min ({low:g}) is above max ({high:g})")
    scorer = _Length(common, unit=unit, low=low, high=high)
    if not options.has("direction"):
        # Within bounds or not: a shorter answer within them is no worse than a longer one.
        scorer.judged_by = "verdict"
    return scorer


class _CallFigure(BaseScorer):
    """How the call went: its latency in milliseconds, or its cost in US dollars."""

    def __init__(self, common: Common, figure: str) -> None:
        super().__init__(common)
        self.figure = figure

    async def measure(self, item: ScoreInput, client: ModelClient) -> Score:
        if self.figure == "latency":
            value: float | None = item.latency_ms
            shown = f"{item.latency_ms:.0f} ms"
        else:
            value = item.cost_usd
            shown = f"${value:.6f}" if value is not None else ""
        if value is None:
            return Score(None, None, error="the call reported no cost (is the model priced?)")
        limit = "" if self.threshold is None else f" (threshold {self.threshold:g})"
        return self.verdict(value, None, shown + limit)


def _figure(name: str) -> Builder:
    def build(options: Options, common: Common) -> _CallFigure:
        return _CallFigure(common, name)

    return build


METRIC_SCORERS: dict[str, Builder] = {
    "levenshtein": _levenshtein,
    "similarity": _similarity,
    "rouge_l": _rouge_l,
    "bleu": _bleu,
    "length": _length,
    "latency": _figure("latency"),
    "cost": _figure("cost"),
}

"""Two runs compared row by row: per scorer the difference, a paired test and the rows whose
verdict changed. Pass/fail scores are compared with McNemar's test, other scores with the
Wilcoxon signed-rank test (``_stats``): the paired bootstrap holds resamples x rows floats at
once (80 MB for 1,000 rows), too much to run after every eval. Rows pair by position when both
runs saw the same data, else by their inputs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

__all__ = ["RunComparison", "ScorerComparison", "compare_runs"]


@dataclass(frozen=True)
class ScorerComparison:
    """One scorer, run B against run A."""

    scorer: str
    test: str
    n: int
    difference: float | None
    p_value: float | None
    significant: bool
    direction: str
    changed_rows: list[int] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        """B is significantly worse than A."""
        if not self.significant or self.difference is None:
            return False
        return self.difference < 0 if self.direction == "higher" else self.difference > 0


@dataclass(frozen=True)
class RunComparison:
    """Run B (``after``) against run A (``before``)."""

    before: str
    after: str
    paired_by: str
    scorers: list[ScorerComparison]

    @property
    def regressions(self) -> list[ScorerComparison]:
        """The scorers on which B is significantly worse."""
        return [s for s in self.scorers if s.regression]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the API serves it."""
        return {
            "before": self.before,
            "after": self.after,
            "paired_by": self.paired_by,
            "scorers": [{**asdict(s), "regression": s.regression} for s in self.scorers],
        }


def _key(result: Mapping[str, Any], by_inputs: bool) -> Hashable:
    if by_inputs:
        inputs = orjson.dumps(result.get("inputs"), option=orjson.OPT_SORT_KEYS, default=str)
        return (inputs, result["repeat"])
    return (result["row_index"], result["repeat"])


def compare_runs(
    before: Mapping[str, Any],
    before_results: Sequence[Mapping[str, Any]],
    after: Mapping[str, Any],
    after_results: Sequence[Mapping[str, Any]],
    *,
    alpha: float = 0.05,
) -> RunComparison:
    """Compare ``after`` with ``before`` on each scorer both have."""
    from . import _stats

    by_inputs = before.get("dataset_hash") != after.get("dataset_hash")
    left = {_key(r, by_inputs): r for r in before_results}
    right = {_key(r, by_inputs): r for r in after_results}
    keys = [k for k in left if k in right]
    names_a = (before.get("metrics") or {}).get("scores") or {}
    names_b = (after.get("metrics") or {}).get("scores") or {}
    found = []
    for name in [n for n in names_a if n in names_b]:
        direction = str(names_b[name].get("direction") or "higher")
        a_scores = [(left[k].get("scores") or {}).get(name) or {} for k in keys]
        b_scores = [(right[k].get("scores") or {}).get(name) or {} for k in keys]
        by_verdict = names_b[name].get("judged_by") == "verdict"
        if by_verdict:
            direction = "higher"  # passing is better, whatever the value does
        binary = by_verdict or all(
            s.get("passed") is not None and s.get("value") in (0, 1, None)
            for s in (*a_scores, *b_scores)
        )
        a: list[float | bool | None]
        b: list[float | bool | None]
        if binary:
            a = [s.get("passed") for s in a_scores]
            b = [s.get("passed") for s in b_scores]
            test = "mcnemar"
        else:
            a = [s.get("value") for s in a_scores]
            b = [s.get("value") for s in b_scores]
            test = "wilcoxon"
        pairs = sum(1 for x, y in zip(a, b, strict=True) if x is not None and y is not None)
        difference: float | None = None
        p_value: float | None = None
        significant = False
        if pairs >= 2:
            result = _stats.compare_scores(a, b, "pass_fail" if binary else "wilcoxon", alpha=alpha)
            difference, p_value, significant = result
        changed = _stats.changed_verdicts(
            {k: s.get("passed") for k, s in zip(keys, a_scores, strict=True)},
            {k: s.get("passed") for k, s in zip(keys, b_scores, strict=True)},
        )
        found.append(
            ScorerComparison(
                name,
                test,
                pairs,
                difference,
                p_value,
                bool(significant),
                direction,
                [int(right[c.key]["row_index"]) for c in changed],
            )
        )
    return RunComparison(
        str(before["id"]), str(after["id"]), "inputs" if by_inputs else "row", found
    )

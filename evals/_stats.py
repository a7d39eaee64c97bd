"""Statistics for eval results: estimates with confidence intervals, percentiles, and paired
comparisons of two runs over the same rows. scipy (and numpy) load on first use, and only
where they are needed (a t quantile, the paired tests): means and percentiles need neither.
Loading scipy in the background while the calls wait was tried and measured: it competes with
the calls for the interpreter and adds ~50 MB to the run's peak memory, for no time saved.

- ``mean_ci``: the mean with a Student-t interval.
- ``pass_rate_ci``: the share passed with a Wilson score interval.
- ``percentile``: linear-interpolated percentiles (p50, p95).
- ``mcnemar``: exact McNemar test (binomial on the discordant pairs) for pass/fail.
- ``paired_bootstrap``: seeded bootstrap of the mean paired difference: CI and p-value.
- ``wilcoxon``: Wilcoxon signed-rank test on paired scores.
- ``compare_scores``: picks one of the three; ``changed_verdicts``: rows whose verdict flipped.

Paired comparisons report ``difference`` as b minus a (the second run against the first).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

__all__ = [
    "Comparison",
    "Estimate",
    "PairedTest",
    "VerdictChange",
    "changed_verdicts",
    "compare_scores",
    "mcnemar",
    "mean_ci",
    "paired_bootstrap",
    "pass_rate_ci",
    "percentile",
    "wilcoxon",
]

CompareKind = Literal["auto", "pass_fail", "bootstrap", "wilcoxon"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval (``None`` bounds: too few values)."""

    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison: ``difference`` is b - a; ``low``/``high`` bound it when the test
    gives an interval."""

    difference: float
    p_value: float
    n: int
    low: float | None = None
    high: float | None = None


class Comparison(NamedTuple):
    """What ``compare_scores`` returns: ``(difference, p_value, significant)``."""

    difference: float
    p_value: float
    significant: bool


@dataclass(frozen=True)
class VerdictChange:
    """A row whose verdict differs between two runs."""

    key: Hashable
    before: bool | None
    after: bool | None

    @property
    def regressed(self) -> bool:
        """It passed before and does not now."""
        return self.before is True and self.after is not True

    @property
    def fixed(self) -> bool:
        """It did not pass before and does now."""
        return self.before is not True and self.after is True


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The mean of ``values`` with a two-sided Student-t confidence interval.

    With one value the interval is undefined (``None``); with identical values it is the value.
    """
    n = len(values)
    if n == 0:
        return Estimate(None, None, None, 0)
    mean = statistics.fmean(values)
    if n == 1:
        return Estimate(mean, None, None, 1)
    sem = statistics.stdev(values, mean) / math.sqrt(n)
    if sem == 0:
        return Estimate(mean, mean, mean, n)
    from scipy import special

    t = float(special.stdtrit(n - 1, 0.5 + confidence / 2))
    return Estimate(mean, mean - t * sem, mean + t * sem, n)


def pass_rate_ci(passed: Sequence[bool], confidence: float = 0.95) -> Estimate:
    """The share of ``True`` with a Wilson score interval (sound near 0 and 1, small n)."""
    n = len(passed)
    if n == 0:
        return Estimate(None, None, None, 0)
    from scipy import special

    k = sum(1 for p in passed if p)
    z = float(special.ndtri(0.5 + confidence / 2))
    share = k / n
    denominator = 1 + z * z / n
    center = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return Estimate(share, max(0.0, center - half), min(1.0, center + half), n)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linearly interpolated; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> PairedTest:
    """Exact McNemar test for paired pass/fail verdicts.

    Only discordant pairs count: ``p`` is the two-sided binomial test of the pairs that passed
    only in b against those that passed only in a, at one half. ``difference`` is b's pass
    rate minus a's.
    """
    _same_length(a, b)
    n = len(a)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    difference = (only_b - only_a) / n if n else 0.0
    if only_a + only_b == 0:
        return PairedTest(difference, 1.0, n)
    from scipy import special

    # At one half the binomial is symmetric: the two-sided p doubles the smaller tail.
    discordant = only_a + only_b
    p_value = 2 * float(special.bdtr(min(only_a, only_b), discordant, 0.5))
    return PairedTest(difference, min(p_value, 1.0), n)


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Bootstrap of the mean paired difference b - a (rows resampled with replacement).

    The interval is the percentile interval of scipy's ``bootstrap``; the two-sided p-value is
    the share of resampled means at least as far from the observed mean as the observed mean
    is from zero (the bootstrap distribution shifted to the null). Seeded: the same input gives
    the same result.
    """
    _same_length(a, b)
    import numpy as np

    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(diffs)
    if n == 0:
        return PairedTest(0.0, 1.0, 0)
    observed = float(diffs.mean())
    if n == 1 or np.all(diffs == diffs[0]):
        return PairedTest(observed, 1.0 if observed == 0 else 0.0, n, observed, observed)
    from scipy import stats

    result = stats.bootstrap(
        (diffs,),
        np.mean,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    means = result.bootstrap_distribution
    p_value = float(np.mean(np.abs(means - observed) >= abs(observed)))
    return PairedTest(
        observed,
        min(1.0, p_value),
        n,
        float(result.confidence_interval.low),
        float(result.confidence_interval.high),
    )


def wilcoxon(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Wilcoxon signed-rank test on paired scores (zero differences dropped, scipy's default).

    ``difference`` is the mean of b - a; with no non-zero difference ``p`` is 1.
    """
    _same_length(a, b)
    import numpy as np

    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(diffs)
    observed = float(diffs.mean()) if n else 0.0
    if not np.any(diffs != 0):
        return PairedTest(observed, 1.0, n)
    from scipy import stats

    p_value = float(stats.wilcoxon(diffs).pvalue)
    return PairedTest(observed, 1.0 if math.isnan(p_value) else p_value, n)


def compare_scores(
    a: Sequence[float | bool | None],
    b: Sequence[float | bool | None],
    kind: CompareKind = "auto",
    *,
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Compare two runs' scores on the same rows, in the same order.

    Pairs where either side is ``None`` (an error) are dropped. ``kind``: ``pass_fail``
    (McNemar), ``bootstrap`` (paired bootstrap), ``wilcoxon``, or ``auto``: McNemar when every
    value is a bool, else the bootstrap.

    Returns:
        ``(difference, p_value, significant)``: b - a, and whether ``p_value < alpha``.
    """
    _same_length(a, b)
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if kind == "auto":
        every = all(isinstance(v, bool) for pair in pairs for v in pair)
        kind = "pass_fail" if pairs and every else "bootstrap"
    left = [x for x, _ in pairs]
    right = [y for _, y in pairs]
    if kind == "pass_fail":
        test = mcnemar([bool(x) for x in left], [bool(y) for y in right])
    elif kind == "bootstrap":
        test = paired_bootstrap([float(x) for x in left], [float(y) for y in right], seed=seed)
    elif kind == "wilcoxon":
        test = wilcoxon([float(x) for x in left], [float(y) for y in right])
    else:
        raise ValueError(f"kind must be auto, pass_fail, bootstrap or wilcoxon, not {kind!r}")
    return Comparison(test.difference, test.p_value, test.p_value < alpha)


def changed_verdicts(
    before: Mapping[Hashable, bool | None], after: Mapping[Hashable, bool | None]
) -> list[VerdictChange]:
    """The rows (keys present in both) whose verdict differs, in ``before``'s order."""
    return [
        VerdictChange(key, verdict, after[key])
        for key, verdict in before.items()
        if key in after and after[key] != verdict
    ]


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")

"""Statistics against known values and against scipy's own functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evals import (
    Comparison,
    VerdictChange,
    changed_verdicts,
    compare_scores,
    mcnemar,
    mean_ci,
    paired_bootstrap,
    pass_rate_ci,
    percentile,
    wilcoxon,
)


def test_mean_ci_is_the_t_interval() -> None:
    # mean 3, sd sqrt(2.5), sem sqrt(0.5); t(0.975, 4) = 2.776445
    estimate = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(0.5)
    assert estimate.value == 3.0 and estimate.n == 5
    assert (estimate.low, estimate.high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    data = np.random.default_rng(7).normal(0.6, 0.2, 40)
    low, high = stats.t.interval(0.9, 39, loc=data.mean(), scale=stats.sem(data))
    ninety = mean_ci(list(data), confidence=0.9)
    assert (ninety.low, ninety.high) == (pytest.approx(low), pytest.approx(high))


def test_mean_ci_edges() -> None:
    assert mean_ci([]).value is None
    one = mean_ci([0.4])
    assert (one.value, one.low, one.high, one.n) == (0.4, None, None, 1)
    flat = mean_ci([1.0, 1.0, 1.0])
    assert (flat.low, flat.high) == (1.0, 1.0)


def test_pass_rate_ci_is_wilson() -> None:
    # Wilson interval for 8 of 10 at 95%: 0.4902 to 0.9433 (Newcombe 1998, table I style)
    estimate = pass_rate_ci([True] * 8 + [False] * 2)
    assert estimate.value == 0.8
    assert estimate.low == pytest.approx(0.4901624715, abs=1e-9)
    assert estimate.high == pytest.approx(0.9433178485, abs=1e-9)
    z = stats.norm.ppf(0.975)
    k, n = 13, 41
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    formula = pass_rate_ci([True] * k + [False] * (n - k))
    assert (formula.low, formula.high) == (
        pytest.approx(centre - half),
        pytest.approx(centre + half),
    )
    none = pass_rate_ci([False] * 5)
    assert none.value == 0.0 and none.low == pytest.approx(0.0, abs=1e-12) and none.high > 0.4
    assert pass_rate_ci([]).value is None


def test_percentile_matches_numpy() -> None:
    values = [120.0, 80.0, 200.0, 95.0, 310.0, 150.0]
    assert percentile(values, 50) == pytest.approx(135.0)
    assert percentile(values, 95) == pytest.approx(float(np.percentile(values, 95)))
    assert percentile([], 95) is None


def test_mcnemar_is_the_exact_binomial_on_discordant_pairs() -> None:
    # 10 pairs: 1 passed only in a, 6 only in b, 3 in both -> binomial(6 of 7, 1/2)
    a = [True] * 4 + [False] * 6
    b = [False] + [True] * 3 + [True] * 6
    test = mcnemar(a, b)
    assert test.p_value == pytest.approx(16 / 128)  # 2 * (C(7,6) + C(7,7)) / 2^7
    assert test.p_value == pytest.approx(stats.binomtest(6, 7, 0.5).pvalue)
    assert test.difference == pytest.approx(0.5)
    assert test.n == 10
    assert mcnemar([True, False], [True, False]).p_value == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([True], [True, False])


def test_paired_bootstrap_is_seeded_and_agrees_with_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0.3, 0.7, 60)
    b = a + rng.normal(0.05, 0.1, 60)
    test = paired_bootstrap(list(a), list(b), seed=11, resamples=2000)
    assert test.difference == pytest.approx(float((b - a).mean()))
    reference = stats.bootstrap(
        (b - a,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(11),
    )
    assert test.low == pytest.approx(reference.confidence_interval.low)
    assert test.high == pytest.approx(reference.confidence_interval.high)
    assert test.low is not None and test.high is not None and test.low < test.difference < test.high
    assert test.p_value < 0.05
    assert paired_bootstrap(list(a), list(b), seed=11, resamples=2000) == test
    noise = paired_bootstrap(list(a), list(a + rng.normal(0, 0.1, 60)), seed=1)
    assert noise.p_value > 0.05


def test_paired_bootstrap_edges() -> None:
    assert paired_bootstrap([], []).p_value == 1.0
    same = paired_bootstrap([0.5, 0.6], [0.5, 0.6])
    assert (same.difference, same.p_value, same.low, same.high) == (0.0, 1.0, 0.0, 0.0)
    shifted = paired_bootstrap([0.1, 0.2, 0.3], [0.2, 0.3, 0.4])
    assert shifted.difference == pytest.approx(0.1) and shifted.p_value == 0.0


def test_wilcoxon_matches_scipy() -> None:
    a = [0.62, 0.71, 0.55, 0.80, 0.67, 0.59, 0.73, 0.64, 0.70, 0.58]
    b = [0.66, 0.75, 0.54, 0.86, 0.72, 0.63, 0.79, 0.65, 0.77, 0.61]
    test = wilcoxon(a, b)
    assert test.p_value == pytest.approx(stats.wilcoxon(b, a).pvalue)
    assert test.p_value == pytest.approx(0.005859375)  # exact: 2 * 3 / 1024
    assert test.difference == pytest.approx(float(np.mean(np.subtract(b, a))))
    assert wilcoxon([1.0, 2.0], [1.0, 2.0]).p_value == 1.0


def test_compare_scores_picks_the_test() -> None:
    a = [True] * 4 + [False] * 6
    b = [False] + [True] * 9
    result = compare_scores(a, b)
    assert isinstance(result, Comparison)
    assert result == (pytest.approx(0.5), pytest.approx(mcnemar(a, b).p_value), False)
    scores_a = [0.1 * i for i in range(20)]
    scores_b = [x + 0.3 for x in scores_a]
    difference, p_value, significant = compare_scores(scores_a, scores_b)
    assert difference == pytest.approx(0.3) and p_value == 0.0 and significant
    wil = compare_scores(scores_a, scores_b, "wilcoxon")
    assert wil.p_value == pytest.approx(stats.wilcoxon(scores_b, scores_a).pvalue)
    with_errors = compare_scores([0.5, None, 0.7], [0.6, 0.9, None], "bootstrap")
    assert with_errors.difference == pytest.approx(0.1)
    with pytest.raises(ValueError, match="kind must be"):
        compare_scores([1.0], [1.0], "ttest")  # type: ignore[arg-type]


def test_changed_verdicts() -> None:
    before = {"r1": True, "r2": False, "r3": True, "r4": None, "r5": True}
    after = {"r1": True, "r2": True, "r3": False, "r4": False, "r6": False}
    changes = changed_verdicts(before, after)
    assert changes == [
        VerdictChange("r2", False, True),
        VerdictChange("r3", True, False),
        VerdictChange("r4", None, False),
    ]
    assert [c.key for c in changes if c.regressed] == ["r3"]
    assert [c.key for c in changes if c.fixed] == ["r2"]

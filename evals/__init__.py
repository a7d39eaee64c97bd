"""Evals: score prompt variants against datasets, and keep every result as a tracked run."""

from ._scoring import Direction, ModelClient, Score, ScoreInput, Scorer
from ._stats import (
    Comparison,
    Estimate,
    PairedTest,
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
from .errors import DatasetError, EvalConfigError, EvalError, RunNotFoundError

__all__ = [
    "Comparison",
    "DatasetError",
    "Direction",
    "Estimate",
    "EvalConfigError",
    "EvalError",
    "ModelClient",
    "PairedTest",
    "RunNotFoundError",
    "Score",
    "ScoreInput",
    "Scorer",
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

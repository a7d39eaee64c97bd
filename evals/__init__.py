"""Evals: score prompt variants against datasets, and keep every result as a tracked run."""

from ._scorers import SCORER_TYPES, build_scorer
from ._scorers_python import registered_scorers, scorer
from ._scorers_text import REFUSAL_PHRASES
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
    "REFUSAL_PHRASES",
    "SCORER_TYPES",
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
    "build_scorer",
    "changed_verdicts",
    "compare_scores",
    "mcnemar",
    "mean_ci",
    "paired_bootstrap",
    "pass_rate_ci",
    "percentile",
    "registered_scorers",
    "scorer",
    "wilcoxon",
]

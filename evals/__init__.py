"""Evals: score prompt variants against datasets, and keep every result as a tracked run.

An eval file (YAML) names a dataset, the variants to compare (prompt x model x params) and the
scorers. ``EvalSource.read`` parses it, ``build_plan`` checks all of it against the gateway's
models, the prompt registry and the dataset before any call, ``start_runs`` records the runs
and ``execute`` calls, scores, traces and writes every row. ``RunStore`` reads the tracked
runs back; ``eval_api`` serves them as JSON; ``log_to_mlflow`` copies them to MLflow.

Names load on first use: reading a dataset or the store does not import the web framework
or the statistics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import eval_api
    from ._client import CallError, CallResult, GatewayClient, Throttle
    from ._compare import RunComparison, ScorerComparison, compare_runs
    from ._dataset import LoadedDataset, load_rows
    from ._metrics import run_metrics
    from ._mlflow import log_to_mlflow, require_mlflow
    from ._online import OnlineCollector, OnlineEvaluator, OnlineStats, build_rules
    from ._online_config import OnlineEvalConfig, OnlineRule
    from ._online_queue import OnlineQueue, sampled
    from ._outputs import FORMATS, render_report, write_report
    from ._plan import EvalPlan, Variant, build_plan
    from ._records import CacheRecord, ExperimentRecord, ResultRecord, RunRecord
    from ._registry import DatasetRow, DatasetStore, NewRow, rows_from_columns
    from ._registry_api import dataset_api
    from ._registry_files import format_of, read_records, write_records
    from ._runner import RowOutcome, RunHandle, cache_key, execute, start_runs
    from ._scorers import SCORER_TYPES, build_scorer
    from ._scorers_python import registered_scorers, scorer
    from ._scorers_text import REFUSAL_PHRASES
    from ._scoring import Direction, ModelClient, Score, ScoreInput, Scorer
    from ._source import EvalSource
    from ._spec import EvalSettings, EvalSpec, parse_spec
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
    from ._store import RunStore
    from .errors import DatasetError, EvalConfigError, EvalError, RunNotFoundError

_MODULES = {
    "OnlineEvaluator": "._online",
    "OnlineCollector": "._online",
    "OnlineStats": "._online",
    "build_rules": "._online",
    "OnlineEvalConfig": "._online_config",
    "OnlineRule": "._online_config",
    "OnlineQueue": "._online_queue",
    "sampled": "._online_queue",
    "DatasetRow": "._registry",
    "dataset_api": "._registry_api",
    "format_of": "._registry_files",
    "read_records": "._registry_files",
    "write_records": "._registry_files",
    "DatasetStore": "._registry",
    "NewRow": "._registry",
    "rows_from_columns": "._registry",
    "DatasetNotFoundError": ".errors",
    "build_plan": "._plan",
    "build_scorer": "._scorers",
    "cache_key": "._runner",
    "CacheRecord": "._records",
    "CallError": "._client",
    "CallResult": "._client",
    "changed_verdicts": "._stats",
    "compare_runs": "._compare",
    "compare_scores": "._stats",
    "Comparison": "._stats",
    "DatasetError": ".errors",
    "Direction": "._scoring",
    "Estimate": "._stats",
    "eval_api": "._api",
    "EvalConfigError": ".errors",
    "EvalError": ".errors",
    "EvalPlan": "._plan",
    "EvalSettings": "._spec",
    "EvalSource": "._source",
    "EvalSpec": "._spec",
    "execute": "._runner",
    "ExperimentRecord": "._records",
    "FORMATS": "._outputs",
    "GatewayClient": "._client",
    "load_rows": "._dataset",
    "LoadedDataset": "._dataset",
    "log_to_mlflow": "._mlflow",
    "mcnemar": "._stats",
    "mean_ci": "._stats",
    "ModelClient": "._scoring",
    "paired_bootstrap": "._stats",
    "PairedTest": "._stats",
    "parse_spec": "._spec",
    "pass_rate_ci": "._stats",
    "percentile": "._stats",
    "REFUSAL_PHRASES": "._scorers_text",
    "registered_scorers": "._scorers_python",
    "render_report": "._outputs",
    "require_mlflow": "._mlflow",
    "ResultRecord": "._records",
    "RowOutcome": "._runner",
    "run_metrics": "._metrics",
    "RunComparison": "._compare",
    "RunHandle": "._runner",
    "RunNotFoundError": ".errors",
    "RunRecord": "._records",
    "RunStore": "._store",
    "Score": "._scoring",
    "ScoreInput": "._scoring",
    "scorer": "._scorers_python",
    "Scorer": "._scoring",
    "SCORER_TYPES": "._scorers",
    "ScorerComparison": "._compare",
    "start_runs": "._runner",
    "Throttle": "._client",
    "Variant": "._plan",
    "VerdictChange": "._stats",
    "wilcoxon": "._stats",
    "write_report": "._outputs",
}

__all__ = [
    "FORMATS",
    "REFUSAL_PHRASES",
    "SCORER_TYPES",
    "CacheRecord",
    "CallError",
    "CallResult",
    "Comparison",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetRow",
    "DatasetStore",
    "Direction",
    "Estimate",
    "EvalConfigError",
    "EvalError",
    "EvalPlan",
    "EvalSettings",
    "EvalSource",
    "EvalSpec",
    "ExperimentRecord",
    "GatewayClient",
    "LoadedDataset",
    "ModelClient",
    "NewRow",
    "OnlineCollector",
    "OnlineEvalConfig",
    "OnlineEvaluator",
    "OnlineQueue",
    "OnlineRule",
    "OnlineStats",
    "PairedTest",
    "ResultRecord",
    "RowOutcome",
    "RunComparison",
    "RunHandle",
    "RunNotFoundError",
    "RunRecord",
    "RunStore",
    "Score",
    "ScoreInput",
    "Scorer",
    "ScorerComparison",
    "Throttle",
    "Variant",
    "VerdictChange",
    "build_plan",
    "build_rules",
    "build_scorer",
    "cache_key",
    "changed_verdicts",
    "compare_runs",
    "compare_scores",
    "dataset_api",
    "eval_api",
    "execute",
    "format_of",
    "load_rows",
    "log_to_mlflow",
    "mcnemar",
    "mean_ci",
    "paired_bootstrap",
    "parse_spec",
    "pass_rate_ci",
    "percentile",
    "read_records",
    "registered_scorers",
    "render_report",
    "require_mlflow",
    "rows_from_columns",
    "run_metrics",
    "sampled",
    "scorer",
    "start_runs",
    "wilcoxon",
    "write_records",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

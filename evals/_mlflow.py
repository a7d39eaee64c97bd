"""Log finished tracked runs to an MLflow tracking server as well (the ``mlflow`` extra).

Each Spyglass run (one variant of one invocation) becomes one MLflow run, in an experiment
named after the eval, named after the variant: its params, tags, metrics and the per-row
results as a table artifact (``results.json``). The Spyglass store stays the record; MLflow
gets a copy. ``mlflow`` is imported only here, and only when asked for.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import EvalConfigError

__all__ = ["INSTALL_HINT", "log_to_mlflow", "require_mlflow"]

INSTALL_HINT = "pip install 'spyglass[mlflow]'"
RESULTS_ARTIFACT = "results.json"
_BATCH = 100  # MLflow takes at most 100 params and 100 tags per log_batch request
_PARAM_LENGTH = 6000  # MLflow's limit on a param's value
_PANDAS_DTYPES_WARNING = r"For backward compatibility, 'str' dtypes are included by select_dtypes"


def require_mlflow() -> None:
    """Check that the MLflow client is installed, before any model is called.

    Raises:
        EvalConfigError: it is not; the message names the extra to install.
    """
    if importlib.util.find_spec("mlflow") is None:
        raise EvalConfigError(f"--mlflow-uri needs the mlflow extra: {INSTALL_HINT}")


def log_to_mlflow(
    uri: str,
    runs: Sequence[Mapping[str, Any]],
    results: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """Log finished runs, as the store gives them, to the MLflow tracking server at ``uri``.

    Args:
        uri: an MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``, ...).
        runs: ``RunStore.runs`` entries (experiment, variant, params, metrics, tags, times).
        results: each run's per-row results by run id (``RunStore.results``).

    Returns:
        The MLflow run ids, in the order of ``runs``.
    """
    require_mlflow()
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=uri)
    experiments: dict[str, str] = {}
    logged: list[str] = []
    for run in runs:
        name = str(run["experiment"])
        if name not in experiments:
            found = client.get_experiment_by_name(name)
            experiments[name] = (
                found.experiment_id if found is not None else client.create_experiment(name)
            )
        started = _millis(run.get("created_at"))
        created = client.create_run(
            experiments[name], start_time=started, tags=run_tags(run), run_name=run["variant"]
        )
        run_id = created.info.run_id
        stamp = _millis(run.get("finished_at")) or started or 0
        metrics = [Metric(k, v, stamp, 0) for k, v in run_metrics(run).items()]
        params = [Param(k, v) for k, v in run_params(run).items()]
        for start in range(0, max(len(metrics), len(params)), _BATCH):
            client.log_batch(
                run_id,
                metrics=metrics[start : start + _BATCH],
                params=params[start : start + _BATCH],
            )
        rows = results_table(results.get(str(run["id"]), ()))
        if rows["row"]:
            with warnings.catch_warnings():
                # mlflow 3.17's log_table calls select_dtypes in a way pandas 3 deprecates.
                warnings.filterwarnings("ignore", message=_PANDAS_DTYPES_WARNING)
                client.log_table(run_id, data=rows, artifact_file=RESULTS_ARTIFACT)
        status = "FINISHED" if run.get("status") == "finished" else "FAILED"
        client.set_terminated(run_id, status=status, end_time=_millis(run.get("finished_at")))
        logged.append(run_id)
    return logged


def run_tags(run: Mapping[str, Any]) -> dict[str, str]:
    """What identifies the Spyglass run: its id, dataset hash, commit, version, prompt."""
    params = run.get("params") or {}
    tags = {
        "spyglass.run_id": str(run["id"]),
        "spyglass.invocation": str(run.get("invocation") or ""),
        "spyglass.dataset_hash": str(run.get("dataset_hash") or ""),
        "spyglass.version": str(params.get("spyglass_version") or ""),
        "spyglass.prompt": _prompt_ref(params),
    }
    commit = params.get("git_commit")
    if commit:
        tags["spyglass.git_commit"] = str(commit)
        tags["mlflow.source.git.commit"] = str(commit).removesuffix("+dirty")
    for tag in run.get("tags") or ():
        tags[f"spyglass.tag.{tag}"] = "true"
    if run.get("notes"):
        tags["mlflow.note.content"] = str(run["notes"])
    return {k: v for k, v in tags.items() if v}


def run_params(run: Mapping[str, Any]) -> dict[str, str]:
    """The run's params, flat: model, prompt, each request param (``param.NAME``), dataset."""
    params = dict(run.get("params") or {})
    flat: dict[str, Any] = {
        "model": params.get("model"),
        "prompt": params.get("prompt"),
        "prompt_version": params.get("prompt_version"),
        "dataset": params.get("dataset"),
        "dataset_hash": params.get("dataset_hash"),
        "rows": params.get("rows"),
        "repeats": params.get("repeats"),
        "scorers": ",".join(params.get("scorers") or ()),
    }
    for key, value in sorted((params.get("params") or {}).items()):
        flat[f"param.{key}"] = value
    return {k: _text(v) for k, v in flat.items() if v is not None and v != ""}


def run_metrics(run: Mapping[str, Any]) -> dict[str, float]:
    """The run's metrics, flat and numeric; a metric the run lacks (no latency...) is left out."""
    metrics = run.get("metrics") or {}
    latency = metrics.get("latency_ms") or {}
    tokens = metrics.get("tokens") or {}
    flat: dict[str, Any] = {
        "results": metrics.get("results"),
        "errors": metrics.get("errors"),
        "cached": metrics.get("cached"),
        "latency_p50_ms": latency.get("p50"),
        "latency_p95_ms": latency.get("p95"),
        "prompt_tokens": tokens.get("prompt"),
        "completion_tokens": tokens.get("completion"),
        "total_tokens": tokens.get("total"),
        "cost_usd": metrics.get("cost_usd"),
    }
    for name, score in (metrics.get("scores") or {}).items():
        ci = score.get("ci") or (None, None)
        pass_ci = score.get("pass_ci") or (None, None)
        flat.update(
            {
                f"{name}.mean": score.get("mean"),
                f"{name}.ci_low": ci[0],
                f"{name}.ci_high": ci[1],
                f"{name}.pass_rate": score.get("pass_rate"),
                f"{name}.pass_ci_low": pass_ci[0],
                f"{name}.pass_ci_high": pass_ci[1],
                f"{name}.errors": score.get("errors"),
            }
        )
    return {k: float(v) for k, v in flat.items() if isinstance(v, int | float)}


def results_table(results: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The per-row results as columns of scalars (nested values as JSON text).

    Each scorer gives ``NAME.value``, ``NAME.passed``, ``NAME.explanation`` and ``NAME.error``.
    """
    scorers = list(dict.fromkeys(name for r in results for name in (r.get("scores") or {})))
    columns: dict[str, list[Any]] = {
        "row": [],
        "repeat": [],
        "inputs": [],
        "expected": [],
        "output": [],
        "error": [],
        "latency_ms": [],
        "prompt_tokens": [],
        "completion_tokens": [],
        "cost_usd": [],
        "cached": [],
        "trace_id": [],
    }
    for name in scorers:
        for part in ("value", "passed", "explanation", "error"):
            columns[f"{name}.{part}"] = []
    for result in results:
        for key, value in _row(result, scorers):
            columns[key].append(value)
    return columns


def _row(result: Mapping[str, Any], scorers: Sequence[str]) -> Iterator[tuple[str, Any]]:
    yield "row", result.get("row_index")
    yield "repeat", result.get("repeat")
    yield "inputs", json.dumps(result.get("inputs"), ensure_ascii=False, default=str)
    yield "expected", json.dumps(result.get("expected"), ensure_ascii=False, default=str)
    for key in ("output", "error", "latency_ms", "prompt_tokens", "completion_tokens"):
        yield key, result.get(key)
    yield "cost_usd", result.get("cost_usd")
    yield "cached", bool(result.get("cached"))
    yield "trace_id", result.get("trace_id")
    for name in scorers:
        score = (result.get("scores") or {}).get(name) or {}
        for part in ("value", "passed", "explanation", "error"):
            yield f"{name}.{part}", score.get(part)


def _prompt_ref(params: Mapping[str, Any]) -> str:
    name = params.get("prompt")
    if not name:
        return ""
    version = params.get("prompt_version")
    return f"{name}/{version}" if version is not None else str(name)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:_PARAM_LENGTH]


def _millis(when: Any) -> int | None:
    if not when:
        return None
    return int(datetime.fromisoformat(str(when)).timestamp() * 1000)

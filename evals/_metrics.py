"""A run's metrics from its results: per scorer mean and pass rate with 95% intervals, latency
percentiles, tokens, cost and errors. The statistics themselves live in ``_stats``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._scoring import Scorer

__all__ = ["run_metrics", "score_values"]


def score_values(
    results: Sequence[Mapping[str, Any]], scorer: str
) -> tuple[list[float], list[bool]]:
    """The values and verdicts one scorer gave over ``results`` (missing ones left out)."""
    values: list[float] = []
    verdicts: list[bool] = []
    for result in results:
        score = (result.get("scores") or {}).get(scorer)
        if not score:
            continue
        if score.get("value") is not None:
            values.append(float(score["value"]))
        if score.get("passed") is not None:
            verdicts.append(bool(score["passed"]))
    return values, verdicts


def run_metrics(results: Sequence[Mapping[str, Any]], scorers: Sequence[Scorer]) -> dict[str, Any]:
    """The metrics a finished run records (JSON-ready)."""
    from . import _stats  # numpy and scipy: loaded when a run ends, not by `eval list`

    scores: dict[str, Any] = {}
    for scorer in scorers:
        values, verdicts = score_values(results, scorer.name)
        errors = sum(
            1
            for r in results
            if ((r.get("scores") or {}).get(scorer.name) or {}).get("error") is not None
        )
        entry: dict[str, Any] = {
            "n": len(values),
            "errors": errors,
            "direction": scorer.direction,
            "judged_by": getattr(scorer, "judged_by", "value"),
            "threshold": scorer.threshold,
            "mean": None,
            "ci": None,
            "pass_rate": None,
            "pass_ci": None,
            "passed": sum(verdicts),
        }
        if values:
            mean = _stats.mean_ci(values)
            entry.update(mean=mean.value, ci=[mean.low, mean.high])
        if verdicts:
            rate = _stats.pass_rate_ci(verdicts)
            entry.update(pass_rate=rate.value, pass_ci=[rate.low, rate.high])
        scores[scorer.name] = entry
    # A cached row's latency is the cache's, not the model's: it would make a run that was
    # answered from the cache look fastest.
    latencies = [
        float(r["latency_ms"])
        for r in results
        if r.get("latency_ms") is not None and not r.get("cached")
    ]
    costs = [float(r["cost_usd"]) for r in results if r.get("cost_usd") is not None]
    prompt = sum(int(r.get("prompt_tokens") or 0) for r in results)
    completion = sum(int(r.get("completion_tokens") or 0) for r in results)
    return {
        "results": len(results),
        "errors": sum(1 for r in results if r.get("error")),
        "cached": sum(1 for r in results if r.get("cached")),
        "scores": scores,
        "latency_ms": {
            "p50": _stats.percentile(latencies, 50) if latencies else None,
            "p95": _stats.percentile(latencies, 95) if latencies else None,
        },
        "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
        "cost_usd": sum(costs) if costs else None,
    }

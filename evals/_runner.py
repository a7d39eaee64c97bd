"""The eval runner: every (variant, row, repeat) called, scored, traced and written.

Each row is one trace: the runner opens a span (``spyglass.eval.run_id``, ``.row``,
``.variant``, ``gen_ai.prompt.name``/``.version``) and sends its ``traceparent`` to the gateway,
whose request span becomes its child. Answers are cached in the store on (model, messages,
params), so an unchanged re-run makes no call. Results are written as they complete, each
once; a run interrupted half-way is finished by ``resume`` without redoing a written row.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._client import CallError, CallResult, GatewayClient, Throttle
from ._metrics import run_metrics
from ._plan import EvalPlan, Variant
from ._scoring import Score, ScoreInput
from ._store import RunStore, new_id

__all__ = ["RowOutcome", "RunHandle", "cache_key", "execute", "start_runs"]

_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class RunHandle:
    """A tracked run and the variant it evaluates."""

    id: str
    variant: Variant


@dataclass(frozen=True)
class RowOutcome:
    """What the progress display hears about each finished row."""

    run_id: str
    variant: str
    row_index: int
    repeat: int
    error: str | None
    cost_usd: float | None
    cached: bool


@dataclass
class _Item:
    run: RunHandle
    row_index: int
    repeat: int
    messages: list[dict[str, Any]] | None
    body: dict[str, Any] | None
    key: str | None
    error: str | None = None


@dataclass
class _Writer:
    """Writes results as they complete: whatever is queued goes in one transaction."""

    store: RunStore
    queue: asyncio.Queue[tuple[dict[str, Any], dict[str, Any] | None] | None] = field(
        default_factory=asyncio.Queue
    )

    async def run(self) -> None:
        while True:
            first = await self.queue.get()
            pending = [first]
            while not self.queue.empty():
                pending.append(self.queue.get_nowait())
            items = [p for p in pending if p is not None]
            results = [r for r, _ in items]
            cache = [c for _, c in items if c is not None]
            await asyncio.to_thread(self.store.write, results, cache)
            if None in pending:
                return


def cache_key(model: str, messages: Any, params: Mapping[str, Any], repeat: int = 0) -> str:
    """The response cache's key: model, rendered messages, params (and the repeat, past 0)."""
    material: dict[str, Any] = {"model": model, "messages": messages, "params": params}
    if repeat:
        material["repeat"] = repeat
    return hashlib.sha256(
        orjson.dumps(material, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


def git_commit(directory: Path) -> str | None:
    """The commit checked out where the eval file is (with ``+dirty`` if changed), or None."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_spec(plan: EvalPlan, variant: Variant) -> dict[str, Any]:
    """What resume and rerun need to evaluate ``variant`` again exactly."""
    dataset = plan.spec.dataset.model_dump(exclude_none=True)
    if plan.dataset.rows and dataset.get("limit") != len(plan.dataset.rows):
        dataset["limit"] = len(plan.dataset.rows)  # --limit included
    if plan.dataset.version is not None:
        dataset["version"] = plan.dataset.version  # "latest" pinned to what was read
    return {
        "name": plan.name,
        "description": plan.description,
        "directory": str(plan.source.directory.resolve()),
        "file": plan.source.name,
        "dataset": dataset,
        "variants": [variant.spec],
        "scorers": plan.spec.scorers,
        "settings": plan.spec.settings.model_dump(),
    }


def start_runs(
    plan: EvalPlan,
    store: RunStore,
    *,
    tool_version: str,
    tags: Sequence[str] = (),
    project: str | None = None,
) -> list[RunHandle]:
    """Record one run per variant (status ``running``) under the plan's experiment, in
    ``project`` when given."""
    experiment = store.experiment(plan.name, plan.description)
    invocation = new_id()
    commit = git_commit(plan.source.directory)
    handles = []
    for variant in plan.variants:
        params = {
            "prompt": variant.prompt_name,
            "prompt_version": variant.prompt_version,
            "model": variant.model,
            "params": variant.params,
            "dataset": plan.dataset.name,
            "dataset_version": plan.dataset.version,
            "dataset_hash": plan.dataset.content_hash,
            "rows": len(plan.dataset.rows),
            "repeats": plan.settings.repeats,
            "scorers": [s.name for s in plan.scorers],
            "git_commit": commit,
            "spyglass_version": tool_version,
        }
        run_id = store.create_run(
            experiment_id=experiment,
            invocation=invocation,
            variant=variant.name,
            total=len(plan.dataset.rows) * plan.settings.repeats,
            dataset_hash=plan.dataset.content_hash,
            params=params,
            spec=run_spec(plan, variant),
            tags=tags,
            project=project,
        )
        handles.append(RunHandle(run_id, variant))
    return handles


def _items(
    plan: EvalPlan, runs: Sequence[RunHandle], done: Mapping[str, set[tuple[int, int]]]
) -> Iterator[_Item]:
    for run in runs:
        finished = done.get(run.id, set())
        variant = run.variant
        for index, row in enumerate(plan.dataset.rows):
            for repeat in range(plan.settings.repeats):
                if (index, repeat) in finished:
                    continue
                try:
                    messages = variant.messages(row)
                except Exception as exc:  # a Jinja2 template failing on this row's values
                    yield _Item(run, index, repeat, None, None, None, f"render: {exc}")
                    continue
                body = {**variant.params, "model": variant.model, "messages": messages}
                key = cache_key(variant.model, messages, variant.params, repeat)
                yield _Item(run, index, repeat, messages, body, key)


async def execute(
    plan: EvalPlan,
    runs: Sequence[RunHandle],
    store: RunStore,
    http: httpx.AsyncClient,
    *,
    tracer_provider: TracerProvider | None = None,
    use_cache: bool = True,
    on_result: Callable[[RowOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> None:
    """Evaluate what the runs still lack, write each result, then close the runs.

    Args:
        plan: the checked eval.
        runs: the runs to complete (new ones, or interrupted ones being resumed).
        store: where results, metrics and the cache live.
        http: an httpx client for the gateway (in-process ASGI transport, or a URL).
        tracer_provider: the provider row spans go to (the app's, in-process).
        use_cache: answer from the cache when it can (``--no-cache``: always call).
        on_result: called with each finished row (the progress bar).
        on_start: called once with the number of rows left to do.
    """
    done = {run.id: store.done(run.id) for run in runs}
    # Off the event loop: Jinja2 variants render in a worker process (a round trip each).
    items = await asyncio.to_thread(lambda: list(_items(plan, runs, done)))
    if on_start is not None:
        on_start(len(items))
    cached: dict[str, dict[str, Any]] = {}
    if use_cache and plan.settings.cache:
        cached = await asyncio.to_thread(store.cached, [i.key for i in items if i.key])
    settings = plan.settings
    client = GatewayClient(
        http,
        Throttle(settings.concurrency, settings.rpm),
        timeout=settings.timeout,
        retries=settings.retries,
    )
    tracer = trace.get_tracer("spyglass.evals", tracer_provider=tracer_provider)
    writer = _Writer(store)
    writing = asyncio.create_task(writer.run())
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            result, entry = await _evaluate(plan, item, client, tracer, cached)
            await writer.queue.put((result, entry))
            if on_result is not None:
                on_result(
                    RowOutcome(
                        item.run.id,
                        item.run.variant.name,
                        item.row_index,
                        item.repeat,
                        result["error"],
                        result["cost_usd"],
                        result["cached"],
                    )
                )

    try:
        await asyncio.gather(*(worker() for _ in range(min(settings.concurrency, len(items)))))
    finally:
        await writer.queue.put(None)
        await writing
    for run in runs:
        results = await asyncio.to_thread(store.results, run.id)
        store.finish(run.id, run_metrics(results, plan.scorers))


async def _evaluate(
    plan: EvalPlan,
    item: _Item,
    client: GatewayClient,
    tracer: trace.Tracer,
    cached: Mapping[str, dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    variant = item.run.variant
    row = plan.dataset.rows[item.row_index]
    expected = row.get(plan.expected_column) if plan.expected_column else None
    attributes: dict[str, Any] = {
        "spyglass.eval.experiment": plan.name,
        "spyglass.eval.run_id": item.run.id,
        "spyglass.eval.row": item.row_index,
        "spyglass.eval.variant": variant.name,
        "gen_ai.request.model": variant.model,
    }
    if item.repeat:
        attributes["spyglass.eval.repeat"] = item.repeat
    if variant.prompt_name is not None:
        attributes["gen_ai.prompt.name"] = variant.prompt_name
        attributes["gen_ai.prompt.version"] = variant.prompt_version
    result: dict[str, Any] = {
        "run_id": item.run.id,
        "row_index": item.row_index,
        "repeat": item.repeat,
        "inputs": row,
        "output": None,
        "expected": expected,
        "scores": {},
        "error": item.error,
        "latency_ms": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "cost_usd": None,
        "trace_id": None,
        "cached": False,
    }
    entry: dict[str, Any] | None = None
    with tracer.start_as_current_span(f"eval {plan.name}", attributes=attributes) as span:
        context = span.get_span_context()
        if context.is_valid:
            result["trace_id"] = format(context.trace_id, "032x")
        if item.error is not None or item.body is None or item.key is None:
            span.set_status(Status(StatusCode.ERROR, item.error))
            return result, None
        answer: CallResult | None = None
        hit = cached.get(item.key)
        if hit is not None:
            answer = CallResult(
                hit["response"], hit.get("latency_ms", 0.0), hit.get("cost_usd"), None, 0
            )
            result["cached"] = True
            span.set_attribute("spyglass.eval.cached", True)
        else:
            headers: dict[str, str] = {}
            _propagator.inject(headers)
            try:
                answer = await client.call("chat/completions", item.body, headers)
            except CallError as exc:
                result["error"] = str(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                return result, None
            entry = {
                "key": item.key,
                "model": variant.model,
                "response": {
                    "response": answer.response,
                    "latency_ms": answer.latency_ms,
                    "cost_usd": answer.cost_usd,
                },
            }
        result["trace_id"] = result["trace_id"] or answer.trace_id
        output = _output_text(answer.response)
        usage = answer.response.get("usage") or {}
        result.update(
            output=output,
            latency_ms=answer.latency_ms,
            cost_usd=answer.cost_usd,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )
        score_input = ScoreInput(
            output=output,
            expected=expected,
            row=row,
            variables={name: row[name] for name in variant.template.variables},
            messages=item.messages or (),
            latency_ms=answer.latency_ms,
            cost_usd=answer.cost_usd,
            usage={k: v for k, v in usage.items() if isinstance(v, int)},
            response=answer.response,
        )
        scores = await asyncio.gather(*(_score(s, score_input, client) for s in plan.scorers))
        for scorer, score in zip(plan.scorers, scores, strict=True):
            result["scores"][scorer.name] = {
                "value": score.value,
                "passed": score.passed,
                "explanation": score.explanation,
                "error": score.error,
            }
            if score.value is not None:
                span.set_attribute(f"spyglass.eval.score.{scorer.name}", score.value)
    return result, entry


async def _score(scorer: Any, item: ScoreInput, client: GatewayClient) -> Score:
    try:
        score: Score = await scorer.score(item, client)
    except CallError as exc:
        return Score(None, None, error=f"judge call failed: {exc}")
    except Exception as exc:  # a user's custom scorer failing scores nothing, stops nothing
        return Score(None, None, error=f"{type(exc).__name__}: {exc}")
    return score


def _output_text(response: Mapping[str, Any]) -> str:
    choices = response.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content = message.get("content")
    if isinstance(content, str):
        return content
    if message.get("tool_calls"):
        return orjson.dumps(message["tool_calls"]).decode()
    return ""

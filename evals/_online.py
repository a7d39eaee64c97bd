"""Online evaluation: rules that score production traces, applied off the request path.

``OnlineEvaluator`` runs in each server process, beside the gateway but never in a request:
every ``poll_interval_seconds`` it turns the trace feed into jobs (``OnlineQueue.enqueue``),
claims the due ones, scores each trace with its rule's scorers (the eval file's scorer types;
judges call the gateway through the client it is given, marked as online-eval traffic) and
writes the scores (source ``online``, scorer ``RULE``) in the transaction that removes the job.
A scorer that raises gives an errored score with the reason; the worker carries on.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from tracing import NewScore, SpanRecord, TraceStore, examples_of

from ._online_config import OnlineEvalConfig, OnlineRule
from ._online_queue import Job, OnlineQueue
from ._scoring import ModelClient, ScoreInput, Scorer
from .errors import EvalConfigError

__all__ = ["OnlineCollector", "OnlineEvaluator", "OnlineStats", "build_rules"]

log = logging.getLogger("spyglass.online_evals")
SPANS = SpanRecord.__table__  # type: ignore[attr-defined]


@dataclass
class Rule:
    config: OnlineRule
    scorers: list[Scorer]


@dataclass
class OnlineStats:
    """Counters for ``/metrics``: jobs made, dropped (queue full), traces scored, errors."""

    enqueued: int = 0
    dropped: int = 0
    scored: int = 0
    scores: int = 0
    errored_scores: int = 0
    skipped: int = 0
    failures: int = 0
    paused: int = 0  # times the worker waited for a busy server
    per_rule: dict[str, int] = field(default_factory=dict)


class OnlineCollector:
    """``/metrics``: online evaluation's counters, read when scraped (a prometheus_client
    custom collector)."""

    def __init__(self, evaluator: OnlineEvaluator) -> None:
        self.evaluator = evaluator

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        stats = self.evaluator.stats
        for name, value, doc in (
            ("enqueued", stats.enqueued, "Traces queued for a rule."),
            ("dropped", stats.dropped, "Traces not queued because the queue was full."),
            ("scored", stats.scored, "Traces a rule scored."),
            ("scores", stats.scores, "Scores written."),
            ("errored_scores", stats.errored_scores, "Scores whose scorer failed."),
            ("skipped", stats.skipped, "Traces with nothing to score (no messages)."),
            ("failures", stats.failures, "Rounds that failed (the store unreachable...)."),
        ):
            yield CounterMetricFamily(f"spyglass_online_eval_{name}_total", doc, value=value)
        by_rule = CounterMetricFamily(
            "spyglass_online_eval_rule_scored_total", "Traces scored, by rule.", labels=("rule",)
        )
        for rule, count in stats.per_rule.items():
            by_rule.add_metric([rule], count)
        yield by_rule


def build_rules(
    config: OnlineEvalConfig,
    *,
    models: Collection[str] | None,
    base_dir: Path,
    where: str = "online_evals",
) -> list[Rule]:
    """Build each rule's scorers, checking them as an eval file's are, and the models judges
    call against the gateway's.

    Raises:
        EvalConfigError: every problem, each with its place (``online_evals.rules[0]...``).
    """
    from ._scorers import build_scorer

    problems: list[str] = []
    rules = []
    for index, rule in enumerate(config.rules):
        scorers: list[Scorer] = []
        for number, spec in enumerate(rule.scorers):
            place = f"{where}.rules[{index}].scorers[{number}]"
            try:
                scorer = build_scorer(spec, where=place, base_dir=base_dir)
            except EvalConfigError as exc:
                problems.append(str(exc))
                continue
            if any(s.name == scorer.name for s in scorers):
                problems.append(f"{place}: a second scorer named {scorer.name!r}: set `name`")
            for model in scorer.models:
                if models is not None and model not in models:
                    known = ", ".join(sorted(models)) or "none configured"
                    problems.append(f"{place}: unknown model {model!r} (models: {known})")
            for column in scorer.columns:
                if column not in _COLUMNS:
                    problems.append(
                        f"{place}: a trace has no column {column!r} "
                        f"(columns: {', '.join(_COLUMNS)})"
                    )
            scorers.append(scorer)
        rules.append(Rule(rule, scorers))
    if problems:
        raise EvalConfigError("\n".join(problems))
    return rules


# What a trace offers a scorer as columns: its question, the conversation, the instructions.
_COLUMNS = ("input", "messages", "system", "output", "expected")


async def score_trace(
    rule: Rule, example: Mapping[str, Any], client: ModelClient
) -> list[NewScore]:
    """The rule's scores of one trace (its example: input and output); a scorer that raises
    gives an errored score with the reason."""
    output = example.get("expected") or ""
    inputs = dict(example.get("input") or {})
    row = {**inputs, "output": output, "expected": None}
    item = ScoreInput(
        output=output if isinstance(output, str) else str(output),
        expected=None,
        row=row,
        variables=inputs,
        messages=inputs.get("messages") or (),
    )
    found = []
    for scorer in rule.scorers:
        passed = None
        try:
            score = await scorer.score(item, client)
            value, error, note, passed = score.value, score.error, score.explanation, score.passed
        except Exception as exc:  # a scorer's bug is the rule's error, not the worker's
            value, error, note = None, f"{type(exc).__name__}: {exc}"[:2000], None
        found.append(
            NewScore(
                name=scorer.name,
                value=value,
                trace_id=example["trace_id"],
                comment=str(note)[:2000] if note else None,
                source="online",
                scorer=rule.config.name,
                error=error if value is None else None,
                metadata={"span_id": example.get("span_id"), "passed": passed},
            )
        )
    return found


class OnlineEvaluator:
    """The worker of one process. ``start()`` in the app's lifespan, ``stop()`` at its end.

    Args:
        engine: the store.
        traces: the trace store (to read a trace's messages).
        config: the ``online_evals`` section.
        rules: built by ``build_rules``.
        client: the model client judges call (the gateway, marked as online-eval traffic);
            the app sets it when it starts, since it calls the app itself.
    """

    def __init__(
        self,
        engine: Engine,
        traces: TraceStore,
        config: OnlineEvalConfig,
        rules: Sequence[Rule],
        client: Any = None,
    ) -> None:
        self.engine = engine
        self.traces = traces
        self.config = config
        self.rules = {rule.config.name: rule for rule in rules}
        self.client = client
        self.queue = OnlineQueue(engine, queue_size=config.queue_size)
        self.worker = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stats = OnlineStats()
        self._task: asyncio.Task[None] | None = None
        self._clients: dict[str, Any] = {}
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None and self.rules:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="spyglass-online-evals")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(self._task, 30)
        except TimeoutError:
            self._task.cancel()
        self._task = None
        released = await asyncio.to_thread(self.queue.release, self.worker)
        if released:
            log.info("online evals: %d claimed traces given back for another worker", released)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self.run_once()
            except Exception as exc:  # the store is down, ...: try again on the next tick
                self.stats.failures += 1
                log.warning("online evals: %s: %s", type(exc).__name__, str(exc)[:300])
                busy = False
            if busy:
                await self._yield_to_requests()
            else:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.config.poll_interval_seconds)
                except TimeoutError:
                    pass

    async def _yield_to_requests(self) -> None:
        """Back off while the server is busy: the gateway's requests come first, and the
        queue (persisted, bounded) waits. Busy is the event loop's lag: how long the other
        ready callbacks (requests) take to let this one run again."""
        loop = asyncio.get_running_loop()
        for _ in range(20):  # at most ~2 s of waiting, then a round regardless
            started = loop.time()
            await asyncio.sleep(0)
            lag = loop.time() - started
            if lag < self.config.busy_lag_seconds or self._stopping.is_set():
                return
            self.stats.paused += 1
            await asyncio.sleep(0.1)

    async def run_once(self) -> bool:
        """One round: queue new traces, score the due ones. True when there was work."""
        rules = [rule.config for rule in self.rules.values()]
        read, made, dropped = await asyncio.to_thread(
            self.queue.enqueue, rules, limit=self.config.batch_size * 10
        )
        self.stats.enqueued += made
        self.stats.dropped += dropped
        if dropped:
            log.warning(
                "online evals: queue full (%d), %d traces dropped", self.config.queue_size, dropped
            )
        jobs = await asyncio.to_thread(
            self.queue.claim,
            self.worker,
            limit=self.config.batch_size,
            lease_seconds=self.config.lease_seconds,
            rules=list(self.rules),
        )
        if jobs:
            await self.process(jobs)
        return bool(read or jobs)

    async def process(self, jobs: Sequence[Job]) -> None:
        """Score claimed jobs: their traces' messages read in one query, ``concurrency``
        scored at a time, all their scores written (and the jobs removed) in one transaction."""
        examples = await asyncio.to_thread(
            examples_of, self.traces, list(dict.fromkeys(job.trace_id for job in jobs))
        )
        gate = asyncio.Semaphore(self.config.concurrency)
        done: list[tuple[Job, list[NewScore]]] = []
        skipped: list[Job] = []

        async def one(job: Job) -> None:
            rule = self.rules.get(job.rule)
            example = examples.get(job.trace_id)
            if rule is None or example is None:
                skipped.append(job)  # no messages to score (content capture off)
                return
            if rule.config.filter.metadata and not await asyncio.to_thread(
                self._metadata_matches, rule, job
            ):
                skipped.append(job)  # a filter only its spans decide
                return
            async with gate:
                done.append((job, await score_trace(rule, example, self._client_for(rule))))

        await asyncio.gather(*(one(job) for job in jobs))
        for job in skipped:
            await asyncio.to_thread(self.queue.drop, job, self.worker)
        self.stats.skipped += len(skipped)
        if not done:
            return
        held = await asyncio.to_thread(self.queue.complete_many, self.worker, done)
        for (job, scores), kept in zip(done, held, strict=True):
            if kept:
                self.stats.scored += 1
                self.stats.scores += len(scores)
                self.stats.errored_scores += sum(1 for s in scores if s.error)
                self.stats.per_rule[job.rule] = self.stats.per_rule.get(job.rule, 0) + 1

    def _client_for(self, rule: Rule) -> Any:
        """The model client, its calls marked with the rule (their spans say which rule they
        were for: their cost is the rule's, and they are not user traffic)."""
        from ._client import GatewayClient

        if not isinstance(self.client, GatewayClient):
            return self.client
        found = self._clients.get(rule.config.name)
        if found is None:
            found = copy.copy(self.client)
            found.headers = {**self.client.headers, "x-spyglass-online-eval": rule.config.name}
            self._clients[rule.config.name] = found
        return found

    def _metadata_matches(self, rule: Rule, job: Job) -> bool:
        wanted = rule.config.filter.metadata
        if not wanted:
            return True
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(SPANS.c.attributes).where(SPANS.c.trace_id == job.trace_id)
            ).all()
        return any(
            all(str(attributes.get(k)) == v for k, v in wanted.items())
            for (attributes,) in rows
            if isinstance(attributes, dict)
        )

    async def drain(self, *, timeout: float = 30.0) -> None:
        """Run rounds until the queue has nothing due (tests and backfill)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await self.run_once():
                return

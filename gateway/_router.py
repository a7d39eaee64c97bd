"""Routing: pick a deployment of a model group, retry, cool down, fall back.

One call of :meth:`Router.execute` runs a request to completion across attempts:

1. the group's healthy deployments are ranked by the routing strategy (weighted shuffle,
   least busy, lowest latency, lowest usage, lowest cost); deployments cooling down are skipped;
2. a failed attempt that may succeed elsewhere (429, 5xx, timeout, unreachable, auth) is retried
   up to ``num_retries`` times, preferring a deployment not tried yet: switching is immediate,
   retrying the same deployment waits (exponential backoff with full jitter, at least the
   provider's Retry-After);
3. in a group of several deployments, one failing more than ``allowed_fails`` times in a
   minute cools down for ``cooldown_time`` seconds (a 429 cools it at once);
4. when a group is exhausted, its ``fallbacks`` (or ``context_window_fallbacks`` after a
   context-window error, or ``default_fallbacks``) are tried in order, each with its own retries.

Client errors (400, 404, 422...) end the request at once: another attempt would fail the same way.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from ._config import RouterSettings
from ._deployment import Deployment
from .errors import (
    ModelNotFoundError,
    NoDeploymentAvailable,
    UpstreamError,
    UpstreamStatusError,
)

T = TypeVar("T")

_EWMA_ALPHA = 0.3


@dataclass(slots=True)
class Attempt:
    """One try at one deployment, for headers and traces."""

    deployment: Deployment
    number: int
    group: str
    error: UpstreamError | None = None
    duration_ms: float = 0.0


@dataclass(slots=True)
class Outcome:
    """What :meth:`Router.execute` tried, in order."""

    attempts: list[Attempt] = field(default_factory=list)
    waited_ms: float = 0.0  # backoff between attempts: neither upstream time nor overhead

    @property
    def deployment(self) -> Deployment:
        return self.attempts[-1].deployment

    @property
    def fallbacks(self) -> int:
        groups = [a.group for a in self.attempts]
        return len(dict.fromkeys(groups)) - 1


class RouterFailure(Exception):
    """Every attempt failed; ``error`` is the last one, ``outcome`` what was tried."""

    def __init__(self, error: UpstreamError, outcome: Outcome) -> None:
        super().__init__(error.message)
        self.error = error
        self.outcome = outcome


class Router:
    """Chooses deployments for model groups and runs attempts with retries and fallbacks."""

    def __init__(
        self,
        deployments: Iterable[Deployment],
        settings: RouterSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.groups: dict[str, list[Deployment]] = {}
        for dep in deployments:
            self.groups.setdefault(dep.group, []).append(dep)
        self._fallbacks = _fallback_map(settings.fallbacks)
        self._context_fallbacks = _fallback_map(settings.context_window_fallbacks)
        self._policy_fallbacks = _fallback_map(settings.content_policy_fallbacks)
        self._aliases = {
            alias: target if isinstance(target, str) else target.model
            for alias, target in settings.model_group_alias.items()
        }
        self._listed_aliases = [
            alias
            for alias, target in settings.model_group_alias.items()
            if isinstance(target, str) or not target.hidden
        ]

    def resolve(self, name: str) -> str:
        """The group serving ``name`` (aliases followed); raises ModelNotFoundError."""
        name = self._aliases.get(name, name)
        if name not in self.groups:
            raise ModelNotFoundError(
                f"The model `{name}` does not exist or you do not have access to it.",
                param="model",
            )
        return name

    def model_names(self) -> list[str]:
        """Every name a client may ask for: groups, then aliases."""
        return [*self.groups, *(a for a in self._listed_aliases if a not in self.groups)]

    async def execute(
        self,
        group: str,
        call: Callable[[Deployment, Attempt], Awaitable[T]],
        *,
        on_attempt_end: Callable[[Attempt], None] | None = None,
    ) -> tuple[T, Outcome]:
        """Run ``call`` on deployments of ``group`` (then its fallbacks) until one succeeds.

        Raises:
            RouterFailure: when every attempt failed or no deployment was available.
        """
        outcome = Outcome()
        chain = [group]
        tried_groups: set[str] = set()
        last_error: UpstreamError | None = None
        while chain:
            current = chain.pop(0)
            if current in tried_groups or current not in self.groups:
                continue
            tried_groups.add(current)
            try:
                result = await self._run_group(current, call, outcome, on_attempt_end)
            except UpstreamError as error:
                last_error = error
                if isinstance(error, UpstreamStatusError) and error.context_window_exceeded:
                    chain = self._context_fallbacks.get(current, []) + chain
                elif isinstance(error, UpstreamStatusError) and error.content_policy_violation:
                    chain = self._policy_fallbacks.get(current, []) + chain
                    if not chain:
                        raise RouterFailure(error, outcome) from error
                elif not error.retryable and not _is_auth(error):
                    raise RouterFailure(error, outcome) from error
                else:
                    chain = (
                        chain + self._fallbacks.get(current, []) + self.settings.default_fallbacks
                    )
                continue
            return result, outcome
        assert last_error is not None
        raise RouterFailure(last_error, outcome) from last_error

    async def _run_group(
        self,
        group: str,
        call: Callable[[Deployment, Attempt], Awaitable[T]],
        outcome: Outcome,
        on_attempt_end: Callable[[Attempt], None] | None,
    ) -> T:
        tried: set[str] = set()
        refused: set[str] = set()  # rejected our credentials: retrying them cannot help
        last: UpstreamError | None = None
        for retry in range(self.settings.num_retries + 1):
            dep = self.pick(group, exclude=tried, refused=refused)
            if dep is None:
                raise last or self._unavailable(group)
            if last is not None and dep.id in tried:
                wait = self._backoff(retry - 1, last.retry_after)
                await self._sleep(wait)
                outcome.waited_ms += wait * 1000
            tried.add(dep.id)
            attempt = Attempt(dep, len(outcome.attempts) + 1, group)
            outcome.attempts.append(attempt)
            started = self._clock()
            dep.in_flight += 1
            try:
                result = await call(dep, attempt)
            except UpstreamError as error:
                attempt.error = error
                attempt.duration_ms = (self._clock() - started) * 1000
                self._failed(dep, error)
                last = error
                if on_attempt_end:
                    on_attempt_end(attempt)
                if isinstance(error, UpstreamStatusError) and (
                    error.context_window_exceeded or error.content_policy_violation
                ):
                    raise
                if _is_auth(error) or error.skip_deployment:
                    refused.add(dep.id)
                elif not error.retryable:
                    raise
                continue
            finally:
                dep.in_flight -= 1
            attempt.duration_ms = (self._clock() - started) * 1000
            self._succeeded(dep, attempt.duration_ms)
            if on_attempt_end:
                on_attempt_end(attempt)
            return result
        assert last is not None
        raise last

    def pick(
        self, group: str, exclude: set[str] | None = None, refused: set[str] | None = None
    ) -> Deployment | None:
        """The deployment to try next, or None when all are cooling down (or ``refused``).

        Deployments in ``exclude`` are avoided while others remain.
        """
        now = self._clock()
        healthy = [
            d
            for d in self.groups.get(group, [])
            if d.cooldown_until <= now and not (refused and d.id in refused)
        ]
        if not healthy:
            return None
        if exclude:
            fresh = [d for d in healthy if d.id not in exclude]
            if fresh:
                healthy = fresh
        if len(healthy) == 1:
            return healthy[0]
        strategy = self.settings.routing_strategy
        if strategy == "least-busy":
            return self._lowest(healthy, lambda d: d.in_flight)
        if strategy == "latency-based-routing":
            # Unmeasured deployments go first, so every deployment gets measured.
            return self._lowest(healthy, lambda d: d.latency_ewma or 0.0)
        if strategy in ("usage-based-routing", "usage-based-routing-v2"):
            minute = int(now // 60)
            open_ = [d for d in healthy if not _over_limit(d, minute)] or healthy
            return self._lowest(open_, lambda d: d.minute_tokens if d.minute == minute else 0)
        if strategy == "cost-based-routing":
            return self._lowest(healthy, lambda d: d.input_cost_per_token + d.output_cost_per_token)
        weights = [d.weight for d in healthy]
        if sum(weights) <= 0:
            return self._rng.choice(healthy)
        return self._rng.choices(healthy, weights=weights, k=1)[0]

    def _lowest(self, deps: list[Deployment], key: Callable[[Deployment], float]) -> Deployment:
        best = min(key(d) for d in deps)
        return self._rng.choice([d for d in deps if key(d) == best])

    def record_tokens(self, dep: Deployment, tokens: int) -> None:
        """Count tokens against the deployment's current minute (usage-based routing)."""
        minute = int(self._clock() // 60)
        if dep.minute != minute:
            dep.minute, dep.minute_requests, dep.minute_tokens = minute, 0, 0
        dep.minute_tokens += tokens

    def _succeeded(self, dep: Deployment, duration_ms: float) -> None:
        dep.latency_ewma = (
            duration_ms
            if dep.latency_ewma is None
            else _EWMA_ALPHA * duration_ms + (1 - _EWMA_ALPHA) * dep.latency_ewma
        )
        minute = int(self._clock() // 60)
        if dep.minute != minute:
            dep.minute, dep.minute_requests, dep.minute_tokens = minute, 0, 0
        dep.minute_requests += 1

    def _failed(self, dep: Deployment, error: UpstreamError) -> None:
        if not error.retryable and not _is_auth(error):
            return  # the client's fault, not the deployment's
        now = self._clock()
        dep.failures.append(now)
        while dep.failures and dep.failures[0] < now - 60:
            dep.failures.popleft()
        if len(self.groups.get(dep.group, [])) < 2:
            # Like LiteLLM: a lone deployment is never cooled down; that would only turn the
            # provider's errors into ours while it may already have recovered.
            return
        if isinstance(error, UpstreamStatusError) and error.status_code == 429:
            wait = max(error.retry_after or 0.0, self.settings.cooldown_time)
            dep.cooldown_until = max(dep.cooldown_until, now + wait)
        elif len(dep.failures) > self.settings.allowed_fails:
            dep.cooldown_until = now + self.settings.cooldown_time
            dep.failures.clear()

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        settings = self.settings
        cap = min(settings.retry_backoff_max, settings.retry_backoff_base * 2**retry)
        jittered = self._rng.uniform(0, cap)
        wait = max(jittered, settings.retry_after)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def _unavailable(self, group: str) -> NoDeploymentAvailable:
        deps = self.groups.get(group, [])
        wait = max(min((d.cooldown_until for d in deps), default=0.0) - self._clock(), 0.0)
        return NoDeploymentAvailable(
            f"No deployment of `{group}` is available: all are cooling down after failures.",
            retry_after=wait,
            headers={"retry-after": str(max(1, round(wait)))},
        )


def _is_auth(error: UpstreamError) -> bool:
    return isinstance(error, UpstreamStatusError) and error.status_code in (401, 403)


def _over_limit(dep: Deployment, minute: int) -> bool:
    if dep.minute != minute:
        return False
    params = dep.params
    return bool(
        (params.rpm and dep.minute_requests >= params.rpm)
        or (params.tpm and dep.minute_tokens >= params.tpm)
    )


def _fallback_map(entries: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for entry in entries:
        for group, targets in entry.items():
            merged.setdefault(group, []).extend(targets)
    return merged

"""The runner's way to the gateway: an OpenAI-compatible client over an injected httpx client.

In-process, the httpx client's transport is ``ASGITransport(app)``; with ``--server`` it is a
plain client for the URL. Either way calls go through the gateway's routing and are traced.
The ``Throttle`` keeps the calls within the concurrency and requests-per-minute the eval asks
for, halves the concurrency on a 429 (and pauses everyone for its Retry-After), and grows it
back one call at a time as calls succeed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from ._scoring import ModelClient

__all__ = ["CallError", "CallResult", "GatewayClient", "Throttle"]

_RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
_MAX_BACKOFF = 30.0


class CallError(Exception):
    """A call failed for good (after its retries); the message is for the results table."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CallResult:
    """A successful call: the JSON answer and what it cost."""

    response: dict[str, Any]
    latency_ms: float
    cost_usd: float | None
    trace_id: str | None
    attempts: int


class Throttle:
    """Bounded, adaptive concurrency and an optional requests-per-minute pace.

    Args:
        limit: the most calls in flight.
        rpm: at most this many calls started per minute (spaced evenly).
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        rpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ceiling = limit
        self.limit = limit
        self.active = 0
        self.interval = 60.0 / rpm if rpm else 0.0
        self.throttled_count = 0
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        self._paused_until = 0.0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        """Wait for a slot, any pause after a 429, and the rpm pace."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1
        while True:
            now = self._clock()
            wait = max(self._paused_until - now, 0.0)
            if self.interval:
                start = max(self._next_start, now + wait)
                wait = start - now
                self._next_start = start + self.interval
            if wait <= 0:
                return
            await self._sleep(wait)
            if not self.interval and self._paused_until > self._clock():
                continue  # paused again meanwhile
            return

    async def release(self) -> None:
        """Give the slot back."""
        async with self._changed:
            self.active -= 1
            self._changed.notify_all()

    def throttled(self, retry_after: float) -> None:
        """A 429: halve the concurrency and pause every caller for ``retry_after`` seconds."""
        self.throttled_count += 1
        self.limit = max(1, self.limit // 2)
        self._paused_until = max(self._paused_until, self._clock() + retry_after)

    async def succeeded(self) -> None:
        """A call went through: allow one more in flight, up to the ceiling."""
        if self.limit < self.ceiling:
            async with self._changed:
                self.limit += 1
                self._changed.notify_all()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
        message = body["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = response.text[:300]
    return f"HTTP {response.status_code}: {message}"


class GatewayClient(ModelClient):
    """OpenAI-compatible calls with retries, timeouts and the throttle.

    Args:
        http: an httpx client whose base URL is the gateway (its ``/v1`` is appended).
        throttle: shared by every call of the run (scorers' judge calls included).
        timeout: seconds per attempt.
        retries: further attempts after a retryable failure (429, 5xx, timeout, connection).
        headers: sent with every call (online evaluation marks its judges' calls).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        throttle: Throttle,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.http = http
        self.headers = dict(headers or {})
        self.throttle = throttle
        self.timeout = timeout
        self.retries = retries
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def call(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> CallResult:
        """POST ``body`` to ``/v1/{path}``; retry what may succeed next time.

        Raises:
            CallError: the last failure, once retries are spent (or at once when not
                retryable).
        """
        content = orjson.dumps(body)
        sent = {
            "content-type": "application/json",
            "x-spyglass-timeout": f"{self.timeout:g}",
            **self.headers,
            **(headers or {}),
        }
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            await self.throttle.acquire()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self.http.post(f"/v1/{path}", content=content, headers=sent)
            except (TimeoutError, httpx.TimeoutException):
                failure = CallError(f"timed out after {self.timeout:g} s")
            except httpx.HTTPError as exc:
                failure = CallError(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code < 400:
                    await self.throttle.succeeded()
                    return _result(response, started, attempt)
                failure = CallError(_error_text(response), status=response.status_code)
                retry_after = _retry_after(response)
                if response.status_code == 429:
                    self.throttle.throttled(retry_after or self._backoff(attempt))
                elif response.status_code not in _RETRYABLE:
                    raise failure
            finally:
                await self.throttle.release()
            if attempt > self.retries:
                raise failure
            if failure.status != 429:  # a 429 already paused every caller
                await self._sleep(retry_after or self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        """Exponential with full jitter: 0.5 s, 1 s, 2 s ... up to 30 s."""
        cap = min(0.5 * 2 ** (attempt - 1), _MAX_BACKOFF)
        return float(cap / 2 + self._rng.random() * cap / 2)

    async def chat(
        self, model: str, messages: Sequence[Mapping[str, Any]], **params: Any
    ) -> dict[str, Any]:
        """A chat completion (for scorers: LLM-as-judge)."""
        body = {**params, "model": model, "messages": list(messages)}
        return (await self.call("chat/completions", body)).response

    async def embed(self, model: str, inputs: Sequence[str]) -> list[list[float]]:
        """Embeddings, in the order of ``inputs`` (for scorers: similarity)."""
        result = await self.call("embeddings", {"model": model, "input": list(inputs)})
        data = sorted(result.response.get("data", []), key=lambda d: d.get("index", 0))
        return [list(item["embedding"]) for item in data]


def _result(response: httpx.Response, started: float, attempts: int) -> CallResult:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise CallError(f"HTTP {response.status_code}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise CallError(f"HTTP {response.status_code}: the answer is not a JSON object")
    cost = response.headers.get("x-spyglass-response-cost")
    return CallResult(
        data,
        (time.perf_counter() - started) * 1000,
        float(cost) if cost else None,
        response.headers.get("x-spyglass-trace-id"),
        attempts,
    )

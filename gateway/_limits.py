"""Sliding-window rate limits and period spend, in this process or shared through Redis.

A window is the last 60 seconds, kept as per-second buckets: a request is admitted when the
window's total plus its own amount stays within the limit, and otherwise told how long until
enough old buckets fall out. With Redis, the check and the increment are one Lua script, so
replicas sharing a limit never admit more than it between them. Spend is a counter per budget
period; the first read in a period starts from what the trace store already recorded.

Redis errors never fail a request: the limit is then not enforced for that call, and the
failure is logged (once a minute) and counted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Limiter", "MemoryLimiter", "RedisLimiter", "SpendSource", "period_start"]

log = logging.getLogger("spyglass.limits")

WINDOW = 60
# (name, period start in epoch seconds) -> spend already recorded in the store
SpendSource = Callable[[str, float], Awaitable[float]]


class Limiter(Protocol):
    async def admit(self, name: str, limit: int, amount: int) -> float:
        """Count ``amount`` against the window if it fits: 0.0; else seconds to wait.

        ``amount`` 0 checks only that the window is not already full (token limits, whose
        amount is known after the call).
        """
        ...

    async def add(self, name: str, amount: int) -> None:
        """Count ``amount`` (tokens used) in the current second."""
        ...

    async def spent(self, name: str, period_start: float) -> float:
        """Spend recorded for ``name`` in the period starting at ``period_start``."""
        ...

    async def spend(self, name: str, period_start: float, amount: float) -> float:
        """Add ``amount`` of spend; returns the period's new total."""
        ...

    async def once(self, marker: str, ttl_s: int) -> bool:
        """True the first time ``marker`` is claimed (within ``ttl_s``), False after."""
        ...


def _wait(buckets: list[tuple[int, int]], total: int, amount: int, limit: int, now: int) -> float:
    """Seconds until the oldest buckets free enough room for ``amount``."""
    need = total + max(amount, 1) - limit
    freed = 0
    for second, count in sorted(buckets):
        freed += count
        if freed >= need:
            return float(max(1, second + WINDOW - now))
    return float(WINDOW)


class MemoryLimiter:
    """Limits for one process (``spyglass serve`` without Redis)."""

    def __init__(
        self, spend_source: SpendSource | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._windows: dict[str, dict[int, int]] = {}
        self._spend: dict[tuple[str, float], float] = {}
        self._markers: dict[str, float] = {}
        self._spend_source = spend_source
        self._clock = clock
        self._lock = asyncio.Lock()

    def _window(self, name: str, now: int) -> dict[int, int]:
        window = self._windows.setdefault(name, {})
        stale = [second for second in window if second <= now - WINDOW]
        for second in stale:
            del window[second]
        return window

    async def admit(self, name: str, limit: int, amount: int) -> float:
        now = int(self._clock())
        window = self._window(name, now)
        total = sum(window.values())
        if (amount > 0 and total + amount > limit) or (amount == 0 and total >= limit):
            return _wait(list(window.items()), total, amount, limit, now)
        if amount:
            window[now] = window.get(now, 0) + amount
        return 0.0

    async def add(self, name: str, amount: int) -> None:
        if amount > 0:
            now = int(self._clock())
            window = self._window(name, now)
            window[now] = window.get(now, 0) + amount

    async def spent(self, name: str, period_start: float) -> float:
        key = (name, period_start)
        if key not in self._spend:
            async with self._lock:
                if key not in self._spend:
                    seeded = 0.0
                    if self._spend_source is not None:
                        seeded = await self._spend_source(name, period_start)
                    self._spend = {k: v for k, v in self._spend.items() if k[0] != name}
                    self._spend[key] = seeded
        return self._spend[key]

    async def spend(self, name: str, period_start: float, amount: float) -> float:
        await self.spent(name, period_start)
        key = (name, period_start)
        self._spend[key] += amount
        return self._spend[key]

    async def once(self, marker: str, ttl_s: int) -> bool:
        now = self._clock()
        self._markers = {m: t for m, t in self._markers.items() if t > now}
        if marker in self._markers:
            return False
        self._markers[marker] = now + ttl_s
        return True


_ADMIT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local now = tonumber(redis.call('TIME')[1])
local data = redis.call('HGETALL', key)
local total = 0
local buckets = {}
for i = 1, #data, 2 do
  local second = tonumber(data[i])
  local count = tonumber(data[i + 1])
  if second <= now - window then
    redis.call('HDEL', key, data[i])
  else
    total = total + count
    table.insert(buckets, {second, count})
  end
end
if (amount > 0 and total + amount > limit) or (amount == 0 and total >= limit) then
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  local need = total + math.max(amount, 1) - limit
  local freed = 0
  for _, bucket in ipairs(buckets) do
    freed = freed + bucket[2]
    if freed >= need then
      return math.max(1, bucket[1] + window - now)
    end
  end
  return window
end
if amount > 0 then
  redis.call('HINCRBY', key, now, amount)
  redis.call('EXPIRE', key, window * 2)
end
return 0
"""

_ADD = """
local now = redis.call('TIME')[1]
redis.call('HINCRBY', KEYS[1], now, tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 0
"""


class RedisLimiter:
    """Limits shared by every replica that uses the same Redis."""

    def __init__(
        self, redis: Any, spend_source: SpendSource | None = None, prefix: str = "spyglass"
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self._spend_source = spend_source
        self._admit = redis.register_script(_ADMIT)
        self._add = redis.register_script(_ADD)
        self.errors = 0
        self._last_log = 0.0

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        now = time.monotonic()
        if now - self._last_log > 60:
            self._last_log = now
            log.warning("Redis unavailable for limits (%s); not enforcing", type(exc).__name__)

    async def admit(self, name: str, limit: int, amount: int) -> float:
        try:
            wait = await self._admit(
                keys=[f"{self.prefix}:rl:{name}"], args=[limit, amount, WINDOW]
            )
        except Exception as exc:
            self._failed(exc)
            return 0.0
        return float(wait)

    async def add(self, name: str, amount: int) -> None:
        if amount <= 0:
            return
        try:
            await self._add(keys=[f"{self.prefix}:rl:{name}"], args=[amount, WINDOW])
        except Exception as exc:
            self._failed(exc)

    def _spend_key(self, name: str, period_start: float) -> str:
        return f"{self.prefix}:spend:{name}:{int(period_start)}"

    async def spent(self, name: str, period_start: float) -> float:
        key = self._spend_key(name, period_start)
        try:
            value = await self.redis.get(key)
            if value is None:
                seeded = 0.0
                if self._spend_source is not None:
                    seeded = await self._spend_source(name, period_start)
                # Another replica may have seeded it meanwhile: only the first write counts.
                await self.redis.set(key, repr(seeded), nx=True, ex=400 * 86400)
                value = await self.redis.get(key)
            return float(value or 0.0)
        except Exception as exc:
            self._failed(exc)
            return 0.0

    async def spend(self, name: str, period_start: float, amount: float) -> float:
        await self.spent(name, period_start)
        try:
            total = await self.redis.incrbyfloat(self._spend_key(name, period_start), amount)
        except Exception as exc:
            self._failed(exc)
            return 0.0
        return float(total)

    async def once(self, marker: str, ttl_s: int) -> bool:
        try:
            claimed = await self.redis.set(f"{self.prefix}:once:{marker}", "1", nx=True, ex=ttl_s)
        except Exception as exc:
            self._failed(exc)
            return False
        return bool(claimed)


def period_start(now: float, period_s: int, anchor: float = 0.0) -> float:
    """The start of the budget period holding ``now``, periods counted from ``anchor``."""
    return anchor + math.floor((now - anchor) / period_s) * period_s

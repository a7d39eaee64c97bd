"""The exact-match response cache: answers stored per (model group, request), with a TTL.

A request's key is a hash of its operation, its model group and every body parameter that can
change the answer; what only shapes the delivery (``stream_options``), identifies the caller
(``user``, ``metadata``) or was consumed by the gateway (``timeout``) is left out. Whole answers
and streams are stored apart, each replayed in its own form: a stream as the chunks it was
made of, its usage kept even when the client that caused it did not ask for it.

Entries live in this process (a bounded LRU) or in Redis, shared by replicas. The cache is an
optimisation: a Redis that fails or times out makes a request a miss, never an error, and
Redis is left alone for a few seconds after a failure so a dead one costs nothing per request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ._config import CacheConfig
from ._upstream import SSE_DONE, Operation, StreamPiece, UpstreamStream, Usage, sse_event
from .errors import ConfigError

__all__ = [
    "CacheLookup",
    "CachedAnswer",
    "MemoryBackend",
    "RedisBackend",
    "ResponseCache",
    "build_cache",
]

log = logging.getLogger("spyglass.gateway")

# Body keys that do not change the answer.
_NOT_IN_KEY = frozenset({"model", "stream", "stream_options", "user", "metadata", "timeout"})
_WHOLE, _STREAM = b"J", b"S"
_CHUNK_IDENTITY = ("id", "object", "created", "model")
_REDIS_PAUSE_S = 5.0  # after a Redis failure, how long requests skip it (misses, no writes)


class Backend(Protocol):
    """Where entries are kept."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryBackend:
    """This process' memory: least recently used entries go first, over either bound."""

    name = "memory"

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        clock: Any = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self._clock() + ttl, value)
        self._bytes += len(value)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= len(value)


class RedisBackend:
    """A ``redis.asyncio.Redis`` shared by replicas; entries expire in Redis itself."""

    name = "redis"

    def __init__(self, redis: Any) -> None:
        self._redis = redis

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(key)
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._redis.set(key, value, px=max(1, int(ttl * 1000)))


@dataclass(slots=True)
class CachedAnswer:
    """A stored answer: a whole response body, or the chunks and usage of a stream."""

    body: bytes | None = None
    chunks: list[dict[str, Any]] | None = None
    usage: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The whole response, parsed (stream answers have none)."""
        return orjson.loads(self.body) if self.body is not None else {}

    def usage_figures(self) -> Usage:
        return Usage.from_openai(self.usage if self.body is None else self.data().get("usage"))

    def events(self, *, include_usage: bool) -> list[bytes]:
        """The stream's SSE events as a client receives them, ``[DONE]`` last."""
        chunks = self.chunks or []
        events = [sse_event(orjson.dumps(chunk)) for chunk in chunks]
        if include_usage and self.usage is not None and chunks:
            first = chunks[0]
            last: dict[str, Any] = {k: first[k] for k in _CHUNK_IDENTITY if k in first}
            last["choices"] = []
            last["usage"] = self.usage
            events.append(sse_event(orjson.dumps(last)))
        events.append(SSE_DONE)
        return events


def _encode_stream(chunks: list[dict[str, Any]], usage: Usage) -> bytes:
    figures: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cache_read_tokens:
        figures["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    if usage.reasoning_tokens:
        figures["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return _STREAM + orjson.dumps({"chunks": chunks, "usage": figures})


def _decode(value: bytes) -> CachedAnswer | None:
    kind, payload = value[:1], value[1:]
    if kind == _WHOLE:
        return CachedAnswer(body=payload)
    if kind == _STREAM:
        stored = orjson.loads(payload)
        return CachedAnswer(chunks=stored["chunks"], usage=stored["usage"])
    return None


class ResponseCache:
    """Looks answers up and stores them; counts hits, misses and backend errors.

    Args:
        config: the ``cache:`` settings.
        backend: where entries live (:class:`MemoryBackend` or :class:`RedisBackend`).
    """

    def __init__(self, config: CacheConfig, backend: Backend, clock: Any = time.monotonic) -> None:
        self.config = config
        self.backend = backend
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self._clock = clock
        self._paused_until = 0.0

    def lookup(
        self, op: Operation, group: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> CacheLookup:
        """Prepare the cache's part of one request (its key and ``cache-control``)."""
        stream = body.get("stream") is True
        params = {k: v for k, v in body.items() if k not in _NOT_IN_KEY}
        digest = hashlib.sha256(
            orjson.dumps([op, group, stream, params], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        directives = headers.get("cache-control", "").lower()
        return CacheLookup(
            self,
            f"{self.config.namespace}:cache:{digest}",
            read="no-cache" not in directives,
            write="no-store" not in directives,
        )

    async def get(self, key: str) -> CachedAnswer | None:
        if not self._available():
            self.misses += 1
            return None
        try:
            value = await self.backend.get(key)
            found = _decode(value) if value is not None else None
        except Exception as exc:  # a cache failure is a miss, never the request's failure
            self._failed("read", exc)
            found = None
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def put(self, key: str, value: bytes) -> None:
        if len(value) > self.config.max_entry_bytes or not self._available():
            return
        try:
            await self.backend.set(key, value, self.config.ttl)
        except Exception as exc:
            self._failed("write", exc)

    def _available(self) -> bool:
        return not self._paused_until or self._clock() >= self._paused_until

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        if self.backend.name == "redis":
            self._paused_until = self._clock() + _REDIS_PAUSE_S
        log.warning(
            "response cache %s failed (%s: %s); answering without the cache",
            what,
            type(exc).__name__,
            str(exc)[:200],
        )


class CacheLookup:
    """The cache's view of one request: its key, and whether to read and write."""

    __slots__ = ("_cache", "key", "read", "write")

    def __init__(self, cache: ResponseCache, key: str, *, read: bool, write: bool) -> None:
        self._cache = cache
        self.key = key
        self.read = read
        self.write = write

    async def get(self) -> CachedAnswer | None:
        """The stored answer, or None (a miss, ``no-cache``, or the backend failed)."""
        if not self.read:
            self._cache.misses += 1
            return None
        return await self._cache.get(self.key)

    async def put_whole(self, body: bytes) -> None:
        """Store a whole response's body (unless ``no-store``)."""
        if self.write:
            await self._cache.put(self.key, _WHOLE + body)

    def record(self, upstream: UpstreamStream) -> UpstreamStream:
        """Wrap a stream so that, relayed to its end, it is stored (unless ``no-store``)."""
        if not self.write:
            return upstream
        return _RecordingStream(upstream, self, self._cache.config.max_entry_bytes)

    async def put_stream(self, chunks: list[dict[str, Any]], usage: Usage) -> None:
        await self._cache.put(self.key, _encode_stream(chunks, usage))


class _RecordingStream:
    """Relays an upstream stream, keeping its chunks; stored when it ended whole."""

    def __init__(self, inner: UpstreamStream, lookup: CacheLookup, max_bytes: int) -> None:
        self._inner = inner
        self._lookup = lookup
        self._budget = max_bytes
        self._chunks: list[dict[str, Any]] | None = []
        self._complete = False

    @property
    def usage(self) -> Usage:
        return self._inner.usage

    @usage.setter
    def usage(self, value: Usage) -> None:
        self._inner.usage = value

    @property
    def finish_reasons(self) -> list[str]:
        return self._inner.finish_reasons

    @finish_reasons.setter
    def finish_reasons(self, value: list[str]) -> None:
        self._inner.finish_reasons = value

    @property
    def first_chunk_at(self) -> float | None:
        return self._inner.first_chunk_at

    @first_chunk_at.setter
    def first_chunk_at(self, value: float | None) -> None:
        self._inner.first_chunk_at = value

    def __aiter__(self) -> AsyncIterator[StreamPiece]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[StreamPiece]:
        async for piece in self._inner:
            if self._chunks is not None:
                self._budget -= len(piece.raw)
                if self._budget < 0:
                    self._chunks = None  # too big to cache
                else:
                    # Usage-only chunks are stored as usage, replayed to clients who ask.
                    self._chunks.extend(c for c in piece.chunks if c.get("choices"))
            yield piece
        self._complete = True

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._complete and self._chunks:
            await self._lookup.put_stream(self._chunks, self._inner.usage)


def build_cache(config: CacheConfig, redis: Any) -> ResponseCache | None:
    """The response cache the settings ask for, or None when it is off.

    Raises:
        ConfigError: ``backend: redis`` without a Redis client (no ``redis_url``).
    """
    if not config.enabled:
        return None
    if config.backend == "redis" or (config.backend == "auto" and redis is not None):
        if redis is None:
            raise ConfigError("cache.backend: redis needs redis_url to be set")
        return ResponseCache(config, RedisBackend(redis))
    return ResponseCache(config, MemoryBackend(config.max_entries, config.max_memory_bytes))

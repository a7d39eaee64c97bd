"""The response cache's backends and keys, without an app."""

from __future__ import annotations

from gateway._cache import MemoryBackend, ResponseCache
from gateway._config import CacheConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_memory_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    backend = MemoryBackend(10, 10_000, clock)
    await backend.set("a", b"1", ttl=5)
    clock.now += 4.9
    assert await backend.get("a") == b"1"
    clock.now += 0.2
    assert await backend.get("a") is None
    assert len(backend) == 0


async def test_memory_evicts_the_least_recently_used_over_either_bound() -> None:
    backend = MemoryBackend(2, 10_000)
    await backend.set("a", b"1", ttl=60)
    await backend.set("b", b"2", ttl=60)
    assert await backend.get("a") == b"1"  # a is now the most recent
    await backend.set("c", b"3", ttl=60)
    assert await backend.get("b") is None
    assert await backend.get("a") == b"1"
    by_size = MemoryBackend(100, 10)
    await by_size.set("x", b"12345", ttl=60)
    await by_size.set("y", b"123456", ttl=60)
    assert await by_size.get("x") is None and await by_size.get("y") == b"123456"


async def test_entries_over_the_size_limit_are_not_stored() -> None:
    backend = MemoryBackend(10, 10**9)
    cache = ResponseCache(CacheConfig(enabled=True, max_entry_bytes=1024), backend)
    lookup = cache.lookup("chat", "g", {"model": "m", "messages": []}, {})
    await lookup.put_whole(b"x" * 2000)
    assert len(backend) == 0
    await lookup.put_whole(b"{}")
    assert (await lookup.get()) is not None


def test_keys_depend_on_operation_group_params_and_form_only() -> None:
    cache = ResponseCache(CacheConfig(enabled=True), MemoryBackend(10, 10_000))
    body = {"model": "a", "messages": [{"role": "user", "content": "x"}], "seed": 1}

    def key(op: str = "chat", group: str = "g", **changes: object) -> str:
        return cache.lookup(op, group, {**body, **changes}, {}).key  # type: ignore[arg-type]

    assert key() == key(model="alias", user="u", metadata={"k": 1}, stream_options={})
    assert key() != key(seed=2)
    assert key() != key(group="h")
    assert key() != key(op="completions")
    assert key() != key(stream=True)
    assert key().startswith("spyglass:cache:")

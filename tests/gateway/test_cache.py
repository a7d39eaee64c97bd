"""The response cache: exact-match hits with no upstream call and no cost, streams replayed,
``cache-control`` honoured, Redis shared and its failures harmless."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio
import respx

from gateway import CacheConfig, ConfigError, Gateway, GatewayConfig
from spyglass import Settings
from tests.conftest import running_app

Build = Callable[..., Settings]

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
REDIS_URL = "redis://127.0.0.1:6379/0"
MESSAGES = [{"role": "user", "content": "Say hello"}]
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
PRICED = {
    "model_name": "fast",
    "litellm_params": {
        "model": "openai/gpt-4o-mini",
        "api_key": "sk-x-123",
        "input_cost_per_token": 0.001,
        "output_cost_per_token": 0.002,
    },
}


def config(cache: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "model_list": [
            PRICED,
            {"model_name": "mock", "litellm_params": {"model": "mock/echo", "mock_mode": "echo"}},
        ],
        "router_settings": {"num_retries": 0},
        **extra,
    }
    if cache is not None:
        found["cache"] = cache
    return found


@pytest.fixture
def upstream() -> respx.Router:
    router = respx.Router(assert_all_called=False)
    router.post(OPENAI_CHAT).mock(return_value=httpx.Response(200, json=ANSWER))
    return router


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own, its keys deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def via(router: respx.Router) -> httpx.MockTransport:
    return httpx.MockTransport(router.async_handler)


def chat(**params: Any) -> dict[str, Any]:
    return {"model": "fast", "messages": MESSAGES, **params}


async def stored_span(app: httpx.AsyncClient, trace_id: str) -> dict[str, Any]:
    """The request (root) span of a stored trace."""
    for _ in range(200):
        answer = await app.get(f"/api/traces/{trace_id}")
        if answer.status_code == 200:
            spans = answer.json()["spans"]
            return dict(next(s for s in spans if not s.get("parent_span_id")))
        await asyncio.sleep(0.05)
    raise AssertionError(f"trace {trace_id} was not stored")


async def test_off_by_default_no_header_and_every_request_goes_upstream(
    settings_from: Build, upstream: respx.Router
) -> None:
    async with running_app(settings_from(config()), via(upstream)) as app:
        for _ in range(2):
            answer = await app.post("/v1/chat/completions", json=chat())
            assert answer.status_code == 200
            assert "x-spyglass-cache" not in answer.headers
    assert upstream.calls.call_count == 2


async def test_a_repeated_request_is_a_hit_with_no_upstream_call_and_no_cost(
    settings_from: Build, upstream: respx.Router
) -> None:
    async with running_app(settings_from(config({"enabled": True})), via(upstream)) as app:
        first = await app.post("/v1/chat/completions", json=chat(temperature=0))
        second = await app.post("/v1/chat/completions", json=chat(temperature=0))
        assert first.headers["x-spyglass-cache"] == "miss"
        assert float(first.headers["x-spyglass-response-cost"]) > 0
        assert second.headers["x-spyglass-cache"] == "hit"
        assert second.headers["x-spyglass-response-cost"] == "0"
        assert second.json() == first.json() == ANSWER
        assert upstream.calls.call_count == 1
        hit = await stored_span(app, second.headers["x-spyglass-trace-id"])
        miss = await stored_span(app, first.headers["x-spyglass-trace-id"])
    assert hit["attributes"]["spyglass.cache.hit"] is True
    assert hit["attributes"]["spyglass.cost.usd"] == 0
    assert miss["attributes"]["spyglass.cache.hit"] is False
    assert miss["attributes"]["spyglass.cost.usd"] > 0


async def test_the_key_covers_what_changes_the_answer_and_ignores_the_caller(
    settings_from: Build, upstream: respx.Router
) -> None:
    async with running_app(settings_from(config({"enabled": True})), via(upstream)) as app:

        async def cache_of(body: dict[str, Any]) -> str:
            answer = await app.post("/v1/chat/completions", json=body)
            return answer.headers["x-spyglass-cache"]

        assert await cache_of(chat(temperature=0.1)) == "miss"
        assert await cache_of(chat(temperature=0.2)) == "miss"
        other = [{"role": "user", "content": "Say goodbye"}]
        assert await cache_of({"model": "fast", "messages": other, "temperature": 0.1}) == "miss"
        # Key order, the caller's identity and metadata do not matter.
        reordered = {"temperature": 0.1, "messages": MESSAGES, "model": "fast"}
        assert await cache_of({**reordered, "user": "u-2", "metadata": {"a": "b"}}) == "hit"
    assert upstream.calls.call_count == 3


async def test_cache_control_no_cache_skips_the_read_and_no_store_the_write(
    settings_from: Build, upstream: respx.Router
) -> None:
    async with running_app(settings_from(config({"enabled": True})), via(upstream)) as app:

        async def post(header: str | None) -> str:
            headers = {"cache-control": header} if header else {}
            answer = await app.post("/v1/chat/completions", json=chat(), headers=headers)
            return answer.headers["x-spyglass-cache"]

        assert await post("no-store") == "miss"
        assert await post(None) == "miss"  # no-store wrote nothing
        assert await post(None) == "hit"
        assert await post("no-cache") == "miss"
        assert await post("No-Cache, no-store") == "miss"
    assert upstream.calls.call_count == 4


async def test_errors_are_not_cached(settings_from: Build) -> None:
    failing = respx.Router()
    failing.post(OPENAI_CHAT).mock(return_value=httpx.Response(500, json={"error": {}}))
    async with running_app(settings_from(config({"enabled": True})), via(failing)) as app:
        for _ in range(2):
            answer = await app.post("/v1/chat/completions", json=chat())
            assert answer.status_code == 502
    assert failing.calls.call_count == 2


def sse_chunks(body: bytes) -> list[Any]:
    events = [e for e in body.decode().split("\n\n") if e.startswith("data: ")]
    return [e[6:] if e[6:] == "[DONE]" else json.loads(e[6:]) for e in events]


async def test_a_stream_is_cached_and_replayed_as_a_stream_with_its_usage(
    settings_from: Build,
) -> None:
    body = {"model": "mock", "messages": [{"role": "user", "content": "one two three"}]}
    streamed = {**body, "stream": True}
    with_usage = {**streamed, "stream_options": {"include_usage": True}}
    async with running_app(settings_from(config({"enabled": True}))) as app:
        first = await app.post("/v1/chat/completions", json=streamed)
        second = await app.post("/v1/chat/completions", json=streamed)
        third = await app.post("/v1/chat/completions", json=with_usage)
        whole = await app.post("/v1/chat/completions", json=body)
        hit = await stored_span(app, third.headers["x-spyglass-trace-id"])
    assert [r.headers["x-spyglass-cache"] for r in (first, second, third, whole)] == [
        "miss",
        "hit",
        "hit",
        "miss",  # a whole answer is cached apart from the stream
    ]
    assert second.headers["content-type"].startswith("text/event-stream")
    assert sse_chunks(second.content) == sse_chunks(first.content)
    replayed = sse_chunks(third.content)
    assert replayed[-1] == "[DONE]"
    assert replayed[:-2] == sse_chunks(first.content)[:-1]
    usage = replayed[-2]
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] > 0
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in replayed[:-2])
    assert text == "one two three"
    assert hit["attributes"]["spyglass.cache.hit"] is True
    assert hit["attributes"]["gen_ai.usage.input_tokens"] == usage["usage"]["prompt_tokens"]


async def test_anthropic_messages_hit_is_translated(settings_from: Build) -> None:
    body = {
        "model": "mock",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi there"}],
    }
    async with running_app(settings_from(config({"enabled": True}))) as app:
        first = await app.post("/v1/messages", json=body)
        second = await app.post("/v1/messages", json=body)
        streamed = [await app.post("/v1/messages", json={**body, "stream": True}) for _ in "ab"]
    assert second.headers["x-spyglass-cache"] == "hit"
    assert second.json()["content"] == first.json()["content"]
    assert second.json()["type"] == "message"
    assert [s.headers["x-spyglass-cache"] for s in streamed] == ["miss", "hit"]
    assert b"event: message_stop" in streamed[1].content
    assert streamed[1].content == streamed[0].content


async def test_redis_backend_is_shared_between_apps(
    settings_from: Build, upstream: respx.Router, namespace: str
) -> None:
    settings = settings_from(config({"enabled": True, "namespace": namespace}, redis_url=REDIS_URL))
    async with running_app(settings, via(upstream)) as first:
        miss = await first.post("/v1/chat/completions", json=chat())
    async with running_app(settings, via(upstream)) as second:
        hit = await second.post("/v1/chat/completions", json=chat())
    assert (miss.headers["x-spyglass-cache"], hit.headers["x-spyglass-cache"]) == ("miss", "hit")
    assert hit.json() == ANSWER
    assert upstream.calls.call_count == 1
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(f"{namespace}:cache:*")]
    ttl = await client.pttl(keys[0])
    await client.aclose()
    assert len(keys) == 1 and 0 < ttl <= 600_000


async def test_a_failing_redis_makes_misses_not_errors(
    settings_from: Build, upstream: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every Redis call fails at once.
    settings = settings_from(config({"enabled": True}, redis_url="redis://127.0.0.1:1/0"))
    async with running_app(settings, via(upstream)) as app:
        for _ in range(3):
            answer = await app.post("/v1/chat/completions", json=chat())
            assert answer.status_code == 200
            assert answer.headers["x-spyglass-cache"] == "miss"
            assert answer.json() == ANSWER
    assert upstream.calls.call_count == 3
    assert "response cache read failed" in caplog.text


async def test_litellm_cache_settings_are_accepted(settings_from: Build) -> None:
    settings = settings_from(
        config(litellm_settings={"cache": True, "cache_params": {"type": "local", "ttl": 30}})
    )
    cache = settings.gateway_config().cache
    assert (cache.enabled, cache.backend, cache.ttl) == (True, "memory", 30)
    assert settings_from(config({"ttl": 5})).gateway_config().cache.enabled is False


def test_a_redis_backend_without_redis_is_a_config_error() -> None:
    config = GatewayConfig(cache=CacheConfig(enabled=True, backend="redis"))
    with pytest.raises(ConfigError, match="redis_url"):
        Gateway(config, transport=httpx.MockTransport(lambda r: httpx.Response(200)))

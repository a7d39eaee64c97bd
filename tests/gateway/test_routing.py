"""Routing behaviours, each against respx-faked upstreams that fail in the relevant way."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from spyglass import Settings
from tests.conftest import running_app

CHAT = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}


def ok(text: str = "fine") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
    )


def fail(
    status: int,
    message: str = "boom",
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"message": message, "type": "server_error", "code": code}},
        headers=headers,
    )


def deployment(group: str, host: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {
            "model": f"openai/{host}",
            "api_base": f"http://{host}.test/v1",
            "api_key": "sk-x",
            **params,
        },
    }


class FakeTime:
    """A clock that moves only when told, and a sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def upstream() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def app_for(
    settings_from: Callable[..., Settings], upstream: respx.MockRouter, fake_time: FakeTime
) -> Callable[..., Any]:
    def build(model_list: list[dict[str, Any]], **router_settings: Any) -> Any:
        settings = settings_from({"model_list": model_list, "router_settings": router_settings})
        return running_app(
            settings,
            httpx.MockTransport(upstream.async_handler),
            router_options={
                "clock": fake_time.clock,
                "sleep": fake_time.sleep,
                "rng": random.Random(7),
            },
        )

    return build


async def test_failed_deployment_is_retried_on_another_at_once(
    app_for: Any, upstream: respx.MockRouter, fake_time: FakeTime
) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500))
    b = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok("from b"))
    async with app_for(
        [deployment("gpt", "a", weight=1000), deployment("gpt", "b", weight=0.001)]
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from b"
    assert response.headers["x-spyglass-attempts"] == "2"
    assert a.call_count == 1 and b.call_count == 1
    assert fake_time.sleeps == []  # switching deployments does not wait


async def test_retry_on_same_deployment_waits_at_least_retry_after(
    app_for: Any, upstream: respx.MockRouter, fake_time: FakeTime
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(
        side_effect=[fail(429, "slow down", {"retry-after": "2"}), ok()]
    )
    async with app_for([deployment("gpt", "a")], num_retries=2) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.headers["x-spyglass-attempts"] == "2"
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] >= 2.0


async def test_backoff_is_exponential_with_jitter_and_capped(
    app_for: Any, upstream: respx.MockRouter, fake_time: FakeTime
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(side_effect=[fail(500)] * 4 + [ok()])
    async with app_for(
        [deployment("gpt", "a")], num_retries=4, retry_backoff_base=1.0, retry_backoff_max=3.0
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert len(fake_time.sleeps) == 4
    for retry, slept in enumerate(fake_time.sleeps):
        assert 0 <= slept <= min(3.0, 1.0 * 2**retry)
    assert len(set(fake_time.sleeps)) == 4  # jittered, not a fixed schedule


async def test_exhausted_retries_answer_502_with_last_error(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    route = upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500, "kaput"))
    async with app_for([deployment("gpt", "a")], num_retries=2) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["message"].startswith("All 3 attempts failed; last error:")
    assert "kaput" in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert route.call_count == 3


async def test_upstream_429_passes_on_retry_after(app_for: Any, upstream: respx.MockRouter) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(
        return_value=fail(429, "rate limited", {"retry-after": "11"})
    )
    async with app_for([deployment("gpt", "a")], num_retries=0) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "11"
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_client_error_is_not_retried(app_for: Any, upstream: respx.MockRouter) -> None:
    route = upstream.post("http://a.test/v1/chat/completions").mock(
        return_value=fail(400, "temperature out of range", code="invalid_value")
    )
    async with app_for([deployment("gpt", "a"), deployment("gpt", "a2")], num_retries=3) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 400
    assert "temperature out of range" in response.json()["error"]["message"]
    assert route.call_count == 1


async def test_fallback_to_another_group(app_for: Any, upstream: respx.MockRouter) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(503))
    upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok("fallback"))
    async with app_for(
        [deployment("gpt", "a"), deployment("backup", "b")],
        num_retries=1,
        fallbacks=[{"gpt": ["backup"]}],
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "fallback"
    assert response.headers["x-spyglass-model-group"] == "backup"
    assert response.headers["x-spyglass-fallbacks"] == "1"
    assert response.headers["x-spyglass-attempts"] == "3"


async def test_context_window_error_falls_back_without_retrying(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    small = upstream.post("http://a.test/v1/chat/completions").mock(
        return_value=fail(
            400,
            "This model's maximum context length is 8192 tokens",
            code="context_length_exceeded",
        )
    )
    upstream.post("http://big.test/v1/chat/completions").mock(return_value=ok("long context"))
    async with app_for(
        [deployment("gpt", "a"), deployment("gpt-long", "big")],
        num_retries=3,
        context_window_fallbacks=[{"gpt": ["gpt-long"]}],
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert response.headers["x-spyglass-model-group"] == "gpt-long"
    assert small.call_count == 1


async def test_generic_fallbacks_do_not_apply_to_context_errors(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(
        return_value=fail(400, "maximum context length exceeded", code="context_length_exceeded")
    )
    other = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a"), deployment("backup", "b")], fallbacks=[{"gpt": ["backup"]}]
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 400
    assert other.call_count == 0


async def test_failing_deployment_cools_down_then_recovers(
    app_for: Any, upstream: respx.MockRouter, fake_time: FakeTime
) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500))
    b = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a", weight=1000), deployment("gpt", "b", weight=0.001)],
        allowed_fails=1,
        cooldown_time=30,
        num_retries=1,
    ) as client:
        for _ in range(2):  # a fails twice (> allowed_fails): cooled down
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert a.call_count == 2
        for _ in range(5):
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert a.call_count == 2  # skipped while cooling down
        fake_time.now += 31
        a.mock(return_value=ok("a is back"))
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "a is back"
    assert b.call_count == 7


async def test_lone_deployment_is_never_cooled_down(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    route = upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500))
    async with app_for([deployment("gpt", "a")], allowed_fails=0, num_retries=0) as client:
        for _ in range(3):
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 502
    assert route.call_count == 3


async def test_all_deployments_cooling_down_is_503_with_retry_after(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500))
    upstream.post("http://b.test/v1/chat/completions").mock(return_value=fail(500))
    async with app_for(
        [deployment("gpt", "a"), deployment("gpt", "b")],
        allowed_fails=0,
        cooldown_time=20,
        num_retries=1,
    ) as client:
        first = await client.post("/v1/chat/completions", json=CHAT)
        second = await client.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == 502
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "no_deployment_available"
    assert second.headers["retry-after"] == "20"


async def test_rejected_credentials_move_on_to_next_deployment(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(401, "bad key"))
    upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok("b"))
    async with app_for(
        [deployment("gpt", "a", weight=1000), deployment("gpt", "b", weight=0.001)], num_retries=3
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200
        assert a.call_count == 1
        upstream.post("http://b.test/v1/chat/completions").mock(return_value=fail(401, "bad key"))
        a.reset()
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_auth_failed"


async def test_unreachable_upstream_is_retried_then_502(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    route = upstream.post("http://a.test/v1/chat/completions").mock(
        side_effect=httpx.ConnectError("refused")
    )
    async with app_for([deployment("gpt", "a")], num_retries=1) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert route.call_count == 2


async def test_upstream_timeout_is_504(app_for: Any, upstream: respx.MockRouter) -> None:
    route = upstream.post("http://a.test/v1/chat/completions").mock(
        side_effect=httpx.ReadTimeout("slow")
    )
    async with app_for([deployment("gpt", "a", timeout=5)], num_retries=1) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    assert route.call_count == 2


async def test_weighted_shuffle_follows_weights(app_for: Any, upstream: respx.MockRouter) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok())
    b = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a", weight=9), deployment("gpt", "b", weight=1)]
    ) as client:
        for _ in range(200):
            await client.post("/v1/chat/completions", json=CHAT)
    assert 160 <= a.call_count <= 195
    assert a.call_count + b.call_count == 200


async def test_rpm_serves_as_weight_like_litellm(app_for: Any, upstream: respx.MockRouter) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok())
    upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a", rpm=900), deployment("gpt", "b", rpm=100)]
    ) as client:
        for _ in range(100):
            await client.post("/v1/chat/completions", json=CHAT)
    assert a.call_count >= 75


async def test_cost_based_routing_prefers_the_cheapest(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok())
    b = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [
            deployment("gpt", "a", input_cost_per_token=1e-5, output_cost_per_token=3e-5),
            deployment("gpt", "b", input_cost_per_token=1e-7, output_cost_per_token=4e-7),
        ],
        routing_strategy="cost-based-routing",
    ) as client:
        for _ in range(10):
            await client.post("/v1/chat/completions", json=CHAT)
    assert (a.call_count, b.call_count) == (0, 10)


async def test_usage_based_routing_spreads_tokens_and_respects_tpm(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    a = upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok())
    b = upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a"), deployment("gpt", "b")], routing_strategy="usage-based-routing-v2"
    ) as client:
        for _ in range(20):
            await client.post("/v1/chat/completions", json=CHAT)
    assert (a.call_count, b.call_count) == (10, 10)


async def test_model_group_alias_routes_to_the_group(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok("via alias"))
    async with app_for([deployment("gpt", "a")], model_group_alias={"gpt-latest": "gpt"}) as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-latest"})
        models = (await client.get("/v1/models")).json()
    assert response.json()["choices"][0]["message"]["content"] == "via alias"
    assert [m["id"] for m in models["data"]] == ["gpt", "gpt-latest"]


def mock_deployment(group: str, name: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": f"mock/{name}", **params},
        "model_info": {"id": name},
    }


async def test_least_busy_spreads_concurrent_requests(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from(
        {
            "model_list": [
                mock_deployment("gpt", "a", mock_latency_ms=200),
                mock_deployment("gpt", "b", mock_latency_ms=200),
            ],
            "router_settings": {"routing_strategy": "least-busy"},
        }
    )
    async with running_app(settings) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/chat/completions", json=CHAT) for _ in range(10))
        )
    served = [r.headers["x-spyglass-model-id"] for r in responses]
    assert sorted(served) == ["a"] * 5 + ["b"] * 5


async def test_latency_based_routing_prefers_the_fastest(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from(
        {
            "model_list": [
                mock_deployment("gpt", "slow", mock_latency_ms=60),
                mock_deployment("gpt", "fast", mock_latency_ms=1),
            ],
            "router_settings": {"routing_strategy": "latency-based-routing"},
        }
    )
    async with running_app(settings) as client:
        served = [
            (await client.post("/v1/chat/completions", json=CHAT)).headers["x-spyglass-model-id"]
            for _ in range(12)
        ]
    # Each is measured once (unmeasured ones go first), then the fast one takes the rest.
    assert served.count("slow") == 1
    assert served[2:] == ["fast"] * 10


async def test_content_policy_error_uses_content_policy_fallbacks(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    strict = upstream.post("http://a.test/v1/chat/completions").mock(
        return_value=fail(400, "The response was filtered", code="content_filter")
    )
    upstream.post("http://b.test/v1/chat/completions").mock(return_value=ok("lenient"))
    async with app_for(
        [deployment("gpt", "a"), deployment("lenient", "b")],
        num_retries=2,
        content_policy_fallbacks=[{"gpt": ["lenient"]}],
    ) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "lenient"
    assert strict.call_count == 1


async def test_hidden_alias_routes_but_is_not_listed(
    app_for: Any, upstream: respx.MockRouter
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(return_value=ok())
    async with app_for(
        [deployment("gpt", "a")],
        model_group_alias={"secret-name": {"model": "gpt", "hidden": True}},
    ) as client:
        response = await client.post("/v1/chat/completions", json={**CHAT, "model": "secret-name"})
        models = (await client.get("/v1/models")).json()
    assert response.status_code == 200
    assert [m["id"] for m in models["data"]] == ["gpt"]


async def test_overhead_header_excludes_backoff_waits(
    app_for: Any, upstream: respx.MockRouter, fake_time: FakeTime
) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(
        side_effect=[fail(429, "wait", {"retry-after": "30"}), ok()]
    )
    async with app_for([deployment("gpt", "a")], num_retries=1) as client:
        response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert fake_time.sleeps == [30.0]
    assert float(response.headers["x-spyglass-overhead-duration-ms"]) < 1000


async def test_every_error_carries_a_call_id(app_for: Any, upstream: respx.MockRouter) -> None:
    upstream.post("http://a.test/v1/chat/completions").mock(return_value=fail(500))
    async with app_for([deployment("gpt", "a")], num_retries=0) as client:
        failed = await client.post("/v1/chat/completions", json=CHAT)
        unknown = await client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
        anthropic = await client.post(
            "/v1/messages",
            json={"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
    for response in (failed, unknown, anthropic):
        assert len(response.headers["x-spyglass-call-id"]) == 36

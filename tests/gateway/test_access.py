"""Keys, roles, rate limits and budgets: in-process apps, and limiters on a real Redis."""

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
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from gateway import MemoryLimiter, RedisLimiter
from spyglass._settings import Settings
from tests.conftest import running_app

MASTER = "sk-master-test-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}
HOOK = "http://alerts.test/hook"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
# Each call: 10 + 5 tokens at 0.001 USD a token = 0.015 USD.
MODEL = {
    "model_name": "m",
    "litellm_params": {
        "model": "mock/echo",
        "mock_prompt_tokens": 10,
        "mock_completion_tokens": 5,
        "input_cost_per_token": 0.001,
        "output_cost_per_token": 0.001,
    },
}
OTHER = {"model_name": "other", "litellm_params": {"model": "mock/other"}}


def config(**extra: Any) -> dict[str, Any]:
    return {"master_key": MASTER, "model_list": [MODEL, OTHER]} | extra


@pytest.fixture
def hooks() -> respx.Router:
    router = respx.Router(assert_all_mocked=True)
    router.post(HOOK).respond(204)
    return router


@pytest.fixture
async def app(
    settings_from: Callable[..., Settings], hooks: respx.Router
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_from(
        config(
            auth={
                "teams": {"red": {"rpm": 4, "budget_usd": 1.0}},
                "budget_alerts": {"url": HOOK, "thresholds": [0.5, 1.0]},
            }
        )
    )
    async with running_app(settings, httpx.MockTransport(hooks.async_handler)) as client:
        yield client


async def new_key(app: httpx.AsyncClient, **fields: Any) -> tuple[str, dict[str, Any]]:
    answer = await app.post("/api/keys", headers=ADMIN, json=fields)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body.pop("key"), body


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def all_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(full path, route) for every route, through included routers."""
    found = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI's included router
            found += all_routes(original.routes, prefix + route.include_context.prefix)
        else:
            found.append((prefix + route.path, route))
    return found


async def test_every_route_needs_a_key_but_health_and_the_ui_shell(
    app: httpx.AsyncClient,
) -> None:
    asgi = app._transport.app  # type: ignore[attr-defined]
    public = []
    checked = 0
    for full_path, route in all_routes(asgi.routes):
        if isinstance(route, Mount):
            public.append(full_path)  # the UI's static files
            continue
        assert isinstance(route, APIRoute | Route), route
        path = full_path.replace("{", "").replace("}", "").replace(":path", "")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            answer = await app.request(method, path)
            if not full_path.startswith(("/v1/", "/api/", "/metrics", "/chat/")):
                public.append(full_path)
                continue
            checked += 1
            assert answer.status_code == 401, f"{method} {full_path}: {answer.status_code}"
            error = answer.json()["error"]
            assert error["code"] == "missing_api_key"
            wrong = await app.request(method, path, headers=bearer("sk-sg-not-a-real-key"))
            assert wrong.status_code == 401, f"{method} {full_path} with a wrong key"
    assert checked > 30
    # What needs no key holds no data: health checks, and the UI's pages and assets.
    for path in public:
        assert path.startswith("/health/") or path == "/" or not path.startswith(("/api", "/v1"))
    assert (await app.get("/health/live")).status_code == 200


async def test_keys_are_shown_once_and_stored_only_hashed(
    app: httpx.AsyncClient, settings_from: Callable[..., Settings]
) -> None:
    key, info = await new_key(app, name="billing", team="red", models=["m"])
    assert key.startswith("sk-sg-") and len(key) > 40
    assert info["prefix"] == key[:10]
    listed = (await app.get("/api/keys", headers=ADMIN)).json()["data"]
    assert [k["id"] for k in listed] == [info["id"]]
    assert key not in str(listed)
    assert (await app.get(f"/api/keys/{info['id']}", headers=ADMIN)).json()["name"] == "billing"
    ok = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    assert ok.status_code == 200
    me = (await app.get("/api/auth/whoami", headers=bearer(key))).json()
    assert (me["id"], me["role"], me["team"]) == (info["id"], "member", "red")


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "viewer",
            [("GET", "/api/traces"), ("GET", "/v1/models"), ("GET", "/metrics")],
            [("POST", "/v1/chat/completions"), ("POST", "/api/prompts"), ("GET", "/api/keys")],
        ),
        (
            "member",
            [("POST", "/v1/chat/completions"), ("GET", "/api/traces"), ("POST", "/api/prompts")],
            [("GET", "/api/keys"), ("POST", "/api/keys"), ("GET", "/api/usage")],
        ),
        (
            "ingest",
            [("POST", "/v1/traces")],
            [("POST", "/v1/chat/completions"), ("GET", "/api/traces"), ("GET", "/metrics")],
        ),
    ],
)
async def test_roles(
    app: httpx.AsyncClient,
    role: str,
    allowed: list[tuple[str, str]],
    refused: list[tuple[str, str]],
) -> None:
    key, _ = await new_key(app, role=role)
    bodies = {"/v1/chat/completions": CHAT, "/api/prompts": {"name": f"p-{role}"}}
    for method, path in allowed:
        answer = await app.request(method, path, headers=bearer(key), json=bodies.get(path))
        assert answer.status_code not in (401, 403), f"{role} {method} {path}: {answer.text}"
    for method, path in refused:
        answer = await app.request(method, path, headers=bearer(key), json=bodies.get(path))
        assert answer.status_code == 403, f"{role} {method} {path}"
        assert answer.json()["error"]["code"] == "insufficient_role"


async def test_revoked_expired_and_wrong_model_keys(app: httpx.AsyncClient) -> None:
    key, info = await new_key(app, models=["m"])
    refused = await app.post(
        "/v1/chat/completions", headers=bearer(key), json=CHAT | {"model": "other"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert (await app.delete(f"/api/keys/{info['id']}", headers=ADMIN)).status_code == 200
    gone = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    assert gone.status_code == 401
    assert gone.json()["error"]["code"] == "revoked_api_key"
    bad = await app.post("/api/keys", headers=ADMIN, json={"expires_in": "2x"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "expires_in")
    bad = await app.post("/api/keys", headers=ADMIN, json={"role": "root"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "role")


async def test_anthropic_and_azure_style_key_headers(app: httpx.AsyncClient) -> None:
    key, _ = await new_key(app)
    for header in ("x-api-key", "api-key"):
        answer = await app.post("/v1/chat/completions", headers={header: key}, json=CHAT)
        assert answer.status_code == 200, header


async def test_key_rpm_is_a_sliding_window_with_retry_after(app: httpx.AsyncClient) -> None:
    key, _ = await new_key(app, rpm=3)
    codes = []
    for _ in range(5):
        answer = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
        codes.append(answer.status_code)
    assert codes == [200, 200, 200, 429, 429]
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.json()["error"] == {
        "message": "Rate limit reached: 3 requests per minute of this key.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }


async def test_tokens_per_minute(app: httpx.AsyncClient) -> None:
    key, _ = await new_key(app, tpm=20)  # each call uses 15 tokens
    first = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    second = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    third = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert "20 tokens per minute" in third.json()["error"]["message"]


async def test_team_limits_are_shared_by_its_keys(app: httpx.AsyncClient) -> None:
    one, _ = await new_key(app, team="red")
    two, _ = await new_key(app, team="red")
    codes = [
        (await app.post("/v1/chat/completions", headers=bearer(k), json=CHAT)).status_code
        for k in (one, two, one, two, one)
    ]
    assert codes == [200, 200, 200, 200, 429]


async def test_budgets_refuse_when_spent_and_alert_once_per_threshold(
    app: httpx.AsyncClient, hooks: respx.Router
) -> None:
    key, info = await new_key(app, budget_usd=0.04, budget_period="7d")
    codes = [
        (await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)).status_code
        for _ in range(4)
    ]
    # 0.015 a call: 0.015, 0.030, 0.045 (over), then refused.
    assert codes == [200, 200, 200, 429]
    refused = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("budget_exceeded", "insufficient_quota")
    assert "0.0450 of 0.04 USD" in error["message"]
    assert 6 * 86400 < int(refused.headers["retry-after"]) <= 7 * 86400
    await asyncio.sleep(0.1)
    sent = [json.loads(call.request.content) for call in hooks.calls]
    mine = [e for e in sent if e["key_id"] == info["id"]]
    assert [(e["threshold"], e["subject"]) for e in mine] == [(0.5, "key"), (1.0, "key")]
    assert mine[1]["spent_usd"] == pytest.approx(0.045)


async def test_spend_survives_a_restart(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(config())
    async with running_app(settings) as app:
        key, _ = await new_key(app, budget_usd=0.02)
        for _ in range(2):
            await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
        await asyncio.sleep(0.5)  # the spans reach the store
    async with running_app(settings) as app:
        again = await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "budget_exceeded"
        for _ in range(100):  # the refused call's span reaches the store
            usage = (await app.get("/api/usage", headers=ADMIN, params={"group_by": "key"})).json()
            [row] = usage["data"]
            if row["requests"] == 3:
                break
            await asyncio.sleep(0.05)
        assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (3, 20, 10)
        assert (row["errors"], row["cost"]) == (1, pytest.approx(0.03))


async def test_without_a_master_key_virtual_keys_still_count(
    settings_from: Callable[..., Settings],
) -> None:
    async with running_app(settings_from({"model_list": [MODEL]})) as app:
        assert (await app.post("/v1/chat/completions", json=CHAT)).status_code == 200
        dummy = {"authorization": "Bearer sk-anything"}  # what SDKs send when given no key
        assert (await app.post("/v1/chat/completions", headers=dummy, json=CHAT)).status_code == 200
        key, _ = await new_key(app, rpm=1)
        assert (
            await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
        ).status_code == 200
        assert (
            await app.post("/v1/chat/completions", headers=bearer(key), json=CHAT)
        ).status_code == 429
        fake = bearer("sk-sg-" + "x" * 43)
        assert (await app.post("/v1/chat/completions", headers=fake, json=CHAT)).status_code == 401


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_window_slides_second_by_second() -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock=clock)
    assert await limiter.admit("k", 3, 1) == 0
    clock.now += 20
    assert await limiter.admit("k", 3, 1) == 0
    assert await limiter.admit("k", 3, 1) == 0
    assert await limiter.admit("k", 3, 1) == 40  # the first request leaves the window in 40 s
    clock.now += 40
    assert await limiter.admit("k", 3, 1) == 0
    assert await limiter.admit("k", 3, 1) == 20  # now the two from t=20 must leave


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"Redis at 127.0.0.1:6379 is required and unreachable: {exc}")
    yield client
    await client.aclose()


async def test_redis_limiter_admits_exactly_the_limit_under_concurrency(
    redis_client: Any,
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    # Two limiters on one Redis: two replicas.
    a, b = RedisLimiter(redis_client, prefix=prefix), RedisLimiter(redis_client, prefix=prefix)
    results = await asyncio.gather(*(lim.admit("key:x:rpm", 60, 1) for lim in [a, b] * 50))
    assert sum(1 for wait in results if wait == 0) == 60
    assert all(1 <= wait <= 60 for wait in results if wait)
    await a.add("key:x:tpm", 500)
    assert await b.admit("key:x:tpm", 400, 0) > 0
    assert await b.admit("key:x:tpm", 600, 0) == 0


async def test_redis_spend_is_seeded_once_and_shared(redis_client: Any) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    seeded: list[str] = []

    async def source(name: str, start: float) -> float:
        seeded.append(name)
        return 1.5

    a = RedisLimiter(redis_client, source, prefix=prefix)
    b = RedisLimiter(redis_client, source, prefix=prefix)
    assert await a.spent("key:k", 0) == 1.5
    assert await b.spend("key:k", 0, 0.25) == pytest.approx(1.75)
    assert await a.spent("key:k", 0) == pytest.approx(1.75)
    assert seeded == ["key:k"]
    assert await a.once("alert:1", 60) is True
    assert await b.once("alert:1", 60) is False


async def test_redis_down_does_not_fail_requests() -> None:
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisLimiter(dead, prefix="x")
    assert await limiter.admit("k", 1, 1) == 0
    assert await limiter.spent("k", 0) == 0
    assert limiter.errors == 2
    await dead.aclose()


async def test_deployment_limits_hold_across_replicas_with_redis(
    settings_from: Callable[..., Settings],
) -> None:
    run = uuid.uuid4().hex[:8]
    deployments = [
        {
            "model_name": "m",
            "litellm_params": {"model": f"mock/{name}", "rpm": 2},
            "model_info": {"id": f"{name}-{run}"},
        }
        for name in ("a", "b")
    ]
    settings = settings_from({"model_list": deployments, "redis_url": "redis://127.0.0.1:6379/0"})
    async with running_app(settings) as one, running_app(settings) as two:
        codes = []
        for replica in (one, two, one, two, one):
            answer = await replica.post("/v1/chat/completions", json=CHAT)
            codes.append(answer.status_code)
        # Two deployments at 2 rpm each: four calls between both replicas, then 429.
        assert codes == [200, 200, 200, 200, 429]
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
        assert "at its limit of 2 rpm (shared by replicas)" in answer.json()["error"]["message"]
        assert 1 <= int(answer.headers["retry-after"]) <= 60


async def test_usage_rejects_an_unknown_grouping(app: httpx.AsyncClient) -> None:
    answer = await app.get("/api/usage", headers=ADMIN, params={"group_by": "key,colour"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "group_by"

"""The client apps load prompts with: TTL cache, last good copy when the registry is down."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from prompts import (
    PromptClient,
    PromptNotFoundError,
    PromptStore,
    RegistryUnavailableError,
    load_prompt,
)
from spyglass._db import create_store_engine, upgrade_store
from spyglass._settings import Settings
from tests.conftest import Server, running_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyRegistry:
    """A registry server double that can go down, counting the requests it answered."""

    def __init__(self, store: PromptStore) -> None:
        self.store = store
        self.down = False
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.calls += 1
        ref = request.url.path.removeprefix("/api/prompts/")
        try:
            return httpx.Response(200, json=self.store.get(ref).to_dict())
        except PromptNotFoundError as exc:
            return httpx.Response(404, json={"error": {"message": exc.message}})


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade_store(engine)
    return engine


def test_versions_are_cached_for_the_ttl(engine: Engine) -> None:
    store = PromptStore(engine)
    store.push("greet", "Hi {{name}}", labels=["production"])
    registry, clock = FlakyRegistry(store), Clock()
    client = PromptClient(
        "http://registry", ttl=30, transport=httpx.MockTransport(registry), clock=clock
    )
    assert client.get("greet@production").render(name="Ann") == "Hi Ann"
    store.push("greet", "Hello {{name}}", labels=["production"])
    clock.now += 29
    assert client.get("greet@production").version == 1  # cached
    assert registry.calls == 1
    clock.now += 2
    assert client.get("greet@production").version == 2  # the label moved; the TTL is over
    assert registry.calls == 2


def test_the_last_good_copy_is_served_while_the_registry_is_down(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    store = PromptStore(engine)
    store.push("greet", "Hi {{name}}", labels=["production"])
    registry, clock = FlakyRegistry(store), Clock()
    client = PromptClient(
        "http://registry", ttl=5, transport=httpx.MockTransport(registry), clock=clock
    )
    client.get("greet@production")
    registry.down = True
    clock.now += 3600
    with caplog.at_level(logging.WARNING, "spyglass.prompts"):
        assert client.get("greet@production").version == 1
    assert "unreachable (ConnectError); serving the copy of greet@production" in caplog.text
    with pytest.raises(RegistryUnavailableError, match="no cached copy of 'greet@staging'"):
        client.get("greet@staging")
    registry.down = False
    with pytest.raises(PromptNotFoundError):  # a definite answer is never covered up
        client.get("greet@staging")


def test_a_disk_cache_survives_a_restart_during_an_outage(engine: Engine, tmp_path: Path) -> None:
    store = PromptStore(engine)
    store.push("greet", [{"role": "user", "content": "Hi {{name}}"}], labels=["production"])
    registry = FlakyRegistry(store)
    cache = tmp_path / "cache"
    before = PromptClient("http://r", transport=httpx.MockTransport(registry), cache_dir=cache)
    before.get("greet@production")
    registry.down = True
    after = PromptClient("http://r", transport=httpx.MockTransport(registry), cache_dir=cache)
    version = after.get("greet@production")
    assert version.render(name="Bo") == [{"role": "user", "content": "Hi Bo"}]
    elsewhere = PromptClient("http://r", transport=httpx.MockTransport(registry))
    with pytest.raises(RegistryUnavailableError):
        elsewhere.get("greet@production")


async def test_async_get_against_the_real_api(settings_from: Callable[..., Settings]) -> None:
    async with running_app(settings_from({})) as api:
        await api.post("/api/prompts/greet/versions", json={"template": "Hi {{name}}"})
        app_transport = api._transport  # the same in-process app
        client = PromptClient("http://spyglass.test", async_transport=app_transport)
        version = await client.aget("greet")
        assert (version.name, version.version, version.variables) == ("greet", 1, ("name",))
        with pytest.raises(PromptNotFoundError, match="no prompt named 'nope'"):
            await client.aget("nope")


def test_load_prompt_reads_the_local_store_by_default(tmp_path: Path) -> None:
    # SPYGLASS_HOME points into tmp_path (tests/conftest.py): the default store lives there.
    home = Path(tmp_path / "home")
    engine = create_store_engine(f"sqlite:///{home / 'spyglass.db'}")
    upgrade_store(engine)
    PromptStore(engine).push("local-greet", "Hi {{name}}", labels=["production"])
    assert load_prompt("local-greet@production").render(name="Cy") == "Hi Cy"


def test_load_prompt_against_a_served_registry_then_down(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    server = serve({})
    pushed = httpx.post(
        f"{server.url}/api/prompts/served/greet/versions",
        json={"template": "Hi {{name}}", "labels": ["production"]},
    )
    assert pushed.status_code == 201
    client = PromptClient(server.url, ttl=0, cache_dir=tmp_path / "cache")
    assert load_prompt("served/greet@production", client=client).render(name="Di") == "Hi Di"
    server.stop()
    assert client.get("served/greet@production").render(name="Ed") == "Hi Ed"

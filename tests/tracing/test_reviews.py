"""Review queues through the API, on SQLite and the real PostgreSQL: made from trace ids or a
trace-list filter, handed to several reviewers at once without double work, progress per
reviewer, an item left by one reviewer going to another when its lease runs out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import httpx
import pytest

from spyglass import Settings
from tests.conftest import running_app
from tracing import ReviewStore

MASTER = "sk-master-reviews"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MODEL = {"model_name": "m", "litellm_params": {"model": "mock/m", "mock_response": "Paris."}}


class App(NamedTuple):
    client: httpx.AsyncClient
    traces: list[str]
    reviewers: list[dict[str, str]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def app(
    request: pytest.FixtureRequest, settings_from: Callable[..., Settings]
) -> AsyncIterator[App]:
    config: dict[str, Any] = {"master_key": MASTER, "model_list": [MODEL]}
    if request.param == "postgres":
        config["database_url"] = request.getfixturevalue("pg_database")
    async with running_app(settings_from(config)) as client:
        traces = []
        for n in range(6):
            answer = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": f"q{n}"}]},
                headers=ADMIN,
            )
            traces.append(answer.headers["x-spyglass-trace-id"])
        assert client._transport.app.state.tracing.pipeline.flush()  # type: ignore[attr-defined]
        reviewers = []
        for name in ("ann", "bob"):
            made = await client.post("/api/keys", json={"name": name}, headers=ADMIN)
            reviewers.append({"authorization": f"Bearer {made.json()['key']}"})
        yield App(client, traces, reviewers)


async def test_reviewers_work_through_a_queue_without_double_work(app: App) -> None:
    client, traces, (ann, bob) = app
    made = await client.post(
        "/api/reviews",
        json={"name": "spot check", "trace_ids": traces[:4], "score_names": ["helpful"]},
        headers=ann,
    )
    assert made.status_code == 201, made.text
    queue = made.json()
    assert queue["progress"] == {
        "pending": 4,
        "done": 0,
        "skipped": 0,
        "total": 4,
        "by_reviewer": {},
    }
    path = f"/api/reviews/{queue['id']}"
    first = (await client.post(f"{path}/next", headers=ann)).json()
    again = (await client.post(f"{path}/next", headers=ann)).json()
    assert first["position"] == again["position"] == 0  # still ann's until she finishes it
    other = (await client.post(f"{path}/next", headers=bob)).json()
    assert other["position"] == 1  # bob gets the next free one, not ann's
    # Bob cannot finish ann's item while she holds it.
    taken = await client.post(f"{path}/items/0", json={"status": "done"}, headers=bob)
    assert taken.status_code == 400 and "being reviewed" in taken.json()["error"]["message"]
    done = await client.post(f"{path}/items/0", json={"status": "done"}, headers=ann)
    assert done.json()["progress"]["done"] == 1
    await client.post(f"{path}/items/1", json={"status": "skipped"}, headers=bob)
    seen = {first["position"], other["position"]}
    while True:
        answer = await client.post(f"{path}/next", headers=ann)
        if answer.status_code == 204:
            break
        item = answer.json()
        assert item["position"] not in seen
        seen.add(item["position"])
        await client.post(f"{path}/items/{item['position']}", json={}, headers=ann)
    final = (await client.get(path, headers=ann)).json()["progress"]
    assert (final["done"], final["skipped"], final["pending"]) == (3, 1, 0)
    assert sorted(final["by_reviewer"].values()) == [1, 3]
    history = (await client.get(f"{path}/history", headers=ann)).json()["data"]
    assert [h["position"] for h in history] == [3, 2, 0]
    listed = (await client.get("/api/reviews", headers=ADMIN)).json()["data"]
    assert [(q["name"], q["progress"]["total"]) for q in listed] == [("spot check", 4)]


async def test_a_queue_from_a_filter_and_bad_requests(app: App) -> None:
    client, _, (ann, _) = app
    made = await client.post(
        "/api/reviews",
        json={"name": "errors", "filter": {"model": "m"}, "limit": 3},
        headers=ann,
    )
    assert made.status_code == 201, made.text
    assert made.json()["progress"]["total"] == 3
    assert made.json()["source"] == {"filter": {"model": "m"}}
    cases = [
        ({"name": "x", "trace_ids": ["f" * 32]}, 404, "trace_ids[0]"),
        ({"name": "x"}, 400, "trace_ids"),
        ({"name": "x", "filter": {"nope": 1}}, 400, "filter.nope"),
        ({"name": "x", "filter": {"score": "a>=b"}}, 400, "filter.score"),
    ]
    for body, status, param in cases:
        answer = await client.post("/api/reviews", json=body, headers=ann)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["param"] == param
    missing = await client.post("/api/reviews/nope/next", headers=ann)
    assert missing.status_code == 404


async def test_an_item_left_behind_goes_to_the_next_reviewer(app: App) -> None:
    client, traces, _ = app
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    clock = [1_000]
    store = ReviewStore(engine, clock=lambda: clock[0])
    queue = await asyncio.to_thread(store.create, "q", [(traces[0], None)])
    first = await asyncio.to_thread(store.next, queue["id"], "ann")
    assert first is not None and await asyncio.to_thread(store.next, queue["id"], "bob") is None
    clock[0] += 11 * 60 * 10**9  # ann closed the tab: her lease runs out
    second = await asyncio.to_thread(store.next, queue["id"], "bob")
    assert second is not None and second["position"] == first["position"]

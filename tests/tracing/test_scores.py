"""Scores on traces, spans, sessions and eval rows, and score configs: through the real app
(gateway calls traced into the store, then scored over ``/api/scores``), on SQLite and on the
real PostgreSQL; the store's rules (types, ranges, corrections) directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import httpx
import openai
import pytest

from spyglass import Settings
from tests.conftest import running_app

MASTER = "sk-master-scores"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MODEL = {
    "model_name": "m",
    "litellm_params": {"model": "mock/m", "mock_response": "Paris.", "mock_prompt_tokens": 3},
}
CONFIGS = [
    {"name": "helpful", "data_type": "numeric", "min_value": 1, "max_value": 5},
    {"name": "thumbs", "data_type": "boolean", "description": "end-user feedback"},
    {"name": "tone", "data_type": "categorical", "categories": ["kind", "rude"]},
]


class App(NamedTuple):
    client: httpx.AsyncClient
    traces: list[str]  # trace ids, oldest first


async def chat(client: httpx.AsyncClient, text: str, **headers: str) -> str:
    answer = await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        headers={**ADMIN, **headers},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-spyglass-trace-id"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def app(
    request: pytest.FixtureRequest, settings_from: Callable[..., Settings]
) -> AsyncIterator[App]:
    config: dict[str, Any] = {
        "master_key": MASTER,
        "model_list": [MODEL],
        "tracing": {"score_target_wait_seconds": 0.5},
    }
    if request.param == "postgres":
        config["database_url"] = request.getfixturevalue("pg_database")
    async with running_app(settings_from(config)) as client:
        for body in CONFIGS:
            made = await client.post("/api/score-configs", json=body, headers=ADMIN)
            assert made.status_code == 201, made.text
        traces = [
            await chat(client, f"question {n}", **{"x-spyglass-session-id": f"s{n % 2}"})
            for n in range(4)
        ]
        assert state(client).tracing.pipeline.flush()
        yield App(client, traces)


def state(client: httpx.AsyncClient) -> Any:
    return client._transport.app.state  # type: ignore[attr-defined]


async def post(client: httpx.AsyncClient, body: Any, headers: dict[str, str] = ADMIN) -> Any:
    return await client.post("/api/scores", json=body, headers=headers)


async def listed(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/scores", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def traces_where(client: httpx.AsyncClient, *scores: str) -> list[str]:
    answer = await client.get("/api/traces", params=[("score", s) for s in scores], headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return [t["trace_id"] for t in answer.json()["data"]]


async def test_a_score_just_after_the_call_waits_for_its_trace(app: App) -> None:
    """The gateway writes spans in batches, off the request path: feedback sent the moment
    the answer arrives finds its trace once it is written, instead of a 404."""
    trace_id = await chat(app.client, "fresh")
    answer = await post(app.client, {"trace_id": trace_id, "name": "thumbs", "value": True})
    assert answer.status_code == 201, answer.text
    score = answer.json()
    assert (score["target"], score["value"], score["data_type"]) == ("trace", True, "boolean")
    assert (score["source"], score["author"]) == ("api", "master")


async def test_scores_are_checked_against_their_configs(app: App) -> None:
    trace = app.traces[0]
    cases = [
        ({"name": "nope", "value": 1}, 400, "name", "no score config 'nope'"),
        ({"name": "helpful", "value": 9}, 400, "value", "out of range: 9 not in 1.0 to 5.0"),
        ({"name": "helpful", "value": "great"}, 400, "value", "numeric"),
        ({"name": "thumbs", "value": 3}, 400, "value", "boolean"),
        ({"name": "tone", "value": "meh"}, 400, "value", "expected one of kind, rude"),
        ({"name": "helpful"}, 400, "value", "expected a value"),
        ({"name": "helpful", "value": 2, "trace_id": "xyz"}, 400, "trace_id", "hexadecimal"),
        ({"name": "helpful", "value": 2, "trace_id": "f" * 32}, 404, "trace_id", "no trace"),
        (
            {"name": "helpful", "value": 2, "span_id": "1" * 16, "trace_id": trace},
            404,
            "span_id",
            "no span",
        ),
        ({"name": "helpful", "value": 2, "session_id": "nobody"}, 404, "session_id", "session"),
        ({"name": "helpful", "value": 2, "run_id": "r", "row_index": 0}, 404, "run_id", "row 0"),
        ({"name": "helpful", "value": 2}, 400, "trace_id", "exactly one target"),
    ]
    for body, status, field, words in cases:
        if "span_id" not in body and "session_id" not in body and "run_id" not in body:
            body = (
                {"trace_id": trace, **body}
                if "trace_id" not in body and field != "trace_id"
                else body
            )
        answer = await post(app.client, body)
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()["error"]
        assert error["param"] == field, (body, error)
        assert words in error["message"], (body, error)
    # A batch is written all or none, and its errors name the item.
    answer = await post(
        app.client,
        {
            "scores": [
                {"trace_id": trace, "name": "helpful", "value": 4},
                {"trace_id": trace, "name": "helpful", "value": 0},
            ]
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "scores[1].value"
    assert await listed(app.client, trace_id=trace) == []


async def test_scores_on_every_target_and_the_trace_list_filters_on_them(app: App) -> None:
    client, (t0, t1, t2, t3) = app
    detail = (await client.get(f"/api/traces/{t0}", headers=ADMIN)).json()
    span = detail["spans"][0]["span_id"]
    made = await post(
        client,
        {
            "scores": [
                {"trace_id": t0, "name": "helpful", "value": 5, "comment": "spot on"},
                {"trace_id": t0, "span_id": span, "name": "tone", "value": "kind"},
                {"trace_id": t1, "name": "helpful", "value": 2},
                {"trace_id": t2, "name": "thumbs", "value": False, "user_id": "u-42"},
                {"session_id": "s1", "name": "thumbs", "value": True},
            ]
        },
    )
    assert made.status_code == 201, made.text
    targets = [s["target"] for s in made.json()["data"]]
    assert targets == ["trace", "span", "trace", "trace", "session"]
    newest = [t3, t2, t1, t0]
    assert await traces_where(client) == newest
    assert await traces_where(client, "helpful") == [t1, t0]
    assert await traces_where(client, "!helpful") == [t3, t2]
    assert await traces_where(client, "helpful>=4") == [t0]
    assert await traces_where(client, "helpful<4") == [t1]
    assert await traces_where(client, "helpful!=5") == [t1]
    assert await traces_where(client, "tone=kind") == [t0]  # a span's score counts
    assert await traces_where(client, "thumbs=false") == [t2]
    assert await traces_where(client, "thumbs=true") == []  # the session's is not a trace's
    assert await traces_where(client, "helpful", "tone") == [t0]
    bad = await client.get("/api/traces", params={"score": "helpful>=x"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "score"
    # The list and the detail show them.
    page = (await client.get("/api/traces", headers=ADMIN)).json()["data"]
    brief = {t["trace_id"]: [(s["name"], s["value"]) for s in t["scores"]] for t in page}
    assert brief[t0] == [("helpful", 5.0)]  # a trace's own; its spans' are in its detail
    assert brief[t3] == []
    detail = (await client.get(f"/api/traces/{t0}", headers=ADMIN)).json()
    assert [(s["name"], s["comment"]) for s in detail["trace"]["scores"]] == [
        ("helpful", "spot on")
    ]
    on_spans = {s["span_id"]: [x["value"] for x in s["scores"]] for s in detail["spans"]}
    assert on_spans[span] == ["kind"]
    assert sum(len(v) for v in on_spans.values()) == 1
    # Listing filters.
    assert [s["name"] for s in await listed(client, trace_id=t0)] == ["tone", "helpful"]
    assert [s["name"] for s in await listed(client, trace_id=t0, target="trace")] == ["helpful"]
    assert [s["trace_id"] for s in await listed(client, name="helpful", min_value=3)] == [t0]
    assert [s["session_id"] for s in await listed(client, session_id="s1")] == ["s1"]
    assert [s["user_id"] for s in await listed(client, name="thumbs", trace_id=t2)] == ["u-42"]


async def test_a_correction_supersedes_and_history_is_kept(app: App) -> None:
    client, traces = app
    trace = traces[0]
    first = (
        await post(client, {"trace_id": trace, "name": "helpful", "value": 2, "source": "human"})
    ).json()
    # The same person scoring the same trace again corrects their score.
    second = (
        await post(client, {"trace_id": trace, "name": "helpful", "value": 4, "source": "human"})
    ).json()
    assert second["supersedes"] == first["id"]
    # An app's scores accumulate (many users send thumbs through one key)...
    for value in (True, False):
        await post(client, {"trace_id": trace, "name": "thumbs", "value": value})
    current = await listed(client, trace_id=trace)
    assert sorted((s["name"], s["value"]) for s in current) == [
        ("helpful", 4.0),
        ("thumbs", False),
        ("thumbs", True),
    ]
    # ...unless one names the score it corrects.
    thumbs = next(s for s in current if s["name"] == "thumbs")
    fixed = await post(
        client, {"trace_id": trace, "name": "thumbs", "value": True, "supersedes": thumbs["id"]}
    )
    assert fixed.status_code == 201
    again = await post(
        client, {"trace_id": trace, "name": "thumbs", "value": True, "supersedes": thumbs["id"]}
    )
    assert again.status_code == 400
    assert "already corrected" in again.json()["error"]["message"]
    history = await listed(client, trace_id=trace, name="helpful", history="true")
    assert [(s["value"], s["superseded_by"]) for s in history] == [(4.0, None), (2.0, second["id"])]
    assert await traces_where(client, "helpful<3") == []
    # Deleting the correction makes the corrected score current again.
    gone = await client.delete(f"/api/scores/{second['id']}", headers=ADMIN)
    assert gone.status_code == 204
    assert [s["value"] for s in await listed(client, trace_id=trace, name="helpful")] == [2.0]
    assert await traces_where(client, "helpful<3") == [trace]
    missing = await client.get(f"/api/scores/{second['id']}", headers=ADMIN)
    assert missing.status_code == 404


async def test_configs_are_listed_updated_and_archived(app: App) -> None:
    client, traces = app
    names = [
        c["name"] for c in (await client.get("/api/score-configs", headers=ADMIN)).json()["data"]
    ]
    assert names == ["helpful", "thumbs", "tone"]
    widened = await client.post(
        "/api/score-configs",
        json={"name": "helpful", "data_type": "numeric", "min_value": 0, "max_value": 10},
        headers=ADMIN,
    )
    assert widened.status_code == 200
    assert (
        await post(client, {"trace_id": traces[0], "name": "helpful", "value": 9})
    ).status_code == 201
    retyped = await client.post(
        "/api/score-configs", json={"name": "helpful", "data_type": "boolean"}, headers=ADMIN
    )
    assert retyped.status_code == 400
    assert retyped.json()["error"]["param"] == "data_type"
    broken = await client.post(
        "/api/score-configs", json={"name": "mood", "data_type": "categorical"}, headers=ADMIN
    )
    assert broken.json()["error"]["param"] == "categories"
    assert (await client.delete("/api/score-configs/tone", headers=ADMIN)).status_code == 204
    refused = await post(client, {"trace_id": traces[0], "name": "tone", "value": "kind"})
    assert "archived" in refused.json()["error"]["message"]


async def test_a_feedback_key_writes_scores_and_reads_nothing(app: App) -> None:
    """The key an app ships in its browser or mobile client: scores in, nothing out."""
    client, traces = app
    made = await client.post("/api/keys", json={"name": "web", "role": "feedback"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    feedback = made.json()["key"]
    sent = await post(
        client,
        {"trace_id": traces[0], "name": "thumbs", "value": False, "comment": "wrong city"},
        headers={"authorization": f"Bearer {feedback}"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["author"] == made.json()["id"]
    bearer = {"authorization": f"Bearer {feedback}"}
    for method, path in [
        ("GET", "/api/scores"),
        ("GET", f"/api/traces/{traces[0]}"),
        ("GET", "/api/score-configs"),
        ("DELETE", f"/api/scores/{sent.json()['id']}"),
        ("GET", "/metrics"),
    ]:
        answer = await client.request(method, path, headers=bearer)
        assert answer.status_code == 403, (method, path, answer.text)
    # Nor may it pretend to be a scorer.
    forged = await post(
        client, {"trace_id": traces[0], "name": "x", "value": 1, "source": "online"}, bearer
    )
    assert forged.status_code == 403
    # The OpenAI SDK with that key is refused a model call.
    sdk = openai.AsyncOpenAI(
        api_key=feedback, base_url="http://spyglass.test/v1", http_client=client, max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError):
        await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError):
        await sdk.models.list()


async def test_only_the_author_or_an_admin_deletes_a_score(app: App) -> None:
    client, traces = app
    keys = []
    for name in ("ann", "bob"):
        made = await client.post("/api/keys", json={"name": name}, headers=ADMIN)
        keys.append({"authorization": f"Bearer {made.json()['key']}"})
    ann, bob = keys
    score = (await post(client, {"trace_id": traces[0], "name": "helpful", "value": 3}, ann)).json()
    assert (await client.delete(f"/api/scores/{score['id']}", headers=bob)).status_code == 403
    assert (await client.delete(f"/api/scores/{score['id']}", headers=ann)).status_code == 204


async def test_an_eval_row_is_scored(app: App, settings_from: Callable[..., Settings]) -> None:
    from sqlalchemy import text

    client, _ = app
    engine = state(client).engine
    await asyncio.to_thread(_insert_eval_row, engine, text)
    answer = await post(
        client, {"run_id": "r1", "row_index": 0, "name": "helpful", "value": 1, "source": "human"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["target"] == "eval_row"
    assert [s["row_index"] for s in await listed(client, run_id="r1")] == [0]


def _insert_eval_row(engine: Any, text: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO eval_experiments (id, name, created_at) VALUES (1, 'qa', :now)"),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO eval_runs (id, experiment_id, invocation, variant, status, total,"
                " dataset_hash, params, spec, tags, created_at) VALUES"
                " ('r1', 1, 'i', 'v', 'finished', 1, 'h', '{}', '{}', '[]', :now)"
            ),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO eval_results (run_id, row_index, repeat, inputs, scores, cached,"
                " created_at) VALUES ('r1', 0, 0, '{}', '{}', false, :now)"
            ),
            {"now": "2026-01-01T00:00:00+00:00"},
        )


async def test_a_project_key_scores_and_reads_only_its_project(app: App) -> None:
    client, _ = app
    keys = {}
    for project in ("A", "B"):
        made = await client.post("/api/keys", json={"project": project}, headers=ADMIN)
        keys[project] = {"authorization": f"Bearer {made.json()['key']}"}
    for project in ("A", "B"):  # configs of no project are every project's
        own = await client.get("/api/score-configs", headers=keys[project])
        assert [c["name"] for c in own.json()["data"]] == ["helpful", "thumbs", "tone"]
    answer = await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "in A"}]},
        headers=keys["A"],
    )
    trace_a = answer.headers["x-spyglass-trace-id"]
    assert state(client).tracing.pipeline.flush()
    body = {"trace_id": trace_a, "name": "helpful", "value": 3}
    assert (await post(client, body, keys["B"])).status_code == 404
    made = await post(client, body, keys["A"])
    assert made.status_code == 201
    assert made.json()["project"] == "A"
    seen_by_b = await client.get("/api/scores", headers=keys["B"])
    assert seen_by_b.json()["data"] == []
    assert (
        await client.get(f"/api/scores/{made.json()['id']}", headers=keys["B"])
    ).status_code == 404
    # A project's own config of a name replaces the shared one, for that project only.
    await client.post(
        "/api/score-configs",
        json={"name": "helpful", "data_type": "numeric", "min_value": 0, "max_value": 100},
        headers=keys["A"],
    )
    assert (await post(client, {**body, "value": 50}, keys["A"])).status_code == 201
    assert (await post(client, {**body, "trace_id": trace_a, "value": 50})).status_code == 201
    other = await chat(client, "shared")
    assert state(client).tracing.pipeline.flush()
    refused = await post(client, {"trace_id": other, "name": "helpful", "value": 50})
    assert refused.status_code == 400


async def test_a_web_page_of_an_allowed_origin_sends_feedback(
    settings_from: Callable[..., Settings],
) -> None:
    """CORS for ``POST /api/scores`` only, for the origins ``auth.feedback_origins`` names."""
    config = {
        "master_key": MASTER,
        "model_list": [MODEL],
        "auth": {"feedback_origins": ["https://shop.example"]},
    }
    async with running_app(settings_from(config)) as client:
        await client.post("/api/score-configs", json=CONFIGS[1], headers=ADMIN)
        key = (await client.post("/api/keys", json={"role": "feedback"}, headers=ADMIN)).json()
        trace_id = await chat(client, "hi")
        assert state(client).tracing.pipeline.flush()
        preflight = await client.options(
            "/api/scores",
            headers={
                "origin": "https://shop.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        sent = await client.post(
            "/api/scores",
            json={"trace_id": trace_id, "name": "thumbs", "value": True},
            headers={"origin": "https://shop.example", "authorization": f"Bearer {key['key']}"},
        )
        assert sent.status_code == 201
        assert sent.headers["access-control-allow-origin"] == "https://shop.example"
        # Another origin gets no CORS headers (the browser keeps the answer from its page),
        # and a preflight from it is refused like any keyless call.
        other = await client.options("/api/scores", headers={"origin": "https://evil.example"})
        assert other.status_code == 401
        assert "access-control-allow-origin" not in other.headers
        # Nothing else of the API is opened to the page.
        traces = await client.options("/api/traces", headers={"origin": "https://shop.example"})
        assert "access-control-allow-origin" not in traces.headers


def test_feedback_origins_are_checked(settings_from: Callable[..., Settings]) -> None:
    from gateway import ConfigError

    with pytest.raises(ConfigError, match="feedback_origins"):
        settings_from({"auth": {"feedback_origins": ["https://shop.example/path"]}})


async def test_the_trend_of_each_score_over_time_by_model(app: App) -> None:
    client, traces = app
    for trace, value in zip(traces, (1, 3, 5, 4), strict=True):
        await post(client, {"trace_id": trace, "name": "helpful", "value": value})
    await post(client, {"trace_id": traces[0], "name": "thumbs", "value": True})
    answer = await client.get(
        "/api/scores/trend", params={"group_by": "model", "bucket": 86400 * 2}, headers=ADMIN
    )
    assert answer.status_code == 200, answer.text
    rows = answer.json()["data"]
    assert [(r["name"], r["group"], r["mean"], r["count"]) for r in rows] == [
        ("helpful", "m", 3.25, 4),
        ("thumbs", "m", 1.0, 1),
    ]
    only = await client.get("/api/scores/trend", params={"name": "thumbs"}, headers=ADMIN)
    assert [r["name"] for r in only.json()["data"]] == ["thumbs"]
    bad = await client.get("/api/scores/trend", params={"bucket": 1, "start": "0"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "bucket"


async def test_metadata_past_64_bits_is_kept_and_shown(app: App) -> None:
    client, traces = app
    big = 2**70
    made = await post(
        client, {"trace_id": traces[0], "name": "helpful", "value": 3, "metadata": {"n": big}}
    )
    assert made.status_code == 201
    detail = await client.get(f"/api/traces/{traces[0]}", headers=ADMIN)
    assert detail.status_code == 200
    assert detail.json()["trace"]["scores"][0]["metadata"]["n"] == big


async def test_the_trace_list_sorts_by_a_score(app: App) -> None:
    client, traces = app
    for trace, value in zip(traces, (2, 5, 3, 4), strict=True):
        await post(client, {"trace_id": trace, "name": "helpful", "value": value})

    async def page(**params: Any) -> Any:
        answer = await client.get("/api/traces", params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = await page(sort="score:helpful", limit=3)
    assert [t["trace_id"] for t in first["data"]] == [traces[1], traces[3], traces[2]]
    rest = await page(sort="score:helpful", limit=3, cursor=first["next_cursor"])
    assert [t["trace_id"] for t in rest["data"]] == [traces[0]] and rest["next_cursor"] is None
    assert (await page(sort="score:nothing"))["data"] == []
    bad = await client.get("/api/traces", params={"sort": "size"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "sort"

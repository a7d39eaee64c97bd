"""The trace JSON API (``/api``), fed through the real path.

Chat requests go through the gateway to ``mock/...`` deployments; their spans are queued by the
app's pipeline, flushed, and stored; the API then reads them back. SQLite throughout, and one
smoke test on the real PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import httpx
import pytest
from starlette.datastructures import State

from spyglass import Settings, create_app
from spyglass._db import create_store_engine, downgrade_store
from tests.tracing.helpers import REPLY, SERVED_CONFIG

ANSWER = [
    {"role": "assistant", "parts": [{"type": "text", "content": REPLY}], "finish_reason": "stop"}
]


CONFIG = SERVED_CONFIG


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, State]]:
    """conftest's ``running_app``, with the app's state at hand (to flush its spans)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://spyglass.test"
        ) as client:
            yield client, app.state


async def chat(
    client: httpx.AsyncClient,
    model: str,
    content: str,
    *,
    session: str | None = None,
    user: str | None = None,
    stream: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if user:
        body["user"] = user
    if stream:
        body["stream"] = True
    sent = dict(headers or {})
    if session:
        sent["x-spyglass-session-id"] = session
    return await client.post("/v1/chat/completions", json=body, headers=sent)


class Traffic(NamedTuple):
    client: httpx.AsyncClient
    state: State
    ids: dict[str, str]  # request name -> trace id


async def send_traffic(client: httpx.AsyncClient, state: State) -> dict[str, str]:
    """Five requests, one after the other; their trace ids by name."""
    sent = [
        await chat(
            client, "gpt-small", "What is the capital of France?", session="sess-a", user="alice"
        ),
        await chat(client, "gpt-small", "And what about Spain?", session="sess-a", user="alice"),
        await chat(client, "claude-ish", "Tell me about Rome.", session="sess-b", user="bob"),
        await chat(client, "broken", "Is anyone there?", session="sess-b", user="bob"),
        await chat(client, "gpt-small", "Stream me a story.", stream=True),
    ]
    assert [r.status_code for r in sent] == [200, 200, 200, 502, 200]
    assert state.tracing.pipeline.flush()
    listed = (await client.get("/api/traces")).json()["data"]
    names = ["france", "spain", "rome", "broken", "stream"]
    assert len(listed) == len(names)
    return dict(zip(names, (t["trace_id"] for t in reversed(listed)), strict=True))


@pytest.fixture
async def traffic(settings_from: Callable[..., Settings]) -> AsyncIterator[Traffic]:
    async with serving(settings_from(CONFIG)) as (client, state):
        yield Traffic(client, state, await send_traffic(client, state))


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def trace_ids(client: httpx.AsyncClient, params: list[tuple[str, str]]) -> list[str]:
    response = await client.get("/api/traces", params=params)
    assert response.status_code == 200, (params, response.text)
    return [t["trace_id"] for t in response.json()["data"]]


async def test_the_trace_list_filters_through_http(traffic: Traffic) -> None:
    client, _, ids = traffic
    france, spain, rome, broken, stream = (ids[n] for n in ids)
    everything = [stream, broken, rome, spain, france]
    traces = {t["trace_id"]: t for t in (await get_json(client, "/api/traces"))["data"]}
    start = {name: traces[trace_id]["start_ns"] for name, trace_id in ids.items()}
    cases: list[tuple[list[tuple[str, str]], list[str]]] = [
        ([], everything),
        ([("status", "error")], [broken]),
        ([("status", "ok")], [stream, rome, spain, france]),
        ([("model", "gpt-small")], [stream, spain, france]),
        ([("provider", "spyglass.mock")], everything),
        ([("name", "chat claude-ish")], [rome]),
        ([("session", "sess-a")], [spain, france]),
        ([("user", "bob")], [broken, rome]),
        ([("service", "spyglass")], everything),
        ([("service", "other")], []),
        ([("min_cost", "5")], [stream, spain, france]),
        ([("min_cost", "3.5")], [stream, rome, spain, france]),
        ([("min_duration_ms", "0")], everything),
        ([("min_duration_ms", "60000")], []),
        ([("q", "SPAIN")], [spain]),
        ([("q", "rome")], [rome]),
        # The reply is stored too: every gpt-small trace has it, the stream's included.
        ([("q", "capital of france")], [stream, spain, france]),
        ([("attr", "user.id=alice")], [spain, france]),
        ([("attr", "gen_ai.request.stream=true")], [stream]),
        ([("attr", "spyglass.attempts=1")], [stream, rome, spain, france]),
        ([("attr", "spyglass.attempt=2")], [broken]),
        ([("attr", "gen_ai.usage.output_tokens=2")], [rome]),
        ([("attr", "error.type=500")], [broken]),
        ([("attr", "user.id=alice"), ("attr", "gen_ai.request.model=gpt-small")], [spain, france]),
        ([("model", "gpt-small"), ("session", "sess-a")], [spain, france]),
        ([("tag", "prod")], []),
        ([("prompt", "greeter")], []),
        ([("key", "key-1")], []),
        ([("start", traces[rome]["start_time"])], [stream, broken, rome]),
        # Without an offset a time is UTC (not the server's local time).
        ([("start", traces[rome]["start_time"].rstrip("Z"))], [stream, broken, rome]),
        ([("end", str(start["rome"]))], [spain, france]),
        ([("start", str(start["spain"])), ("end", str(start["broken"]))], [rome, spain]),
        ([("start", str(start["france"] // 10**9))], everything),
        ([("start", str(start["france"] // 10**6))], everything),
        ([("end", str(start["france"] // 10**6))], []),
    ]
    found = {repr(params): await trace_ids(client, params) for params, _ in cases}
    assert found == {repr(params): expected for params, expected in cases}


async def test_the_trace_list_sorts_and_pages_with_its_cursor(traffic: Traffic) -> None:
    client = traffic.client
    for sort in ("start", "duration", "cost"):
        whole = (await get_json(client, "/api/traces", sort=sort))["data"]
        pages: list[list[str]] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            body = await get_json(client, "/api/traces", **params)
            pages.append([t["trace_id"] for t in body["data"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [2, 2, 1], sort
        assert [i for page in pages for i in page] == [t["trace_id"] for t in whole], sort
    by_cost = (await get_json(client, "/api/traces", sort="cost"))["data"]
    assert [t["cost"] for t in by_cost] == [5.5, 5.5, 5.5, 3.5, 0.0]
    by_duration = (await get_json(client, "/api/traces", sort="duration"))["data"]
    durations = [t["duration_ms"] for t in by_duration]
    assert durations == sorted(durations, reverse=True)


async def test_a_trace_and_its_spans(traffic: Traffic) -> None:
    client, _, ids = traffic
    body = await get_json(client, f"/api/traces/{ids['france']}")
    assert body["next_cursor"] is None
    server, attempt = body["spans"]
    trace = body["trace"]
    assert {k: trace[k] for k in trace if k not in ("start_ns", "end_ns", "duration_ms")} == {
        "trace_id": ids["france"],
        "name": "chat gpt-small",
        "root_span_id": server["span_id"],
        "service_name": "spyglass",
        "status": "ok",
        "error": None,
        "span_count": 2,
        "llm_count": 1,
        "unpriced_count": 0,
        "input_tokens": 12,
        "output_tokens": 5,
        "cost": 5.5,
        "model": "gpt-small",
        "provider": "spyglass.mock",
        "session_id": "sess-a",
        "user_id": "alice",
        "key_id": None,
        "prompt": None,
        "project": None,
        "ttft_ms": None,
        "tags": [],
        "scores": [],
        "start_time": trace["start_time"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", trace["start_time"])
    assert trace["start_ns"] == server["start_ns"] and trace["end_ns"] == server["end_ns"]

    # The gateway's server span, as stored.
    assert (server["parent_span_id"], server["span_kind"], server["kind"]) == (
        None,
        "server",
        "llm",
    )
    assert (server["is_attempt"], server["status"], server["scope_name"]) == (
        False,
        "unset",
        "spyglass.gateway",
    )
    attributes = server["attributes"]
    assert {
        key: attributes[key]
        for key in (
            "gen_ai.operation.name",
            "gen_ai.request.model",
            "gen_ai.provider.name",
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "spyglass.cost.usd",
            "spyglass.attempts",
            "gen_ai.conversation.id",
            "user.id",
        )
    } == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-small",
        "gen_ai.provider.name": "spyglass.mock",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "spyglass.cost.usd": 5.5,
        "spyglass.attempts": 1,
        "gen_ai.conversation.id": "sess-a",
        "user.id": "alice",
    }
    question = [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert isinstance(attributes["gen_ai.input.messages"], str)
    assert isinstance(attributes["gen_ai.output.messages"], str)
    assert json.loads(attributes["gen_ai.input.messages"]) == question
    assert json.loads(attributes["gen_ai.output.messages"]) == ANSWER
    assert server["content"] == {"input": question, "output": ANSWER}
    assert (server["input_tokens"], server["output_tokens"], server["cost"]) == (12, 5, 5.5)

    # Its upstream attempt: a child of the server span, usage not counted twice.
    assert (attempt["parent_span_id"], attempt["span_kind"], attempt["is_attempt"]) == (
        server["span_id"],
        "client",
        True,
    )
    assert attempt["attributes"]["spyglass.attempt"] == 1
    assert attempt["attributes"]["gen_ai.provider.name"] == "spyglass.mock"
    assert server["start_ns"] <= attempt["start_ns"] <= attempt["end_ns"] <= server["end_ns"]

    # Upper-case ids are the same trace; one span's children; pages of spans.
    assert (await get_json(client, f"/api/traces/{ids['france'].upper()}")) == body
    children = await get_json(client, f"/api/traces/{ids['france']}", parent=server["span_id"])
    assert [s["span_id"] for s in children["spans"]] == [attempt["span_id"]]
    leaf = await get_json(client, f"/api/traces/{ids['france']}", parent=attempt["span_id"])
    assert leaf["spans"] == []
    first = await get_json(client, f"/api/traces/{ids['france']}", limit=1)
    rest = await get_json(
        client, f"/api/traces/{ids['france']}", limit=1, cursor=first["next_cursor"]
    )
    assert [s["span_id"] for s in first["spans"] + rest["spans"]] == [
        server["span_id"],
        attempt["span_id"],
    ]
    assert rest["next_cursor"] is None


async def test_unknown_and_malformed_trace_ids(traffic: Traffic) -> None:
    client = traffic.client
    unknown = await client.get("/api/traces/" + "ab" * 16)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "message": "no trace " + "ab" * 16,
            "type": "not_found_error",
            "param": "trace_id",
            "code": None,
        }
    }
    for path in ("/api/traces/not-a-trace-id", "/api/traces/" + "ab" * 17):
        malformed = await client.get(path)
        assert malformed.status_code == 400
        assert malformed.json()["error"]["param"] == "trace_id"
    bad_parent = await client.get(f"/api/traces/{traffic.ids['france']}", params={"parent": "x"})
    assert (bad_parent.status_code, bad_parent.json()["error"]["param"]) == (400, "parent")


async def test_a_streamed_request_records_its_first_token_and_output(traffic: Traffic) -> None:
    body = await get_json(traffic.client, f"/api/traces/{traffic.ids['stream']}")
    server, attempt = body["spans"]
    assert server["attributes"]["gen_ai.request.stream"] is True
    assert server["ttft_ms"] is not None and 0 < server["ttft_ms"] <= server["duration_ms"]
    assert server["attributes"]["spyglass.time_to_first_token_ms"] == server["ttft_ms"]
    assert (server["input_tokens"], server["output_tokens"], server["cost"]) == (12, 5, 5.5)
    assert json.loads(server["attributes"]["gen_ai.output.messages"]) == ANSWER
    assert attempt["parent_span_id"] == server["span_id"] and attempt["is_attempt"] is True
    trace = body["trace"]
    assert (trace["ttft_ms"], trace["output_tokens"], trace["cost"]) == (server["ttft_ms"], 5, 5.5)


async def test_a_failed_request_is_an_error_trace(traffic: Traffic) -> None:
    body = await get_json(traffic.client, f"/api/traces/{traffic.ids['broken']}")
    trace = body["trace"]
    assert (trace["status"], trace["span_count"], trace["llm_count"]) == ("error", 3, 1)
    assert (trace["input_tokens"], trace["cost"]) == (0, 0.0)
    assert "upstream on fire" in trace["error"]
    server, *attempts = body["spans"]
    assert server["status"] == "error" and server["attributes"]["spyglass.attempts"] == 2
    assert [a["attributes"]["spyglass.attempt"] for a in attempts] == [1, 2]
    for attempt in attempts:
        assert (attempt["status"], attempt["is_attempt"]) == ("error", True)
        assert attempt["attributes"]["error.type"] == "500"
        assert "upstream on fire" in attempt["status_message"]
        assert attempt["parent_span_id"] == server["span_id"]


async def test_sessions(traffic: Traffic) -> None:
    client, _, ids = traffic
    traces = {t["trace_id"]: t for t in (await get_json(client, "/api/traces"))["data"]}
    body = await get_json(client, "/api/sessions")
    assert body["next_cursor"] is None
    assert body["data"] == [
        {
            "session_id": "sess-b",
            "trace_count": 2,
            "start_ns": traces[ids["rome"]]["start_ns"],
            "last_start_ns": traces[ids["broken"]]["start_ns"],
            "end_ns": traces[ids["broken"]]["end_ns"],
            "input_tokens": 20,
            "output_tokens": 2,
            "cost": 3.5,
            "llm_count": 2,
            "unpriced_count": 0,
            "error_count": 1,
            "user_id": "bob",
        },
        {
            "session_id": "sess-a",
            "trace_count": 2,
            "start_ns": traces[ids["france"]]["start_ns"],
            "last_start_ns": traces[ids["spain"]]["start_ns"],
            "end_ns": traces[ids["spain"]]["end_ns"],
            "input_tokens": 24,
            "output_tokens": 10,
            "cost": 11.0,
            "llm_count": 2,
            "unpriced_count": 0,
            "error_count": 0,
            "user_id": "alice",
        },
    ]
    alice = await get_json(client, "/api/sessions", user="alice")
    assert [s["session_id"] for s in alice["data"]] == ["sess-a"]
    first = await get_json(client, "/api/sessions", limit=1)
    rest = await get_json(client, "/api/sessions", limit=1, cursor=first["next_cursor"])
    assert [s["session_id"] for s in first["data"] + rest["data"]] == ["sess-b", "sess-a"]
    assert rest["next_cursor"] is None

    # One session's traces, oldest first: its turns in order.
    session = await get_json(client, "/api/sessions/sess-a")
    assert session["session_id"] == "sess-a"
    assert [t["trace_id"] for t in session["traces"]] == [ids["france"], ids["spain"]]
    missing = await client.get("/api/sessions/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "message": "no session nope",
        "type": "not_found_error",
        "param": "session_id",
        "code": None,
    }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), written out here."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


async def test_usage_statistics(traffic: Traffic) -> None:
    client, _, ids = traffic
    servers = {}
    for name, trace_id in ids.items():
        servers[name] = (await get_json(client, f"/api/traces/{trace_id}"))["spans"][0]
    start = min(s["start_ns"] for s in servers.values()) - 10**9
    end = max(s["end_ns"] for s in servers.values()) + 10**9
    window = {"start": str(start), "end": str(end), "bucket": 3600}

    body = await get_json(client, "/api/stats", group_by="model", **window)
    assert (body["start_ns"], body["end_ns"], body["bucket_seconds"]) == (start, end, 3600)
    gpt = [servers[n]["duration_ms"] for n in ("france", "spain", "stream")]
    assert body["data"] == [
        {
            "bucket_start_ns": start,
            "group": "broken",
            "requests": 1,
            "errors": 1,
            "error_rate": 1.0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": 0.0,
            "unpriced": 0,
            "latency_p50_ms": servers["broken"]["duration_ms"],
            "latency_p95_ms": servers["broken"]["duration_ms"],
            "ttft_p50_ms": None,
        },
        {
            "bucket_start_ns": start,
            "group": "claude-ish",
            "requests": 1,
            "errors": 0,
            "error_rate": 0.0,
            "input_tokens": 20,
            "output_tokens": 2,
            "cost": 3.5,
            "unpriced": 0,
            "latency_p50_ms": servers["rome"]["duration_ms"],
            "latency_p95_ms": servers["rome"]["duration_ms"],
            "ttft_p50_ms": None,
        },
        {
            "bucket_start_ns": start,
            "group": "gpt-small",
            "requests": 3,
            "errors": 0,
            "error_rate": 0.0,
            "input_tokens": 36,
            "output_tokens": 15,
            "cost": 16.5,
            "unpriced": 0,
            "latency_p50_ms": sorted(gpt)[1],
            "latency_p95_ms": pytest.approx(percentile(gpt, 95)),
            "ttft_p50_ms": servers["stream"]["ttft_ms"],
        },
    ]

    (everything,) = (await get_json(client, "/api/stats", **window))["data"]
    assert (everything["group"], everything["requests"], everything["errors"]) == (None, 5, 1)
    assert everything["error_rate"] == 0.2
    assert (everything["input_tokens"], everything["cost"]) == (56, 20.0)
    durations = [s["duration_ms"] for s in servers.values()]
    assert everything["latency_p50_ms"] == sorted(durations)[2]
    assert everything["latency_p95_ms"] == pytest.approx(percentile(durations, 95))

    by_provider = (await get_json(client, "/api/stats", group_by="provider", **window))["data"]
    requests = {row["group"]: row["requests"] for row in by_provider}
    assert requests["spyglass.mock"] >= 4 and sum(requests.values()) == 5
    by_key = (await get_json(client, "/api/stats", group_by="key", **window))["data"]
    assert [(row["group"], row["requests"]) for row in by_key] == [(None, 5)]

    # By default: the last 24 hours in 48 buckets.
    default = await get_json(client, "/api/stats")
    assert default["end_ns"] - default["start_ns"] == 86_400 * 10**9
    assert default["bucket_seconds"] == 1800
    assert sum(row["requests"] for row in default["data"]) == 5


async def test_a_request_joins_its_callers_trace(settings_from: Callable[..., Settings]) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with serving(settings_from(CONFIG)) as (client, state):
        sent = await chat(
            client, "gpt-small", "hi", headers={"traceparent": f"00-{trace_id}-{parent}-01"}
        )
        assert sent.status_code == 200
        assert state.tracing.pipeline.flush()
        body = await get_json(client, f"/api/traces/{trace_id}")
    server, attempt = body["spans"]
    assert (server["parent_span_id"], attempt["parent_span_id"]) == (parent, server["span_id"])
    # The caller's own root span has not arrived: the trace has no root yet.
    assert (body["trace"]["root_span_id"], body["trace"]["name"]) == (None, "chat gpt-small")


BAD_QUERIES = [
    ("/api/traces?limit=0", "limit"),
    ("/api/traces?limit=501", "limit"),
    ("/api/traces?limit=ten", "limit"),
    ("/api/traces?status=bogus", "status"),
    ("/api/traces?start=yesterday", "start"),
    ("/api/traces?end=soon", "end"),
    ("/api/traces?attr=noequals", "attr"),
    ("/api/traces?attr==value", "attr"),
    ("/api/traces?cursor=garbage", "cursor"),
    ("/api/traces?sort=name", "sort"),
    ("/api/traces?sort=cost&cursor=WzEsMl0", "cursor"),
    ("/api/traces?min_cost=-1", "min_cost"),
    ("/api/traces?min_duration_ms=slow", "min_duration_ms"),
    ("/api/traces/" + "0" * 31 + "1?limit=0", "limit"),
    ("/api/traces/" + "0" * 31 + "1?cursor=garbage", "cursor"),
    ("/api/traces/xyz", "trace_id"),
    ("/api/traces/" + "0" * 31 + "1?parent=xyz", "parent"),
    ("/api/sessions?limit=0", "limit"),
    ("/api/sessions?cursor=garbage", "cursor"),
    ("/api/sessions/sess-a?limit=0", "limit"),
    ("/api/stats?bucket=0", "bucket"),
    ("/api/stats?group_by=user", "group_by"),
    ("/api/stats?start=yesterday", "start"),
    ("/api/stats?end=tomorrow", "end"),
    ("/api/stats?start=2000&end=1000", "end"),
    ("/api/stats?start=1000&end=2000000&bucket=1", "bucket"),
]


async def test_bad_query_values_are_400s_naming_the_parameter(
    settings_from: Callable[..., Settings],
) -> None:
    found = {}
    async with serving(settings_from(CONFIG)) as (client, _):
        for path, _ in BAD_QUERIES:
            response = await client.get(path)
            error = response.json().get("error") or {}
            found[path] = (
                response.status_code,
                sorted(error),
                error.get("type"),
                error.get("param"),
                isinstance(error.get("message"), str) and bool(error["message"]),
            )
    assert found == {
        path: (400, ["code", "message", "param", "type"], "invalid_request_error", param, True)
        for path, param in BAD_QUERIES
    }


@pytest.mark.postgres
async def test_the_api_on_postgres(
    settings_from: Callable[..., Settings], pg_database: str
) -> None:
    try:
        async with serving(settings_from({**CONFIG, "database_url": pg_database})) as (
            client,
            state,
        ):
            ids = await send_traffic(client, state)
            assert await trace_ids(client, [("attr", "user.id=alice")]) == [
                ids["spain"],
                ids["france"],
            ]
            assert await trace_ids(client, [("attr", "gen_ai.request.stream=true")]) == [
                ids["stream"]
            ]
            assert await trace_ids(client, [("q", "ROME"), ("status", "ok")]) == [ids["rome"]]
            detail = await get_json(client, f"/api/traces/{ids['broken']}")
            assert [s["is_attempt"] for s in detail["spans"]] == [False, True, True]
            assert detail["trace"]["status"] == "error"
            first = await get_json(client, "/api/traces", limit=3)
            rest = await get_json(client, "/api/traces", limit=3, cursor=first["next_cursor"])
            assert [t["trace_id"] for t in first["data"] + rest["data"]] == [
                ids[n] for n in ("stream", "broken", "rome", "spain", "france")
            ]
            sessions = await get_json(client, "/api/sessions")
            assert [(s["session_id"], s["trace_count"]) for s in sessions["data"]] == [
                ("sess-b", 2),
                ("sess-a", 2),
            ]
            stats = await get_json(client, "/api/stats", group_by="model", bucket=86_400)
            assert {row["group"]: row["requests"] for row in stats["data"]} == {
                "broken": 1,
                "claude-ish": 1,
                "gpt-small": 3,
            }
    finally:
        engine = create_store_engine(pg_database)
        downgrade_store(engine, "base")
        engine.dispose()


async def test_responses_name_their_trace(settings_from: Any) -> None:
    from tests.conftest import running_app

    settings = settings_from(
        {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}]}
    )
    async with running_app(settings) as client:
        ok = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
        failed = await client.post("/v1/chat/completions", json={"model": "m", "messages": "x"})
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        joined = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
            headers={"traceparent": traceparent},
        )
    assert len(ok.headers["x-spyglass-trace-id"]) == 32
    assert len(failed.headers["x-spyglass-trace-id"]) == 32
    assert joined.headers["x-spyglass-trace-id"] == "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize("tracer", ["lean", "sdk"])
async def test_both_tracers_record_the_same_spans(settings_from: Any, tracer: str) -> None:
    settings = settings_from(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
            "tracing": {"tracer": tracer},
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
            )
            trace_id = response.headers["x-spyglass-trace-id"]
            app.state.tracing.pipeline.flush()
            detail = (await client.get(f"/api/traces/{trace_id}")).json()
    spans = {s["span_kind"]: s for s in detail["spans"]}
    assert set(spans) == {"server", "client"}
    server, client_span = spans["server"], spans["client"]
    assert client_span["parent_span_id"] == server["span_id"]
    assert server["name"] == "chat m"
    assert server["attributes"]["gen_ai.provider.name"] == "spyglass.mock"
    assert server["attributes"]["gen_ai.usage.input_tokens"] == server["input_tokens"] > 0
    assert client_span["attributes"]["spyglass.attempt"] == 1
    assert detail["trace"]["llm_count"] == 1


@pytest.mark.parametrize("value", ["1e100", "-1e100", "inf", "nan", "99999999999999999999999", "²"])
async def test_times_out_of_range_answer_400(
    settings_from: Callable[..., Settings], value: str
) -> None:
    async with serving(settings_from(CONFIG)) as (client, _state):
        for param in ("start", "end"):
            answer = await client.get("/api/traces", params={param: value})
            assert answer.status_code == 400, (param, value, answer.text)
            assert answer.json()["error"]["param"] == param
        attr = await client.get("/api/traces", params={"attr": f"x=9{'9' * 30}"})
        assert attr.status_code == 200

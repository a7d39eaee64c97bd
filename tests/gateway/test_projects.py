"""Projects separate teams: traces, prompts and eval runs, on SQLite and on real PostgreSQL.

Two member keys of projects A and B and the master key share one app. Each key sees its own
project's data only (another project's trace or run is a 404, as if it did not exist); the
admin sees both and can narrow to one with ``project=``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from evals import RunStore
from spyglass._settings import Settings
from tests.conftest import running_app

MASTER = "sk-master-projects"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MODEL = {
    "model_name": "m",
    "litellm_params": {
        "model": "mock/echo",
        "mock_mode": "echo",
        "mock_prompt_tokens": 10,
        "mock_completion_tokens": 5,
        "input_cost_per_token": 0.001,
        "output_cost_per_token": 0.001,
    },
}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass
class Team:
    """An app with keys of two projects: A and B (members), and an ingest key of A."""

    client: httpx.AsyncClient
    a: dict[str, str]
    b: dict[str, str]
    ingest_a: dict[str, str]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def team(
    request: pytest.FixtureRequest, settings_from: Callable[..., Settings]
) -> AsyncIterator[Team]:
    config: dict[str, Any] = {"master_key": MASTER, "model_list": [MODEL]}
    if request.param == "postgres":
        config["database_url"] = request.getfixturevalue("pg_database")
    async with running_app(settings_from(config)) as client:

        async def key(**fields: Any) -> dict[str, str]:
            answer = await client.post("/api/keys", headers=ADMIN, json=fields)
            assert answer.status_code == 201, answer.text
            return bearer(answer.json()["key"])

        yield Team(
            client,
            a=await key(name="team-a", project="A"),
            b=await key(name="team-b", project="B"),
            ingest_a=await key(name="collector-a", project="A", role="ingest"),
        )


def otlp_span(trace_id: str, name: str, attributes: dict[str, str]) -> dict[str, Any]:
    """An OTLP/JSON export of one root span."""
    now = time.time_ns()
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "app"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "app"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": secrets.token_hex(8),
                                "name": name,
                                "kind": 1,
                                "startTimeUnixNano": str(now - 1_000_000),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    {"key": k, "value": {"stringValue": v}}
                                    for k, v in attributes.items()
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


async def chat(client: httpx.AsyncClient, headers: dict[str, str], session: str) -> str:
    answer = await client.post(
        "/v1/chat/completions",
        headers={**headers, "x-spyglass-session-id": session},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-spyglass-trace-id"]


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    answer = await client.get("/api/traces", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


async def until_stored(client: httpx.AsyncClient, count: int) -> None:
    """Wait until the admin sees ``count`` traces (spans reach the store in batches)."""
    for _ in range(200):
        if len(await listed(client, ADMIN)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} traces stored")


async def test_traces_stats_and_sessions_are_separated_by_project(team: Team) -> None:
    client = team.client
    trace_a = await chat(client, team.a, "session-a")
    trace_b = await chat(client, team.b, "session-b")
    # A's collector claims project B: the receiver files its span under A regardless.
    spoofed = secrets.token_hex(16)
    sent = await client.post(
        "/v1/traces",
        headers=team.ingest_a,
        json=otlp_span(spoofed, "agent", {"spyglass.project": "B"}),
    )
    assert sent.status_code == 200, sent.text
    # The master key is not confined: the project its spans carry is kept.
    own = secrets.token_hex(16)
    sent = await client.post(
        "/v1/traces", headers=ADMIN, json=otlp_span(own, "batch", {"spyglass.project": "B"})
    )
    assert sent.status_code == 200, sent.text
    await until_stored(client, 4)

    seen_by_a = await listed(client, team.a)
    assert {t["trace_id"] for t in seen_by_a} == {trace_a, spoofed}
    assert {t["project"] for t in seen_by_a} == {"A"}
    assert {t["trace_id"] for t in await listed(client, team.b)} == {trace_b, own}
    # The admin sees every project, and narrows to one when asked.
    assert {t["trace_id"] for t in await listed(client, ADMIN)} == {trace_a, trace_b, spoofed, own}
    assert {t["trace_id"] for t in await listed(client, ADMIN, project="B")} == {trace_b, own}
    # A key may repeat its own project, not name another's.
    assert len(await listed(client, team.a, project="A")) == 2
    refused = await client.get("/api/traces", headers=team.a, params={"project": "B"})
    blank = await client.get("/api/traces", headers=ADMIN, params={"project": " "})
    assert (blank.status_code, blank.json()["error"]["param"]) == (400, "project")
    assert refused.status_code == 403
    assert refused.json()["error"]["param"] == "project"

    # Another project's trace does not exist for A, in the API and in the UI's.
    assert (await client.get(f"/api/traces/{trace_a}", headers=team.a)).status_code == 200
    for path in (
        f"/api/traces/{trace_b}",
        f"/api/ui/traces/{trace_b}/outline",
    ):
        hidden = await client.get(path, headers=team.a)
        missing = await client.get(path.replace(trace_b, "f" * 32), headers=team.a)
        assert (hidden.status_code, missing.status_code) == (404, 404), path
        # The same answer as for a trace that does not exist, but for the id it names.
        assert hidden.text.replace(trace_b, "f" * 32) == missing.text
    whole = (await client.get(f"/api/traces/{trace_b}", headers=ADMIN)).json()
    # The gateway stamps the request's span and its upstream attempt alike.
    assert [s["project"] for s in whole["spans"]] == ["B", "B"]
    span_id = whole["spans"][0]["span_id"]
    path = f"/api/ui/traces/{trace_b}/spans/{span_id}"
    assert (await client.get(path, headers=team.a)).status_code == 404
    assert (await client.get(path, headers=team.b)).status_code == 200

    sessions = (await client.get("/api/sessions", headers=team.a)).json()["data"]
    assert [s["session_id"] for s in sessions] == ["session-a"]
    assert (await client.get("/api/sessions/session-b", headers=team.a)).status_code == 404
    assert (await client.get("/api/sessions/session-b", headers=team.b)).status_code == 200
    facets = (await client.get("/api/ui/facets", headers=team.a)).json()
    assert [f["value"] for f in facets["session"]] == ["session-a"]

    async def requests(headers: dict[str, str], **params: Any) -> int:
        answer = await client.get("/api/stats", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return sum(bucket["requests"] for bucket in answer.json()["data"])

    assert await requests(team.a) == 1
    assert await requests(team.b) == 1
    assert await requests(ADMIN) == 2
    assert await requests(ADMIN, project="A") == 1

    usage = await client.get("/api/usage", headers=ADMIN, params={"group_by": "project"})
    assert {(row["project"], row["requests"]) for row in usage.json()["data"]} == {
        ("A", 1),
        ("B", 1),
    }


async def test_only_an_admin_may_attribute_received_spans_to_a_key(team: Team) -> None:
    """Cost is counted per ``spyglass.key.id``: a collector's key must not put its spend (or
    its spans) on another key; the master key (another Spyglass exporting) may."""
    client = team.client
    victim = (await client.get("/api/auth/whoami", headers=team.b)).json()["id"]
    claimed, vouched = secrets.token_hex(16), secrets.token_hex(16)
    for headers, trace_id in ((team.ingest_a, claimed), (ADMIN, vouched)):
        sent = await client.post(
            "/v1/traces",
            headers=headers,
            json=otlp_span(trace_id, "chat m", {"spyglass.key.id": victim}),
        )
        assert sent.status_code == 200, sent.text
    await until_stored(client, 2)
    spans = {
        trace_id: (await client.get(f"/api/traces/{trace_id}", headers=ADMIN)).json()["spans"]
        for trace_id in (claimed, vouched)
    }
    assert "spyglass.key.id" not in spans[claimed][0]["attributes"]
    assert spans[claimed][0]["key_id"] is None
    assert spans[vouched][0]["key_id"] == victim


async def test_a_key_cannot_widen_its_project(team: Team) -> None:
    client = team.client
    created = await client.post("/api/keys", headers=team.a, json={"project": "B"})
    assert created.status_code == 403
    empty = await client.post("/api/keys", headers=ADMIN, json={"project": " "})
    assert empty.status_code == 400
    assert empty.json()["error"]["param"] == "project"
    me = (await client.get("/api/auth/whoami", headers=team.a)).json()
    assert me["project"] == "A"


async def push(
    client: httpx.AsyncClient, headers: dict[str, str], template: str, **params: str
) -> httpx.Response:
    return await client.post(
        "/api/prompts/summarize/versions",
        headers=headers,
        params=params,
        json={"template": template, "model_config": {"model": "m"}},
    )


async def test_prompts_are_named_per_project(team: Team) -> None:
    client = team.client
    assert (await push(client, team.a, "A says {{text}}")).status_code == 201
    assert (await push(client, team.b, "B says {{text}}")).status_code == 201
    assert (await push(client, team.b, "B says {{text}}, again")).status_code == 201
    mine = (await client.get("/api/prompts/summarize", headers=team.a)).json()
    assert (mine["template"], mine["version"]) == ("A says {{text}}", 1)
    theirs = (await client.get("/api/prompts/summarize", headers=team.b)).json()
    assert (theirs["template"], theirs["version"]) == ("B says {{text}}, again", 2)
    # A cannot reach B's versions by number, nor name B's project.
    assert (await client.get("/api/prompts/summarize/2", headers=team.a)).status_code == 404
    refused = await client.get("/api/prompts/summarize", headers=team.a, params={"project": "B"})
    assert refused.status_code == 403
    listing = (await client.get("/api/prompts", headers=team.a)).json()["data"]
    assert [(p["name"], p["latest_version"]) for p in listing] == [("summarize", 1)]

    # Labels move in one project only.
    moved = await client.put(
        "/api/prompts/summarize/labels/production", headers=team.a, json={"version": 1}
    )
    assert moved.status_code == 200, moved.text
    assert (
        await client.get("/api/prompts/summarize@production", headers=team.b)
    ).status_code == 404

    # The admin works in the prompts of no project, or in the one it names.
    assert (await client.get("/api/prompts/summarize", headers=ADMIN)).status_code == 404
    assert (await client.get("/api/prompts", headers=ADMIN)).json()["data"] == []
    admin_view = await client.get(
        "/api/prompts/summarize@production", headers=ADMIN, params={"project": "A"}
    )
    assert admin_view.json()["template"] == "A says {{text}}"
    assert (await push(client, ADMIN, "nobody's {{text}}")).status_code == 201
    assert (await push(client, ADMIN, "C says {{text}}", project="C")).status_code == 201

    # The gateway renders the prompt of the caller's project.
    async def rendered(headers: dict[str, str]) -> str:
        answer = await client.post(
            "/v1/chat/completions",
            headers=headers,
            json={"prompt": {"name": "summarize", "variables": {"text": "hello"}}},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["choices"][0]["message"]["content"])

    assert await rendered(team.a) == "A says hello"
    assert await rendered(team.b) == "B says hello, again"
    assert await rendered(ADMIN) == "nobody's hello"


async def test_eval_runs_are_separated_by_project(team: Team) -> None:
    client = team.client
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    store = RunStore(engine)

    def run(project: str | None, experiment: str = "qa") -> str:
        return store.create_run(
            experiment_id=store.experiment(experiment),
            invocation="inv",
            variant="v",
            total=0,
            dataset_hash="h",
            params={},
            spec={},
            project=project,
        )

    run_a, run_b, run_none = run("A"), run("B"), run(None)
    run("B", "only-b")

    async def get(path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
        return await client.get(path, headers=headers, params=params)

    experiments = (await get("/api/experiments", team.a)).json()["experiments"]
    assert [(e["name"], e["runs"]) for e in experiments] == [("qa", 1)]
    everything = (await get("/api/experiments", ADMIN)).json()["experiments"]
    assert [(e["name"], e["runs"]) for e in everything] == [("only-b", 1), ("qa", 3)]
    assert [r["id"] for r in (await get("/api/runs", team.a)).json()["runs"]] == [run_a]
    assert len((await get("/api/runs", ADMIN)).json()["runs"]) == 4
    assert len((await get("/api/runs", ADMIN, project="B")).json()["runs"]) == 2
    assert (await get(f"/api/runs/{run_a}", team.a)).json()["project"] == "A"
    for path in (f"/api/runs/{run_b}", f"/api/runs/{run_none}", f"/api/runs/{run_b}/results"):
        assert (await get(path, team.a)).status_code == 404, path
    # A prefix shared with another project's run is not ambiguous for A: it does not see it.
    assert (await get(f"/api/runs/{run_a[:12]}", team.a)).status_code == 200
    assert (await get("/api/compare", team.a, runs=f"{run_a},{run_b}")).status_code == 404
    assert (await get("/api/compare", ADMIN, runs=f"{run_a},{run_b}")).status_code == 200
    patched = await client.patch(f"/api/runs/{run_b}", headers=team.a, json={"notes": "mine"})
    assert patched.status_code == 404

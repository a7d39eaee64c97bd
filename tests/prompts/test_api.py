"""The registry's JSON API, through the app `spyglass serve` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from spyglass._settings import Settings
from tests.conftest import running_app

CHAT = [
    {"role": "system", "content": "You summarize in {{style}}."},
    {"role": "user", "content": "{{text}}"},
]


@pytest.fixture
async def api(settings_from: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings_from({})) as client:
        yield client


async def test_push_get_label_diff_render(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/prompts", json={"name": "team/sum", "tags": ["support"]})
    assert created.status_code == 201
    first = await api.post(
        "/api/prompts/team/sum/versions",
        json={"template": "Summarize: {{text}}", "message": "first", "labels": ["production"]},
    )
    assert first.status_code == 201
    assert first.json() | {"created_at": None} == {
        "name": "team/sum",
        "version": 1,
        "type": "text",
        "engine": "mustache",
        "template": "Summarize: {{text}}",
        "variables": ["text"],
        "model_config": {},
        "tools": None,
        "response_format": None,
        "message": "first",
        "author": None,
        "created_at": None,
        "labels": ["latest", "production"],
        "created": True,
    }
    second = await api.post(
        "/api/prompts/team/sum/versions",
        json={"template": CHAT, "model_config": {"model": "gpt-4o", "temperature": 0.3}},
    )
    assert (second.status_code, second.json()["version"]) == (201, 2)
    same = await api.post(
        "/api/prompts/team/sum/versions",
        json={"template": CHAT, "model_config": {"model": "gpt-4o", "temperature": 0.3}},
    )
    assert (same.status_code, same.json()["version"], same.json()["created"]) == (200, 2, False)

    for ref, version in (("team/sum", 2), ("team/sum@production", 1), ("team/sum/2", 2)):
        got = await api.get(f"/api/prompts/{ref}")
        assert (got.status_code, got.json()["version"]) == (200, version), ref

    moved = await api.put("/api/prompts/team/sum/labels/production", json={"version": 2})
    assert moved.status_code == 200
    history = (await api.get("/api/prompts/team/sum/history")).json()["data"]
    assert [(e["from_version"], e["to_version"]) for e in history] == [(1, 2), (None, 1)]

    diff = (await api.get("/api/prompts/team/sum/diff", params={"a": "1", "b": "2"})).json()
    assert "-Summarize: {{text}}" in diff["diff"] and "+  model: gpt-4o" in diff["diff"]

    rendered = await api.post(
        "/api/prompts/team/sum/render",
        json={"label": "production", "variables": {"style": "bullets", "text": "t", "x": 1}},
    )
    assert rendered.json() == {
        "type": "chat",
        "rendered": [
            {"role": "system", "content": "You summarize in bullets."},
            {"role": "user", "content": "t"},
        ],
        "warnings": ["variable not used by the template: x"],
        "name": "team/sum",
        "version": 2,
        "model_config": {"model": "gpt-4o", "temperature": 0.3},
    }
    listed = (await api.get("/api/prompts", params={"q": "sum", "tag": "support"})).json()
    assert [(p["name"], p["latest_version"], p["labels"]) for p in listed["data"]] == [
        ("team/sum", 2, {"production": 2})
    ]
    versions = (await api.get("/api/prompts/team/sum/versions")).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    assert (await api.delete("/api/prompts/team/sum/labels/production")).status_code == 204


async def test_preview_renders_a_template_not_in_the_registry(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/api/prompts/render",
        json={
            "template": "{% for i in items %}{{ i }},{% endfor %}",
            "engine": "jinja2",
            "variables": {"items": [1, 2]},
        },
    )
    assert answer.json() == {"type": "text", "rendered": "1,2,", "warnings": []}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param", "words"),
    [
        ("post", "/api/prompts", {"name": "bad name"}, 400, "name", "may hold only"),
        ("post", "/api/prompts/x/versions", {"template": []}, 400, "template", "non-empty"),
        (
            "post",
            "/api/prompts/x/versions",
            {"template": "x", "labels": ["latest"]},
            400,
            "label",
            "latest",
        ),
        (
            "post",
            "/api/prompts/x/versions",
            {"template": "x", "bogus": 1},
            400,
            "bogus",
            "Extra inputs",
        ),
        (
            "post",
            "/api/prompts/x/versions",
            {"template": "{% if %}", "engine": "jinja2"},
            400,
            "template",
            "line 1",
        ),
        ("get", "/api/prompts/missing", None, 404, "name", "no prompt named 'missing'"),
        ("get", "/api/prompts/x@nope", None, 404, "label", "no label 'nope'"),
        ("get", "/api/prompts/x/7", None, 404, "version", "no version 7"),
        ("put", "/api/prompts/x/labels/production", {"version": 9}, 404, "version", "no version 9"),
        (
            "put",
            "/api/prompts/x/labels/production",
            {"version": 0},
            400,
            "version",
            "greater than or equal to 1",
        ),
        ("post", "/api/prompts/x/render", {"variables": {}}, 400, "text", "missing variable"),
        ("post", "/api/prompts", {"name": "x"}, 409, "name", "exists already"),
        # Jinja2 written for the mustache engine would be sent as literal text: refused.
        (
            "post",
            "/api/prompts/x/versions",
            {"template": "Up to {{limit | default(50)}} words"},
            400,
            "template",
            "is Jinja2 syntax",
        ),
        (
            "post",
            "/api/prompts/x/versions",
            {"template": [{"role": "system", "content": "{% if vip %}Be kind{% endif %}"}]},
            400,
            "template.messages[0].content",
            "engine jinja2",
        ),
    ],
)
async def test_bad_input_answers_4xx_naming_the_problem(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    status: int,
    param: str,
    words: str,
) -> None:
    await api.post("/api/prompts/x/versions", json={"template": "{{text}}"})
    kwargs = {"json": body} if body is not None else {}
    answer = await api.request(method.upper(), path, **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param
    assert words in error["message"]

"""Chat requests naming a registry prompt: rendered by the gateway, recorded on the trace.

Clients are the real ``openai`` SDK (``extra_body``) and plain HTTP; the upstream is faked with
respx so the test sees exactly what the gateway sends on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest
import respx

from spyglass._settings import Settings
from tests.conftest import running_app

UPSTREAM = "http://upstream.test/v1/chat/completions"
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
CHAT = [
    {"role": "system", "content": "You summarize in {{style}}."},
    {"role": "user", "content": "{{text}}"},
]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.fixture
def upstream() -> respx.Router:
    router = respx.Router(assert_all_mocked=True)
    router.post(UPSTREAM).respond(200, json=ANSWER)
    return router


@pytest.fixture
async def app(
    settings_from: Callable[..., Settings], upstream: respx.Router
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_from(
        {
            "model_list": [
                {
                    "model_name": "fast",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": "http://upstream.test/v1",
                        "api_key": "sk-upstream",
                    },
                },
                {
                    "model_name": "echo",
                    "litellm_params": {"model": "mock/echo", "mock_mode": "echo"},
                },
            ],
            "prompts": {"cache_ttl": 0},
        }
    )
    async with running_app(settings, httpx.MockTransport(upstream.async_handler)) as client:
        await client.post(
            "/api/prompts/summarize/versions",
            json={
                "template": CHAT,
                "model_config": {"model": "fast", "temperature": 0.2, "max_tokens": 64},
                "tools": TOOLS,
                "labels": ["production"],
            },
        )
        yield client


def sent(upstream: respx.Router, index: int = -1) -> Any:
    return json.loads(upstream.calls[index].request.content)


def sdk(app: httpx.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="unused", base_url="http://spyglass.test/v1", http_client=app, max_retries=0
    )


async def stored_trace(app: httpx.AsyncClient, trace_id: str) -> dict[str, Any]:
    for _ in range(100):
        answer = await app.get(f"/api/traces/{trace_id}")
        if answer.status_code == 200:
            return dict(answer.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"trace {trace_id} was not stored")


async def test_openai_sdk_names_a_prompt_in_extra_body(
    app: httpx.AsyncClient, upstream: respx.Router
) -> None:
    raw = await sdk(app).chat.completions.with_raw_response.create(
        model="",
        messages=[],
        extra_body={
            "prompt": {
                "name": "summarize",
                "label": "production",
                "variables": {"style": "bullets", "text": "Long text"},
            }
        },
    )
    assert raw.parse().choices[0].message.content == "ok"
    assert sent(upstream) == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You summarize in bullets."},
            {"role": "user", "content": "Long text"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
        "tools": TOOLS,
    }
    trace = await stored_trace(app, raw.headers["x-spyglass-trace-id"])
    server = next(s for s in trace["spans"] if s["parent_span_id"] is None)
    assert server["attributes"]["gen_ai.prompt.name"] == "summarize"
    assert server["attributes"]["gen_ai.prompt.version"] == "1"
    # The trace list filters by prompt and by prompt version.
    for prompt, found in (("summarize", 1), ("summarize/1", 1), ("summarize/2", 0)):
        listed = (await app.get("/api/traces", params={"prompt": prompt})).json()["data"]
        assert len(listed) == found, prompt


async def test_the_request_overrides_the_versions_model_config(
    app: httpx.AsyncClient, upstream: respx.Router
) -> None:
    await sdk(app).chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "And now in French?"}],
        temperature=0.9,
        extra_body={
            "prompt": {
                "name": "summarize",
                "version": 1,
                "variables": {"style": "prose", "text": "t"},
            }
        },
    )
    body = sent(upstream)
    assert (body["temperature"], body["max_tokens"]) == (0.9, 64)
    # The request's own messages continue the conversation after the prompt's.
    assert [m["content"] for m in body["messages"]] == [
        "You summarize in prose.",
        "t",
        "And now in French?",
    ]


async def test_the_header_form_takes_variables_from_the_body(
    app: httpx.AsyncClient, upstream: respx.Router
) -> None:
    answer = await app.post(
        "/v1/chat/completions",
        headers={"x-spyglass-prompt": "summarize@production"},
        json={"variables": {"style": "haiku", "text": "x"}},
    )
    assert answer.status_code == 200, answer.text
    body = sent(upstream)
    assert body["messages"][0]["content"] == "You summarize in haiku."
    assert "variables" not in body and "prompt" not in body


async def test_a_moved_label_takes_effect(app: httpx.AsyncClient, upstream: respx.Router) -> None:
    await app.post(
        "/api/prompts/summarize/versions",
        json={"template": "Shorten: {{text}}", "model_config": {"model": "echo"}},
    )
    await app.put("/api/prompts/summarize/labels/production", json={"version": 2})
    answer = await sdk(app).chat.completions.create(
        model="",
        messages=[],
        extra_body={"prompt": "summarize@production", "variables": {"text": "abc"}},
    )
    assert answer.choices[0].message.content == "Shorten: abc"  # the echo model's reply
    assert len(upstream.calls) == 0


async def test_streaming_with_a_prompt(app: httpx.AsyncClient, upstream: respx.Router) -> None:
    await app.post(
        "/api/prompts/stream-me/versions",
        json={"template": "Say {{word}}", "model_config": {"model": "echo"}},
    )
    stream = await sdk(app).chat.completions.create(
        model="",
        messages=[],
        stream=True,
        extra_body={"prompt": {"name": "stream-me", "variables": {"word": "hi there"}}},
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Say hi there"


@pytest.mark.parametrize(
    ("extra", "status", "param", "words"),
    [
        ({"prompt": {"name": "nope"}}, 404, "prompt", "no prompt named 'nope'"),
        ({"prompt": "summarize@canary"}, 404, "prompt", "no label 'canary'"),
        ({"prompt": {"name": "summarize", "version": 9}}, 404, "prompt", "no version 9"),
        (
            {"prompt": {"name": "summarize", "variables": {"style": "x"}}},
            400,
            "prompt.variables.text",
            "missing variable text",
        ),
        ({"prompt": {"name": "bad name!"}}, 400, "prompt.name", "may hold only"),
        ({"prompt": {"name": "summarize", "lable": "x"}}, 400, "prompt", "unknown key(s) lable"),
        ({"prompt": 5}, 400, "prompt", "expected a reference"),
        ({"prompt": "summarize", "variables": [1]}, 400, "prompt.variables", "expected an object"),
    ],
)
async def test_bad_prompt_requests_get_openai_shaped_errors(
    app: httpx.AsyncClient, extra: dict[str, Any], status: int, param: str, words: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk(app).chat.completions.create(model="", messages=[], extra_body=extra)
    assert caught.value.status_code == status
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == param
    assert words in error["message"]


async def test_a_prompt_without_a_model_needs_one_in_the_request(
    app: httpx.AsyncClient, upstream: respx.Router
) -> None:
    await app.post("/api/prompts/bare/versions", json={"template": "Hi {{name}}"})
    answer = await app.post(
        "/v1/chat/completions", json={"prompt": {"name": "bare", "variables": {"name": "A"}}}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"
    ok = await app.post(
        "/v1/chat/completions",
        json={"model": "fast", "prompt": {"name": "bare", "variables": {"name": "A"}}},
    )
    assert ok.status_code == 200
    assert sent(upstream)["messages"] == [{"role": "user", "content": "Hi A"}]


async def test_the_prompt_version_is_kept_when_content_capture_is_off(
    settings_from: Callable[..., Settings], upstream: respx.Router
) -> None:
    settings = settings_from(
        {
            "model_list": [
                {
                    "model_name": "echo",
                    "litellm_params": {"model": "mock/echo", "mock_mode": "echo"},
                }
            ],
            "tracing": {"capture_content": False},
        }
    )
    async with running_app(settings) as app:
        await app.post(
            "/api/prompts/private/versions",
            json={"template": "Secret: {{text}}", "model_config": {"model": "echo"}},
        )
        answer = await app.post(
            "/v1/chat/completions",
            json={"prompt": {"name": "private", "variables": {"text": "hush"}}},
        )
        assert answer.status_code == 200
        trace = await stored_trace(app, answer.headers["x-spyglass-trace-id"])
        server = next(s for s in trace["spans"] if s["parent_span_id"] is None)
        assert server["attributes"]["gen_ai.prompt.name"] == "private"
        assert server["attributes"]["gen_ai.prompt.version"] == "1"
        assert "hush" not in json.dumps(trace)  # the content itself is not kept
        listed = (await app.get("/api/traces", params={"prompt": "private/1"})).json()["data"]
        assert len(listed) == 1

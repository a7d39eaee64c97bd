"""Providers over HTTP, faked with respx: the passthrough path and the litellm path, streams too.

The passthrough path sends through the app's injected transport (a respx router here); litellm
sends through its own httpx clients, which respx's global mock patches at the httpcore level.
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from gateway import ConfigError, Gateway
from spyglass import Settings
from tests.conftest import running_app, write_config

Build = Callable[..., Settings]

OPENAI_KEY = "sk-test-openai-5f2c9a81"
ANTHROPIC_KEY = "sk-ant-test-77aa01"
GEMINI_KEY = "AIza-test-gemini-31"
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
AZURE = "https://x.openai.azure.com/openai/deployments"
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"
GEMINI_MODELS = r"https://generativelanguage\.googleapis\.com/v1\w*/models/gemini-1\.5-flash"
SSE_HEADERS = {"content-type": "text/event-stream"}
MESSAGES = [{"role": "user", "content": "Say hello"}]


# --- helpers ---------------------------------------------------------------------------------


def entry(group: str, model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": group, "litellm_params": {"model": model, **params}}


def config(*entries: dict[str, Any], **router_settings: Any) -> dict[str, Any]:
    return {"model_list": list(entries), "router_settings": {"num_retries": 0, **router_settings}}


OPENAI = entry("fast", "openai/gpt-4o-mini", api_key="sk-x-123")


def chat(model: str, **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, **params}


async def post(
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    body: dict[str, Any],
    path: str = "/v1/chat/completions",
) -> httpx.Response:
    """One request to a freshly started app."""
    async with running_app(settings, transport) as client:
        return await client.post(path, json=body)


def sse(*payloads: dict[str, Any] | str, eol: str = "\n") -> bytes:
    """An SSE body with one ``data:`` event per payload (dicts as JSON, strings as they are)."""
    events = (p if isinstance(p, str) else json.dumps(p) for p in payloads)
    return "".join(f"data: {data}{eol}{eol}" for data in events).encode()


def sse_data(body: bytes) -> list[Any]:
    """The data of each event of an SSE body (JSON decoded, ``[DONE]`` as is), per the spec."""
    text = body.decode().replace("\r\n", "\n").replace("\r", "\n")
    found: list[Any] = []
    for event in text.split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in event.split("\n") if line[:5] == "data:"]
        if lines:
            data = "\n".join(lines)
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])


def in_pieces(body: bytes, sizes: tuple[int, ...], **headers: str) -> Callable[..., httpx.Response]:
    """A respx side effect streaming ``body`` cut into pieces of the given sizes, repeated."""

    async def pieces() -> AsyncIterator[bytes]:
        start = 0
        for size in itertools.cycle(sizes):
            if start >= len(body):
                return
            yield body[start : start + size]
            start += size

    return lambda request: httpx.Response(200, headers={**SSE_HEADERS, **headers}, content=pieces())


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def usage_of(data: dict[str, Any]) -> tuple[int, int, int]:
    usage = data["usage"]
    return usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]


def litellm_prices(name: str) -> tuple[float, float]:
    """Per-token (input, output) prices from the price map shipped inside the litellm package."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    prices = json.loads(path.read_text())[name]
    return prices["input_cost_per_token"], prices["output_cost_per_token"]


def chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text is not None else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM = [chunk("Hel"), chunk("lo"), chunk(None, "stop")]
USAGE_CHUNK = {**chunk(None), "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
COMPLETION = {
    "id": "chatcmpl-2",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}


@pytest.fixture
def upstream() -> respx.Router:
    """The passthrough path's providers; a request no route matches fails the test."""
    return respx.Router(assert_all_mocked=True)


def via(router: respx.Router) -> httpx.MockTransport:
    return httpx.MockTransport(router.async_handler)


def no_passthrough(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request on the passthrough path: {request.url}")


# --- passthrough: OpenAI ---------------------------------------------------------------------


async def test_openai_request_is_forwarded_with_key_model_and_defaults(
    settings_from: Build, upstream: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    key = "os.environ/OPENAI_API_KEY"
    settings = settings_from(
        config(entry("fast", "openai/gpt-4o-mini", api_key=key, temperature=0.2, max_tokens=50))
    )
    # Spacing, key order and escapes that re-serialising would change.
    answer = (
        b'{"id":"chatcmpl-9", "object":"chat.completion","created":1,"model":"gpt-4o-mini",'
        b' "choices":[{"index":0,"message":{"role":"assistant","content":"\\u00e9t\\u00e9 1.0e2"},'
        b'"finish_reason":"stop"}],  "usage":{"prompt_tokens":3,"completion_tokens":2,'
        b'"total_tokens":5}, "vendor_extra":{"z":1,"a":[]}}'
    )
    json_type = {"content-type": "application/json"}
    route = upstream.post(OPENAI_CHAT).respond(200, content=answer, headers=json_type)
    first = await post(settings, via(upstream), chat("fast", max_tokens=7, x_trace={"k": [1, "b"]}))
    second = await post(settings, via(upstream), chat("fast", temperature=0.9))

    assert first.status_code == 200, first.text
    assert first.content == answer
    request = route.calls[0].request
    assert str(request.url) == OPENAI_CHAT
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent_json(route, 0) == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_tokens": 7,
        "x_trace": {"k": [1, "b"]},
    }
    assert second.status_code == 200
    assert (sent_json(route, 1)["temperature"], sent_json(route, 1)["max_tokens"]) == (0.9, 50)


@pytest.mark.parametrize("override", [False, True], ids=["price-map", "config-prices"])
async def test_openai_response_cost(
    settings_from: Build, upstream: respx.Router, override: bool
) -> None:
    prices = {"input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6} if override else {}
    settings = settings_from(config(entry("fast", "openai/gpt-4o-mini", api_key="k-1", **prices)))
    upstream.post(OPENAI_CHAT).respond(200, json=COMPLETION)
    response = await post(settings, via(upstream), chat("fast"))

    input_price, output_price = (1e-6, 3e-6) if override else litellm_prices("gpt-4o-mini")
    expected = 1000 * input_price + 500 * output_price
    assert expected > 0
    assert float(response.headers["x-spyglass-response-cost"]) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("client_asks", [False, True], ids=["usage-not-asked", "usage-asked"])
async def test_openai_stream_relays_events_and_usage_only_when_asked(
    settings_from: Build, upstream: respx.Router, client_asks: bool
) -> None:
    upstream_body = sse(*STREAM, USAGE_CHUNK, "[DONE]")
    route = upstream.post(OPENAI_CHAT).respond(200, headers=SSE_HEADERS, content=upstream_body)
    options = {"stream_options": {"include_usage": True}} if client_asks else {}
    response = await post(
        settings_from(config(OPENAI)), via(upstream), chat("fast", stream=True, **options)
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert sent_json(route)["stream"] is True
    assert sent_json(route)["stream_options"] == {"include_usage": True}
    if client_asks:
        assert response.content == upstream_body
    else:
        assert response.content == sse(*STREAM, "[DONE]")


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("sizes", [(1,), (3, 7, 2, 11), (40,)], ids=["bytes", "odd", "forty"])
async def test_openai_stream_split_anywhere(
    settings_from: Build, upstream: respx.Router, eol: str, sizes: tuple[int, ...]
) -> None:
    upstream_body = sse(*STREAM, USAGE_CHUNK, "[DONE]", eol=eol)
    upstream.post(OPENAI_CHAT).mock(side_effect=in_pieces(upstream_body, sizes))
    response = await post(settings_from(config(OPENAI)), via(upstream), chat("fast", stream=True))

    assert response.status_code == 200
    # Every event arrives whole, and the usage-only chunk was recognised and stripped.
    assert sse_data(response.content) == [*STREAM, "[DONE]"]


async def test_openai_stream_compressed_by_upstream(
    settings_from: Build, upstream: respx.Router
) -> None:
    compressed = gzip.compress(sse(*STREAM, USAGE_CHUNK, "[DONE]"))
    effect = in_pieces(compressed, (17,), **{"content-encoding": "gzip"})
    upstream.post(OPENAI_CHAT).mock(side_effect=effect)
    response = await post(settings_from(config(OPENAI)), via(upstream), chat("fast", stream=True))

    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert sse_data(response.content) == [*STREAM, "[DONE]"]


# --- passthrough: Azure and other OpenAI-compatible providers --------------------------------


def azure(group: str, deployment: str) -> dict[str, Any]:
    base = "https://x.openai.azure.com/"
    params = {"api_base": base, "api_version": "2024-08-01-preview", "api_key": "azure-key-4411"}
    return entry(group, f"azure/{deployment}", **params)


def assert_azure_request(request: httpx.Request, url: str) -> None:
    assert str(request.url) == f"{url}?api-version=2024-08-01-preview"
    assert request.headers["api-key"] == "azure-key-4411"
    assert "authorization" not in request.headers


async def test_azure_chat_and_stream(settings_from: Build, upstream: respx.Router) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers=SSE_HEADERS, content=sse(*STREAM, "[DONE]"))
        return httpx.Response(200, json=COMPLETION)

    url = f"{AZURE}/prod-gpt4o/chat/completions"
    route = upstream.post(url).mock(side_effect=answer)
    settings = settings_from(config(azure("az", "prod-gpt4o")))
    plain = await post(settings, via(upstream), chat("az"))
    streamed = await post(settings, via(upstream), chat("az", stream=True))

    assert plain.json()["choices"][0]["message"]["content"] == "Hi"
    assert sse_data(streamed.content) == [*STREAM, "[DONE]"]
    assert route.call_count == 2
    for call in route.calls:
        assert_azure_request(call.request, url)


async def test_azure_embeddings(settings_from: Build, upstream: respx.Router) -> None:
    vectors = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    url = f"{AZURE}/embed-small/embeddings"
    route = upstream.post(url).respond(200, json=vectors)
    settings = settings_from(config(azure("emb", "embed-small")))
    body = {"model": "emb", "input": ["a b"]}
    response = await post(settings, via(upstream), body, "/v1/embeddings")

    assert response.status_code == 200
    assert response.json() == vectors
    assert_azure_request(route.calls.last.request, url)
    assert sent_json(route) == {"model": "embed-small", "input": ["a b"]}


@pytest.mark.parametrize(
    ("model", "base", "upstream_model"),
    [
        ("groq/llama-3.1-8b-instant", "https://api.groq.com/openai/v1", "llama-3.1-8b-instant"),
        ("mistral/mistral-small-latest", "https://api.mistral.ai/v1", "mistral-small-latest"),
        (
            "openrouter/meta-llama/llama-3.1-8b",
            "https://openrouter.ai/api/v1",
            "meta-llama/llama-3.1-8b",
        ),
        ("hosted_vllm/qwen", "http://vllm:8000/v1", "qwen"),
    ],
)
async def test_openai_compatible_providers_use_their_base(
    settings_from: Build, upstream: respx.Router, model: str, base: str, upstream_model: str
) -> None:
    route = upstream.post(f"{base}/chat/completions").respond(200, json=COMPLETION)
    # api_base only where the provider has no default.
    params = {"api_base": base} if model.startswith("hosted_vllm/") else {}
    settings = settings_from(config(entry("m", model, api_key="provider-key-1", **params)))
    response = await post(settings, via(upstream), chat("m"))

    assert response.status_code == 200
    assert route.calls.last.request.headers["authorization"] == "Bearer provider-key-1"
    assert sent_json(route)["model"] == upstream_model


def test_provider_without_default_base_needs_api_base(settings_from: Build) -> None:
    # Caught when the config loads, with the file's line...
    with pytest.raises(
        ConfigError, match=r"spyglass\.yaml:\d+: model_list\[0\]\.litellm_params\.api_base"
    ):
        settings_from(config(entry("local", "hosted_vllm/qwen")))
    # ...and by the gateway itself for configs built in code.
    from gateway import GatewayConfig

    bad = GatewayConfig.model_validate(
        {"model_list": [{"model_name": "local", "litellm_params": {"model": "hosted_vllm/qwen"}}]}
    )
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.api_base"):
        Gateway(bad, transport=httpx.MockTransport(no_passthrough))


# --- passthrough: upstream errors ------------------------------------------------------------


async def test_upstream_client_error_is_relayed_in_openai_shape(
    settings_from: Build, upstream: respx.Router
) -> None:
    error = {
        "message": "Invalid value for 'reasoning_effort': 'extreme'.",
        "type": "invalid_request_error",
        "param": "reasoning_effort",
        "code": "invalid_value",
    }
    route = upstream.post(OPENAI_CHAT).respond(400, json={"error": error})
    settings = settings_from(config(OPENAI, num_retries=2))
    # A parameter the gateway does not check: the provider's refusal is relayed.
    response = await post(settings, via(upstream), chat("fast", reasoning_effort="extreme"))

    assert response.status_code == 400
    got = response.json()["error"]
    assert got["message"].endswith(error["message"])
    assert {k: got[k] for k in ("type", "param", "code")} == {
        k: error[k] for k in ("type", "param", "code")
    }
    assert route.call_count == 1  # a client error is not retried


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_error_never_shows_the_key(
    settings_from: Build, upstream: respx.Router, stream: bool
) -> None:
    message = f"Incorrect API key provided: {OPENAI_KEY}. Find your key at platform.openai.com."
    upstream.post(OPENAI_CHAT).respond(401, json={"error": {"message": message}})
    settings = settings_from(config(entry("fast", "openai/gpt-4o-mini", api_key=OPENAI_KEY)))
    response = await post(settings, via(upstream), chat("fast", stream=stream))

    assert response.status_code == 502  # our key was refused: not the caller's fault
    assert OPENAI_KEY not in response.text
    assert "Incorrect API key provided: ***." in response.json()["error"]["message"]


# --- litellm path: Anthropic -----------------------------------------------------------------


@pytest.fixture
def providers() -> Iterator[respx.MockRouter]:
    """respx's global mock: catches what litellm sends through httpx."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock


CLAUDE = "claude-haiku-4-5-20251001"


async def ask_claude(settings_from: Build, body: dict[str, Any]) -> httpx.Response:
    dep = entry("claude", f"anthropic/{CLAUDE}", api_key=ANTHROPIC_KEY)
    settings = settings_from(config(dep))
    return await post(settings, httpx.MockTransport(no_passthrough), {"model": "claude", **body})


def claude_message(content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 4},
    }


def claude_events(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def text_delta(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


async def test_anthropic_chat(settings_from: Build, providers: respx.MockRouter) -> None:
    answer = claude_message([{"type": "text", "text": "Hello there"}], "end_turn")
    route = providers.post(ANTHROPIC_MESSAGES).respond(200, json=answer)
    response = await ask_claude(settings_from, {"messages": MESSAGES, "max_tokens": 64})

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["object"] == "chat.completion"
    message = data["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "Hello there")
    assert data["choices"][0]["finish_reason"] == "stop"
    assert usage_of(data) == (25, 4, 29)
    request = route.calls.last.request
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.headers["anthropic-version"]
    text_block = {"type": "text", "text": "Say hello"}
    assert sent_json(route) == {
        "model": CLAUDE,
        "messages": [{"role": "user", "content": [text_block]}],
        "max_tokens": 64,
    }
    input_price, output_price = litellm_prices(CLAUDE)
    expected = 25 * input_price + 4 * output_price
    assert float(response.headers["x-spyglass-response-cost"]) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("client_asks", [False, True], ids=["usage-not-asked", "usage-asked"])
async def test_anthropic_stream(
    settings_from: Build, providers: respx.MockRouter, client_asks: bool
) -> None:
    events = claude_events(
        {"type": "message_start", "message": claude_message([], None)},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        text_delta("Hello"),
        text_delta(" there"),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 4},
        },
        {"type": "message_stop"},
    )
    route = providers.post(ANTHROPIC_MESSAGES).respond(200, headers=SSE_HEADERS, content=events)
    options = {"stream_options": {"include_usage": True}} if client_asks else {}
    response = await ask_claude(settings_from, {"messages": MESSAGES, "stream": True, **options})

    assert response.status_code == 200, response.text
    assert sent_json(route)["stream"] is True
    *chunks, done = sse_data(response.content)
    assert done == "[DONE]"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert streamed_text(chunks) == "Hello there"
    reasons = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert reasons == ["stop"]
    usages = [c["usage"] for c in chunks if c.get("usage")]
    if client_asks:
        assert (usages[-1]["prompt_tokens"], usages[-1]["completion_tokens"]) == (25, 4)
    else:
        assert usages == []


async def test_anthropic_rate_limit_keeps_retry_after(
    settings_from: Build, providers: respx.MockRouter
) -> None:
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited."}}
    headers = {"retry-after": "3"}
    route = providers.post(ANTHROPIC_MESSAGES).respond(429, headers=headers, json=error)
    response = await ask_claude(settings_from, {"messages": MESSAGES})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    got = response.json()["error"]
    assert set(got) == {"message", "type", "param", "code"}
    assert got["type"] == "rate_limit_error"
    assert "Rate limited." in got["message"]
    assert route.call_count == 1  # litellm's own retries are off


async def test_anthropic_tool_use_becomes_tool_calls(
    settings_from: Build, providers: respx.MockRouter
) -> None:
    use = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    answer = claude_message([{"type": "text", "text": "Let me look."}, use], "tool_use")
    route = providers.post(ANTHROPIC_MESSAGES).respond(200, json=answer)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": schema}}
    response = await ask_claude(settings_from, {"messages": MESSAGES, "tools": [tool]})

    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert (call["id"], call["type"], call["function"]["name"]) == (
        "toolu_01",
        "function",
        "get_weather",
    )
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    sent = sent_json(route)
    assert set(sent) == {"model", "messages", "max_tokens", "tools"}  # nothing of ours leaks
    (sent_tool,) = sent["tools"]
    assert (sent_tool["name"], sent_tool["input_schema"]) == ("get_weather", schema)


# --- litellm path: Gemini --------------------------------------------------------------------


async def ask_gemini(settings_from: Build, **params: Any) -> httpx.Response:
    settings = settings_from(config(entry("gem", "gemini/gemini-1.5-flash", api_key=GEMINI_KEY)))
    return await post(settings, httpx.MockTransport(no_passthrough), chat("gem", **params))


def gemini_response(text: str, finish: str | None = "STOP") -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    return {
        "candidates": [{**candidate, "finishReason": finish} if finish else candidate],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "modelVersion": "gemini-1.5-flash",
    }


def assert_gemini_request(request: httpx.Request) -> None:
    assert GEMINI_KEY in (request.headers.get("x-goog-api-key"), request.url.params.get("key"))
    sent = json.loads(request.content)
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Say hello"}]}]


async def test_gemini_chat(settings_from: Build, providers: respx.MockRouter) -> None:
    route = providers.post(url__regex=GEMINI_MODELS + ":generateContent").respond(
        200, json=gemini_response("Bonjour")
    )
    response = await ask_gemini(settings_from)

    assert response.status_code == 200, response.text
    data = response.json()
    assert data["choices"][0]["message"]["content"] == "Bonjour"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert usage_of(data) == (5, 2, 7)
    assert_gemini_request(route.calls.last.request)


async def test_gemini_stream(settings_from: Build, providers: respx.MockRouter) -> None:
    events = sse(gemini_response("Bon", None), gemini_response("jour"), eol="\r\n")
    url = GEMINI_MODELS + r":streamGenerateContent\?(.*&)?alt=sse"
    route = providers.post(url__regex=url).respond(200, headers=SSE_HEADERS, content=events)
    response = await ask_gemini(settings_from, stream=True)

    assert response.status_code == 200, response.text
    *chunks, done = sse_data(response.content)
    assert done == "[DONE]"
    assert streamed_text(chunks) == "Bonjour"
    assert_gemini_request(route.calls.last.request)


# --- litellm is imported only when a deployment needs it -------------------------------------


@pytest.mark.parametrize(
    ("model", "imported"),
    [("mock/demo", False), (f"anthropic/{CLAUDE}", True)],
    ids=["openai-azure-mock", "with-anthropic"],
)
def test_litellm_imported_only_for_translation_providers(
    tmp_path: Path, model: str, imported: bool
) -> None:
    azure_dep = entry("az", "azure/d", api_base="https://x.openai.azure.com", api_key="k-123")
    path = write_config(
        tmp_path / "spyglass.yaml", config(OPENAI, azure_dep, entry("third", model, api_key="k"))
    )
    script = textwrap.dedent(
        f"""
        import sys
        import httpx
        from spyglass import create_app, load_settings

        settings, _ = load_settings({str(path)!r})
        app = create_app(settings, upstream_transport=httpx.MockTransport(print))
        assert len(app.state.gateway.router.groups) == 3
        print("litellm" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(imported)


async def test_key_comes_from_the_providers_variable_when_config_has_none(
    settings_from: Build, upstream: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    route = upstream.post("https://api.groq.com/openai/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=COMPLETION)
    )
    settings = settings_from(config(entry("g", "groq/llama-3.1-8b-instant")))
    response = await post(settings, via(upstream), chat("g"))
    assert response.status_code == 200
    assert route.calls.last.request.headers["authorization"] == "Bearer gsk-from-env"

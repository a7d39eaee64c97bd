"""The real OpenAI and Anthropic SDKs against `spyglass serve` processes, over real sockets.

Server A serves ``mock/...`` deployments. Server B serves the same names as ``openai/...``
deployments whose ``api_base`` is A, so every call crosses B's fast passthrough path (aiohttp)
and then A's mock provider. B also fronts a fake upstream (``fake_upstream.py``) that records
what it receives and streams slowly, to see what B forwards and when B hangs up.

The servers are started once for the module: each start costs seconds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.conftest import Server, write_config
from tests.gateway.fake_upstream import REPLY as FAKE_REPLY
from tests.gateway.fake_upstream import FakeUpstream

SECRET = "sk-test-secret-123"
REPLY = "The quick brown fox jumps over the lazy dog."
INPUT_PRICE = 0.001
OUTPUT_PRICE = 0.002
B_TIMEOUT = 0.5  # B's per-deployment timeout for `slow`, whose mock answers after 1.5 s

_PRIVATE_ENV = ("OPENAI_", "ANTHROPIC_", "OTEL_", "SPYGLASS_", "GEMINI_", "AZURE_")


def _mock(name: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"mock/{name}", **params}}


A_MODELS = [
    _mock("chat", mock_response=REPLY),
    _mock("echo", mock_mode="echo"),
    _mock("embed", mock_dimensions=8),
    _mock("limited", mock_error_status=429, mock_retry_after=7),
    _mock("broken", mock_error_status=500),
    _mock("broken-backup", mock_error_status=500, mock_error_message="backup is down too"),
    # A provider that quotes the caller's key back in its error, as OpenAI's 401 does.
    _mock("leaky", mock_error_status=500, mock_error_message=f"Incorrect API key: {SECRET}"),
    _mock("slow", mock_latency_ms=1500),
]


class Weather(BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"]


class Clock(BaseModel):
    timezone: str
    with_seconds: bool


class Item(BaseModel):
    name: str
    score: int


class Verdict(BaseModel):
    label: Literal["good", "bad"]
    items: list[Item]
    best: Item


def _tool(name: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Call {name}.",
            "parameters": model.model_json_schema(),
        },
    }


WEATHER_TOOL = _tool("get_weather", Weather)
CLOCK_TOOL = _tool("get_time", Clock)
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


@dataclass
class Stack:
    a: Server
    b: Server
    fake: FakeUpstream

    @property
    def base_url(self) -> str:
        return self.b.url + "/v1"


def _b_config(a_url: str, fake_url: str) -> dict[str, Any]:
    def upstream(name: str, **params: Any) -> dict[str, Any]:
        litellm_params = {"model": f"openai/{name}", "api_base": a_url + "/v1", "api_key": SECRET}
        return {"model_name": name, "litellm_params": {**litellm_params, **params}}

    models = [
        upstream(m["model_name"]) for m in A_MODELS if m["model_name"] not in ("chat", "slow")
    ]
    return {
        "model_list": [
            upstream("chat", input_cost_per_token=INPUT_PRICE, output_cost_per_token=OUTPUT_PRICE),
            *models,
            upstream("slow", timeout=B_TIMEOUT),
            {
                "model_name": "fake",
                "litellm_params": {
                    "model": "openai/fake-model",
                    "api_base": fake_url + "/v1",
                    "api_key": SECRET,
                },
            },
        ],
        # No retries: a 429 with Retry-After: 7 would otherwise wait 7 s before its retry.
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 1000,
            "fallbacks": [{"broken": ["broken-backup"]}],
        },
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("sdk_e2e")
    with contextlib.ExitStack() as exits:
        fake = exits.enter_context(FakeUpstream())
        # Module-scoped, so `clean_environ` has not run yet: the servers get the same clean
        # environment it would give them.
        with pytest.MonkeyPatch.context() as env:
            for name in list(os.environ):
                if name.startswith(_PRIVATE_ENV):
                    env.delenv(name)
            env.chdir(root)

            def start(name: str, config: dict[str, Any]) -> Server:
                path = write_config(root / f"{name}.yaml", config)
                home = {"SPYGLASS_HOME": str(root / f"home-{name}")}
                server = Server(path, root / f"{name}.log", home)
                exits.callback(server.stop)
                return server

            a = start(
                "a",
                {
                    "model_list": A_MODELS,
                    "router_settings": {"num_retries": 0, "allowed_fails": 1000},
                },
            )
            b = start("b", _b_config(a.url, fake.url))
        yield Stack(a, b, fake)


@pytest.fixture(autouse=True)
def secret_never_logged(stack: Stack) -> Iterator[None]:
    yield
    assert SECRET not in stack.b.log()


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=stack.base_url, api_key="client-key", max_retries=0, timeout=15
    ) as sdk:
        yield sdk


def _async_client(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=stack.base_url, api_key="client-key", max_retries=0, timeout=15
    )


# -- chat, sync ------------------------------------------------------------------------------


def test_chat_completion_content_usage_and_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Tell me about foxes."}]
    )
    completion = raw.parse()

    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens == math.ceil(len(REPLY) / 4)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    headers = raw.headers
    assert headers["x-spyglass-model-group"] == "chat"
    assert headers["x-spyglass-attempts"] == "1"
    assert headers["x-spyglass-fallbacks"] == "0"
    overhead = float(headers["x-spyglass-overhead-duration-ms"])
    assert 0 <= overhead <= float(headers["x-spyglass-response-duration-ms"])
    expected_cost = usage.prompt_tokens * INPUT_PRICE + usage.completion_tokens * OUTPUT_PRICE
    assert float(headers["x-spyglass-response-cost"]) == pytest.approx(expected_cost)


def test_chat_n_stop_and_sampling_params(client: openai.OpenAI) -> None:
    two = client.chat.completions.create(model="chat", messages=USER, n=2)
    assert [c.index for c in two.choices] == [0, 1]
    assert [c.message.content for c in two.choices] == [REPLY, REPLY]

    stopped = client.chat.completions.create(model="chat", messages=USER, stop=["fox"])
    assert stopped.choices[0].message.content == "The quick brown "
    assert stopped.choices[0].finish_reason == "stop"

    capped = client.chat.completions.create(model="chat", messages=USER, max_tokens=2)
    assert capped.choices[0].message.content == REPLY[:8]
    assert capped.choices[0].finish_reason == "length"

    with_params = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "seeded words here"}],
        seed=42,
        user="user-1234",
        temperature=0.2,
        logprobs=True,
        top_logprobs=2,
    )
    choice = with_params.choices[0]
    assert choice.message.content == "seeded words here"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert [t.token for t in choice.logprobs.content] == ["seeded", "words", "here"]


def test_unknown_params_reach_the_upstream(client: openai.OpenAI, stack: Stack) -> None:
    # A's mock cannot show what it received; the fake upstream records it.
    seen = len(stack.fake.requests)
    echoed = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi"}], extra_body={"knob": [1]}
    )
    assert echoed.choices[0].message.content == "hi"

    completion = client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"vendor_knob": {"level": 3, "tags": ["a", "b"]}},
        seed=7,
    )
    assert completion.choices[0].message.content == FAKE_REPLY

    (request,) = stack.fake.requests[seen:]
    body = request["body"]
    assert body["vendor_knob"] == {"level": 3, "tags": ["a", "b"]}
    assert body["seed"] == 7
    assert body["model"] == "fake-model"  # the upstream's name, not the group's
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    # B's key, not the client's, goes upstream.
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"


# -- chat, async and streaming ----------------------------------------------------------------


async def test_async_chat(stack: Stack) -> None:
    async with _async_client(stack) as sdk:
        completion = await sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "ping pong"}]
        )
    assert completion.choices[0].message.content == "ping pong"
    assert completion.choices[0].finish_reason == "stop"


async def test_async_stream_with_usage(stack: Stack) -> None:
    async with _async_client(stack) as sdk:
        whole = await sdk.chat.completions.create(model="chat", messages=USER)
        stream = await sdk.chat.completions.create(
            model="chat", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0] is chunks[-1]
    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage
    assert len({c.id for c in chunks}) == 1


async def test_async_stream_without_usage_strips_it(stack: Stack) -> None:
    async with _async_client(stack) as sdk:
        stream = await sdk.chat.completions.create(model="chat", messages=USER, stream=True)
        chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


# -- tools -----------------------------------------------------------------------------------


def _arguments(call: Any, model: type[BaseModel]) -> dict[str, Any]:
    arguments = json.loads(call.function.arguments)
    assert set(model.model_json_schema()["required"]) <= arguments.keys()
    model.model_validate(arguments)
    return dict(arguments)


def test_tool_choice_required_and_named(client: openai.OpenAI) -> None:
    required = client.chat.completions.create(
        model="chat", messages=USER, tools=[WEATHER_TOOL], tool_choice="required"
    )
    choice = required.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert call.id.startswith("call_")
    assert _arguments(call, Weather)["unit"] in ("celsius", "fahrenheit")

    named = client.chat.completions.create(
        model="chat",
        messages=USER,
        tools=[WEATHER_TOOL, CLOCK_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = named.choices[0].message.tool_calls or []
    assert call.function.name == "get_time"
    _arguments(call, Clock)


def test_parallel_tool_calls_and_tool_loop(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(
        model="chat", messages=USER, tools=[WEATHER_TOOL, CLOCK_TOOL]
    )
    calls = first.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    _arguments(calls[0], Weather)
    _arguments(calls[1], Clock)

    single = client.chat.completions.create(
        model="chat", messages=USER, tools=[WEATHER_TOOL, CLOCK_TOOL], parallel_tool_calls=False
    )
    assert len(single.choices[0].message.tool_calls or []) == 1

    messages: list[Any] = [*USER, first.choices[0].message.to_dict()]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": '{"ok": true}'} for c in calls]
    answer = client.chat.completions.create(
        model="chat", messages=messages, tools=[WEATHER_TOOL, CLOCK_TOOL]
    )
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content == REPLY


async def test_streamed_tool_calls_with_the_stream_helper(stack: Stack) -> None:
    events: list[str] = []
    async with _async_client(stack) as sdk:
        async with sdk.chat.completions.stream(
            model="chat",
            messages=USER,
            tools=[openai.pydantic_function_tool(Weather, name="get_weather")],
            tool_choice="required",
        ) as stream:
            async for event in stream:
                events.append(event.type)
            final = await stream.get_final_completion()

    assert events.count("tool_calls.function.arguments.delta") >= 2
    assert "tool_calls.function.arguments.done" in events
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert isinstance(call.function.parsed_arguments, Weather)
    assert Weather.model_validate_json(call.function.arguments) == call.function.parsed_arguments


def test_structured_output_parse(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(model="chat", messages=USER, response_format=Verdict)
    message = completion.choices[0].message
    assert isinstance(message.parsed, Verdict)
    assert message.parsed == Verdict.model_validate_json(message.content or "")
    assert message.parsed.label == "good"
    assert isinstance(message.parsed.best, Item)


# -- embeddings, models, legacy completions --------------------------------------------------


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="embed", input=["alpha", "beta", "alpha"], dimensions=4)
    assert [d.index for d in result.data] == [0, 1, 2]
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 4 for v in vectors)
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-4) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert result.usage.prompt_tokens > 0

    default_size = client.embeddings.create(model="embed", input="alpha", encoding_format="float")
    assert len(default_size.data[0].embedding) == 8


def test_models_list_and_retrieve(client: openai.OpenAI, stack: Stack) -> None:
    configured = [m["model_name"] for m in _b_config(stack.a.url, stack.fake.url)["model_list"]]
    listed = client.models.list()
    assert [m.id for m in listed.data] == configured
    assert all(m.owned_by == "spyglass" for m in listed.data)

    model = client.models.retrieve("echo")
    assert model.id == "echo"
    assert model.object == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_legacy_completions(client: openai.OpenAI) -> None:
    echoed = client.completions.create(model="echo", prompt="Say this is a test")
    assert echoed.choices[0].text == "Say this is a test"
    assert echoed.choices[0].finish_reason == "stop"
    assert echoed.usage is not None and echoed.usage.completion_tokens > 0

    capped = client.completions.create(model="chat", prompt="Go on", max_tokens=1)
    assert capped.choices[0].text == REPLY[:4]
    assert capped.choices[0].finish_reason == "length"


# -- errors ----------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=USER)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert "gpt-nope" in caught.value.message


def test_bad_param_type_names_the_param(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="chat", messages=USER, extra_body={"temperature": "hot"}
        )
    assert caught.value.param == "temperature"
    assert caught.value.code == "invalid_type"
    body = caught.value.body
    assert isinstance(body, dict)
    assert "'temperature'" in body["message"]


def test_out_of_range_param_names_the_param_and_never_reaches_upstream(
    client: openai.OpenAI, stack: Stack
) -> None:
    sent = len(stack.fake.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="fake", messages=USER, max_tokens=-5)
    assert caught.value.param == "max_tokens"
    assert caught.value.code == "integer_below_min_value"
    assert len(stack.fake.requests) == sent


def test_upstream_rate_limit_keeps_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="limited", messages=USER)
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    assert SECRET not in response.text


def test_upstream_server_error_after_fallback(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="broken", messages=USER)
    error = caught.value
    assert error.status_code == 502
    assert error.response.headers["x-spyglass-attempts"] == "2"
    assert isinstance(error.body, dict)
    assert error.body["message"].startswith("All 2 attempts failed")
    assert "backup is down too" in error.body["message"]
    assert error.body["type"] == "upstream_error"
    assert SECRET not in error.response.text


def test_upstream_error_quoting_the_key_is_scrubbed(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="leaky", messages=USER)
    assert caught.value.status_code == 502
    assert "Incorrect API key: ***" in caught.value.response.text
    assert SECRET not in caught.value.response.text


def test_upstream_timeout_is_gateway_timeout(client: openai.OpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="slow", messages=USER)
    elapsed = time.monotonic() - started
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert f"{B_TIMEOUT:g}s" in caught.value.message
    assert B_TIMEOUT <= elapsed < B_TIMEOUT + 2
    assert SECRET not in caught.value.response.text


# -- anthropic SDK ---------------------------------------------------------------------------


@pytest.fixture
def claude(stack: Stack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stack.b.url, api_key="x", max_retries=0, timeout=15) as sdk:
        yield sdk


def _text(message: anthropic.types.Message) -> str:
    blocks = [b for b in message.content if isinstance(b, anthropic.types.TextBlock)]
    assert len(blocks) == len(message.content) == 1
    return blocks[0].text


def test_anthropic_messages(claude: anthropic.Anthropic) -> None:
    question: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Say something."}]
    message = claude.messages.create(model="chat", max_tokens=200, messages=question)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "chat"
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    assert _text(message) == REPLY
    assert message.usage.output_tokens == math.ceil(len(REPLY) / 4)

    system = "You are a terse assistant who answers in exactly one sentence, always."
    with_system = claude.messages.create(
        model="chat", max_tokens=200, system=system, messages=question
    )
    assert _text(with_system) == REPLY
    # The mock counts the text of every message it gets: the system prompt reached it.
    added = with_system.usage.input_tokens - message.usage.input_tokens
    assert added >= len(system) // 4


def test_anthropic_count_tokens(claude: anthropic.Anthropic, stack: Stack) -> None:
    system = "You are a terse assistant."
    question: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Say something."}]
    # On the mock provider (server A), the count is what a call is charged.
    with anthropic.Anthropic(base_url=stack.a.url, api_key="x", max_retries=0) as on_mock:
        counted = on_mock.messages.count_tokens(model="chat", system=system, messages=question)
        sent = on_mock.messages.create(
            model="chat", max_tokens=50, system=system, messages=question
        )
    assert counted.input_tokens == sent.usage.input_tokens > 0
    # On an OpenAI deployment (server B), litellm's tokenizer counts; nothing is called.
    before = len(stack.fake.requests)
    longer = claude.messages.count_tokens(
        model="fake", messages=[{"role": "user", "content": "Say something. " * 20}]
    )
    short = claude.messages.count_tokens(model="fake", messages=question)
    assert longer.input_tokens > short.input_tokens > 0
    assert len(stack.fake.requests) == before
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="nope", messages=question)


def test_anthropic_tool_use(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="chat",
        max_tokens=200,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[
            {
                "name": "get_weather",
                "description": "Current weather.",
                "input_schema": Weather.model_json_schema(),
            }
        ],
        tool_choice={"type": "any"},
    )
    assert message.stop_reason == "tool_use"
    (block,) = [b for b in message.content if isinstance(b, anthropic.types.ToolUseBlock)]
    assert block.name == "get_weather"
    assert block.id
    assert isinstance(block.input, dict)
    Weather.model_validate(block.input)


def test_anthropic_streaming(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="chat", max_tokens=200, messages=[{"role": "user", "content": "Stream it."}]
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == REPLY
    assert _text(final) == REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_anthropic_unknown_model(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(
            model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 404
    assert "claude-nope" in caught.value.message


# -- client disconnect -----------------------------------------------------------------------


def test_client_disconnect_cancels_the_upstream_stream(stack: Stack) -> None:
    fake = stack.fake
    fake.stream_started.clear()
    fake.disconnected.clear()
    with httpx.Client(base_url=stack.b.url, timeout=10) as http:
        body = {"model": "fake", "messages": USER, "stream": True}
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            first = next(response.iter_lines())
            assert fake.stream_started.is_set()
            assert not fake.disconnected.is_set()
        closed_at = time.monotonic()
    assert first.startswith("data: ") and "tick 0" in first
    assert fake.disconnected.wait(3.0), "the upstream stream was not cancelled"
    assert fake.disconnected_at is not None
    assert fake.disconnected_at - closed_at < 3.0
    # The client did not ask for usage; B asked the upstream anyway, to count tokens.
    sent = fake.requests[-1]["body"]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert fake.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"

    # B is still healthy afterwards.
    with httpx.Client(base_url=stack.b.url, timeout=10) as http:
        response = http.post("/v1/chat/completions", json={"model": "echo", "messages": USER})
    assert response.json()["choices"][0]["message"]["content"] == USER[0]["content"]

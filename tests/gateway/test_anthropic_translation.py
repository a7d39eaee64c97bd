"""Anthropic Messages <-> OpenAI chat completions translation (pure, no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic._streaming import SSEDecoder
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from gateway._anthropic import (
    AnthropicRequestError,
    AnthropicStreamTranslator,
    anthropic_to_openai_request,
    openai_to_anthropic_response,
)

STREAM_EVENT = TypeAdapter(RawMessageStreamEvent)


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-x",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    body.update(overrides)
    return body


# --- request ---------------------------------------------------------------------------------


def test_minimal_text_request() -> None:
    assert anthropic_to_openai_request(_body()) == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 256,
    }


def test_sampling_stream_and_metadata_params() -> None:
    body = _body(
        system="Be brief.",
        stop_sequences=["END"],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stream=True,
        metadata={"user_id": "u-1"},
        service_tier="auto",
    )
    assert anthropic_to_openai_request(body) == {
        "model": "claude-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 256,
        "stop": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
        "service_tier": "auto",  # unknown keys are forwarded untouched
    }


def test_stream_false_has_no_stream_options() -> None:
    out = anthropic_to_openai_request(_body(stream=False))
    assert out["stream"] is False
    assert "stream_options" not in out


def test_system_as_list_of_blocks_is_joined_with_blank_line() -> None:
    system = [
        {"type": "text", "text": "You are a helper."},
        {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
    ]
    out = anthropic_to_openai_request(_body(system=system))
    assert out["messages"][0] == {
        "role": "system",
        "content": "You are a helper.\n\nAnswer in French.",
    }


def test_empty_system_adds_no_message() -> None:
    out = anthropic_to_openai_request(_body(system=[]))
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_multi_block_user_and_assistant_turns() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "one"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Hel"},
                {"type": "text", "text": "lo"},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
    ]
    assert anthropic_to_openai_request(_body(messages=messages))["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Hello"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
    ]


def test_images_base64_and_url() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                {"type": "text", "text": "Compare these."},
            ],
        }
    ]
    assert anthropic_to_openai_request(_body(messages=messages))["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                {"type": "text", "text": "Compare these."},
            ],
        }
    ]


def test_tool_use_and_tool_result_round_trip() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and time in Tokyo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "clock", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here you go."},
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "clock offline"},
                        {"type": "text", "text": "retry later"},
                    ],
                },
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_3", "name": "clock", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_3"}]},
    ]
    assert anthropic_to_openai_request(_body(messages=messages))["messages"] == [
        {"role": "user", "content": "Weather in Paris and time in Tokyo?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "clock", "arguments": "{}"},
                },
            ],
        },
        # Tool results come first, in order, then the user's remaining text.
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "clock offline\nretry later"},
        {"role": "user", "content": "Here you go."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "clock", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_3", "content": ""},
    ]


def test_tools_are_translated_to_functions() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [
        {"name": "weather", "description": "Get weather", "input_schema": schema},
        {"name": "noop", "type": "custom"},
    ]
    assert anthropic_to_openai_request(_body(tools=tools))["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Get weather", "parameters": schema},
        },
        {
            "type": "function",
            "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}},
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "weather"},
            {"tool_choice": {"type": "function", "function": {"name": "weather"}}},
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        ({"type": "any", "disable_parallel_tool_use": False}, {"tool_choice": "required"}),
    ],
)
def test_tool_choice_variants(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    out = anthropic_to_openai_request(_body(tool_choice=choice))
    assert {k: v for k, v in out.items() if k in ("tool_choice", "parallel_tool_calls")} == expected


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"model": None}, "model"),
        ({"model": 3}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "Hi"}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "doc"}]},
                ]
            },
            "messages[2].content[1].type",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "tool_result"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "x"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}
                ]
            },
            "messages[0].content[0].source.type",
        ),
        ({"system": [{"type": "image"}]}, "system[0].type"),
        ({"tools": [{"description": "nameless"}]}, "tools[0].name"),
        ({"tools": [{"name": "ok"}, {"name": ""}]}, "tools[1].name"),
        ({"tools": [{"type": "web_search_20250305", "name": "web"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_validation_errors_name_the_param(overrides: dict[str, Any], param: str) -> None:
    with pytest.raises(AnthropicRequestError) as info:
        anthropic_to_openai_request(_body(**overrides))
    assert info.value.param == param
    assert str(info.value).startswith(f"{param}: ")
    assert isinstance(info.value, ValueError)


def test_missing_required_keys_name_the_param() -> None:
    for key in ("model", "max_tokens", "messages"):
        body = _body()
        del body[key]
        with pytest.raises(AnthropicRequestError) as info:
            anthropic_to_openai_request(body)
        assert info.value.param == key


# --- response --------------------------------------------------------------------------------


def _completion(
    message: dict[str, Any], finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    resp: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "model": "gpt-backend",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    resp.update(extra)
    return resp


def test_text_response() -> None:
    resp = _completion({"role": "assistant", "content": "Hello!"})
    out = openai_to_anthropic_response(resp, "claude-x")
    assert out == {
        "id": "msg_chatcmpl-abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }
    Message.model_validate(out)


def test_tool_use_response_with_cached_tokens() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            },
            {"id": "call_2", "type": "function", "function": {"name": "x", "arguments": "{oops"}},
        ],
    }
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    out = openai_to_anthropic_response(
        _completion(message, "tool_calls", id="msg_already", usage=usage), "claude-x"
    )
    assert out == {
        "id": "msg_already",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "x", "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        # Anthropic's input_tokens excludes cache reads; OpenAI's prompt_tokens includes them.
        "usage": {"input_tokens": 40, "output_tokens": 7, "cache_read_input_tokens": 60},
    }
    Message.model_validate(out)


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reason_mapping(finish: str | None, stop_reason: str) -> None:
    out = openai_to_anthropic_response(_completion({"content": "x"}, finish), "m")
    assert out["stop_reason"] == stop_reason


def test_stop_with_tool_calls_reports_tool_use() -> None:
    message = {
        "content": "",
        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": ""}}],
    }
    out = openai_to_anthropic_response(_completion(message, "stop"), "m")
    assert out["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]
    assert out["stop_reason"] == "tool_use"


def test_only_first_choice_and_empty_text_dropped() -> None:
    resp = _completion({"content": ""}, "length")
    resp["choices"].append({"index": 1, "message": {"content": "ignored"}, "finish_reason": "stop"})
    out = openai_to_anthropic_response(resp, "m")
    assert out["content"] == []
    assert out["stop_reason"] == "max_tokens"
    Message.model_validate(out)


# --- streaming -------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def _tool(index: int, args: str, id_: str | None = None, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_ is not None:
        call.update(id=id_, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


STREAM_CHUNKS: list[dict[str, Any]] = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Let me "}),
    _chunk({"content": "check."}),
    _chunk(_tool(0, "", "call_a", "weather")),
    _chunk(_tool(0, '{"city": ')),
    _chunk(_tool(0, '"Paris"}')),
    _chunk(_tool(1, '{"tz"', "call_b", "clock")),
    _chunk(_tool(1, ': "CET"}')),
    _chunk({}, "tool_calls"),
    {"id": "x", "choices": []},  # neither choices nor usage: ignored
    {
        "id": "chatcmpl-s1",
        "choices": [],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    },
]


def _run_stream(chunks: list[dict[str, Any]]) -> list[bytes]:
    translator = AnthropicStreamTranslator("claude-x")
    out: list[bytes] = []
    for chunk in chunks:
        out += translator.feed(chunk)
    out += translator.finish()
    assert translator.finish() == []
    return out


def _parse(raw: bytes) -> tuple[str, dict[str, Any]]:
    """Split one SSE event, checking the exact wire format along the way."""
    assert raw.startswith(b"event: ") and raw.endswith(b"\n\n") and raw.count(b"\n") == 3
    head, data_line, _, _ = raw.split(b"\n")
    assert data_line.startswith(b"data: ")
    data = orjson.loads(data_line[len(b"data: ") :])
    assert data_line[len(b"data: ") :] == orjson.dumps(data)  # compact JSON
    return head[len(b"event: ") :].decode(), data


def test_stream_event_sequence() -> None:
    events = [_parse(raw) for raw in _run_stream(STREAM_CHUNKS)]
    for name, data in events:
        assert name == data["type"]

    def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_start", "index": index, "content_block": block}

    def delta(index: int, d: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": d}

    def stop(index: int) -> dict[str, Any]:
        return {"type": "content_block_stop", "index": index}

    def json_delta(index: int, partial: str) -> dict[str, Any]:
        return delta(index, {"type": "input_json_delta", "partial_json": partial})

    assert [data for _, data in events] == [
        {
            "type": "message_start",
            "message": {
                "id": "msg_chatcmpl-s1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
        },
        start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Let me "}),
        delta(0, {"type": "text_delta", "text": "check."}),
        stop(0),
        start(1, {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}),
        json_delta(1, '{"city": '),
        json_delta(1, '"Paris"}'),
        stop(1),
        start(2, {"type": "tool_use", "id": "call_b", "name": "clock", "input": {}}),
        json_delta(2, '{"tz"'),
        json_delta(2, ': "CET"}'),
        stop(2),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"input_tokens": 16, "output_tokens": 15, "cache_read_input_tokens": 4},
        },
        {"type": "message_stop"},
    ]


def test_stream_is_accepted_by_anthropic_sdk() -> None:
    raw = b"".join(_run_stream(STREAM_CHUNKS))
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for sse in SSEDecoder().iter_bytes(iter([raw])):
        event = STREAM_EVENT.validate_python(sse.json())  # strict shape check per event
        assert sse.event == event.type
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    message = Message.model_validate(snapshot.to_dict())
    # exclude_none: the SDK's accumulator fills optional fields (stop_details, ...) with None.
    assert message.to_dict(exclude_none=True) == {
        "id": "msg_chatcmpl-s1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "call_a", "name": "weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_b", "name": "clock", "input": {"tz": "CET"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 16, "output_tokens": 15, "cache_read_input_tokens": 4},
    }


def test_stream_text_after_tool_opens_new_block_and_fixed_message_id() -> None:
    translator = AnthropicStreamTranslator("m", message_id="msg_fixed")
    raw = translator.feed(_chunk(_tool(0, "{}", "c1", "f")))
    raw += translator.feed(_chunk({"content": "done"}, "stop"))
    raw += translator.finish()
    events = [_parse(r)[1] for r in raw]
    assert events[0]["message"]["id"] == "msg_fixed"
    assert [(e["type"], e.get("index")) for e in events[1:]] == [
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("message_delta", None),
        ("message_stop", None),
    ]
    # "stop" with tool calls still reports tool_use so Anthropic clients run the tool.
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }


def test_stream_usage_on_first_chunk_and_length_finish() -> None:
    translator = AnthropicStreamTranslator("m")
    first = _chunk({"content": "a"})
    first["usage"] = {"prompt_tokens": 9, "completion_tokens": 1}
    raw = translator.feed(first) + translator.feed(_chunk({}, "length")) + translator.finish()
    events = [_parse(r)[1] for r in raw]
    assert events[0]["message"]["usage"] == {"input_tokens": 9, "output_tokens": 0}
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2]["usage"] == {"input_tokens": 9, "output_tokens": 1}


def test_stream_with_no_chunks_still_yields_a_valid_message() -> None:
    translator = AnthropicStreamTranslator("m")
    assert translator.feed({"id": "x", "choices": []}) == []
    names = [_parse(r)[0] for r in translator.finish()]
    assert names == ["message_start", "message_delta", "message_stop"]
    assert translator.feed(_chunk({"content": "late"})) == []


def test_stream_error_event_ends_stream() -> None:
    translator = AnthropicStreamTranslator("m")
    translator.feed(_chunk({"content": "partial"}))
    raw = translator.error("upstream went away", "overloaded_error")
    assert raw == (
        b'event: error\ndata: {"type":"error","error":'
        b'{"type":"overloaded_error","message":"upstream went away"}}\n\n'
    )
    ErrorResponse.model_validate(_parse(raw)[1])
    assert translator.finish() == []

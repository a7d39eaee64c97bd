"""tracing._normalize: each convention read into the same view; real instrumentations' spans."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import openai
import pytest
from openai.resources.chat.completions import Completions
from openai.resources.embeddings import Embeddings
from opentelemetry.sdk.trace import ReadableSpan

from tests.tracing import spans_fixtures as fx
from tracing._normalize import SPAN_KINDS, Normalized, normalize


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def call(call_id: str | None, name: str | None, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def result(call_id: str | None, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def msg(role: str, *parts: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": list(parts)}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return message


# -- OpenTelemetry GenAI semantic conventions, current -------------------------------------


def test_genai_chat_span_with_tool_calls_and_results() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 64,
        "gen_ai.usage.reasoning.output_tokens": 12,
        "gen_ai.conversation.id": "conv-1",
        "enduser.id": "alice",
        "gen_ai.prompt.name": "weather-bot",
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {
                    "role": "assistant",
                    "parts": [
                        # A string of JSON arguments becomes the JSON value.
                        {
                            "type": "tool_call",
                            "id": "c1",
                            "name": "get_weather",
                            "arguments": '{"city": "Paris"}',
                        }
                    ],
                },
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": "c1", "response": {"temp": 21}}],
                },
            ]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Sunny, 21C."}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }

    assert normalize("chat gpt-4o", attributes) == Normalized(
        kind="llm",
        operation="chat",
        model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        provider="openai",
        input_tokens=120,
        output_tokens=30,
        cache_read_tokens=64,
        reasoning_tokens=12,
        session_id="conv-1",
        user_id="alice",
        system_instructions=[text("Be brief.")],
        input_messages=[
            msg("user", text("Weather in Paris?")),
            msg("assistant", call("c1", "get_weather", {"city": "Paris"})),
            msg("tool", result("c1", {"temp": 21})),
        ],
        output_messages=[msg("assistant", text("Sunny, 21C."), finish_reason="stop")],
        prompt_name="weather-bot",
        time_to_first_token_ms=250.0,
    )


def test_genai_execute_tool_span() -> None:
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "c1",
        "gen_ai.tool.call.arguments": '{"city": "Paris"}',
        "gen_ai.tool.call.result": "sunny",
    }

    assert normalize("execute_tool get_weather", attributes) == Normalized(
        kind="tool",
        operation="execute_tool",
        input_value='{"city": "Paris"}',
        output_value="sunny",
        tool_name="get_weather",
    )


@pytest.mark.parametrize(
    ("operation", "kind"),
    [
        ("chat", "llm"),
        ("text_completion", "llm"),
        ("generate_content", "llm"),
        ("embeddings", "embedding"),
        ("execute_tool", "tool"),
        ("invoke_agent", "agent"),
        ("create_agent", "agent"),
        ("retrieval", "retriever"),
        ("invoke_workflow", "chain"),
    ],
)
def test_genai_operation_gives_the_kind(operation: str, kind: str) -> None:
    assert normalize("x", {"gen_ai.operation.name": operation}) == Normalized(
        kind=kind, operation=operation
    )


def test_our_gateway_span_with_spyglass_attributes() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.conversation.id": "from-semconv",
        "spyglass.cost.usd": 0.0012,
        "spyglass.session.id": "from-header",
        "spyglass.user.id": "bob",
        "spyglass.time_to_first_token_ms": 87.5,
        "spyglass.prompt.name": "greeter",
        "spyglass.prompt.version": 3,
    }

    assert normalize("chat claude-sonnet", attributes) == Normalized(
        kind="llm",
        operation="chat",
        model="claude-sonnet",
        provider="anthropic",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.0012,
        session_id="from-header",
        user_id="bob",
        prompt_name="greeter",
        prompt_version="3",
        time_to_first_token_ms=87.5,
    )


def test_structured_message_values_from_otlp_are_taken_as_they_are() -> None:
    # Over OTLP, AnyValue maps and arrays arrive parsed rather than as JSON text.
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        "gen_ai.system_instructions": {"type": "text", "content": "Be kind."},
    }

    view = normalize("chat m", attributes)

    assert view.input_messages == [msg("user", text("hi"))]
    assert view.system_instructions == [text("Be kind.")]


# -- OpenTelemetry GenAI semantic conventions, deprecated ----------------------------------


def test_deprecated_names_and_message_events() -> None:
    attributes = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 50,
        "gen_ai.usage.completion_tokens": 20,
    }
    tool_calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
        }
    ]
    events: list[tuple[str, dict[str, Any]]] = [
        ("gen_ai.system.message", {"content": "Be brief."}),
        ("gen_ai.user.message", {"content": "Weather in Rome?"}),
        ("gen_ai.assistant.message", {"tool_calls": json.dumps(tool_calls)}),
        ("gen_ai.tool.message", {"content": "rainy", "id": "c1"}),
        ("gen_ai.content.completion.chunk", {}),  # an unrelated event
        # Choices out of order; one with its message as JSON, one flattened.
        (
            "gen_ai.choice",
            {
                "index": 1,
                "finish_reason": "length",
                "message.role": "assistant",
                "message.content": "Rain",
            },
        ),
        (
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "stop",
                "message": json.dumps({"role": "assistant", "content": "Rainy."}),
            },
        ),
    ]

    assert normalize("chat gpt-4o", attributes, events) == Normalized(
        kind="llm",
        operation="chat",
        model="gpt-4o",
        provider="openai",
        input_tokens=50,
        output_tokens=20,
        input_messages=[
            msg("system", text("Be brief.")),
            msg("user", text("Weather in Rome?")),
            msg("assistant", call("c1", "get_weather", {"city": "Rome"})),
            msg("tool", result("c1", "rainy")),
        ],
        output_messages=[
            msg("assistant", text("Rainy."), finish_reason="stop"),
            msg("assistant", text("Rain"), finish_reason="length"),
        ],
    )


def test_deprecated_choice_with_tool_calls_and_role_less_tool_message() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("gen_ai.tool.message", {"content": "42"}),
        (
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": json.dumps(
                    {
                        "tool_calls": [
                            {"id": "c2", "function": {"name": "lookup", "arguments": "not json"}}
                        ]
                    }
                ),
            },
        ),
    ]

    view = normalize("span", {"gen_ai.system": "openai"}, events)

    assert view.kind == "llm"
    assert view.input_messages == [msg("tool", result(None, "42"))]
    assert view.output_messages == [
        msg("assistant", call("c2", "lookup", "not json"), finish_reason="tool_call")
    ]


def test_v1_26_prompt_and_completion_events() -> None:
    events = [
        (
            "gen_ai.content.prompt",
            {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi"}])},
        ),
        (
            "gen_ai.content.completion",
            {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Hello!"}])},
        ),
    ]

    view = normalize("chat gpt-4", {"gen_ai.system": "openai"}, events)

    assert (view.kind, view.operation) == ("llm", "chat")
    assert view.input_messages == [msg("user", text("Hi"))]
    assert view.output_messages == [msg("assistant", text("Hello!"))]


# -- OpenInference ---------------------------------------------------------------------------


def test_openinference_llm_span() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "mistral-large-2411",
        "llm.invocation_parameters": json.dumps(
            {"model": "mistral-large-latest", "temperature": 0}
        ),
        "llm.provider": "mistralai",
        "llm.system": "mistralai",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 40,
        "llm.token_count.total": 140,
        "llm.token_count.prompt_details.cache_read": 10,
        "llm.token_count.completion_details.reasoning": 5,
        "llm.cost.total": 0.5,
        "session.id": "s-9",
        "user.id": "carol",
        "prompt.id": "describe-image",
        "llm.prompt_template.template": "Describe {thing}",
        "llm.prompt_template.version": "v2",
        "input.value": '{"messages": []}',
        "input.mime_type": "application/json",
        "output.value": "ok",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You see images.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "What is this?",
        "llm.input_messages.1.message.contents.1.message_content.type": "image",
        "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://x.test/cat.png",
        "llm.input_messages.2.message.role": "assistant",
        "llm.input_messages.2.message.tool_calls.0.tool_call.id": "t1",
        "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "classify",
        "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"url": "cat.png"}',
        "llm.input_messages.3.message.role": "tool",
        "llm.input_messages.3.message.tool_call_id": "t1",
        "llm.input_messages.3.message.content": "cat",
        # Index 10 sorts after 3, not after 1.
        "llm.input_messages.10.message.role": "user",
        "llm.input_messages.10.message.content": "And now?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "A cat.",
        "llm.finish_reason": "stop",
    }

    assert normalize("ChatCompletion", attributes) == Normalized(
        kind="llm",
        operation="chat",
        model="mistral-large-latest",
        response_model="mistral-large-2411",
        provider="mistral_ai",
        input_tokens=100,
        output_tokens=40,
        cache_read_tokens=10,
        reasoning_tokens=5,
        cost_usd=0.5,
        session_id="s-9",
        user_id="carol",
        input_messages=[
            msg("system", text("You see images.")),
            msg(
                "user",
                text("What is this?"),
                {"type": "uri", "modality": "image", "uri": "https://x.test/cat.png"},
            ),
            msg("assistant", call("t1", "classify", {"url": "cat.png"})),
            msg("tool", result("t1", "cat")),
            msg("user", text("And now?")),
        ],
        output_messages=[msg("assistant", text("A cat."), finish_reason="stop")],
        input_value='{"messages": []}',
        output_value="ok",
        prompt_name="describe-image",
        prompt_version="v2",
    )


@pytest.mark.parametrize(
    ("span_kind", "kind", "operation"),
    [
        ("CHAIN", "chain", None),
        ("AGENT", "agent", "invoke_agent"),
        ("RETRIEVER", "retriever", "retrieval"),
        ("RERANKER", "reranker", None),
        ("GUARDRAIL", "guardrail", None),
        ("EVALUATOR", "evaluator", None),
        ("EMBEDDING", "embedding", "embeddings"),
        ("agent", "agent", "invoke_agent"),
    ],
)
def test_openinference_span_kinds(span_kind: str, kind: str, operation: str | None) -> None:
    attributes = {"openinference.span.kind": span_kind, "input.value": "q", "output.value": "a"}

    assert normalize("step", attributes) == Normalized(
        kind=kind, operation=operation, input_value="q", output_value="a"
    )


def test_openinference_tool_span() -> None:
    attributes = {
        "openinference.span.kind": "TOOL",
        "tool.name": "search",
        "input.value": '{"query": "otel"}',
        "output.value": "3 results",
    }

    assert normalize("search", attributes) == Normalized(
        kind="tool",
        operation="execute_tool",
        input_value='{"query": "otel"}',
        output_value="3 results",
        tool_name="search",
    )


def test_openinference_completions_prompts_and_choices() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-3.5-turbo-instruct",
        "llm.prompts.0.prompt.text": "Once upon",
        "llm.choices.0.completion.text": " a time",
    }

    view = normalize("Completion", attributes)

    assert (view.kind, view.operation, view.model) == (
        "llm",
        "text_completion",
        "gpt-3.5-turbo-instruct",
    )
    assert view.input_messages == [msg("user", text("Once upon"))]
    assert view.output_messages == [msg("assistant", text(" a time"))]


# -- OpenLLMetry (traceloop) -------------------------------------------------------------


def test_openllmetry_legacy_indexed_prompts_and_completions() -> None:
    attributes = {
        "llm.request.type": "chat",
        "gen_ai.system": "az.ai.openai",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.response.model": "gpt-4-0613",
        "gen_ai.usage.prompt_tokens": 33,
        "gen_ai.usage.completion_tokens": 11,
        "gen_ai.usage.cache_read_input_tokens": 3,
        "llm.usage.reasoning_tokens": 0,
        "traceloop.association.properties.session_id": "s-1",
        "traceloop.association.properties.user_id": "dave",
        "traceloop.prompt.key": "support",
        "traceloop.prompt.version": 7,
        "gen_ai.prompt.0.role": "user",
        # Older OpenLLMetry writes multimodal content as a JSON list of OpenAI parts.
        "gen_ai.prompt.0.content": json.dumps(
            [
                {"type": "text", "text": "What is in it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}},
            ]
        ),
        "gen_ai.prompt.1.role": "assistant",
        "gen_ai.prompt.1.tool_calls.0.id": "c1",
        "gen_ai.prompt.1.tool_calls.0.name": "ocr",
        "gen_ai.prompt.1.tool_calls.0.arguments": "{}",
        "gen_ai.prompt.2.role": "tool",
        "gen_ai.prompt.2.tool_call_id": "c1",
        "gen_ai.prompt.2.content": "OPEN",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.0.id": "c2",
        "gen_ai.completion.0.tool_calls.0.name": "translate",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"text": "OPEN", "to": "fr"}',
    }

    assert normalize("openai.chat", attributes) == Normalized(
        kind="llm",
        operation="chat",
        model="gpt-4",
        response_model="gpt-4-0613",
        provider="azure.ai.openai",
        input_tokens=33,
        output_tokens=11,
        cache_read_tokens=3,
        reasoning_tokens=0,
        session_id="s-1",
        user_id="dave",
        input_messages=[
            msg(
                "user",
                text("What is in it?"),
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "iVBORw0",
                },
            ),
            msg("assistant", call("c1", "ocr", {})),
            msg("tool", result("c1", "OPEN")),
        ],
        output_messages=[
            msg(
                "assistant",
                call("c2", "translate", {"text": "OPEN", "to": "fr"}),
                finish_reason="tool_call",
            )
        ],
        prompt_name="support",
        prompt_version="7",
    )


@pytest.mark.parametrize(
    ("span_kind", "kind", "operation", "tool_name"),
    [
        ("workflow", "chain", "invoke_workflow", None),
        ("task", "chain", None, None),
        ("agent", "agent", "invoke_agent", None),
        ("tool", "tool", "execute_tool", "fetch_page"),
    ],
)
def test_traceloop_entity_spans(
    span_kind: str, kind: str, operation: str | None, tool_name: str | None
) -> None:
    attributes = {
        "traceloop.span.kind": span_kind,
        "traceloop.entity.name": "fetch_page",
        "traceloop.entity.input": '{"args": ["https://x.test"], "kwargs": {}}',
        "traceloop.entity.output": '"<html>"',
        "traceloop.association.properties.session_id": "s-2",
    }

    assert normalize(f"fetch_page.{span_kind}", attributes) == Normalized(
        kind=kind,
        operation=operation,
        session_id="s-2",
        input_value='{"args": ["https://x.test"], "kwargs": {}}',
        output_value='"<html>"',
        tool_name=tool_name,
    )


def test_openllmetry_legacy_embedding_span() -> None:
    attributes = {
        "llm.request.type": "embedding",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.prompt.0.content": "hello",
        "gen_ai.usage.prompt_tokens": 1,
    }

    assert normalize("openai.embeddings", attributes) == Normalized(
        kind="embedding",
        operation="embeddings",
        model="text-embedding-3-small",
        provider="openai",
        input_tokens=1,
        input_messages=[msg("user", text("hello"))],
    )


# -- odd input ---------------------------------------------------------------------------


def test_malformed_json_is_kept_as_text() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system_instructions": "Be brief.",  # plain text, not JSON
        "gen_ai.input.messages": '[{"role": "user", "parts": [',  # cut off
        "gen_ai.output.messages": "42",  # JSON, but not a list of messages
        "gen_ai.usage.input_tokens": "17",  # a number as text
        "gen_ai.usage.output_tokens": "many",
        "gen_ai.usage.cache_read.input_tokens": float("nan"),
        "gen_ai.usage.reasoning.output_tokens": True,
        "gen_ai.request.model": "",
        "gen_ai.response.model": ["not", "a", "name"],
    }

    assert normalize("chat", attributes) == Normalized(
        kind="llm",
        operation="chat",
        input_tokens=17,
        system_instructions=[text("Be brief.")],
        input_messages=[msg("user", text('[{"role": "user", "parts": ['))],
        output_messages=[msg("assistant", text("42"))],
    )


def test_odd_messages_and_parts_are_coerced() -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        # A bare message object, a string in place of a message, a string in place of a part.
        "gen_ai.input.messages": json.dumps({"role": "user", "parts": ["plain"]}),
        "gen_ai.output.messages": json.dumps(
            ["just text", {"parts": [{"type": "reasoning", "content": "hm"}]}]
        ),
    }

    view = normalize("chat m", attributes)

    assert view.input_messages == [msg("user", text("plain"))]
    assert view.output_messages == [
        msg("assistant", text("just text")),
        msg("assistant", {"type": "reasoning", "content": "hm"}),
    ]


def test_openinference_garbage_does_not_raise() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.invocation_parameters": "{not json",
        "llm.input_messages.x.message.role": "user",  # no index
        "llm.input_messages.0": "no field",
        "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": "{",
        "llm.prompts": "a string, not a list",
    }

    assert normalize("ChatCompletion", attributes) == Normalized(
        kind="llm",
        operation="chat",
        input_messages=[msg("user", call(None, None, "{"))],
    )


# -- which convention wins ---------------------------------------------------------------


def test_precedence_current_then_deprecated_then_openinference_then_openllmetry() -> None:
    attributes = {
        # Current semconv names only the operation, the request model and the input tokens.
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "current-model",
        "gen_ai.usage.input_tokens": 1,
        # Deprecated semconv: provider and output tokens (input tokens lose to current).
        "gen_ai.system": "deprecated-provider",
        "gen_ai.usage.prompt_tokens": 2,
        "gen_ai.usage.completion_tokens": 2,
        # OpenInference: loses everything above, wins session, cost and messages.
        "openinference.span.kind": "AGENT",
        "llm.model_name": "oi-model",
        "llm.provider": "oi-provider",
        "llm.token_count.prompt": 3,
        "llm.token_count.completion": 3,
        "llm.token_count.prompt_details.cache_read": 3,
        "session.id": "oi-session",
        "llm.cost.total": 3.0,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "from openinference",
        # OpenLLMetry: last; only the fields nobody else has.
        "traceloop.span.kind": "workflow",
        "traceloop.association.properties.session_id": "tl-session",
        "traceloop.association.properties.user_id": "tl-user",
        "gen_ai.usage.reasoning_tokens": 4,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "from openllmetry",
        "traceloop.entity.input": "tl-input",
    }

    assert normalize("chat current-model", attributes) == Normalized(
        kind="llm",
        operation="chat",
        model="current-model",
        response_model="oi-model",
        provider="deprecated-provider",
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        reasoning_tokens=4,
        cost_usd=3.0,
        session_id="oi-session",
        user_id="tl-user",
        input_messages=[msg("user", text("from openinference"))],
        input_value="tl-input",
    )


def test_deprecated_events_beat_openinference_messages() -> None:
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "oi",
    }
    events = [("gen_ai.user.message", {"content": "event"})]

    assert normalize("x", attributes, events).input_messages == [msg("user", text("event"))]


def test_spyglass_cost_beats_openinference_cost() -> None:
    attributes = {
        "spyglass.cost.usd": 0.25,
        "llm.cost.total": 9.0,
        "openinference.span.kind": "LLM",
    }

    assert normalize("x", attributes).cost_usd == 0.25


# -- spans no convention marks -------------------------------------------------------------


def test_plain_span_is_kind_span() -> None:
    attributes = {"http.request.method": "POST", "url.path": "/chat"}

    assert normalize("POST /chat", attributes) == Normalized()
    assert normalize("chat", {}) == Normalized()  # a lone word is not "{operation} {model}"


def test_semconv_shaped_name_gives_the_kind() -> None:
    assert normalize("invoke_agent planner", {}) == Normalized(
        kind="agent", operation="invoke_agent"
    )


def test_llm_fields_without_a_marker_give_llm() -> None:
    attributes = {"gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai"}

    assert normalize("call_llm", attributes) == Normalized(
        kind="llm", model="gpt-4o", provider="openai"
    )


def test_every_kind_is_listed() -> None:
    assert set(SPAN_KINDS) == {
        "llm", "embedding", "chain", "agent", "tool", "retriever", "reranker", "guardrail", "evaluator", "prompt", "span",
    }  # fmt: skip


# -- spans made by the real instrumentation libraries -------------------------------------

LIBRARIES: list[fx.Library] = ["openinference", "openllmetry"]
TOOLS_INPUT = [
    msg("system", text("Answer briefly.")),
    msg("user", text("Weather in Paris and Rome?")),
]
TOOLS_OUTPUT = [
    msg(
        "assistant",
        call("call_paris", "get_weather", {"city": "Paris"}),
        call("call_rome", "get_weather", {"city": "Rome"}),
        finish_reason="tool_call",
    )
]
CHAT_INPUT = [
    msg("user", text("Weather in Paris?")),
    msg("assistant", call("call_paris", "get_weather", {"city": "Paris"})),
    msg("tool", result("call_paris", "sunny, 21C")),
]


def only_span(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def normalize_span(span: ReadableSpan) -> Normalized:
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return normalize(span.name, dict(span.attributes or {}), events)


def without_raw_values(view: Normalized) -> Normalized:
    return dataclasses.replace(view, input_value=None, output_value=None)


@pytest.mark.parametrize("library", LIBRARIES)
def test_real_tool_call(library: fx.Library) -> None:
    view = normalize_span(only_span(fx.instrumented_spans(library, "tools")))

    assert without_raw_values(view) == Normalized(
        kind="llm",
        operation="chat",
        model=fx.CHAT_MODEL,
        response_model=fx.CHAT_RESPONSE_MODEL,
        provider="openai",
        input_tokens=52,
        output_tokens=31,
        cache_read_tokens=16,
        reasoning_tokens=8,
        input_messages=TOOLS_INPUT,
        output_messages=TOOLS_OUTPUT,
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_real_chat_with_tool_results_in_its_history(library: fx.Library) -> None:
    view = normalize_span(only_span(fx.instrumented_spans(library, "chat")))

    assert without_raw_values(view) == Normalized(
        kind="llm",
        operation="chat",
        model=fx.CHAT_MODEL,
        response_model=fx.CHAT_RESPONSE_MODEL,
        provider="openai",
        input_tokens=40,
        output_tokens=9,
        user_id=fx.CHAT_USER,
        input_messages=CHAT_INPUT,
        output_messages=[msg("assistant", text("Sunny and 21C in Paris."), finish_reason="stop")],
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_real_stream(library: fx.Library) -> None:
    view = normalize_span(only_span(fx.instrumented_spans(library, "stream")))

    assert without_raw_values(view) == Normalized(
        kind="llm",
        operation="chat",
        model=fx.CHAT_MODEL,
        response_model=fx.CHAT_RESPONSE_MODEL,
        provider="openai",
        input_tokens=8,
        output_tokens=3,
        input_messages=[msg("user", text("Say hello"))],
        output_messages=[msg("assistant", text("Hello there"), finish_reason="stop")],
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_real_embeddings(library: fx.Library) -> None:
    view = normalize_span(only_span(fx.instrumented_spans(library, "embeddings")))

    # OpenLLMetry also reports the response's model and a zero cache read; OpenInference neither.
    openllmetry = library == "openllmetry"
    assert without_raw_values(view) == Normalized(
        kind="embedding",
        operation="embeddings",
        model=fx.EMBEDDING_MODEL,
        response_model=fx.EMBEDDING_MODEL if openllmetry else None,
        provider="openai",
        input_tokens=2,
        cache_read_tokens=0 if openllmetry else None,
        input_messages=[msg("user", text("hello")), msg("user", text("world"))],
    )


def test_real_openinference_keeps_request_and_response_bodies() -> None:
    view = normalize_span(only_span(fx.instrumented_spans("openinference", "tools")))

    assert view.input_value is not None and view.output_value is not None
    assert json.loads(view.input_value)["messages"] == fx.TOOLS_REQUEST
    assert json.loads(view.output_value)["id"] == fx.TOOLS_RESPONSE["id"]


def test_real_openinference_with_genai_semconv_too_reads_the_semconv() -> None:
    # With enable_genai_semconv, OpenInference writes both conventions; the semconv wins,
    # including its request model, which this OpenInference version fills from the response.
    spans = fx.instrumented_spans("openinference", "tools", genai_semconv=True)
    view = normalize_span(only_span(spans))

    assert without_raw_values(view) == Normalized(
        kind="llm",
        operation="chat",
        model=fx.CHAT_RESPONSE_MODEL,
        response_model=fx.CHAT_RESPONSE_MODEL,
        provider="openai",
        input_tokens=52,
        output_tokens=31,
        cache_read_tokens=16,
        reasoning_tokens=8,  # only in OpenInference's attributes
        input_messages=TOOLS_INPUT,
        output_messages=TOOLS_OUTPUT,
    )


def test_instrumentation_is_removed_afterwards() -> None:
    originals = (vars(Completions)["create"], vars(Embeddings)["create"], openai.OpenAI.request)

    for library in LIBRARIES:
        fx.instrumented_spans(library, "chat")

    assert (
        vars(Completions)["create"],
        vars(Embeddings)["create"],
        openai.OpenAI.request,
    ) == originals
    assert not any(hasattr(original, "_self_wrapper") for original in originals)  # wrapt's

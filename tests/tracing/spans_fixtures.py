"""Spans made by the real OpenInference and OpenLLMetry instrumentations of the openai SDK.

``instrumented_spans(kind, call)`` instruments ``openai`` with one of the two libraries, makes
one real SDK call whose HTTP is answered by respx, uninstruments, and returns the finished
spans. The answers (and so the values to expect) are the constants below.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal
from unittest import mock

import httpx
import openai
import respx
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

Library = Literal["openinference", "openllmetry"]
Call = Literal["chat", "tools", "stream", "embeddings"]

BASE_URL = "http://fake.test/v1"
CHAT_MODEL = "gpt-4o-mini"
CHAT_RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
EMBEDDING_MODEL = "text-embedding-3-small"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# "tools": the model asks for two tool calls.
TOOLS_REQUEST: Any = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
]
TOOLS_RESPONSE: Any = {
    "id": "chatcmpl-tools",
    "object": "chat.completion",
    "created": 1700000000,
    "model": CHAT_RESPONSE_MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_paris",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_rome",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 52,
        "completion_tokens": 31,
        "total_tokens": 83,
        "prompt_tokens_details": {"cached_tokens": 16},
        "completion_tokens_details": {"reasoning_tokens": 8},
    },
}
# "chat": a text answer to a history that holds a tool call and its result.
CHAT_REQUEST: Any = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": "sunny, 21C"},
]
CHAT_USER = "user-42"
CHAT_RESPONSE: Any = {
    "id": "chatcmpl-chat",
    "object": "chat.completion",
    "created": 1700000000,
    "model": CHAT_RESPONSE_MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Sunny and 21C in Paris."},
        }
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49},
}
# "stream": the answer arrives in pieces, usage in the last chunk.
STREAM_REQUEST: Any = [{"role": "user", "content": "Say hello"}]
STREAM_PIECES = ["Hel", "lo", " there"]
STREAM_USAGE = {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}
EMBEDDING_INPUT = ["hello", "world"]
EMBEDDING_RESPONSE: Any = {
    "object": "list",
    "model": EMBEDDING_MODEL,
    "data": [
        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
        {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
    ],
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}


def _stream_body() -> str:
    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": CHAT_RESPONSE_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": STREAM_PIECES[0]}, None)]
    chunks += [chunk({"content": piece}, None) for piece in STREAM_PIECES[1:]]
    chunks.append(chunk({}, "stop"))
    chunks.append({**chunk({}, None), "choices": [], "usage": STREAM_USAGE})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _call(client: openai.OpenAI, call: Call) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        if call == "tools":
            router.post("/chat/completions").respond(200, json=TOOLS_RESPONSE)
            client.chat.completions.create(
                model=CHAT_MODEL,
                messages=TOOLS_REQUEST,
                tools=[WEATHER_TOOL],
            )
        elif call == "chat":
            router.post("/chat/completions").respond(200, json=CHAT_RESPONSE)
            client.chat.completions.create(
                model=CHAT_MODEL,
                messages=CHAT_REQUEST,
                user=CHAT_USER,
            )
        elif call == "stream":
            router.post("/chat/completions").mock(
                return_value=httpx.Response(
                    200, text=_stream_body(), headers={"content-type": "text/event-stream"}
                )
            )
            stream = client.chat.completions.create(
                model=CHAT_MODEL,
                messages=STREAM_REQUEST,
                stream=True,
                stream_options={"include_usage": True},
            )
            for _ in stream:
                pass
        else:
            router.post("/embeddings").respond(200, json=EMBEDDING_RESPONSE)
            client.embeddings.create(model=EMBEDDING_MODEL, input=EMBEDDING_INPUT)


@contextmanager
def instrumented(library: Library, provider: TracerProvider, genai_semconv: bool) -> Iterator[None]:
    """``openai`` instrumented by ``library`` for the duration, sending spans to ``provider``."""
    if library == "openinference":
        from openinference.instrumentation import TraceConfig
        from openinference.instrumentation.openai import OpenAIInstrumentor

        # Explicit settings, so no OPENINFERENCE_* variable of the environment changes them.
        config = TraceConfig(
            hide_inputs=False,
            hide_outputs=False,
            hide_input_messages=False,
            hide_output_messages=False,
            hide_embeddings_text=False,
            enable_genai_semconv=genai_semconv,
        )
        instrumentor: Any = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=provider, config=config)
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

        instrumentor = OpenLLMetry()
        # Its metrics go nowhere, not to whatever global meter provider a test left behind.
        instrumentor.instrument(tracer_provider=provider, meter_provider=NoOpMeterProvider())
    try:
        yield
    finally:
        instrumentor.uninstrument()
        if library == "openllmetry":
            _unwrap_openllmetry()


def _unwrap_openllmetry() -> None:
    """Take off the wrappers OpenLLMetry's ``uninstrument()`` leaves on the openai SDK.

    opentelemetry-instrumentation-openai 0.62.4 unwraps with ``unwrap("openai.resources.chat
    .completions", "Completions.create")``, which OTel's ``unwrap`` reads as attribute
    ``"Completions.create"`` of module ``openai.resources.chat.completions``: nothing is
    unwrapped, and each later ``instrument()`` stacks another layer on the last.
    """
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("openai.") or module is None:
            continue
        for owner in list(vars(module).values()):
            if not (inspect.isclass(owner) and owner.__module__ == module_name):
                continue
            for attribute, value in list(vars(owner).items()):
                while _is_openllmetry_wrapper(value):
                    value = value.__wrapped__
                    setattr(owner, attribute, value)


def _is_openllmetry_wrapper(value: Any) -> bool:
    wrapper = getattr(value, "_self_wrapper", None)  # a wrapt FunctionWrapper
    module = getattr(wrapper, "__module__", None) or ""
    return hasattr(value, "__wrapped__") and module.startswith(
        "opentelemetry.instrumentation.openai"
    )


def instrumented_spans(
    kind: Library, call: Call, *, genai_semconv: bool = False
) -> list[ReadableSpan]:
    """The spans one real ``openai`` call makes when instrumented by ``kind``.

    Args:
        kind: which instrumentation library: OpenInference's or OpenLLMetry's.
        call: ``"tools"`` (answer: two tool calls), ``"chat"`` (a text answer to a history
            with a tool call and its result), ``"stream"`` (a streamed text answer) or
            ``"embeddings"`` (two inputs).
        genai_semconv: OpenInference only: also write the GenAI semconv attributes
            (its ``enable_genai_semconv`` option).

    Returns:
        The finished spans, in the order they ended.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = openai.OpenAI(base_url=BASE_URL, api_key="sk-test", max_retries=0)
    try:
        with instrumented(kind, provider, genai_semconv):
            # TRACELOOP_TRACE_CONTENT is read at each call, not at instrument().
            with mock.patch.dict(os.environ, {"TRACELOOP_TRACE_CONTENT": "true"}):
                _call(client, call)
    finally:
        client.close()
        provider.shutdown()
    return list(exporter.get_finished_spans())

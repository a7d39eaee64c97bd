"""The receiver's direct path (OTLP -> store rows) gives exactly the rows of the SDK path
(OTLP -> SDK spans -> content policy -> ``span_to_row``), whatever the spans carry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.tracing.test_otlp import (
    CONTENT_ATTRIBUTES,
    CONTENT_EVENTS,
    message,
    new_trace_id,
    pb_request,
    pb_span,
    text,
    tool_call,
)
from tracing._convert import otlp_to_rows, otlp_to_spans, span_to_row
from tracing._pipeline import ContentPolicyProcessor
from tracing._projects import Sender


class _Sink:
    def on_end(self, span: Any) -> None: ...

    def on_start(self, span: Any, parent_context: Any = None) -> None: ...

    def shutdown(self) -> None: ...

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _both(
    request: Any, *, capture: bool = True, limit: int = 64 * 1024, sender: Sender | None = None
) -> tuple[Any, Any]:
    processor = ContentPolicyProcessor(
        _Sink(),  # type: ignore[arg-type]
        capture_content=capture,
        max_attribute_bytes=limit,
    )
    spans, rejected = otlp_to_spans(request, sender)
    sdk_rows = [span_to_row(processor.apply(span)) for span in spans]
    direct_rows, direct_rejected = otlp_to_rows(request, processor.policy, sender)
    assert direct_rejected == rejected
    return direct_rows, sdk_rows


def _semconv_chat() -> SpanProto:
    return pb_span(
        "chat gpt-4o",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.request.temperature": 0.5,
            "gen_ai.conversation.id": "s-1",
            "gen_ai.prompt.name": "support",
            "gen_ai.prompt.version": "3",
            "gen_ai.input.messages": json.dumps(
                [message("user", text("hello")), message("assistant", tool_call("c1", "f", {}))]
            ),
            "gen_ai.output.messages": json.dumps(
                [message("assistant", text("hi"), finish_reason="stop")]
            ),
        },
    )


def _openinference_llm() -> SpanProto:
    return pb_span(
        "ChatCompletion",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 7,
            "llm.token_count.completion": 2,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "what is 2+2?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "4",
            "input.value": '{"messages": []}',
            "session.id": "sess",
            "user.id": "u-1",
        },
    )


def _openllmetry_task() -> SpanProto:
    return pb_span(
        "answer.task",
        attributes={
            "traceloop.span.kind": "task",
            "traceloop.entity.name": "answer",
            "traceloop.entity.input": '{"q": "x"}',
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "question",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "answer",
            "llm.request.type": "chat",
        },
    )


def _odd_values() -> SpanProto:
    """Secrets, bytes, maps, nested arrays, a parent, an error status, a server kind."""
    span = pb_span(
        "odd",
        attributes={"api_key": "sk-secret", "http.request.header.authorization": "Bearer x"},
        events={"retry": {"attempt": 1, "x-api-key": "k"}, "exception": {"message": "boom"}},
    )
    span.attributes.append(KeyValue(key="raw", value=AnyValue(bytes_value=b"\x00\xff")))
    span.attributes.append(
        KeyValue(
            key="map",
            value=AnyValue(
                kvlist_value=KeyValueList(values=[KeyValue(key="a", value=AnyValue(int_value=1))])
            ),
        )
    )
    span.parent_span_id = b"\x01" * 8
    span.kind = SpanProto.SPAN_KIND_SERVER
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="failed"))
    return span


SPANS = {
    "semconv chat": _semconv_chat,
    "openinference llm": _openinference_llm,
    "openllmetry task": _openllmetry_task,
    "odd values": _odd_values,
    "content attributes and events": lambda: pb_span(
        "chat gpt-4o", attributes=CONTENT_ATTRIBUTES, events=CONTENT_EVENTS
    ),
    "a long value": lambda: pb_span("long", attributes={"doc": "é" * 5000, "n": 1}),
}


@pytest.mark.parametrize("capture", [True, False], ids=["capture", "no-capture"])
@pytest.mark.parametrize("make", SPANS.values(), ids=SPANS.keys())
def test_direct_rows_equal_the_sdk_path(make: Any, capture: bool) -> None:
    request = pb_request(make(), make())
    direct, sdk = _both(request, capture=capture, limit=4096)
    assert len(direct) == 2
    assert direct == sdk


def test_invalid_spans_are_rejected_alike() -> None:
    request = pb_request(
        _semconv_chat(), pb_span("bad", trace_id=b"\x00" * 16), pb_span("short", trace_id=b"1")
    )
    direct, sdk = _both(request)
    assert [row["name"] for row in direct] == ["chat gpt-4o"]
    assert direct == sdk


def test_a_trace_in_several_requests_keeps_its_ids() -> None:
    trace_id = new_trace_id()
    direct, _ = _both(pb_request(pb_span("a", trace_id=trace_id), pb_span("b", trace_id=trace_id)))
    assert {row["trace_id"] for row in direct} == {trace_id}
    assert all(len(row["span_id"]) == 16 for row in direct)


def test_the_senders_project_and_key_id_apply_on_both_paths() -> None:
    """A confined key's project replaces the client's; a key id it may not vouch for goes."""
    claims = {"spyglass.project": "B", "spyglass.key.id": "someone-else", "n": 1}
    request = pb_request(pb_span("claimed", attributes=claims))
    direct, sdk = _both(request, sender=Sender("A", keep_key_ids=False))
    assert direct == sdk
    assert direct[0]["project"] == "A" and direct[0]["key_id"] is None
    assert direct[0]["attributes"] == {"spyglass.project": "A", "n": 1}
    kept, _ = _both(request, sender=Sender(None, keep_key_ids=True))
    assert kept[0]["project"] == "B" and kept[0]["key_id"] == "someone-else"

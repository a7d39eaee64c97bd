"""An instrumented agent in its own process: its spans go to a server over OTLP/HTTP (protobuf).

Run by ``test_otlp.py`` as ``python otlp_producer.py URL COMPRESSION``: the real SDK's
``BatchSpanProcessor`` and ``OTLPSpanExporter`` send one trace to ``URL/v1/traces``. It prints,
as JSON, the ids it made, each export's result, and each request's Content-Encoding.

The trace: ``agent run`` (agent) -> ``chat gpt-4o`` (llm, asks for a tool, with an event),
``execute_tool search`` (tool, raises), ``chat gpt-4o`` (llm, answers).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind

QUESTION = [{"type": "text", "content": "Who won the 1998 World Cup?"}]
CALL = {
    "type": "tool_call",
    "id": "call_1",
    "name": "search",
    "arguments": {"query": "1998 World Cup winner"},
}


class RecordingSession(requests.Session):
    """Notes the Content-Encoding of each request it sends."""

    encodings: ClassVar[list[str]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.encodings.append(str(request.headers.get("Content-Encoding", "identity")))
        return super().send(request, **kwargs)


class RecordingExporter(OTLPSpanExporter):
    """Notes the result of each export."""

    results: ClassVar[list[str]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result.name)
        return result


def messages(*items: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in items])


def main(url: str, compression: str) -> None:
    exporter = RecordingExporter(
        endpoint=f"{url}/v1/traces",
        compression=Compression(compression),
        session=RecordingSession(),
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "research-agent"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("research-agent", "1.0")
    ids: dict[str, SpanContext] = {}
    agent_attributes: dict[str, Any] = {
        "openinference.span.kind": "AGENT",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "researcher",
        "session.id": "session-7",
    }
    with tracer.start_as_current_span("agent run", attributes=agent_attributes) as agent:
        ids["agent"] = agent.get_span_context()
        plan_attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.stream": False,
            "gen_ai.response.finish_reasons": ["tool_calls"],
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 15,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Use search."}]),
            "gen_ai.input.messages": messages(("user", QUESTION)),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [CALL], "finish_reason": "tool_call"}]
            ),
        }
        with tracer.start_as_current_span(
            "chat gpt-4o", kind=SpanKind.CLIENT, attributes=plan_attributes
        ) as plan:
            ids["plan"] = plan.get_span_context()
            plan.add_event("rate limited", {"retry.attempt": 1, "retry.after_s": 0.5})
        tool_attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps(CALL["arguments"]),
        }
        try:
            with tracer.start_as_current_span(
                "execute_tool search", attributes=tool_attributes
            ) as search:
                ids["search"] = search.get_span_context()
                raise TimeoutError("search backend timed out")
        except TimeoutError:
            pass  # the SDK has recorded it on the span: status and an exception event
        result = {"type": "tool_call_response", "id": "call_1", "response": "timed out"}
        answer_attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 200,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.input.messages": messages(
                ("user", QUESTION), ("assistant", [CALL]), ("tool", [result])
            ),
            "gen_ai.output.messages": messages(
                ("assistant", [{"type": "text", "content": "France, I believe."}])
            ),
        }
        with tracer.start_as_current_span(
            "chat gpt-4o", kind=SpanKind.CLIENT, attributes=answer_attributes
        ) as answer:
            ids["answer"] = answer.get_span_context()
    provider.shutdown()  # flushes the batch
    report = {
        "trace_id": f"{ids['agent'].trace_id:032x}",
        "spans": {name: f"{context.span_id:016x}" for name, context in ids.items()},
        "results": RecordingExporter.results,
        "encodings": RecordingSession.encodings,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""OTLP end to end: spans sent to ``POST /v1/traces`` of real servers, read back through ``/api``.

Producers are the real OpenTelemetry SDK and exporter (in another process, and in this one), the
real OpenInference and OpenLLMetry instrumentations, and hand-built OTLP messages for the
protocol's edges. Every test asserts what the trace API shows, not only the status code.

Two ``spyglass serve`` processes are shared by the module, each start costing a second or two:
``hub``, a plain Spyglass with a mock model (the receiver and collector), and ``edge``, whose
deployment calls the hub's mock with a secret key and which exports its spans to the hub.
Protocol and content-policy tests drive the app in-process, with their own settings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import openai as openai_sdk
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spyglass import Settings
from tests.conftest import Server, running_app, write_config
from tests.tracing import spans_fixtures as fx

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
REPLY = "It is sunny in Paris."
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
UPSTREAM_KEY = "sk-secret-grep-me-123"
OTLP_SECRETS = ("sk-otlp-secret-456", "sk-otlp-secret-789", "sk-otlp-event-secret-012")
WAIT_SECONDS = 5.0

MOCK_CHAT = {
    "model_name": "chat",
    "litellm_params": {
        "model": "mock/chat",
        "mock_response": REPLY,
        "mock_prompt_tokens": PROMPT_TOKENS,
        "mock_completion_tokens": COMPLETION_TOKENS,
    },
}


# -- helpers: ids, requests, polling ----------------------------------------------------------


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def message(role: str, *parts: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"role": role, "parts": list(parts)}
    if finish_reason is not None:
        found["finish_reason"] = finish_reason
    return found


async def chat(
    client: httpx.AsyncClient,
    trace_id: str | None = None,
    *,
    content: str = "Weather in Paris?",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A chat completion through the gateway; in trace ``trace_id`` when given (traceparent)."""
    headers = dict(headers or {})
    if trace_id is not None:
        headers["traceparent"] = f"00-{trace_id}-{new_span_id()}-01"
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": content}]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response


async def wait_for_trace(
    client: httpx.AsyncClient, trace_id: str, spans: int = 1, timeout: float = WAIT_SECONDS
) -> dict[str, Any]:
    """``GET /api/traces/{id}`` until it holds ``spans`` spans: spans are written by a queue."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/traces/{trace_id}")
        if response.status_code == 200 and len(response.json()["spans"]) >= spans:
            found: dict[str, Any] = response.json()
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"trace {trace_id} not stored with {spans} span(s) after {timeout}s: "
                f"{response.status_code} {response.text[:1000]}"
            )
        await asyncio.sleep(0.05)


def only(spans: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The one span whose fields have these values."""
    matches = [s for s in spans if all(s.get(k) == v for k, v in fields.items())]
    assert len(matches) == 1, (fields, [(s["name"], s["span_kind"]) for s in spans])
    return matches[0]


@contextlib.asynccontextmanager
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
        yield client


# -- helpers: OTLP messages -------------------------------------------------------------------


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def pb_span(
    name: str,
    *,
    trace_id: str | bytes | None = None,
    attributes: dict[str, Any] | None = None,
    events: dict[str, dict[str, Any]] | None = None,
) -> SpanProto:
    """A finished OTLP span; ``trace_id`` as hex, raw bytes (to make invalid ones) or new.

    ``events`` maps each event's name to its attributes.
    """
    if trace_id is None:
        trace_id = new_trace_id()
    now = time.time_ns()
    return SpanProto(
        trace_id=bytes.fromhex(trace_id) if isinstance(trace_id, str) else trace_id,
        span_id=os.urandom(8),
        name=name,
        kind=SpanProto.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now - 5_000_000,
        end_time_unix_nano=now,
        attributes=key_values(attributes or {}),
        events=[
            SpanProto.Event(name=event, time_unix_nano=now - 1_000_000, attributes=key_values(a))
            for event, a in (events or {}).items()
        ],
    )


def pb_request(*spans: SpanProto, service: str = "otlp-tests") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=ResourceProto(attributes=key_values({"service.name": service})),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="tests"), spans=spans)],
            )
        ]
    )


def otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """``request`` in OTLP/JSON: protobuf's JSON mapping, but enums as integers and ids in hex.

    ``MessageToDict`` writes bytes in base64; the OTLP specification wants the trace and span
    ids as hex strings instead.
    """
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return data


async def post_otlp(
    client: httpx.AsyncClient, request: ExportTraceServiceRequest
) -> ExportTraceServiceResponse:
    response = await client.post(
        "/v1/traces", content=request.SerializeToString(), headers={"content-type": PROTOBUF}
    )
    assert response.status_code == 200, response.content
    assert response.headers["content-type"] == PROTOBUF
    return ExportTraceServiceResponse.FromString(response.content)


def sdk_spans(make: Callable[[trace.Tracer], None], service: str) -> list[ReadableSpan]:
    """The spans ``make`` creates with a real SDK tracer provider, finished."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make(provider.get_tracer("otlp-tests"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def export(url: str, spans: list[ReadableSpan]) -> None:
    """A real OTLP/HTTP (protobuf) export of ``spans`` to the server at ``url``."""
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


# -- the servers ------------------------------------------------------------------------------

_PRIVATE_ENV = ("OPENAI_", "ANTHROPIC_", "OTEL_", "SPYGLASS_", "GEMINI_", "AZURE_")


@dataclass
class Servers:
    hub: Server
    edge: Server
    homes: dict[str, Path]  # SPYGLASS_HOME of each, by URL: where its SQLite store is


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """``hub`` (receiver, collector, the edge's upstream) and ``edge`` (exports to the hub)."""
    root = tmp_path_factory.mktemp("otlp")
    homes: dict[str, Path] = {}
    edge_model: dict[str, Any] = {
        "model_name": "chat",
        "litellm_params": {"model": "openai/chat", "api_key": UPSTREAM_KEY},
    }
    with contextlib.ExitStack() as exits:

        def start(name: str, config: dict[str, Any]) -> Server:
            home = root / f"home-{name}"
            path = write_config(root / f"{name}.yaml", config)
            server = Server(path, root / f"{name}.log", {"SPYGLASS_HOME": str(home)})
            exits.callback(server.stop)
            homes[server.url] = home
            return server

        # Module-scoped, so `clean_environ` has not run: the servers get the environment it
        # would give them.
        with pytest.MonkeyPatch.context() as env:
            for name in list(os.environ):
                if name.startswith(_PRIVATE_ENV):
                    env.delenv(name)
            env.chdir(root)
            hub = start("hub", {"model_list": [MOCK_CHAT]})
            edge_model["litellm_params"]["api_base"] = f"{hub.url}/v1"
            edge = start(
                "edge",
                {
                    "model_list": [edge_model],
                    "router_settings": {"num_retries": 0},
                    "tracing": {"export_endpoint": f"{hub.url}/v1/traces"},
                },
            )
        yield Servers(hub, edge, homes)


@pytest.fixture
def hub(servers: Servers) -> Server:
    return servers.hub


@pytest.fixture
def edge(servers: Servers) -> Server:
    return servers.edge


# -- 1. the OTel SDK in another process ---------------------------------------------------------

PRODUCER = Path(__file__).with_name("otlp_producer.py")


def run_producer(url: str, compression: str) -> dict[str, Any]:
    """Run the instrumented agent of ``otlp_producer.py`` in its own process; what it made."""
    done = subprocess.run(
        [sys.executable, str(PRODUCER), url, compression],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    produced: dict[str, Any] = json.loads(done.stdout)
    return produced


@pytest.mark.parametrize(
    ("compression", "encoding"), [("none", "identity"), ("gzip", "gzip"), ("deflate", "deflate")]
)
async def test_sdk_exporter_in_another_process(
    hub: Server, compression: str, encoding: str
) -> None:
    produced = run_producer(hub.url, compression)
    assert produced["results"] == ["SUCCESS"]
    assert produced["encodings"] == [encoding]
    ids = produced["spans"]

    async with api(hub) as client:
        found = await wait_for_trace(client, produced["trace_id"], spans=4)
        listed = (await client.get("/api/traces", params={"service": "research-agent"})).json()

    summary = found["trace"]
    assert produced["trace_id"] in [t["trace_id"] for t in listed["data"]]
    assert summary["name"] == "agent run"
    assert summary["root_span_id"] == ids["agent"]
    assert summary["service_name"] == "research-agent"
    assert summary["span_count"] == 4
    assert (summary["llm_count"], summary["input_tokens"], summary["output_tokens"]) == (
        2,
        320,
        55,
    )
    assert (summary["model"], summary["provider"]) == ("gpt-4o", "openai")
    assert summary["session_id"] == "session-7"
    assert summary["status"] == "error"
    assert summary["error"] == "TimeoutError: search backend timed out"

    spans = {span["span_id"]: span for span in found["spans"]}
    agent, plan, search, answer = (spans[ids[n]] for n in ("agent", "plan", "search", "answer"))
    assert [s["span_id"] for s in found["spans"]] == [ids[n] for n in ids]  # in start order
    assert agent["parent_span_id"] is None
    assert plan["parent_span_id"] == search["parent_span_id"] == answer["parent_span_id"]
    assert plan["parent_span_id"] == ids["agent"]
    assert [(s["name"], s["kind"], s["span_kind"]) for s in (agent, plan, search, answer)] == [
        ("agent run", "agent", "internal"),
        ("chat gpt-4o", "llm", "client"),
        ("execute_tool search", "tool", "internal"),
        ("chat gpt-4o", "llm", "client"),
    ]
    assert all(s["scope_name"] == "research-agent" for s in spans.values())

    assert agent["attributes"]["gen_ai.agent.name"] == "researcher"
    assert agent["status"] == "unset"
    assert plan["status"] == answer["status"] == "unset"
    assert (plan["model"], plan["provider"], plan["input_tokens"], plan["output_tokens"]) == (
        "gpt-4o",
        "openai",
        120,
        15,
    )
    # Attribute types survive the trip: float, int, bool, array.
    assert plan["attributes"]["gen_ai.request.temperature"] == 0.2
    assert plan["attributes"]["gen_ai.request.max_tokens"] == 256
    assert plan["attributes"]["gen_ai.request.stream"] is False
    assert plan["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert plan["attributes"]["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert [(e["name"], e["attributes"]) for e in plan["events"]] == [
        ("rate limited", {"retry.attempt": 1, "retry.after_s": 0.5})
    ]
    assert plan["start_ns"] <= plan["events"][0]["time_ns"] <= plan["end_ns"]
    call = tool_call("call_1", "search", {"query": "1998 World Cup winner"})
    assert plan["content"] == {
        "system": [text("Use search.")],
        "input": [message("user", text("Who won the 1998 World Cup?"))],
        "output": [message("assistant", call, finish_reason="tool_call")],
    }
    assert answer["content"]["output"] == [message("assistant", text("France, I believe."))]
    assert answer["content"]["input"][1:] == [
        message("assistant", call),
        message("tool", {"type": "tool_call_response", "id": "call_1", "response": "timed out"}),
    ]

    assert search["status"] == "error"
    assert search["status_message"] == "TimeoutError: search backend timed out"
    assert search["attributes"]["gen_ai.tool.name"] == "search"
    assert search["content"] == {"input_value": '{"query": "1998 World Cup winner"}'}
    (exception,) = search["events"]
    assert exception["name"] == "exception"
    assert exception["attributes"]["exception.type"] == "TimeoutError"
    assert exception["attributes"]["exception.message"] == "search backend timed out"


# -- 2. OTLP/JSON -------------------------------------------------------------------------------


def _json_spans(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span(
        "retrieve", kind=SpanKind.SERVER, attributes={"openinference.span.kind": "RETRIEVER"}
    ) as parent:
        parent.add_event("cache miss", {"cache.key": "k1"})
        with tracer.start_as_current_span(
            "embeddings text-embedding-3-small",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "text-embedding-3-small",
                "gen_ai.usage.input_tokens": 2**40,  # int64 is a string in OTLP/JSON
                "retrieval.top_k": 5,
                "retrieval.score": 0.75,
                "retrieval.exact": True,
                "retrieval.sources": ["docs", "faq"],
            },
        ):
            pass


async def test_otlp_json_with_hex_ids(hub: Server) -> None:
    spans = sdk_spans(_json_spans, "json-client")
    child, parent = spans
    body = otlp_json(encode_spans(spans))
    sent = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert {s["spanId"] for s in sent} == {f"{s.context.span_id:016x}" for s in spans}
    assert sent[0]["kind"] == SpanKind.CLIENT.value + 1  # OTLP's enum counts UNSPECIFIED

    async with api(hub) as client:
        response = await client.post(
            "/v1/traces", content=json.dumps(body), headers={"content-type": JSON}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON
        assert response.json() == {}  # an ExportTraceServiceResponse with nothing rejected
        trace_id = f"{parent.context.trace_id:032x}"
        found = await wait_for_trace(client, trace_id, spans=2)

    stored = {span["name"]: span for span in found["spans"]}
    retrieve = stored["retrieve"]
    embed = stored["embeddings text-embedding-3-small"]
    assert (retrieve["trace_id"], retrieve["span_id"]) == (
        trace_id,
        f"{parent.context.span_id:016x}",
    )
    assert retrieve["parent_span_id"] is None
    assert embed["span_id"] == f"{child.context.span_id:016x}"
    assert embed["parent_span_id"] == retrieve["span_id"]
    assert (retrieve["kind"], retrieve["span_kind"]) == ("retriever", "server")
    assert (embed["kind"], embed["span_kind"]) == ("embedding", "client")
    assert embed["input_tokens"] == 2**40
    assert {k: v for k, v in embed["attributes"].items() if k.startswith("retrieval.")} == {
        "retrieval.top_k": 5,
        "retrieval.score": 0.75,
        "retrieval.exact": True,
        "retrieval.sources": ["docs", "faq"],
    }
    assert [(e["name"], e["attributes"]) for e in retrieve["events"]] == [
        ("cache miss", {"cache.key": "k1"})
    ]
    assert found["trace"]["service_name"] == "json-client"
    assert found["trace"]["root_span_id"] == retrieve["span_id"]


# -- 3. spans of the real instrumentation libraries ------------------------------------------

TOOLS_INPUT = [
    message("system", text("Answer briefly.")),
    message("user", text("Weather in Paris and Rome?")),
]
TOOLS_OUTPUT = [
    message(
        "assistant",
        tool_call("call_paris", "get_weather", {"city": "Paris"}),
        tool_call("call_rome", "get_weather", {"city": "Rome"}),
        finish_reason="tool_call",
    )
]
CHAT_INPUT = [
    message("user", text("Weather in Paris?")),
    message("assistant", tool_call("call_paris", "get_weather", {"city": "Paris"})),
    message("tool", {"type": "tool_call_response", "id": "call_paris", "response": "sunny, 21C"}),
]


@pytest.mark.parametrize(
    ("library", "call", "tokens", "user", "content"),
    [
        (
            "openinference",
            "tools",
            (52, 31),
            None,
            {"input": TOOLS_INPUT, "output": TOOLS_OUTPUT},
        ),
        (
            "openllmetry",
            "chat",
            (40, 9),
            fx.CHAT_USER,
            {
                "input": CHAT_INPUT,
                "output": [
                    message("assistant", text("Sunny and 21C in Paris."), finish_reason="stop")
                ],
            },
        ),
        (
            "openinference",
            "stream",
            (8, 3),
            None,
            {
                "input": [message("user", text("Say hello"))],
                "output": [message("assistant", text("Hello there"), finish_reason="stop")],
            },
        ),
    ],
)
async def test_instrumented_openai_spans_over_otlp(
    hub: Server,
    library: fx.Library,
    call: fx.Call,
    tokens: tuple[int, int],
    user: str | None,
    content: dict[str, Any],
) -> None:
    spans = fx.instrumented_spans(library, call)
    assert len(spans) == 1
    (span,) = spans
    export(hub.url, spans)
    trace_id = f"{span.context.trace_id:032x}"

    async with api(hub) as client:
        found = await wait_for_trace(client, trace_id)

    (stored,) = found["spans"]
    assert stored["name"] == span.name
    assert stored["span_id"] == f"{span.context.span_id:016x}"
    assert (stored["kind"], stored["model"], stored["provider"]) == ("llm", fx.CHAT_MODEL, "openai")
    assert (stored["input_tokens"], stored["output_tokens"]) == tokens
    assert stored["user_id"] == user
    assert {k: stored["content"][k] for k in ("input", "output")} == content
    summary = found["trace"]
    assert (summary["llm_count"], summary["input_tokens"], summary["output_tokens"]) == (
        1,
        *tokens,
    )
    assert (summary["model"], summary["user_id"]) == (fx.CHAT_MODEL, user)


# -- 4. one trace across the application and the gateway ---------------------------------------


async def test_app_span_and_gateway_spans_form_one_trace(hub: Server) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-app"}))
    exporter = OTLPSpanExporter(endpoint=f"{hub.url}/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("support-app")
    try:
        async with api(hub) as client:
            with tracer.start_as_current_span("handle question", kind=SpanKind.SERVER) as app:
                headers: dict[str, str] = {}
                TraceContextTextMapPropagator().inject(headers)  # the current span: `app`
                await chat(client, headers=headers)
            trace_id = f"{app.get_span_context().trace_id:032x}"
            app_id = f"{app.get_span_context().span_id:016x}"
            found = await wait_for_trace(client, trace_id, spans=3)
            listed = (await client.get("/api/traces", params={"name": "handle question"})).json()
    finally:
        provider.shutdown()

    assert [t["trace_id"] for t in listed["data"]].count(trace_id) == 1
    spans = found["spans"]
    root = only(spans, span_id=app_id)
    gateway = only(spans, span_kind="server", service_name="spyglass")
    attempt = only(spans, span_kind="client")
    assert (root["name"], root["parent_span_id"], root["service_name"]) == (
        "handle question",
        None,
        "support-app",
    )
    assert (gateway["name"], gateway["parent_span_id"]) == ("chat chat", app_id)
    assert (attempt["parent_span_id"], attempt["is_attempt"]) == (gateway["span_id"], True)
    assert gateway["content"]["output"] == [message("assistant", text(REPLY), finish_reason="stop")]
    summary = found["trace"]
    assert (summary["name"], summary["root_span_id"], summary["service_name"]) == (
        "handle question",
        app_id,
        "support-app",
    )
    # The attempt repeats its request's usage; the summary counts it once.
    assert (summary["span_count"], summary["llm_count"]) == (3, 1)
    assert (summary["input_tokens"], summary["output_tokens"]) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )


@pytest.mark.parametrize("library", ["openinference", "openllmetry"])
async def test_an_instrumented_client_calling_the_gateway_is_one_call(
    hub: Server, library: fx.Library
) -> None:
    """The README's setup: an app's instrumented ``openai`` client calls the gateway with
    ``traceparent``. Its LLM span wraps the gateway's request span for the same call, so the
    trace, the stats and the session count the call once, with the gateway's figures."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-app"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{hub.url}/v1/traces", timeout=10))
    )
    session = f"session-{new_span_id()}"

    def inject(request: httpx.Request) -> None:  # what opentelemetry-instrumentation-httpx does
        TraceContextTextMapPropagator().inject(request.headers)

    http = httpx.Client(event_hooks={"request": [inject]})
    client = openai_sdk.OpenAI(
        base_url=f"{hub.url}/v1",
        api_key="sk-none",
        http_client=http,
        default_headers={"x-spyglass-session-id": session},
    )
    start = time.time_ns()
    try:
        with fx.instrumented(library, provider, genai_semconv=False):
            with mock.patch.dict(os.environ, {"TRACELOOP_TRACE_CONTENT": "true"}):
                with provider.get_tracer("support-app").start_as_current_span("turn") as turn:
                    answer = client.chat.completions.create(
                        model="chat", messages=[{"role": "user", "content": "Weather?"}]
                    )
    finally:
        http.close()
        provider.shutdown()
    end = time.time_ns()
    assert answer.choices[0].message.content == REPLY
    trace_id = f"{turn.get_span_context().trace_id:032x}"
    async with api(hub) as api_client:
        found = await wait_for_trace(api_client, trace_id, spans=4)
        stats = {
            source: (
                await api_client.get(
                    "/api/stats",
                    params={"start": start, "end": end, "bucket": 3600, "source": source},
                )
            ).json()["data"]
            for source in ("all", "gateway", "app")
        }
        sessions = (await api_client.get(f"/api/sessions/{session}")).json()["traces"]
    spans = found["spans"]
    wrapper = only(spans, service_name="support-app", kind="llm")
    gateway = only(spans, span_kind="server", service_name="spyglass")
    assert gateway["parent_span_id"] == wrapper["span_id"]
    assert (wrapper["wraps_call"], gateway["wraps_call"]) == (True, False)
    summary = found["trace"]
    assert (summary["llm_count"], summary["input_tokens"], summary["output_tokens"]) == (
        1,
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
    assert [(b["requests"], b["input_tokens"]) for b in stats["all"]] == [(1, PROMPT_TOKENS)]
    assert [(b["requests"], b["input_tokens"]) for b in stats["gateway"]] == [(1, PROMPT_TOKENS)]
    assert stats["app"] == []
    assert [(t["trace_id"], t["llm_count"]) for t in sessions] == [(trace_id, 1)]


# -- 5. the protocol's edges (in-process) -------------------------------------------------------

BODY_LIMIT = 64 * 1024


@pytest.fixture
async def receiver(settings_from: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process app with a small body limit and the smallest write queue."""
    settings = settings_from({"tracing": {"otlp_max_body_bytes": BODY_LIMIT, "queue_size": 100}})
    async with running_app(settings) as client:
        yield client


def rpc_status(response: httpx.Response) -> Status:
    """The google.rpc.Status of an error response, in the encoding it declares."""
    if response.headers["content-type"] == JSON:
        return json_format.Parse(response.content, Status())
    assert response.headers["content-type"] == PROTOBUF
    return Status.FromString(response.content)


@pytest.mark.parametrize(
    ("content_type", "body", "encoding"),
    [
        (PROTOBUF, b"\x0a\xff\x01 not protobuf", PROTOBUF),
        (JSON, b'{"resourceSpans": [', JSON),
        (JSON, b"[1, 2]", JSON),
        (JSON, b'{"resourceSpans": [{"scopeSpans": 5}]}', JSON),
        (JSON, b'{"resourceSpans": "all of them"}', JSON),
        (JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}', JSON),
        (f"{JSON}; charset=utf-8", b"not json", JSON),
    ],
)
async def test_malformed_body_is_400_with_a_status_in_its_encoding(
    receiver: httpx.AsyncClient, content_type: str, body: bytes, encoding: str
) -> None:
    response = await receiver.post(
        "/v1/traces", content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == encoding
    status = rpc_status(response)
    assert status.code == 3  # INVALID_ARGUMENT
    assert status.message


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"content-type": "text/plain"}, "unsupported content type 'text/plain'"),
        ({}, "unsupported content type"),
        ({"content-type": PROTOBUF, "content-encoding": "br"}, "unsupported content encoding"),
    ],
)
async def test_unsupported_media_is_415(
    receiver: httpx.AsyncClient, headers: dict[str, str], fragment: str
) -> None:
    response = await receiver.post(
        "/v1/traces", content=pb_request(pb_span("x")).SerializeToString(), headers=headers
    )

    assert response.status_code == 415
    assert fragment in rpc_status(response).message


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


@pytest.mark.parametrize(
    ("body", "headers", "streamed"),
    [
        (b"\0" * (BODY_LIMIT + 1), {}, False),
        (b"\0" * (BODY_LIMIT * 2), {}, True),  # no content-length: counted as it streams
        (gzip.compress(b"\0" * (BODY_LIMIT * 64)), {"content-encoding": "gzip"}, False),
        (zlib.compress(b"\0" * (BODY_LIMIT * 64)), {"content-encoding": "deflate"}, False),
    ],
    ids=["content-length", "streamed", "gzip-bomb", "deflate-bomb"],
)
async def test_body_over_the_limit_is_413(
    receiver: httpx.AsyncClient, body: bytes, headers: dict[str, str], streamed: bool
) -> None:
    if headers:
        assert len(body) < BODY_LIMIT // 10  # small on the wire, huge inflated
    response = await receiver.post(
        "/v1/traces",
        content=_chunks(body) if streamed else body,
        headers={"content-type": PROTOBUF, **headers},
    )

    assert response.status_code == 413
    status = rpc_status(response)
    assert status.code == 8  # RESOURCE_EXHAUSTED
    assert str(BODY_LIMIT) in status.message


async def test_truncated_gzip_is_400_not_a_partial_import(receiver: httpx.AsyncClient) -> None:
    trace_id = new_trace_id()
    request = pb_request(*(pb_span(f"s{i}", trace_id=trace_id) for i in range(20)))
    body = gzip.compress(request.SerializeToString())

    response = await receiver.post(
        "/v1/traces",
        content=body[: len(body) // 2],
        headers={"content-type": PROTOBUF, "content-encoding": "gzip"},
    )

    assert response.status_code == 400
    assert "truncated" in rpc_status(response).message


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
async def test_invalid_span_is_rejected_as_partial_success(
    receiver: httpx.AsyncClient, encoding: str
) -> None:
    good = new_trace_id()
    request = pb_request(pb_span("good", trace_id=good), pb_span("zero", trace_id=bytes(16)))
    if encoding == JSON:
        content = json.dumps(otlp_json(request)).encode()
    else:
        content = request.SerializeToString()

    response = await receiver.post(
        "/v1/traces", content=content, headers={"content-type": encoding}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == encoding
    if encoding == JSON:
        partial = response.json()["partialSuccess"]
        rejected, error_message = int(partial["rejectedSpans"]), partial["errorMessage"]
    else:
        answer = ExportTraceServiceResponse.FromString(response.content)
        rejected = answer.partial_success.rejected_spans
        error_message = answer.partial_success.error_message
    assert rejected == 1
    assert "'zero'" in error_message and "trace_id" in error_message
    found = await wait_for_trace(receiver, good)
    assert [span["name"] for span in found["spans"]] == ["good"]


async def test_full_queue_is_503_with_retry_after(receiver: httpx.AsyncClient) -> None:
    refused = new_trace_id()
    too_many = pb_request(*(pb_span(f"s{i}", trace_id=refused) for i in range(101)))

    response = await receiver.post(
        "/v1/traces", content=too_many.SerializeToString(), headers={"content-type": PROTOBUF}
    )

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert rpc_status(response).code == 14  # UNAVAILABLE
    # Nothing of the refused batch is stored; what fits is still accepted, in order.
    later = new_trace_id()
    await post_otlp(receiver, pb_request(pb_span("later", trace_id=later)))
    await wait_for_trace(receiver, later)
    assert (await receiver.get(f"/api/traces/{refused}")).status_code == 404


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_json(receiver: httpx.AsyncClient, encoding: str) -> None:
    trace_id = new_trace_id()
    body = json.dumps(otlp_json(pb_request(pb_span("compressed", trace_id=trace_id)))).encode()
    compressed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)

    response = await receiver.post(
        "/v1/traces",
        content=compressed,
        headers={"content-type": JSON, "content-encoding": encoding},
    )

    assert response.status_code == 200
    assert response.json() == {}
    found = await wait_for_trace(receiver, trace_id)
    assert found["spans"][0]["name"] == "compressed"
    assert found["trace"]["service_name"] == "otlp-tests"


# -- 6. export to an external collector -------------------------------------------------------


async def test_gateway_spans_are_exported_to_a_collector(hub: Server, edge: Server) -> None:
    trace_id = new_trace_id()
    async with api(edge) as client:
        await chat(client, trace_id)
        local = await wait_for_trace(client, trace_id, spans=2)
    async with api(hub) as client:
        exported = await wait_for_trace(client, trace_id, spans=2)

    def view(found: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted(
            (s["span_id"], s["parent_span_id"], s["name"], s["span_kind"], s["is_attempt"])
            for s in found["spans"]
        )

    assert view(exported) == view(local)
    assert {s["service_name"] for s in exported["spans"]} == {"spyglass"}
    gateway = only(exported["spans"], span_kind="server")
    assert gateway["name"] == "chat chat"
    assert gateway["content"]["input"] == [message("user", text("Weather in Paris?"))]
    attempt = only(exported["spans"], span_kind="client")
    assert attempt["attributes"]["server.address"] == "127.0.0.1"
    assert attempt["attributes"]["server.port"] == hub.port
    for key in ("span_count", "llm_count", "input_tokens", "output_tokens", "model"):
        assert exported["trace"][key] == local["trace"][key], key
    assert exported["trace"]["input_tokens"] == PROMPT_TOKENS


async def test_standard_otel_endpoint_variable_exports_too(
    hub: Server, serve: Callable[..., Server]
) -> None:
    # The base endpoint variable: the exporter appends /v1/traces itself.
    server = serve(
        {"model_list": [MOCK_CHAT]}, name="env", env={"OTEL_EXPORTER_OTLP_ENDPOINT": hub.url}
    )
    trace_id = new_trace_id()
    async with api(server) as client:
        await chat(client, trace_id)
    async with api(hub) as client:
        found = await wait_for_trace(client, trace_id, spans=2)

    assert {(s["name"], s["span_kind"]) for s in found["spans"]} == {
        ("chat chat", "server"),
        ("chat chat", "client"),
    }


# -- 7. secrets ---------------------------------------------------------------------------------


def stored_bytes(home: Path) -> bytes:
    """Everything the SQLite store holds: its files raw (WAL too) and a SQL dump."""
    files = sorted(home.glob("spyglass.db*"))
    assert files, f"no store under {home}"
    raw = b"".join(path.read_bytes() for path in files)
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'spyglass.db'}?mode=ro", uri=True)
    ) as db:
        dump = "\n".join(db.iterdump())
    return raw + dump.encode()


async def test_no_secret_reaches_a_store_or_a_log(servers: Servers) -> None:
    hub, edge = servers.hub, servers.edge
    canary = f"canary-{new_span_id()}"  # proves the grep below reads where spans are written
    gateway_trace, otlp_trace = new_trace_id(), new_trace_id()
    request = pb_request(
        pb_span(
            "call vendor",
            trace_id=otlp_trace,
            attributes={
                "http.request.header.authorization": [f"Bearer {OTLP_SECRETS[0]}"],
                "api_key": OTLP_SECRETS[1],
                "vendor.note": canary,
            },
            events={"retry": {"attempt": 2, "x-api-key": OTLP_SECRETS[2]}},
        )
    )
    async with api(edge) as client:
        # The edge sends its deployment's key to the hub: a real upstream call with it.
        await chat(client, gateway_trace)
        await post_otlp(client, request)
        await wait_for_trace(client, gateway_trace, spans=2)
        found = await wait_for_trace(client, otlp_trace)
    async with api(hub) as client:
        await wait_for_trace(client, otlp_trace)  # exported from the edge, masked there

    attributes = found["spans"][0]["attributes"]
    assert attributes["http.request.header.authorization"] == "***"
    assert attributes["api_key"] == "***"
    assert attributes["vendor.note"] == canary
    assert found["spans"][0]["events"][0]["attributes"] == {"attempt": 2, "x-api-key": "***"}
    for server in (edge, hub):
        stored = stored_bytes(servers.homes[server.url])
        logged = server.log()
        assert canary.encode() in stored
        for secret in (UPSTREAM_KEY, *OTLP_SECRETS):
            assert secret.encode() not in stored, (server.url, secret)
            assert secret not in logged, (server.url, secret)


# -- 8. content capture -------------------------------------------------------------------------

CONTENT_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [text("private question")]}]),
    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [text("private")]}]),
    "gen_ai.system_instructions": json.dumps([text("private instructions")]),
    "input.value": "private input",
    "llm.input_messages.0.message.content": "private question",
    "gen_ai.prompt.0.content": "private question",
}
# The GenAI conventions' older form: messages as events (OTel's own openai instrumentation).
CONTENT_EVENTS: dict[str, dict[str, Any]] = {
    "gen_ai.user.message": {"content": "private question"},
    "gen_ai.choice": {"index": 0, "finish_reason": "stop", "message": '{"content": "private"}'},
    "gen_ai.content.prompt": {"gen_ai.prompt": "private prompt"},
    "retry": {"attempt": 1, "input.value": "private input"},
}


async def test_capture_content_off_keeps_metadata_only(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from({"model_list": [MOCK_CHAT], "tracing": {"capture_content": False}})
    gateway_trace, otlp_trace = new_trace_id(), new_trace_id()
    async with running_app(settings) as client:
        await chat(client, gateway_trace, content="private question")
        await post_otlp(
            client,
            pb_request(
                pb_span(
                    "chat gpt-4o",
                    trace_id=otlp_trace,
                    attributes=CONTENT_ATTRIBUTES,
                    events=CONTENT_EVENTS,
                )
            ),
        )
        gateway = await wait_for_trace(client, gateway_trace, spans=2)
        ingested = await wait_for_trace(client, otlp_trace)

    for span in gateway["spans"] + ingested["spans"]:
        assert span["content"] is None
        assert "private" not in json.dumps(span), span
    server_span = only(gateway["spans"], span_kind="server")
    assert server_span["input_tokens"] == PROMPT_TOKENS
    assert server_span["model"] == "chat"
    (otlp_span,) = ingested["spans"]
    assert otlp_span["attributes"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 5,
        # It said no cost: priced from the price map, which knows gpt-4o.
        "spyglass.cost.source": "price_map",
    }
    assert (otlp_span["kind"], otlp_span["input_tokens"]) == ("llm", 5)
    assert otlp_span["cost"] > 0
    assert [(e["name"], e["attributes"]) for e in otlp_span["events"]] == [
        ("retry", {"attempt": 1})
    ]


async def test_capture_content_header_opts_one_request_out(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from({"model_list": [MOCK_CHAT]})
    private, public = new_trace_id(), new_trace_id()
    async with running_app(settings) as client:
        await chat(client, private, headers={"x-spyglass-capture-content": "false"})
        await chat(client, public)
        hidden = await wait_for_trace(client, private, spans=2)
        shown = await wait_for_trace(client, public, spans=2)

    for span in hidden["spans"]:
        assert span["content"] is None
        assert not {"gen_ai.input.messages", "gen_ai.output.messages"} & set(span["attributes"])
    server_span = only(shown["spans"], span_kind="server")
    assert server_span["content"] == {
        "input": [message("user", text("Weather in Paris?"))],
        "output": [message("assistant", text(REPLY), finish_reason="stop")],
    }


async def test_long_attributes_are_cut_and_marked(settings_from: Callable[..., Settings]) -> None:
    limit = 300
    settings = settings_from({"model_list": [MOCK_CHAT], "tracing": {"max_attribute_bytes": limit}})
    gateway_trace, otlp_trace = new_trace_id(), new_trace_id()
    long_json = json.dumps([{"role": "user", "parts": [text("word " * 200)]}])
    async with running_app(settings) as client:
        await chat(client, gateway_trace, content="é" * 400)  # 800 bytes of UTF-8
        await post_otlp(
            client,
            pb_request(
                pb_span(
                    "chat gpt-4o",
                    trace_id=otlp_trace,
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.input.messages": long_json,
                        "note": "short",
                    },
                    events={"tool output": {"output": "x" * 1000, "status": "ok"}},
                )
            ),
        )
        gateway = await wait_for_trace(client, gateway_trace, spans=2)
        ingested = await wait_for_trace(client, otlp_trace)

    (otlp_span,) = ingested["spans"]
    assert otlp_span["attributes"]["gen_ai.input.messages"] == long_json[:limit]
    assert otlp_span["attributes"]["spyglass.truncated"] == ["gen_ai.input.messages"]
    assert otlp_span["attributes"]["note"] == "short"
    assert otlp_span["events"][0]["attributes"] == {
        "output": "x" * limit,
        "status": "ok",
        "spyglass.truncated": ["output"],
    }
    server_span = only(gateway["spans"], span_kind="server")
    cut = server_span["attributes"]["gen_ai.input.messages"]
    assert len(cut.encode()) <= limit
    assert len(cut.encode()) >= limit - 1  # cut on a character boundary, not short of it
    assert server_span["attributes"]["spyglass.truncated"] == ["gen_ai.input.messages"]
    assert "spyglass.truncated" not in only(gateway["spans"], span_kind="client")["attributes"]

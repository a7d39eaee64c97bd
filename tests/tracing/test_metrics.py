"""``GET /metrics``: Prometheus metrics derived from the gateway's spans in the pipeline's worker.

Requests go through the real app to ``mock/...`` deployments; the pipeline is flushed and the
exposition is parsed with prometheus_client's own parser, so every figure is asserted exactly.
The queue's drop counting and the exporter's retries are driven with a store that blocks or
fails on command, so they are deterministic.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from spyglass import Settings, create_app
from tests.tracing.helpers import SERVED_CONFIG
from tracing import PipelineCollector, SpanMetrics, TracePipeline

CONFIG: dict[str, Any] = {**SERVED_CONFIG, "tracing": {"queue_size": 100}}


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app with its lifespan running, a client calling it in-process, and the app."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://spyglass.test"
        ) as client:
            yield client, app


async def chat(client: httpx.AsyncClient, model: str, *, stream: bool = False) -> int:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Hi?"}]}
    if stream:
        body["stream"] = True
    response = await client.post("/v1/chat/completions", json=body)
    return response.status_code


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    """Every sample of ``/metrics``, parsed."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    return [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def find(samples: Sequence[Sample], name: str, **labels: str) -> list[Sample]:
    """The samples named ``name`` whose labels include ``labels``."""
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """The value of the one sample named ``name`` with exactly ``labels`` (``le`` aside)."""
    found = [s for s in find(samples, name, **labels) if set(s.labels) - {"le"} == set(labels)]
    assert len(found) == 1, (name, labels, found)
    return found[0].value


def series(samples: Sequence[Sample], name: str) -> list[dict[str, str]]:
    """The label sets of ``name``'s samples."""
    return [s.labels for s in samples if s.name == name]


GPT = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "spyglass.mock",
    "gen_ai_request_model": "gpt-small",
}
CLAUDE = {**GPT, "gen_ai_request_model": "claude-ish"}
BROKEN = {**GPT, "gen_ai_request_model": "broken"}


def otlp_span(
    trace_id: int,
    name: str,
    attributes: dict[str, Any],
    *,
    kind: int = 3,
    scope: str = "openinference.instrumentation.openai",
) -> dict[str, Any]:
    """One resource with one OTLP/JSON span (ids in hex, as OTLP/JSON has them)."""
    now = time.time_ns()

    def attribute(key: str, item: Any) -> dict[str, Any]:
        if isinstance(item, int):
            return {"key": key, "value": {"intValue": str(item)}}
        return {"key": key, "value": {"stringValue": str(item)}}

    return {
        "resource": {"attributes": [attribute("service.name", "my-app")]},
        "scopeSpans": [
            {
                "scope": {"name": scope},
                "spans": [
                    {
                        "traceId": f"{trace_id:032x}",
                        "spanId": f"{trace_id:016x}",
                        "name": name,
                        "kind": kind,
                        "startTimeUnixNano": str(now - 300_000_000),
                        "endTimeUnixNano": str(now),
                        "attributes": [attribute(k, v) for k, v in attributes.items()],
                    }
                ],
            }
        ],
    }


# -- through the app ---------------------------------------------------------------------------


async def test_request_metrics_from_real_traffic(settings_from: Callable[..., Settings]) -> None:
    async with serving(settings_from(CONFIG)) as (client, app):
        statuses = [
            await chat(client, "gpt-small"),
            await chat(client, "gpt-small"),
            await chat(client, "gpt-small"),
            await chat(client, "gpt-small", stream=True),
            await chat(client, "claude-ish"),
            await chat(client, "broken"),
            await chat(client, "no-such-model"),
        ]
        assert statuses == [200, 200, 200, 200, 200, 502, 404]
        assert app.state.tracing.pipeline.flush()
        samples = await scrape(client)

    # One count per request: 7 requests, though their spans number 14 with the attempts.
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 4
    assert value(samples, "spyglass_requests_total", model="claude-ish", status="ok") == 1
    assert value(samples, "spyglass_requests_total", model="broken", status="error") == 1
    # A model no group serves is not a label value (the client could send any name).
    assert value(samples, "spyglass_requests_total", model="", status="error") == 1
    assert sum(s.value for s in find(samples, "spyglass_requests_total")) == 7
    assert value(samples, "spyglass_spans_exported_total", queue="store") == 14
    assert value(samples, "spyglass_spans_written_total") == 14

    duration = "gen_ai_client_operation_duration_seconds"
    assert value(samples, f"{duration}_count", **GPT, error_type="") == 4
    assert value(samples, f"{duration}_count", **CLAUDE, error_type="") == 1
    assert value(samples, f"{duration}_count", **BROKEN, error_type="502") == 1
    unrouted = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "",
        "gen_ai_request_model": "",
        "error_type": "model_not_found",
    }
    assert value(samples, f"{duration}_count", **unrouted) == 1
    assert len(series(samples, f"{duration}_count")) == 4
    buckets = find(samples, f"{duration}_bucket", **GPT, error_type="")
    assert [b.labels["le"] for b in buckets][:3] == ["0.01", "0.02", "0.04"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 4
    assert all(a.value <= b.value for a, b in itertools.pairwise(buckets))
    assert 0 < value(samples, f"{duration}_sum", **GPT, error_type="") < 5

    # Tokens: the mock's usage, streamed or not; a failed request used none.
    tokens = "gen_ai_client_token_usage"
    assert value(samples, f"{tokens}_count", **GPT, gen_ai_token_type="input") == 4
    assert value(samples, f"{tokens}_sum", **GPT, gen_ai_token_type="input") == 4 * 12
    assert value(samples, f"{tokens}_sum", **GPT, gen_ai_token_type="output") == 4 * 5
    assert value(samples, f"{tokens}_sum", **CLAUDE, gen_ai_token_type="input") == 20
    assert value(samples, f"{tokens}_sum", **CLAUDE, gen_ai_token_type="output") == 2
    assert len(series(samples, f"{tokens}_count")) == 4
    input_buckets = find(samples, f"{tokens}_bucket", **GPT, gen_ai_token_type="input")
    assert {b.labels["le"]: b.value for b in input_buckets}["4.0"] == 0
    assert {b.labels["le"]: b.value for b in input_buckets}["16.0"] == 4
    assert input_buckets[-2].labels["le"] == "6.7108864e+07"

    assert value(samples, "spyglass_cost_usd_total", model="gpt-small") == 4 * 5.5
    assert value(samples, "spyglass_cost_usd_total", model="claude-ish") == 3.5
    assert len(series(samples, "spyglass_cost_usd_total")) == 2

    # Time to first token: the one stream only.
    ttft = "gen_ai_server_time_to_first_token_seconds"
    assert series(samples, f"{ttft}_count") == [GPT]
    assert value(samples, f"{ttft}_count", **GPT) == 1
    assert 0 < value(samples, f"{ttft}_sum", **GPT) < 5

    # The queue, read at scrape time.
    assert value(samples, "spyglass_span_queue_depth", queue="store") == 0
    assert value(samples, "spyglass_span_queue_capacity", queue="store") == 100
    assert value(samples, "spyglass_spans_dropped_total", queue="store") == 0
    assert value(samples, "spyglass_span_write_errors_total") == 0


async def test_otlp_intake_is_counted_but_not_as_requests(
    settings_from: Callable[..., Settings],
) -> None:
    async with serving(settings_from(CONFIG)) as (client, app):
        assert await chat(client, "gpt-small") == 200
        app_llm_call = otlp_span(
            0xA1,
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 7,
                "gen_ai.usage.output_tokens": 3,
            },
        )
        # What another Spyglass exporting its spans here sends: not this gateway's requests.
        other_gateway = otlp_span(
            0xA2,
            "chat gpt-small",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-small",
                "spyglass.model_group": "gpt-small",
                "gen_ai.usage.input_tokens": 12,
            },
            kind=2,
            scope="spyglass.gateway",
        )
        invalid = otlp_span(0xA3, "bad", {})
        invalid["scopeSpans"][0]["spans"][0]["traceId"] = "00" * 16
        response = await client.post(
            "/v1/traces", json={"resourceSpans": [app_llm_call, other_gateway, invalid]}
        )
        assert response.status_code == 200
        assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
        too_many = [otlp_span(0xB00 + i, f"s{i}", {}) for i in range(101)]
        response = await client.post("/v1/traces", json={"resourceSpans": too_many})
        assert response.status_code == 503
        assert app.state.tracing.pipeline.flush()
        samples = await scrape(client)

    assert value(samples, "spyglass_otlp_spans_received_total") == 2
    assert value(samples, "spyglass_otlp_spans_rejected_total") == 1
    assert value(samples, "spyglass_otlp_requests_refused_total") == 1
    # The gateway's request and attempt, then the two received spans, all stored.
    assert value(samples, "spyglass_spans_written_total") == 4
    # Only this gateway's one request is in the request metrics.
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 1
    assert len(series(samples, "spyglass_requests_total")) == 1
    assert series(samples, "gen_ai_client_token_usage_count") == [
        {**GPT, "gen_ai_token_type": "input"},
        {**GPT, "gen_ai_token_type": "output"},
    ]
    assert value(samples, "gen_ai_client_token_usage_sum", **GPT, gen_ai_token_type="input") == 12


async def test_two_apps_have_registries_of_their_own(
    settings_from: Callable[..., Settings], tmp_path: Path
) -> None:
    first = settings_from({**CONFIG, "database_url": f"sqlite:///{tmp_path / 'a.db'}"})
    second = settings_from({**CONFIG, "database_url": f"sqlite:///{tmp_path / 'b.db'}"})
    async with serving(first) as (client_a, app_a), serving(second) as (client_b, app_b):
        registries = {
            id(app_a.state.tracing.metrics.registry),
            id(app_b.state.tracing.metrics.registry),
        }
        assert len(registries) == 2
        assert id(prometheus_client.REGISTRY) not in registries
        assert await chat(client_a, "gpt-small") == 200
        assert await chat(client_a, "gpt-small") == 200
        assert await chat(client_b, "claude-ish") == 200
        assert app_a.state.tracing.pipeline.flush()
        assert app_b.state.tracing.pipeline.flush()
        samples_a = await scrape(client_a)
        samples_b = await scrape(client_b)

    assert series(samples_a, "spyglass_requests_total") == [{"model": "gpt-small", "status": "ok"}]
    assert value(samples_a, "spyglass_requests_total", model="gpt-small", status="ok") == 2
    assert series(samples_b, "spyglass_requests_total") == [{"model": "claude-ish", "status": "ok"}]
    assert value(samples_b, "spyglass_requests_total", model="claude-ish", status="ok") == 1
    # Nothing of ours leaked into the process-wide registry.
    assert prometheus_client.REGISTRY.get_sample_value("spyglass_requests_total") is None


async def test_metrics_answer_with_tracing_disabled(
    settings_from: Callable[..., Settings],
) -> None:
    async with serving(settings_from({**CONFIG, "tracing": {"enabled": False}})) as (client, _):
        assert await chat(client, "gpt-small") == 200
        response = await client.get("/metrics")

    # The metrics come from spans: with none recorded there is nothing to report.
    assert response.status_code == 200
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    assert response.text == ""


# -- the pipeline, driven by hand ---------------------------------------------------------------


class GatedStore:
    """A stand-in TraceStore: ``write`` waits for ``gate`` and fails ``failures`` times first."""

    def __init__(self, failures: int = 0) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.writing = threading.Event()
        self.failures = failures
        self.rows: list[dict[str, Any]] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        self.writing.set()
        assert self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        self.rows.extend(rows)
        return len(rows)


def request_span(
    number: int,
    *,
    group: str = "gpt-small",
    kind: SpanKind = SpanKind.SERVER,
    scope: str = "spyglass.gateway",
    error: str | None = None,
) -> ReadableSpan:
    """A finished gateway request span, 250 ms long, with 10 input and 4 output tokens."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": group,
        "gen_ai.provider.name": "openai",
        "spyglass.model_group": group,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
        "spyglass.cost.usd": 0.25,
    }
    if kind == SpanKind.CLIENT:
        attributes["spyglass.attempt"] = 1
    if error is not None:
        attributes["error.type"] = error
    start = 1_700_000_000 * 10**9 + number * 10**9
    return ReadableSpan(
        name=f"chat {group}",
        context=SpanContext(number, number, is_remote=False, trace_flags=TraceFlags(1)),
        resource=Resource({"service.name": "spyglass"}),
        attributes=attributes,
        kind=kind,
        status=Status(StatusCode.ERROR if error else StatusCode.UNSET),
        start_time=start,
        end_time=start + 250_000_000,
        instrumentation_scope=InstrumentationScope(scope),
    )


def collected(metrics: SpanMetrics) -> list[Sample]:
    text = prometheus_client.generate_latest(metrics.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


@contextlib.contextmanager
def pipeline_with(store: GatedStore, **options: Any) -> Any:
    metrics = SpanMetrics()
    pipeline = TracePipeline(store, metrics=metrics, schedule_delay=0.01, **options)
    metrics.registry.register(PipelineCollector(pipeline))
    try:
        yield pipeline, metrics
    finally:
        store.gate.set()
        pipeline.shutdown(5)


def test_dropped_spans_are_counted_and_not_observed() -> None:
    store = GatedStore()
    store.gate.clear()
    with pipeline_with(store, max_queue_size=2, max_batch_size=1) as (pipeline, metrics):
        pipeline.ingest([request_span(1)])
        assert store.writing.wait(5)  # the worker holds span 1, stuck in the write
        pipeline.ingest([request_span(n) for n in range(2, 7)])  # 2 fit; 3 are dropped

        samples = collected(metrics)
        assert value(samples, "spyglass_span_queue_depth", queue="store") == 2
        assert value(samples, "spyglass_span_queue_capacity", queue="store") == 2
        assert value(samples, "spyglass_spans_dropped_total", queue="store") == 3
        # Span 1 reached the exporter: counted though its write has not finished.
        assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 1

        store.gate.set()
        assert pipeline.flush(5)
        samples = collected(metrics)

    assert value(samples, "spyglass_span_queue_depth", queue="store") == 0
    assert value(samples, "spyglass_spans_exported_total", queue="store") == 3
    assert value(samples, "spyglass_spans_written_total") == 3
    # The dropped spans never reach the metrics: requests_total + dropped = spans ended.
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 3
    assert value(samples, "spyglass_spans_dropped_total", queue="store") == 3
    assert [row["span_id"] for row in store.rows] == [f"{n:016x}" for n in (1, 2, 3)]


def test_a_batch_retried_after_write_errors_is_observed_once() -> None:
    store = GatedStore(failures=2)
    with pipeline_with(store) as (pipeline, metrics):
        pipeline.ingest([request_span(1), request_span(2, error="429")])
        assert pipeline.flush(10)
        samples = collected(metrics)

    assert value(samples, "spyglass_span_write_errors_total") == 2
    assert value(samples, "spyglass_spans_written_total") == 2
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 1
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="error") == 1
    labels = {
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "gpt-small",
    }
    duration = "gen_ai_client_operation_duration_seconds"
    assert value(samples, f"{duration}_count", **labels, error_type="") == 1
    assert value(samples, f"{duration}_sum", **labels, error_type="") == 0.25
    assert value(samples, f"{duration}_count", **labels, error_type="429") == 1
    assert (
        value(samples, "gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="input") == 20
    )
    assert value(samples, "spyglass_cost_usd_total", model="gpt-small") == 0.5


def test_only_the_gateways_request_spans_count() -> None:
    store = GatedStore()
    with pipeline_with(store) as (pipeline, metrics):
        pipeline.ingest(
            [
                request_span(1),
                request_span(2, kind=SpanKind.CLIENT),  # an upstream attempt
                request_span(3, scope="opentelemetry.instrumentation.openai"),  # an app's call
                request_span(4, kind=SpanKind.INTERNAL),
            ]
        )
        assert pipeline.flush(5)
        samples = collected(metrics)

    assert value(samples, "spyglass_spans_written_total") == 4
    assert value(samples, "spyglass_requests_total", model="gpt-small", status="ok") == 1
    assert len(series(samples, "gen_ai_client_operation_duration_seconds_count")) == 1
    assert (
        sum(s.value for s in find(samples, "gen_ai_client_operation_duration_seconds_count")) == 1
    )


def test_a_failing_metric_never_costs_the_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rows: Any) -> None:
        raise RuntimeError("bug in metrics")

    store = GatedStore()
    with pipeline_with(store) as (pipeline, metrics):
        monkeypatch.setattr(metrics, "observe", broken)
        # Outside tests the error is logged and the spans written; under pytest it would raise.
        monkeypatch.delenv("PYTEST_CURRENT_TEST")
        pipeline.ingest([request_span(1)])
        assert pipeline.flush(5)

    assert len(store.rows) == 1

"""OTLP spans are bounded as OpenTelemetry's SDKs bound them, and their start times checked,
by a `spyglass serve` process: what was dropped is counted on the span; spans from 1970 or
the far future are rejected and counted in the answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from tests.conftest import Server
from tests.tracing.test_otlp import (
    PROTOBUF,
    api,
    key_values,
    new_trace_id,
    pb_request,
    pb_span,
    wait_for_trace,
)

DAY_NS = 86_400 * 10**9


def _post(server: Server, *spans: SpanProto) -> ExportTraceServiceResponse:
    response = httpx.post(
        f"{server.url}/v1/traces",
        content=pb_request(*spans).SerializeToString(),
        headers={"content-type": PROTOBUF},
        timeout=30,
    )
    assert response.status_code == 200, response.content
    return ExportTraceServiceResponse.FromString(response.content)


def _huge(trace_id: str, attributes: int, events: int, links: int) -> SpanProto:
    span = pb_span("huge", trace_id=trace_id, attributes={f"a{i}": i for i in range(attributes)})
    now = time.time_ns()
    for index in range(events):
        span.events.add(
            name=f"e{index}",
            time_unix_nano=now,
            attributes=key_values({f"k{i}": "v" for i in range(200)}),
        )
    for _ in range(links):
        span.links.add(trace_id=bytes.fromhex(new_trace_id()), span_id=b"\x01" * 8)
    return span


async def _stored(server: Server, trace_id: str) -> dict[str, Any]:
    async with api(server) as client:
        found: dict[str, Any] = (await wait_for_trace(client, trace_id))["spans"][0]
        return found


async def test_a_span_keeps_128_attributes_events_and_event_attributes_and_counts_the_rest(
    serve: Callable[..., Server],
) -> None:
    server = serve({"model_list": []})
    trace_id = new_trace_id()
    answer = _post(server, _huge(trace_id, attributes=100_000, events=200, links=130))
    assert answer.partial_success.rejected_spans == 0
    span = await _stored(server, trace_id)
    attributes = span["attributes"]
    kept = [k for k in attributes if not k.startswith("spyglass.")]
    assert kept == [f"a{i}" for i in range(128)]  # the first ones, as an SDK keeps them
    assert attributes["spyglass.dropped.attributes"] == 100_000 - 128
    assert attributes["spyglass.dropped.events"] == 200 - 128
    assert attributes["spyglass.dropped.links"] == 130 - 128
    assert [e["name"] for e in span["events"]] == [f"e{i}" for i in range(128)]
    assert len(span["events"][0]["attributes"]) == 128
    assert span["events"][0]["dropped_attributes"] == 200 - 128


async def test_limits_are_configurable_and_the_senders_own_counts_add_up(
    serve: Callable[..., Server],
) -> None:
    server = serve({"model_list": [], "tracing": {"span_limits": {"attributes": 10}}})
    small, reported = new_trace_id(), new_trace_id()
    within = pb_span("within", trace_id=reported, attributes={"x": 1})
    within.dropped_attributes_count = 7  # what the sender's SDK dropped already
    _post(server, _huge(small, attributes=50, events=0, links=0), within)
    huge = await _stored(server, small)
    assert len([k for k in huge["attributes"] if not k.startswith("spyglass.")]) == 10
    assert huge["attributes"]["spyglass.dropped.attributes"] == 40
    plain = await _stored(server, reported)
    assert plain["attributes"]["spyglass.dropped.attributes"] == 7
    assert "spyglass.dropped.events" not in plain["attributes"]


async def test_spans_from_1970_or_the_far_future_are_rejected_and_counted(
    serve: Callable[..., Server],
) -> None:
    server = serve({"model_list": []})
    good, zero, future = new_trace_id(), new_trace_id(), new_trace_id()
    at_zero = pb_span("at-zero", trace_id=zero)
    at_zero.start_time_unix_nano, at_zero.end_time_unix_nano = 0, 5
    later = pb_span("later", trace_id=future)
    later.start_time_unix_nano = time.time_ns() + 2 * DAY_NS
    later.end_time_unix_nano = later.start_time_unix_nano + 1000
    skewed = pb_span("skewed", trace_id=good)  # a few minutes ahead: a clock skew, kept
    skewed.start_time_unix_nano += 300 * 10**9
    skewed.end_time_unix_nano += 300 * 10**9

    answer = _post(server, at_zero, later, skewed)

    assert answer.partial_success.rejected_spans == 2
    message = answer.partial_success.error_message
    assert "'at-zero'" in message and "before 2000" in message
    assert "'later'" in message and "future" in message
    assert (await _stored(server, good))["name"] == "skewed"
    async with api(server) as client:
        for trace_id in (zero, future):
            assert (await client.get(f"/api/traces/{trace_id}")).status_code == 404
        listed = (await client.get("/api/traces")).json()["data"]
    assert [row["trace_id"] for row in listed] == [good]

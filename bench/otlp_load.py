"""The OTLP ingest benchmark's load: pre-built OTLP/HTTP protobuf bodies of GenAI traces,
POSTed from a separate process over a few keep-alive connections.

A body is built once per (batch size, seed): ``batch / 5`` traces of a chain root and four LLM
calls, ~15 attributes each, with short ``gen_ai.input.messages``/``gen_ai.output.messages``.
Before each POST the 16-byte trace ids and the fixed64 timestamps are overwritten in place in
the serialized bytes (their offsets are found once), so every request carries new traces at the
current time without re-encoding: the store is idempotent, and a repeated trace would be stored
once. A 503 is answered by waiting Retry-After and sending the same batch again, as OTLP
exporters do.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SPANS_PER_TRACE = 5  # a chain root and four LLM calls
TEMPLATES_PER_BATCH = 4  # bodies rotated (different sessions, users, models, messages)


# --------------------------------------------------------------------------- the bodies


@dataclass
class Template:
    """A serialized request and where its trace ids and timestamps sit in the bytes."""

    body: bytes
    spans: int
    trace_offsets: list[list[int]]  # per trace: offsets of its 16-byte id in every span
    time_offsets: list[tuple[int, int]]  # (offset, value) of every fixed64 start/end time
    base_ns: int

    def fresh(self, rng: random.Random) -> bytes:
        """The body with new random trace ids and timestamps moved to now."""
        buf = bytearray(self.body)
        for offsets in self.trace_offsets:
            new = rng.randbytes(16)
            for offset in offsets:
                buf[offset : offset + 16] = new
        shift = time.time_ns() - self.base_ns
        for offset, value in self.time_offsets:
            struct.pack_into("<Q", buf, offset, value + shift)
        return bytes(buf)


_MODELS = [
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com"),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com"),
    ("anthropic", "claude-3-5-haiku", "claude-3-5-haiku-20241022", "api.anthropic.com"),
    ("openai", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", "api.openai.com"),
]
_QUESTIONS = [
    "How do I reset the password of account {n}?",
    "Why was invoice {n} charged twice this month?",
    "Can I move my subscription {n} to the annual plan?",
    "Summarise ticket {n} for the on-call engineer.",
]


def _messages(role: str, text: str, system: str | None = None) -> str:
    items = []
    if system:
        items.append({"role": "system", "parts": [{"type": "text", "content": system}]})
    item: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if role == "assistant":
        item["finish_reason"] = "stop"
    items.append(item)
    return json.dumps(items, separators=(",", ":"))


def build_template(batch: int, seed: int) -> Template:
    """One request of ``batch`` spans (``batch / 5`` traces) with placeholder ids and times."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        if isinstance(value, list):
            items = [AnyValue(string_value=v) for v in value]
            return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=items)))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    rng = random.Random(seed)
    base_ns = time.time_ns()
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (
        ("service.name", "support-bot"),
        ("service.version", "2.3.1"),
        ("deployment.environment", "production"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.version", "1.38.0"),
        ("host.name", f"worker-{seed}"),
    ):
        resource_spans.resource.attributes.append(kv(key, value))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "opentelemetry.instrumentation.openai_v2"
    scope_spans.scope.version = "2.1b0"
    trace_ids: list[bytes] = []
    times: list[int] = []
    used: set[int] = set()

    def unique(ns: int) -> int:
        """Every timestamp differs, so each is found at exactly one place in the bytes."""
        while ns in used:
            ns += 1
        used.add(ns)
        return ns

    for t in range(batch // SPANS_PER_TRACE):
        trace_id = rng.randbytes(16)
        trace_ids.append(trace_id)
        session, user, n = f"sess-{rng.randrange(10**6):06d}", f"user-{rng.randrange(5000)}", t
        start = unique(base_ns + t * 1_000_000 + rng.randrange(1000))
        root_id = rng.randbytes(8)
        question = rng.choice(_QUESTIONS).format(n=rng.randrange(10**5))
        children = []
        child_start = start + 2_000_000
        for c in range(SPANS_PER_TRACE - 1):
            provider, model, response_model, server = rng.choice(_MODELS)
            child_start = unique(child_start)
            duration = unique(child_start + rng.randrange(300, 1500) * 1_000_000) - child_start
            error = rng.random() < 0.03
            span = Span(
                trace_id=trace_id,
                span_id=rng.randbytes(8),
                parent_span_id=root_id,
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=child_start,
                end_time_unix_nano=child_start + duration,
                status=Status(code=Status.STATUS_CODE_ERROR, message="upstream 429")
                if error
                else Status(code=Status.STATUS_CODE_UNSET),
            )
            input_tokens, output_tokens = rng.randrange(40, 900), rng.randrange(10, 400)
            span.attributes.extend(
                kv(k, v)
                for k, v in (
                    ("gen_ai.operation.name", "chat"),
                    ("gen_ai.provider.name", provider),
                    ("gen_ai.request.model", model),
                    ("gen_ai.response.model", response_model),
                    ("gen_ai.request.temperature", 0.2),
                    ("gen_ai.request.max_tokens", 512),
                    ("gen_ai.response.id", f"chatcmpl-{rng.randrange(10**12):012d}"),
                    ("gen_ai.response.finish_reasons", ["stop"]),
                    ("gen_ai.usage.input_tokens", input_tokens),
                    ("gen_ai.usage.output_tokens", output_tokens),
                    ("gen_ai.conversation.id", session),
                    (
                        "gen_ai.input.messages",
                        _messages("user", question, "You are a concise support assistant."),
                    ),
                    (
                        "gen_ai.output.messages",
                        _messages("assistant", f"Step {c + 1}: open Settings, then Billing."),
                    ),
                    ("server.address", server),
                    ("server.port", 443),
                )
            )
            children.append(span)
            times += [child_start, child_start + duration]
            child_start += duration + 1_000_000 + rng.randrange(1000)
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            name="invoke_workflow answer_question",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start,
            end_time_unix_nano=unique(child_start),
            status=Status(code=Status.STATUS_CODE_OK),
        )
        root.attributes.extend(
            kv(k, v)
            for k, v in (
                ("gen_ai.operation.name", "invoke_workflow"),
                ("gen_ai.agent.name", "support-bot"),
                ("gen_ai.conversation.id", session),
                ("enduser.id", user),
                ("gen_ai.prompt.name", "support-answer"),
                ("gen_ai.prompt.version", str(1 + n % 3)),
                ("app.tenant", f"tenant-{rng.randrange(50)}"),
                ("app.feature", "answer"),
                ("app.channel", rng.choice(["web", "email", "slack"])),
                ("http.request.method", "POST"),
                ("http.route", "/v1/answer"),
                ("retrieval.documents", rng.randrange(1, 8)),
                ("cache.hit", rng.random() < 0.2),
                ("request.id", f"req-{rng.randrange(10**12):012d}"),
                ("user.locale", rng.choice(["en-US", "de-DE", "fr-FR"])),
            )
        )
        times += [start, root.end_time_unix_nano]
        scope_spans.spans.append(root)
        scope_spans.spans.extend(children)
    body = request.SerializeToString()
    return Template(
        body=body,
        spans=len(scope_spans.spans),
        trace_offsets=[_find_all(body, tid, SPANS_PER_TRACE) for tid in trace_ids],
        time_offsets=[(_find_all(body, struct.pack("<Q", v), 1)[0], v) for v in times],
        base_ns=base_ns,
    )


def _find_all(body: bytes, needle: bytes, expected: int) -> list[int]:
    found, at = [], body.find(needle)
    while at != -1:
        found.append(at)
        at = body.find(needle, at + 1)
    if len(found) != expected:  # a random value also occurring elsewhere: never in practice
        raise RuntimeError(f"placeholder found {len(found)} times, expected {expected}")
    return found


# --------------------------------------------------------------------------- the load process


def load_process(
    port: int,
    batch: int,
    connections: int,
    duration: float,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """Entry point of the load process: build bodies, wait for ``go``, POST for ``duration``."""
    templates = [build_template(batch, seed) for seed in range(TEMPLATES_PER_BATCH)]
    ready.set()
    if not go.wait(120):
        return
    deadline = time.monotonic() + duration
    stats = [_ConnStats() for _ in range(connections)]
    threads = [
        threading.Thread(target=_post_loop, args=(port, templates, deadline, s, i), daemon=True)
        for i, s in enumerate(stats)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 120)
    firsts = [s.first_send for s in stats if s.first_send is not None]
    results.send(
        {
            "requests": sum(s.requests for s in stats),
            "accepted": sum(s.accepted for s in stats),
            "rejected": sum(s.rejected for s in stats),
            "busy": sum(s.busy for s in stats),
            "errors": sum(s.errors for s in stats),
            "error_samples": [e for s in stats for e in s.error_samples][:5],
            "first_send": min(firsts) if firsts else math.nan,
            "last_done": max((s.last_done for s in stats), default=math.nan),
        }
    )


@dataclass
class _ConnStats:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    busy: int = 0
    errors: int = 0
    first_send: float | None = None
    last_done: float = math.nan
    error_samples: list[str] = field(default_factory=list)


def _post_loop(
    port: int, templates: list[Template], deadline: float, stats: _ConnStats, index: int
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    rng = random.Random()
    headers = {"Content-Type": "application/x-protobuf"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    turn = index
    pending: tuple[Template, bytes] | None = None
    try:
        while time.monotonic() < deadline:
            if pending is None:
                template = templates[turn % len(templates)]
                turn += 1
                pending = (template, template.fresh(rng))
            template, body = pending
            if stats.first_send is None:
                stats.first_send = time.monotonic()
            try:
                conn.request("POST", "/v1/traces", body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                stats.errors += 1
                _sample(stats, f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                continue
            stats.requests += 1
            stats.last_done = time.monotonic()
            if response.status == 200:
                answer = ExportTraceServiceResponse.FromString(data)
                rejected = answer.partial_success.rejected_spans
                stats.accepted += template.spans - rejected
                stats.rejected += rejected
                pending = None
            elif response.status == 503:  # queue full: the same batch again after Retry-After
                stats.busy += 1
                wait = _retry_after(response.getheader("retry-after"))
                time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            else:
                stats.errors += 1
                _sample(stats, f"HTTP {response.status}: {data[:200]!r}")
                pending = None
    finally:
        conn.close()


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.0), 30.0)
    except ValueError:
        return 1.0


def _sample(stats: _ConnStats, text: str) -> None:
    if len(stats.error_samples) < 3:
        stats.error_samples.append(text)

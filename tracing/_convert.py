"""Spans in, rows out: ReadableSpan -> store rows (with the normalized view); OTLP -> spans.

Spans from the gateway and spans received over OTLP take the same path: both become
``ReadableSpan`` objects that go through the processors to the store's exporter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._limits import (
    DEFAULT_LIMITS,
    DROPPED_ATTRIBUTES,
    DROPPED_EVENTS,
    DROPPED_LINKS,
    SpanLimits,
    out_of_time,
)
from ._normalize import Normalized, normalize
from ._policy import ContentPolicy
from ._pricing import bundled_prices, estimate_cost
from ._projects import Sender

__all__ = ["build_row", "otlp_to_rows", "otlp_to_spans", "span_to_row"]

_SPAN_KINDS = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
# OTLP's enum values (opentelemetry.proto.trace.v1.Span.SpanKind / Status.StatusCode).
_OTLP_KINDS = [
    SpanKind.INTERNAL,  # UNSPECIFIED
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
]
_OTLP_STATUS = [StatusCode.UNSET, StatusCode.OK, StatusCode.ERROR]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """The ``spans`` row of one finished span."""
    context = span.context
    assert context is not None
    status = span.status
    start = span.start_time or 0
    return build_row(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else None,
        name=span.name,
        span_kind=_SPAN_KINDS.get(span.kind, "internal"),
        status=_STATUS.get(status.status_code, "unset"),
        status_message=status.description or None,
        start=start,
        end=span.end_time or start,
        service_name=_service_name(span.resource),
        scope_name=span.instrumentation_scope.name if span.instrumentation_scope else None,
        attributes={
            k: v if isinstance(v, str | int | float) else _jsonable(v)
            for k, v in (span.attributes or {}).items()
        },
        events=[
            {
                "name": event.name,
                "time_ns": event.timestamp,
                "attributes": {k: _jsonable(v) for k, v in (event.attributes or {}).items()},
            }
            for event in span.events
        ],
    )


def build_row(
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    span_kind: str,
    status: str,
    status_message: str | None,
    start: int,
    end: int,
    service_name: str | None,
    scope_name: str | None,
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The ``spans`` row of a span given as plain values (attributes already JSON-able)."""
    content: dict[str, Any] | str | None
    if scope_name == GATEWAY_SCOPE and not events:
        view = _gateway_view(attributes)
        content = _gateway_content(attributes)
    else:
        view = normalize(name, attributes, [(e["name"], e["attributes"]) for e in events])
        content = {}
        for key, value in (
            ("system", view.system_instructions),
            ("input", view.input_messages),
            ("output", view.output_messages),
            ("input_value", view.input_value),
            ("output_value", view.output_value),
            ("documents", view.documents),
        ):
            if value:
                content[key] = value
    prompt = None
    if view.prompt_name:
        prompt = (
            f"{view.prompt_name}/{view.prompt_version}" if view.prompt_version else view.prompt_name
        )
    key_id = attributes.get("spyglass.key.id")
    is_attempt = attributes.get("spyglass.attempt") is not None
    cost = view.cost_usd
    if cost is None and view.kind in _PRICED_KINDS and scope_name != GATEWAY_SCOPE:
        # A call the app reported without a cost: priced from the gateway's price map. (The
        # gateway's own spans say their cost, or that no price is known, by leaving it out.)
        cost = estimate_cost(
            bundled_prices(),
            model=view.model,
            response_model=view.response_model,
            provider=view.provider,
            input_tokens=view.input_tokens,
            output_tokens=view.output_tokens,
            cache_read_tokens=view.cache_read_tokens,
        )
        if cost is not None:
            attributes["spyglass.cost.source"] = "price_map"
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": name,
        "kind": view.kind,
        "span_kind": span_kind,
        "status": status,
        "status_message": status_message,
        "start_ns": start,
        "end_ns": end,
        "duration_ms": max(end - start, 0) / 1e6,
        "service_name": service_name,
        "scope_name": scope_name,
        "model": view.model,
        "provider": view.provider,
        "input_tokens": view.input_tokens,
        "output_tokens": view.output_tokens,
        "cost": cost,
        "session_id": view.session_id,
        "user_id": view.user_id,
        "key_id": key_id if isinstance(key_id, str) else None,
        "ttft_ms": view.time_to_first_token_ms,
        # The gateway's upstream attempts repeat the usage of their request span.
        "is_attempt": is_attempt,
        "attributes": attributes,
        "events": events,
        "content": content or None,
        "prompt": prompt,
        "project": _text(attributes.get("spyglass.project")),
        "online_eval": _text(attributes.get("spyglass.online_eval.rule")),
    }


# Spans the gateway itself emits: their attributes are known exactly, so they skip the
# convention detection every other span goes through (it costs most of the write path).
GATEWAY_SCOPE = "spyglass.gateway"
_PRICED_KINDS = ("llm", "embedding")
_GATEWAY_OPERATION_KINDS = {"chat": "llm", "text_completion": "llm", "embeddings": "embedding"}


def _gateway_view(attributes: dict[str, Any]) -> Normalized:
    get = attributes.get
    operation = get("gen_ai.operation.name")
    ttft = get("spyglass.time_to_first_token_ms")
    cost = get("spyglass.cost.usd")
    return Normalized(
        kind=_GATEWAY_OPERATION_KINDS.get(operation, "span")
        if isinstance(operation, str)
        else "span",
        operation=operation if isinstance(operation, str) else None,
        model=_text(get("gen_ai.request.model")),
        response_model=_text(get("gen_ai.response.model")),
        provider=_text(get("gen_ai.provider.name")),
        input_tokens=_count(get("gen_ai.usage.input_tokens")),
        output_tokens=_count(get("gen_ai.usage.output_tokens")),
        cache_read_tokens=_count(get("gen_ai.usage.cache_read.input_tokens")),
        reasoning_tokens=_count(get("gen_ai.usage.reasoning.output_tokens")),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
        session_id=_text(get("gen_ai.conversation.id")),
        user_id=_text(get("user.id")),
        prompt_name=_text(get("gen_ai.prompt.name")),
        prompt_version=_text(get("gen_ai.prompt.version")),
        time_to_first_token_ms=float(ttft) if isinstance(ttft, int | float) else None,
    )


def _gateway_content(attributes: dict[str, Any]) -> str | None:
    """The ``content`` column of a gateway span, as JSON text.

    The gateway wrote its messages as JSON itself, so they are spliced in as they are instead
    of being parsed and written again; a truncated (so no longer valid) value is left out.
    """
    truncated = attributes.get("spyglass.truncated") or ()
    parts = []
    for key, name in (("input", "gen_ai.input.messages"), ("output", "gen_ai.output.messages")):
        raw = attributes.get(name)
        if isinstance(raw, str) and raw.startswith("[") and name not in truncated:
            parts.append(f'"{key}":{raw}')
    return "{" + ",".join(parts) + "}" if parts else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _json_list(value: Any) -> list[Any] | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None


def _service_name(resource: Resource | None) -> str | None:
    if resource is None:
        return None
    name = resource.attributes.get("service.name")
    return str(name) if name is not None else None


# -- OTLP ------------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    """An OTLP AnyValue as a Python value (arrays and maps kept, for JSON storage)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def _attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    found = {}
    for kv in pairs:
        value = kv.value
        # Most values are non-empty strings: read first, that saves asking which field is
        # set (this runs for every attribute of every span received). An empty string, or
        # another type, is found the long way.
        text = value.string_value
        if text:
            found[kv.key] = text
            continue
        which = value.WhichOneof("value")
        found[kv.key] = getattr(value, which) if which in _SCALARS else _any_value(value)
    return found


_OTLP_KIND_NAMES = ("internal", "internal", "server", "client", "producer", "consumer")
_OTLP_STATUS_NAMES = ("unset", "ok", "error")


def _bounded(items: Any, limit: int) -> tuple[Any, int]:
    """The first ``limit`` of a repeated field, and how many were left out."""
    count = len(items)
    if count <= limit:
        return items, 0
    return items[:limit], count - limit


def _span_attributes(span: Any, limits: SpanLimits, sender: Sender | None) -> dict[str, Any]:
    """A received span's attributes within the limits, with the counts of what was dropped
    (here and by the sender) as ``spyglass.dropped.*``; the sender's say applied."""
    pairs, dropped = _bounded(span.attributes, limits.attributes)
    attributes = _attributes(pairs)
    dropped += span.dropped_attributes_count
    events = max(len(span.events) - limits.events, 0) + span.dropped_events_count
    links = max(len(span.links) - limits.links, 0) + span.dropped_links_count
    for name, count in (
        (DROPPED_ATTRIBUTES, dropped),
        (DROPPED_EVENTS, events),
        (DROPPED_LINKS, links),
    ):
        if count:
            attributes[name] = count
    if sender is not None:
        sender.apply(attributes)
    return attributes


def _valid_spans(spans: Any, latest_ns: int, rejected: list[str]) -> Iterable[Any]:
    """The spans of a scope that may be stored; the reasons for the others go to ``rejected``."""
    for span in spans:
        problem = _invalid(span) or out_of_time(span.name, span.start_time_unix_nano, latest_ns)
        if problem:
            rejected.append(problem)
        else:
            yield span


def otlp_to_rows(
    request: Any,
    policy: ContentPolicy,
    sender: Sender | None = None,
    limits: SpanLimits = DEFAULT_LIMITS,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The store rows of an ``ExportTraceServiceRequest``'s spans, the content policy and the
    span limits applied, and the reasons spans were rejected.

    The receiver's path when no external exporter needs the spans themselves: the same rows
    as ``span_to_row`` after ``ContentPolicyProcessor`` would give, without building the
    SDK's span, context, status, event and scope objects for each span first.
    """
    rows: list[dict[str, Any]] = []
    rejected: list[str] = []
    latest = limits.latest_start_ns()
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name")
        service_name = str(service) if service is not None else None
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name or "unknown"
            for span in _valid_spans(scope_spans.spans, latest, rejected):
                attributes = _span_attributes(span, limits, sender)
                changed = policy.attributes(attributes)
                events = []
                for event in _bounded(span.events, limits.events)[0]:
                    if not policy.keeps_event(event.name):
                        continue
                    pairs, dropped = _bounded(event.attributes, limits.event_attributes)
                    event_attributes = _attributes(pairs)
                    allowed = policy.attributes(event_attributes)
                    if allowed is not None:
                        event_attributes = _jsonable_values(allowed)
                    stored = {
                        "name": event.name,
                        "time_ns": event.time_unix_nano,
                        "attributes": event_attributes,
                    }
                    dropped += event.dropped_attributes_count
                    if dropped:
                        stored["dropped_attributes"] = dropped
                    events.append(stored)
                parent = span.parent_span_id
                code, kind = span.status.code, span.kind
                start = span.start_time_unix_nano
                rows.append(
                    build_row(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=parent.hex() if parent and any(parent) else None,
                        name=span.name,
                        span_kind=_OTLP_KIND_NAMES[kind] if 0 <= kind < 6 else "internal",
                        status=_OTLP_STATUS_NAMES[code] if 0 <= code < 3 else "unset",
                        status_message=span.status.message or None,
                        start=start,
                        end=span.end_time_unix_nano or start,
                        service_name=service_name,
                        scope_name=scope_name,
                        attributes=attributes if changed is None else _jsonable_values(changed),
                        events=events,
                    )
                )
    return rows, rejected


def _jsonable_values(attributes: dict[str, Any]) -> dict[str, Any]:
    """The policy names truncated keys in a tuple: stored as a JSON list like the rest."""
    return {k: _jsonable(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


def otlp_to_spans(
    request: Any, sender: Sender | None = None, limits: SpanLimits = DEFAULT_LIMITS
) -> tuple[list[ReadableSpan], list[str]]:
    """The spans of an ``ExportTraceServiceRequest``, the span limits applied, and the reasons
    spans were rejected."""
    spans: list[ReadableSpan] = []
    rejected: list[str] = []
    latest = limits.latest_start_ns()
    for resource_spans in request.resource_spans:
        resource = Resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(
                scope_spans.scope.name or "unknown", scope_spans.scope.version or None
            )
            for span in _valid_spans(scope_spans.spans, latest, rejected):
                spans.append(_readable(span, resource, scope, sender, limits))
    return spans, rejected


def _invalid(span: Any) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r}: trace_id must be 16 non-zero bytes"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r}: span_id must be 8 non-zero bytes"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r}: parent_span_id must be 8 bytes"
    if span.end_time_unix_nano and span.end_time_unix_nano < span.start_time_unix_nano:
        return f"span {span.name!r}: ends before it starts"
    return None


def _readable(
    span: Any,
    resource: Resource,
    scope: InstrumentationScope,
    sender: Sender | None,
    limits: SpanLimits,
) -> ReadableSpan:
    trace_id = int.from_bytes(span.trace_id, "big")
    context = SpanContext(
        trace_id, int.from_bytes(span.span_id, "big"), is_remote=True, trace_flags=TraceFlags(1)
    )
    parent = (
        SpanContext(trace_id, int.from_bytes(span.parent_span_id, "big"), is_remote=True)
        if span.parent_span_id and any(span.parent_span_id)
        else None
    )
    events: Sequence[Event] = [
        Event(
            e.name,
            _attributes(_bounded(e.attributes, limits.event_attributes)[0]),
            e.time_unix_nano,
        )
        for e in _bounded(span.events, limits.events)[0]
    ]
    links: Sequence[Link] = [
        Link(
            SpanContext(
                int.from_bytes(link.trace_id, "big"),
                int.from_bytes(link.span_id, "big"),
                is_remote=True,
            ),
            _attributes(_bounded(link.attributes, limits.link_attributes)[0]),
        )
        for link in _bounded(span.links, limits.links)[0]
        if len(link.trace_id) == 16 and len(link.span_id) == 8
    ]
    code = _OTLP_STATUS[span.status.code] if 0 <= span.status.code < 3 else StatusCode.UNSET
    kind = _OTLP_KINDS[span.kind] if 0 <= span.kind < len(_OTLP_KINDS) else SpanKind.INTERNAL
    end = span.end_time_unix_nano or span.start_time_unix_nano
    attributes = _span_attributes(span, limits, sender)
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,  # arrays and maps are kept as they are, for storage
        events=events,
        links=links,
        kind=kind,
        status=Status(code, span.status.message or None),
        start_time=span.start_time_unix_nano,
        end_time=end,
        instrumentation_scope=scope,
    )

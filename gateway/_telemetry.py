"""Spans for gateway requests: one server span per request, one client span per upstream attempt.

Names and attributes follow the OpenTelemetry GenAI semantic conventions (v1.41); Spyglass's own
figures are under ``spyglass.*``. Only the OpenTelemetry API is used here: the provider comes
from the app, so with tracing off every call below is a cheap no-op.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._deployment import Deployment
from ._upstream import Operation, Usage
from .errors import GatewayError, UpstreamStatusError

__all__ = ["RequestTelemetry", "Telemetry"]

_OPERATIONS: dict[Operation, str] = {
    "chat": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
}
# litellm's provider prefixes -> gen_ai.provider.name well-known values.
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "mock": "spyglass.mock",
}
_REQUEST_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "stream": "gen_ai.request.stream",
}
_SESSION_KEYS = ("session_id", "gen_ai.conversation.id", "session.id")
_propagator = TraceContextTextMapPropagator()


def provider_name(dep: Deployment) -> str:
    """The semconv ``gen_ai.provider.name`` of a deployment."""
    return _PROVIDERS.get(dep.provider, dep.provider or "openai")


class Telemetry:
    """Makes request telemetry objects; holds the tracer and the content settings."""

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, capture_content: bool = True
    ) -> None:
        self.tracer = trace.get_tracer("spyglass.gateway", tracer_provider=tracer_provider)
        self.capture_content = capture_content
        self._attempt_attributes: dict[str, dict[str, Any]] = {}

    def request(
        self,
        op: Operation,
        body: dict[str, Any],
        headers: Mapping[str, str],
        prompt: tuple[str, int] | None = None,
        project: str | None = None,
    ) -> RequestTelemetry:
        """Start the server span of a request (a child of the caller's ``traceparent``).

        ``prompt`` is the registry prompt (name, version) the request was rendered from;
        ``project`` the caller's key's, set as ``spyglass.project`` on the request's spans.
        """
        operation = _OPERATIONS[op]
        capture = self.capture_content and headers.get(
            "x-spyglass-capture-content", ""
        ).lower() not in ("false", "0", "no")
        # Attributes are passed when the span starts: the SDK validates each attribute it is
        # given, and one call per span keeps that to once per attribute.
        parent = _propagator.extract(headers) if "traceparent" in headers else None
        attributes = _request_attributes(operation, body, headers, capture)
        if prompt is not None:
            attributes["gen_ai.prompt.name"] = prompt[0]
            attributes["gen_ai.prompt.version"] = str(prompt[1])
        if project is not None:
            attributes["spyglass.project"] = project
        span = self.tracer.start_span(
            f"{operation} {body.get('model')}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        return RequestTelemetry(self, span, operation, capture, project)

    def attempt_attributes(self, dep: Deployment) -> dict[str, Any]:
        """The attributes every attempt at ``dep`` starts with, computed once per deployment."""
        found = self._attempt_attributes.get(dep.id)
        if found is None:
            found = {
                "gen_ai.provider.name": provider_name(dep),
                "gen_ai.request.model": dep.upstream_model,
                "spyglass.deployment": dep.id,
            }
            if dep.params.api_base:
                parts = urlsplit(dep.params.api_base)
                if parts.hostname:
                    found["server.address"] = parts.hostname
                    found["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
            self._attempt_attributes[dep.id] = found
        return found


def _request_attributes(
    operation: str, body: dict[str, Any], headers: Mapping[str, str], capture: bool
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.request.model": str(body.get("model")),
    }
    for key, name in _REQUEST_ATTRIBUTES.items():
        value = body.get(key)
        if value is not None and isinstance(value, int | float | bool):
            attributes[name] = value
    stop = body.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = (stop,)
    elif isinstance(stop, list):
        attributes["gen_ai.request.stop_sequences"] = tuple(str(s) for s in stop)
    session = headers.get("x-spyglass-session-id")
    metadata = body.get("metadata")
    if session is None and isinstance(metadata, dict):
        session = next((str(metadata[k]) for k in _SESSION_KEYS if metadata.get(k)), None)
    if session:
        attributes["gen_ai.conversation.id"] = session
    user = headers.get("x-spyglass-user-id") or body.get("user")
    if isinstance(user, str) and user:
        attributes["user.id"] = user
    rule = headers.get("x-spyglass-online-eval")
    if rule:  # a judge's call of online evaluation: its rule
        attributes["spyglass.online_eval.rule"] = rule[:100]
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        attributes["gen_ai.output.type"] = "json"
    if capture:
        attributes.update(_input_content(body))
    return attributes


class RequestTelemetry:
    """The spans of one request."""

    def __init__(
        self,
        owner: Telemetry,
        span: Span,
        operation: str,
        capture: bool,
        project: str | None = None,
    ) -> None:
        self._owner = owner
        self.project = project
        self.span = span
        self.operation = operation
        self.recording = span.is_recording()
        self.capture = capture and self.recording
        self.started = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.output = _OutputCollector() if self.capture else None
        self.group: str | None = None
        self.last_deployment: Deployment | None = None
        self.cache_hit: bool | None = None  # None: the response cache is off

    @property
    def trace_id(self) -> str | None:
        """The request's trace id (hex), for the ``x-spyglass-trace-id`` header."""
        if not self.recording:
            return None
        return f"{self.span.get_span_context().trace_id:032x}"

    def set_group(self, group: str) -> None:
        """The model group the request was routed to (recorded when the span ends)."""
        self.group = group

    def attempt(self, dep: Deployment, number: int) -> Span:
        """Start the client span of one upstream attempt."""
        if not self.recording:
            return self.span  # a non-recording span: ending it again does nothing
        self.last_deployment = dep
        attributes = dict(self._owner.attempt_attributes(dep))
        attributes["gen_ai.operation.name"] = self.operation
        attributes["spyglass.attempt"] = number
        if self.project is not None:
            attributes["spyglass.project"] = self.project
        return self._owner.tracer.start_span(
            f"{self.operation} {dep.upstream_model}",
            context=trace.set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    def attempt_failed(self, span: Span, error: GatewayError) -> None:
        if span.is_recording():
            span.set_attribute("error.type", _error_type(error))
            span.set_status(Status(StatusCode.ERROR, error.message[:500]))
        span.end()

    def attempt_succeeded(
        self, span: Span, usage: Usage, data: dict[str, Any] | None, cost: float | None
    ) -> None:
        if span.is_recording():
            span.set_attributes(_response_attributes(usage, data, None))
        span.end()

    def chunk(self, chunks: list[dict[str, Any]]) -> None:
        """Note streamed chunks: the first one's time, and the output when capturing."""
        if self.first_chunk_at is None and chunks:
            self.first_chunk_at = time.perf_counter()
        if self.output is not None:
            for chunk in chunks:
                self.output.add(chunk)

    def succeeded(
        self,
        dep: Deployment,
        usage: Usage,
        data: dict[str, Any] | None,
        cost: float | None,
        attempts: int,
        fallbacks: int,
    ) -> None:
        """End the request span with the response's figures."""
        span = self.span
        if span.is_recording():
            attributes = _response_attributes(usage, data, cost)
            attributes["gen_ai.provider.name"] = provider_name(dep)
            attributes["spyglass.deployment"] = dep.id
            attributes["spyglass.attempts"] = attempts
            if fallbacks:
                attributes["spyglass.fallbacks"] = fallbacks
            if self.group is not None:
                attributes["spyglass.model_group"] = self.group
            self._end_succeeded(attributes, data)
        span.end()

    def served_from_cache(self, usage: Usage, data: dict[str, Any] | None) -> None:
        """End the request span of an answer from the response cache: no upstream, no cost."""
        self.cache_hit = True
        span = self.span
        if span.is_recording():
            attributes = _response_attributes(usage, data, 0.0)
            attributes["spyglass.attempts"] = 0
            if self.group is not None:
                attributes["spyglass.model_group"] = self.group
            self._end_succeeded(attributes, data)
        span.end()

    def _end_succeeded(self, attributes: dict[str, Any], data: dict[str, Any] | None) -> None:
        if self.cache_hit is not None:
            attributes["spyglass.cache.hit"] = self.cache_hit
        if self.first_chunk_at is not None:
            attributes["spyglass.time_to_first_token_ms"] = (
                self.first_chunk_at - self.started
            ) * 1000
        if self.capture:
            # The collector only sees streamed chunks; a whole response is in ``data``.
            streamed = self.output.messages() if self.output is not None else []
            messages = streamed or _output_messages(data)
            if messages:
                attributes["gen_ai.output.messages"] = orjson.dumps(messages).decode()
        if "gen_ai.response.finish_reasons" not in attributes and self.output is not None:
            reasons = self.output.finish_reasons()
            if reasons:
                attributes["gen_ai.response.finish_reasons"] = reasons
        self.span.set_attributes(attributes)

    def failed(self, error: GatewayError, attempts: int) -> None:
        """End the request span as failed."""
        self._end_failed(_error_type(error), error.message[:500], attempts)

    def _end_failed(self, error_type: str, message: str, attempts: int) -> None:
        span = self.span
        if span.is_recording():
            attributes: dict[str, Any] = {"error.type": error_type, "spyglass.attempts": attempts}
            if self.group is not None:
                attributes["spyglass.model_group"] = self.group
            if self.last_deployment is not None:
                attributes["gen_ai.provider.name"] = provider_name(self.last_deployment)
                attributes["spyglass.deployment"] = self.last_deployment.id
            span.set_attributes(attributes)
            span.set_status(Status(StatusCode.ERROR, message))
        span.end()

    def stream_cut(self, attempts: int) -> None:
        """End the request span of a stream the client abandoned."""
        self._end_failed(
            "client_disconnected", "client disconnected before the stream ended", attempts
        )


def _error_type(error: GatewayError) -> str:
    if isinstance(error, UpstreamStatusError):
        return str(error.status_code)
    return error.code or type(error).__name__


def _response_attributes(
    usage: Usage, data: dict[str, Any] | None, cost: float | None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
    }
    if cost is not None:
        attributes["spyglass.cost.usd"] = cost
    if usage.cache_read_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if data:
        if isinstance(data.get("id"), str):
            attributes["gen_ai.response.id"] = data["id"]
        if isinstance(data.get("model"), str):
            attributes["gen_ai.response.model"] = data["model"]
        reasons = [
            c["finish_reason"]
            for c in data.get("choices") or []
            if isinstance(c, dict) and isinstance(c.get("finish_reason"), str)
        ]
        if reasons:
            attributes["gen_ai.response.finish_reasons"] = tuple(reasons)
    return attributes


# -- content, in the semconv JSON form ------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else [content]:
        if not isinstance(part, dict):
            parts.append({"type": "text", "content": str(part)})
        elif part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:"):
                parts.append(
                    {
                        "type": "blob",
                        "modality": "image",
                        "mime_type": url[5:].split(";")[0],
                        "content": "<omitted>",
                    }
                )
            else:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        else:
            parts.append({"type": str(part.get("type", "unknown"))})
    return parts


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
    return raw


def _input_content(body: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    messages = body.get("messages")
    if isinstance(messages, list):
        converted = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "tool":
                parts = [
                    {
                        "type": "tool_call_response",
                        "id": message.get("tool_call_id"),
                        "response": message.get("content"),
                    }
                ]
            else:
                parts = _parts(message.get("content"))
                for call in message.get("tool_calls") or []:
                    function = call.get("function") or {}
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": call.get("id"),
                            "name": function.get("name"),
                            "arguments": _arguments(function.get("arguments")),
                        }
                    )
            converted.append({"role": "system" if role == "developer" else role, "parts": parts})
        found["gen_ai.input.messages"] = orjson.dumps(converted).decode()
    elif "prompt" in body:
        prompt = body["prompt"]
        text = prompt if isinstance(prompt, str) else orjson.dumps(prompt).decode()
        found["gen_ai.input.messages"] = orjson.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        ).decode()
    elif "input" in body:
        found["gen_ai.input.messages"] = orjson.dumps(
            [
                {
                    "role": "user",
                    "parts": [
                        {
                            "type": "text",
                            "content": body["input"]
                            if isinstance(body["input"], str)
                            else orjson.dumps(body["input"]).decode(),
                        }
                    ],
                }
            ]
        ).decode()
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        definitions = [
            {"type": "function", **(t.get("function") or {})} for t in tools if isinstance(t, dict)
        ]
        found["gen_ai.tool.definitions"] = orjson.dumps(definitions).decode()
    return found


def _output_messages(data: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not data:
        return []
    messages = []
    for choice in data.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if "message" in choice:
            message = choice.get("message") or {}
            parts = _parts(message.get("content"))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": _arguments(function.get("arguments")),
                    }
                )
        else:
            parts = _parts(choice.get("text"))
        messages.append(
            {"role": "assistant", "parts": parts, "finish_reason": choice.get("finish_reason")}
        )
    return messages


class _OutputCollector:
    """Assembles streamed chunks into output messages, per choice."""

    def __init__(self) -> None:
        self._text: dict[int, list[str]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._finish: dict[int, str] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            text = delta.get("content") if "delta" in choice else choice.get("text")
            if isinstance(text, str) and text:
                self._text.setdefault(index, []).append(text)
            for call in delta.get("tool_calls") or []:
                slot = self._calls.setdefault(index, {}).setdefault(
                    call.get("index", 0), {"id": None, "name": "", "arguments": ""}
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]

    def messages(self) -> list[dict[str, Any]]:
        indexes = sorted(set(self._text) | set(self._calls) | set(self._finish))
        found = []
        for index in indexes:
            parts: list[dict[str, Any]] = []
            if index in self._text:
                parts.append({"type": "text", "content": "".join(self._text[index])})
            for _, call in sorted(self._calls.get(index, {}).items()):
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call["id"],
                        "name": call["name"],
                        "arguments": _arguments(call["arguments"]),
                    }
                )
            found.append(
                {"role": "assistant", "parts": parts, "finish_reason": self._finish.get(index)}
            )
        return found

    def finish_reasons(self) -> tuple[str, ...]:
        return tuple(self._finish[i] for i in sorted(self._finish))

"""The fast path: OpenAI-compatible providers get the client's body with minimal parsing.

The body is forwarded with only ``model`` replaced (and request defaults filled in); streamed
chunks are relayed as they arrive, event by event, reading only what usage and finish reasons
need. All HTTP goes through the injected httpx transport (in production aiohttp's; in tests
respx's).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from ._completion_stream import CompletionStream
from ._deployment import Deployment
from ._upstream import Operation, StreamPiece, UpstreamResponse, UpstreamStream, Usage
from .errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)

# Providers whose API is OpenAI's, with their default base URL ("" = api_base required).
OPENAI_COMPATIBLE: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "azure": "",
    "custom_openai": "",
    "openai_like": "",
    "hosted_vllm": "",
    "vllm": "",
    "ollama": "http://localhost:11434/v1",
    "ollama_chat": "http://localhost:11434/v1",
    "lm_studio": "http://localhost:1234/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together_ai": "https://api.together.xyz/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "xai": "https://api.x.ai/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
    "perplexity": "https://api.perplexity.ai",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
}

_PATHS: dict[Operation, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}

_CONTEXT_WINDOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "too many tokens",
    "prompt is too long",
)


_CONTENT_POLICY_MARKERS = ("content_filter", "content_policy", "content management policy")

# Where LiteLLM finds a provider's key when the config gives none; Spyglass does the same.
KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
    "groq": ("GROQ_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "fireworks_ai": ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
    "perplexity": ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
    "deepinfra": ("DEEPINFRA_API_KEY",),
    "hosted_vllm": ("HOSTED_VLLM_API_KEY",),
}


def base_url(dep_provider: str, api_base: str | None) -> str:
    """The URL prefix operations are appended to."""
    base = (api_base or OPENAI_COMPATIBLE.get(dep_provider, "")).rstrip("/")
    if dep_provider.startswith("ollama") and api_base and not base.endswith("/v1"):
        base += "/v1"
    return base


class PassthroughAdapter:
    """Calls OpenAI-compatible HTTP APIs directly."""

    name = "passthrough"

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        # The transport, not an AsyncClient: the client's per-request machinery (URL merging,
        # auth and redirect flows, cookies) cost a tenth of the gateway's CPU and does nothing
        # for a proxy. Tests hand in respx's mock transport here.
        self._transport = transport
        self._targets: dict[tuple[str, Operation], tuple[httpx.URL, list[tuple[bytes, bytes]]]] = {}

    async def aclose(self) -> None:
        """The transport belongs to the app, which closes it."""

    def _target(
        self, op: Operation, dep: Deployment
    ) -> tuple[httpx.URL, list[tuple[bytes, bytes]]]:
        """URL and headers of an operation at a deployment, parsed once."""
        key = (dep.id, op)
        found = self._targets.get(key)
        if found is not None:
            return found
        params = dep.params
        headers = {"content-type": "application/json"}
        if dep.provider == "azure":
            url = (
                f"{base_url('azure', params.api_base)}/openai/deployments/"
                f"{dep.upstream_model}{_PATHS[op]}?api-version={params.api_version or '2024-10-21'}"
            )
            if params.api_key is not None:
                headers["api-key"] = params.api_key.get_secret_value()
        else:
            url = base_url(dep.provider, params.api_base) + _PATHS[op]
            if params.api_key is not None:
                headers["authorization"] = "Bearer " + params.api_key.get_secret_value()
        if params.organization:
            headers["openai-organization"] = params.organization
        if params.extra_headers:
            headers.update(params.extra_headers)
        parsed = httpx.URL(url)
        found = (parsed, [(k.encode(), v.encode()) for k, v in headers.items()])
        self._targets[key] = found
        return found

    def _request(
        self, op: Operation, dep: Deployment, body: dict[str, Any], timeout: float
    ) -> httpx.Request:
        payload = {**dep.request_defaults, **body} if dep.request_defaults else dict(body)
        payload["model"] = dep.upstream_model
        url, headers = self._target(op, dep)
        return httpx.Request(
            "POST",
            url,
            headers=headers,
            content=orjson.dumps(payload),
            extensions={
                "timeout": {
                    "connect": min(timeout, 10.0),
                    "read": timeout,
                    "write": timeout,
                    "pool": timeout,
                }
            },
        )

    async def _open(
        self, dep: Deployment, request: httpx.Request, timeout: float
    ) -> httpx.Response:
        try:
            return await self._transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            if _refused(exc):
                raise UpstreamConnectionError(
                    f"{dep.name} could not be reached: {_brief(exc.__cause__ or exc)}"
                ) from exc
            raise UpstreamTimeoutError(f"{dep.name} did not answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"{dep.name} could not be reached: {_brief(exc)}"
            ) from exc

    async def send(
        self, op: Operation, dep: Deployment, body: dict[str, Any], timeout: float
    ) -> UpstreamResponse:
        request = self._request(op, dep, body, timeout)
        started = time.perf_counter()
        response = await self._open(dep, request, timeout)
        return await self._read_answer(dep, response, started)

    async def _read_answer(
        self, dep: Deployment, response: httpx.Response, started: float
    ) -> UpstreamResponse:
        """A whole JSON answer (or the error it stands for), the response closed."""
        try:
            content = await response.aread()
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"{dep.name} broke off its answer: {_brief(exc)}"
            ) from exc
        finally:
            await response.aclose()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            raise status_error(dep, response.status_code, content, response.headers)
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{dep.name} answered with invalid JSON") from exc
        if not isinstance(data, dict):
            raise UpstreamError(f"{dep.name} answered with a JSON {type(data).__name__}")
        return UpstreamResponse(content, data, Usage.from_openai(data.get("usage")), elapsed)

    async def stream(
        self,
        op: Operation,
        dep: Deployment,
        body: dict[str, Any],
        timeout: float,
        *,
        client_wants_usage: bool,
    ) -> UpstreamStream:
        if dep.params.stream_usage and not client_wants_usage:
            options = body.get("stream_options")
            merged = dict(options) if isinstance(options, dict) else {}
            merged["include_usage"] = True
            body = {**body, "stream_options": merged}
        request = self._request(op, dep, body, timeout)
        response = await self._open(dep, request, timeout)
        if response.status_code >= 400:
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise status_error(dep, response.status_code, content, response.headers)
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/json":
            # The upstream ignored ``stream: true`` and answered whole: stream that answer, as
            # the client asked, rather than relay JSON as events (which SDKs read as nothing).
            answer = await self._read_answer(dep, response, time.perf_counter())
            return CompletionStream(op, answer.data, 0.0, include_usage=client_wants_usage)
        return PassthroughStream(response, strip_usage=not client_wants_usage)


def _refused(exc: httpx.TimeoutException) -> bool:
    """Whether a "connect timeout" was really a refused or failed connection.

    httpx-aiohttp maps every aiohttp connection error to ``ConnectTimeout``; the cause tells.
    """
    cause = exc.__cause__
    return (
        isinstance(exc, httpx.ConnectTimeout)
        and isinstance(cause, OSError)
        and not isinstance(cause, TimeoutError)
    )


_INCOMPLETE = "upstream_stream_incomplete"  # error.type of a stream cut short


class PassthroughStream:
    """Relays an upstream SSE stream event by event, noting usage and finish reasons."""

    def __init__(self, response: httpx.Response, *, strip_usage: bool) -> None:
        self._response = response
        self._strip_usage = strip_usage
        self.usage = Usage()
        self.finish_reasons: list[str] = []
        self.first_chunk_at: float | None = None
        self.done = False  # the terminator, data: [DONE], was relayed

    def __aiter__(self) -> AsyncIterator[StreamPiece]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[StreamPiece]:
        buffer = b""
        try:
            # Decoded bytes: an upstream may compress the stream (aiohttp leaves that to httpx).
            async for data in self._response.aiter_bytes():
                if self.first_chunk_at is None:
                    self.first_chunk_at = time.perf_counter()
                buffer += data
                # On the buffer, not the piece: a CRLF may be split between two pieces.
                if b"\r" in buffer:
                    buffer = buffer.replace(b"\r\n", b"\n")
                end = buffer.rfind(b"\n\n")
                if end < 0:
                    continue
                complete, buffer = buffer[: end + 2], buffer[end + 2 :]
                piece = self._read_events(complete)
                if piece.raw:
                    yield piece
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"upstream stream broke off: {_brief(exc)}", code=_INCOMPLETE
            ) from exc
        if buffer.strip():
            # A last event without its blank line is whole only if its data is.
            if not _whole(buffer):
                raise UpstreamConnectionError(
                    "upstream stream ended in the middle of an event", code=_INCOMPLETE
                )
            piece = self._read_events(buffer + b"\n\n")
            if piece.raw:
                yield piece
        if not self.done:
            # A close-delimited stream cut short looks like a normal end: only its terminator
            # tells a whole answer from part of one.
            raise UpstreamConnectionError(
                "upstream stream ended without data: [DONE]", code=_INCOMPLETE
            )

    def _read_events(self, events: bytes) -> StreamPiece:
        chunks: list[dict[str, Any]] = []
        kept: list[bytes] = []
        dropped = False
        for event in events.split(b"\n\n"):
            if not event:
                continue
            payload = _data_of(event)
            if payload is None or payload == b"[DONE]":
                self.done = self.done or payload == b"[DONE]"
                kept.append(event)
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                kept.append(event)
                continue
            if not isinstance(chunk, dict):
                kept.append(event)
                continue
            choices = chunk.get("choices")
            if chunk.get("usage"):
                self.usage = Usage.from_openai(chunk["usage"])
                if self._strip_usage and not choices:
                    dropped = True
                    continue
            if choices:
                for choice in choices:
                    reason = choice.get("finish_reason") if isinstance(choice, dict) else None
                    if reason:
                        self.finish_reasons.append(reason)
            chunks.append(chunk)
            kept.append(event)
        if not dropped:
            return StreamPiece(events, chunks)
        return StreamPiece(b"".join(e + b"\n\n" for e in kept), chunks)

    async def aclose(self) -> None:
        await self._response.aclose()


def _whole(event: bytes) -> bool:
    """Whether an event's data is whole: the terminator or a JSON value."""
    payload = _data_of(event.strip())
    if payload is None:
        return False
    if payload == b"[DONE]":
        return True
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return True


def _data_of(event: bytes) -> bytes | None:
    """The payload of an SSE event's data line(s), or None for comments and other fields."""
    if event.startswith(b"data:"):
        if b"\ndata:" not in event:
            return event[5:].strip()
    lines = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def status_error(
    dep: Deployment, status: int, content: bytes, headers: httpx.Headers
) -> UpstreamStatusError:
    """An :class:`UpstreamStatusError` from an upstream error response, secrets scrubbed."""
    message = ""
    error_type: str | None = None
    code: str | None = None
    param: str | None = None
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        code = str(error["code"]) if error.get("code") is not None else None
        param = error.get("param") if isinstance(error.get("param"), str) else None
    elif isinstance(error, str):
        message = error
    elif isinstance(data, dict) and isinstance(data.get("message"), str):
        message = data["message"]
    if not message:
        message = content[:300].decode("utf-8", "replace").strip() or f"HTTP {status}"
    message = scrub(message, dep.secrets())
    lowered = f"{code} {message}".lower()
    context_exceeded = status in (400, 413, 422) and any(
        m in lowered for m in _CONTEXT_WINDOW_MARKERS
    )
    policy = status == 400 and any(m in lowered for m in _CONTENT_POLICY_MARKERS)
    return UpstreamStatusError(
        f"{dep.name} returned {status}: {message}",
        status_code=status,
        error_type=error_type,
        code=code,
        param=param,
        body=data if isinstance(data, dict) else None,
        retry_after=retry_after_seconds(headers),
        context_window_exceeded=context_exceeded,
        content_policy_violation=policy,
    )


def retry_after_seconds(headers: httpx.Headers | dict[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by a mask."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__

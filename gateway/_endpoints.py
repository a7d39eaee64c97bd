"""The ``/v1`` HTTP endpoints: OpenAI's chat, completions, embeddings, models; Anthropic's messages.

Handlers are plain Starlette endpoints (no per-request dependency injection or body models):
the body is parsed once with orjson and checked just enough to name a bad field, because the
gateway's overhead is measured against every other proxy's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from opentelemetry.trace import Span
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ._anthropic import (
    AnthropicRequestError,
    AnthropicStreamTranslator,
    anthropic_to_openai_request,
    openai_to_anthropic_response,
)
from ._cache import CacheLookup
from ._cache_replay import cached_response
from ._deployment import Deployment
from ._gateway import Gateway
from ._keys import KeyInfo
from ._outage import as_outage
from ._prompting import apply_prompt, wants_prompt
from ._router import Attempt, Outcome, RouterFailure
from ._telemetry import RequestTelemetry
from ._tokens import count_input_tokens
from ._upstream import Operation, UpstreamResponse, UpstreamStream
from ._validate import check_chat, check_completion, check_embeddings, require_model
from .errors import (
    GatewayError,
    InvalidRequestError,
    NoDeploymentAvailable,
    PermissionDeniedError,
    RequestTooLargeError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)

log = logging.getLogger("spyglass.gateway")
T = TypeVar("T")

_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def error_response(error: GatewayError, *, anthropic: bool = False) -> Response:
    """An OpenAI-shaped error (with Anthropic's top-level ``type`` on /v1/messages)."""
    body = error.to_dict()
    if anthropic:
        body["type"] = "error"
    return Response(orjson.dumps(body), error.status_code, error.headers, _JSON)


def failure_error(failure: RouterFailure) -> GatewayError:
    """The client-facing error after every attempt failed, last upstream error summarised."""
    error = failure.error
    attempts = len(failure.outcome.attempts)
    prefix = f"All {attempts} attempts failed; last error: " if attempts > 1 else ""
    headers = {"x-spyglass-attempts": str(attempts)}
    if isinstance(error, NoDeploymentAvailable):
        headers.update(error.headers)
        return NoDeploymentAvailable(prefix + error.message, headers=headers)
    if isinstance(error, UpstreamStatusError):
        status = error.status_code
        if status == 429:
            if error.retry_after is not None:
                headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
            return UpstreamStatusError(
                prefix + error.message, status_code=429, code="rate_limit_exceeded", headers=headers
            )
        if status in (401, 403):
            # Our credentials for the provider were refused: not the caller's fault.
            return UpstreamStatusError(
                prefix + error.message,
                status_code=502,
                error_type="upstream_error",
                code="upstream_auth_failed",
                headers=headers,
            )
        if 400 <= status < 500:
            return UpstreamStatusError(
                error.message,
                status_code=status,
                error_type=error.error_type,
                code=error.code,
                param=error.param,
                headers=headers,
            )
        return UpstreamStatusError(
            prefix + error.message,
            status_code=502,
            error_type="upstream_error",
            code="upstream_error",
            headers=headers,
        )
    if isinstance(error, UpstreamTimeoutError):
        return UpstreamTimeoutError(prefix + error.message, headers=headers)
    return UpstreamError(
        prefix + error.message, code=error.code or "upstream_error", headers=headers
    )


class Endpoints:
    """Request handlers bound to one :class:`Gateway`."""

    def __init__(self, gateway: Gateway, *, started_at: int | None = None) -> None:
        self.gateway = gateway
        self.router = gateway.router
        self.telemetry = gateway.telemetry
        self.max_body = gateway.config.max_request_body_bytes
        self.access = gateway.access
        # Deployment limits are counted by the router in each process; with Redis, here too,
        # once for all replicas.
        self.shared_limiter = (
            gateway.access.limiter
            if gateway.access is not None and gateway.redis is not None
            else None
        )
        self.created = started_at or int(time.time())

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/chat/completions", self.chat, methods=["POST"], include_in_schema=False),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model:path}", self.model, methods=["GET"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
        ]

    # -- reading ---------------------------------------------------------------------------

    async def _read_json(self, request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if (
            length is not None
            and length.isascii()
            and length.isdigit()
            and int(length) > self.max_body
        ):
            raise self._too_large()
        if length is not None:
            raw = await request.body()
        else:
            parts: list[bytes] = []
            size = 0
            async for part in request.stream():
                size += len(part)
                if size > self.max_body:
                    raise self._too_large()
                parts.append(part)
            raw = b"".join(parts)
        if len(raw) > self.max_body:
            raise self._too_large()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError(
                f"We could not parse the JSON body of your request: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno}).",
                code="invalid_json",
            ) from None
        if not isinstance(body, dict):
            raise InvalidRequestError(
                "The request body must be a JSON object.", code="invalid_json"
            )
        return body

    def _too_large(self) -> RequestTooLargeError:
        return RequestTooLargeError(f"Request body exceeds the limit of {self.max_body} bytes.")

    # -- handlers --------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._handle(request, "chat", check_chat)

    async def completions(self, request: Request) -> Response:
        return await self._handle(request, "completions", check_completion)

    async def embeddings(self, request: Request) -> Response:
        return await self._handle(request, "embeddings", check_embeddings)

    async def models(self, request: Request) -> Response:
        data = [self._model_card(name) for name in self.router.model_names()]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type=_JSON)

    async def model(self, request: Request) -> Response:
        name = request.path_params["model"]
        try:
            self.router.resolve(name)
        except GatewayError as error:
            return error_response(error)
        return Response(orjson.dumps(self._model_card(name)), media_type=_JSON)

    def _model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": "spyglass"}

    async def _handle(
        self,
        request: Request,
        op: Operation,
        check: Callable[[dict[str, Any]], None],
        *,
        anthropic: bool = False,
    ) -> Response:
        started = time.perf_counter()
        call_id = str(uuid.uuid4())
        telemetry: RequestTelemetry | None = None
        try:
            body = await self._read_json(request)
            if anthropic:
                try:
                    body = anthropic_to_openai_request(body)
                except AnthropicRequestError as exc:
                    raise InvalidRequestError(exc.message, param=exc.param) from None
            key = _key(request)
            project = key.project if key is not None else None
            prompt = None
            if op == "chat" and wants_prompt(body, request.headers):
                body, prompt = await self._prompt(body, request.headers, project)
            telemetry = self.telemetry.request(op, body, request.headers, prompt, project)
            if key is not None:
                telemetry.span.set_attribute("spyglass.key.id", key.id)
            check(body)
            if self.access is not None:
                await self.access.admit(key, str(body["model"]))
            return await self._dispatch(
                request, op, body, started, call_id, telemetry, anthropic=anthropic
            )
        except GatewayError as error:
            if telemetry is not None:
                telemetry.failed(error, 0)
            error.headers.setdefault("x-spyglass-call-id", call_id)
            if telemetry is not None and telemetry.trace_id:
                error.headers.setdefault("x-spyglass-trace-id", telemetry.trace_id)
            return error_response(error, anthropic=anthropic)
        except RouterFailure as failure:
            summary = failure_error(failure)
            if telemetry is not None:
                telemetry.failed(summary, len(failure.outcome.attempts))
            summary.headers["x-spyglass-call-id"] = call_id
            if telemetry is not None and telemetry.trace_id:
                summary.headers["x-spyglass-trace-id"] = telemetry.trace_id
            return error_response(summary, anthropic=anthropic)
        except Exception as exc:  # never a traceback to the client
            response, internal = self._internal_error(exc, call_id, request, anthropic=anthropic)
            if telemetry is not None:
                telemetry.failed(internal, 0)
            return response

    async def _prompt(
        self, body: dict[str, Any], headers: Mapping[str, str], project: str | None
    ) -> tuple[dict[str, Any], tuple[str, int]]:
        """Render the registry prompt the request names, from the caller's project's prompts."""
        source = self.gateway.prompts
        if source is None:
            raise InvalidRequestError("prompt: this gateway has no prompt registry", param="prompt")
        body, version = await apply_prompt(body, headers, source, project)
        return body, (version.name, version.version)

    async def messages(self, request: Request) -> Response:
        """Anthropic's Messages API on top of any configured model."""
        return await self._handle(request, "chat", check_chat, anthropic=True)

    async def count_tokens(self, request: Request) -> Response:
        """Anthropic's ``messages.count_tokens``: ``{"input_tokens": N}`` for a Messages body,
        counted for the model group's first deployment; no model is called, nothing spent."""
        call_id = str(uuid.uuid4())
        try:
            body = await self._read_json(request)
            group = self.router.resolve(require_model(body))
            key = _key(request)
            if key is not None and not key.allows_model(group):
                raise PermissionDeniedError(
                    f"This API key may not use model {group!r}.",
                    param="model",
                    code="model_not_allowed",
                )
            try:
                # count_tokens takes no max_tokens; the translation wants one.
                chat = anthropic_to_openai_request({"max_tokens": 1, **body})
            except AnthropicRequestError as exc:
                raise InvalidRequestError(exc.message, param=exc.param) from None
            dep = self.router.groups[group][0]
            tokens = await asyncio.to_thread(count_input_tokens, dep, chat)
        except GatewayError as error:
            return error_response(error, anthropic=True)
        except Exception as exc:  # never a traceback to the client
            return self._internal_error(exc, call_id, request, anthropic=True)[0]
        return Response(orjson.dumps({"input_tokens": tokens}), media_type=_JSON)

    def _internal_error(
        self, exc: Exception, call_id: str, request: Request, *, anthropic: bool = False
    ) -> tuple[Response, GatewayError]:
        """A 500 for a bug, or a 503 when a store the request needed (the prompt registry's
        database, say) is unreachable."""
        outage = as_outage(exc, f"serving {request.url.path} (call {call_id})")
        if outage is not None:
            outage.headers["x-spyglass-call-id"] = call_id
            return error_response(outage, anthropic=anthropic), outage
        # The message and traceback may hold request content or secrets: the log line names
        # only the kind of error; the traceback is for debug logging.
        log.error(
            "internal error on %s (call %s): %s", request.url.path, call_id, type(exc).__name__
        )
        log.debug("internal error details (call %s)", call_id, exc_info=exc)
        error = GatewayError(
            f"Internal error in the gateway (call id {call_id}).",
            code="internal_error",
            headers={"x-spyglass-call-id": call_id},
        )
        return error_response(error, anthropic=anthropic), error

    # -- dispatch --------------------------------------------------------------------------

    async def _dispatch(
        self,
        request: Request,
        op: Operation,
        body: dict[str, Any],
        started: float,
        call_id: str,
        telemetry: RequestTelemetry,
        *,
        anthropic: bool,
    ) -> Response:
        group = self.router.resolve(body["model"])
        telemetry.set_group(group)
        requested_model = body["model"]
        request_timeout = _request_timeout(request, body)
        # -- response cache (gateway/_cache.py): off, this is one attribute check -----------
        lookup = None
        if self.gateway.cache is not None:
            lookup = self.gateway.cache.lookup(op, group, body, request.headers)
            answer = await lookup.get()
            if answer is not None:
                return cached_response(
                    answer,
                    group=group,
                    call_id=call_id,
                    started=started,
                    telemetry=telemetry,
                    anthropic=anthropic,
                    requested_model=requested_model,
                    wants_usage=_wants_usage(body, anthropic),
                )
            telemetry.cache_hit = False
        # -- end of response cache -----------------------------------------------------------
        if body.get("stream") is True:
            return await self._dispatch_stream(
                request,
                op,
                body,
                started,
                call_id,
                telemetry,
                group,
                request_timeout,
                anthropic,
                lookup,
            )

        async def send(dep: Deployment, attempt: Attempt) -> UpstreamResponse:
            timeout = self._timeout(dep, request_timeout, stream=False)

            async def call() -> UpstreamResponse:
                await self._admit_deployment(dep)
                return await dep.adapter.send(op, dep, body, timeout)

            result, span = await _attempt(telemetry, dep, attempt, timeout, call)
            usage = result.usage
            await self._count_deployment(dep, usage.input_tokens + usage.output_tokens)
            cost = dep.cost(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens)
            telemetry.attempt_succeeded(span, usage, result.data, cost)
            return result

        result, outcome = await self.router.execute(group, send)
        dep = outcome.deployment
        usage = result.usage
        cost = dep.cost(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens)
        self.router.record_tokens(dep, usage.input_tokens + usage.output_tokens)
        telemetry.succeeded(dep, usage, result.data, cost, len(outcome.attempts), outcome.fallbacks)
        if self.access is not None:
            await self.access.record(_key(request), usage.input_tokens + usage.output_tokens, cost)
        headers = self._headers(call_id, outcome, started, cost=cost)
        if telemetry.trace_id:
            headers["x-spyglass-trace-id"] = telemetry.trace_id
        if lookup is not None:  # response cache
            headers["x-spyglass-cache"] = "miss"
            await lookup.put_whole(result.body)
        if anthropic:
            content = orjson.dumps(openai_to_anthropic_response(result.data, requested_model))
        else:
            content = result.body
        return Response(content, 200, headers, _JSON)

    async def _dispatch_stream(
        self,
        request: Request,
        op: Operation,
        body: dict[str, Any],
        started: float,
        call_id: str,
        telemetry: RequestTelemetry,
        group: str,
        request_timeout: float | None,
        anthropic: bool,
        lookup: CacheLookup | None,
    ) -> Response:
        wants_usage = _wants_usage(body, anthropic)
        spans: list[Span] = []

        async def open_stream(dep: Deployment, attempt: Attempt) -> UpstreamStream:
            timeout = self._timeout(dep, request_timeout, stream=True)

            async def call() -> UpstreamStream:
                await self._admit_deployment(dep)
                return await dep.adapter.stream(
                    op, dep, body, timeout, client_wants_usage=wants_usage
                )

            opened, span = await _attempt(telemetry, dep, attempt, timeout, call)
            spans.append(span)  # ends with the stream
            return opened

        upstream, outcome = await self.router.execute(group, open_stream)
        headers = self._headers(call_id, outcome, started, cost=None)
        if telemetry.trace_id:
            headers["x-spyglass-trace-id"] = telemetry.trace_id
        if lookup is not None:  # response cache: stored when relayed to its end
            headers["x-spyglass-cache"] = "miss"
            upstream = lookup.record(upstream)
        headers.update(_SSE_HEADERS)
        stream = _Stream(upstream, outcome, telemetry, spans[-1])
        stream.key = _key(request)
        relay = self._relay_anthropic(stream, body["model"]) if anthropic else self._relay(stream)
        return StreamingResponse(relay, media_type="text/event-stream", headers=headers)

    async def _admit_deployment(self, dep: Deployment) -> None:
        """With Redis, a deployment's rpm/tpm hold across replicas: over them, this attempt
        fails like a provider's 429 would, and the router moves on to another deployment."""
        limiter = self.shared_limiter
        params = dep.params
        if limiter is None or not (params.rpm or params.tpm):
            return
        for unit, limit, amount in (("rpm", params.rpm, 1), ("tpm", params.tpm, 0)):
            if not limit:
                continue
            wait = await limiter.admit(f"deployment:{dep.id}:{unit}", limit, amount)
            if wait > 0:
                error = UpstreamStatusError(
                    f"deployment {dep.name} is at its limit of {limit} {unit} (shared by replicas)",
                    status_code=429,
                    retry_after=wait,
                    code="deployment_rate_limited",
                )
                error.skip_deployment = True
                raise error

    async def _count_deployment(self, dep: Deployment, tokens: int) -> None:
        if self.shared_limiter is not None and dep.params.tpm:
            await self.shared_limiter.add(f"deployment:{dep.id}:tpm", tokens)

    def _timeout(self, dep: Deployment, requested: float | None, *, stream: bool) -> float:
        if requested is not None:
            return requested
        settings = self.router.settings
        if stream:
            found = dep.params.stream_timeout or settings.stream_timeout
            if found:
                return found
        return dep.params.timeout or settings.timeout

    def _headers(
        self, call_id: str, outcome: Outcome, started: float, *, cost: float | None
    ) -> dict[str, str]:
        total_ms = (time.perf_counter() - started) * 1000
        upstream_ms = sum(a.duration_ms for a in outcome.attempts) + outcome.waited_ms
        dep = outcome.deployment
        headers = {
            "x-spyglass-call-id": call_id,
            "x-spyglass-model-group": dep.group,
            "x-spyglass-model-id": dep.id,
            "x-spyglass-attempts": str(len(outcome.attempts)),
            "x-spyglass-fallbacks": str(outcome.fallbacks),
            "x-spyglass-overhead-duration-ms": f"{max(total_ms - upstream_ms, 0.0):.3f}",
            "x-spyglass-response-duration-ms": f"{total_ms:.3f}",
        }
        if cost is not None:
            headers["x-spyglass-response-cost"] = f"{cost:.10f}".rstrip("0").rstrip(".") or "0"
        return headers

    async def _relay(self, stream: _Stream) -> AsyncIterator[bytes]:
        """Relay the upstream's events; a failure mid-stream becomes an error event."""
        try:
            async for piece in stream.upstream:
                stream.telemetry.chunk(piece.chunks)
                yield piece.raw
            stream.finished = True
        except UpstreamError as error:
            log.warning("stream from %s broke off: %s", stream.deployment.name, error.message)
            stream.error = error
            yield b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"
        finally:
            await self._stream_ended(stream)

    async def _relay_anthropic(self, stream: _Stream, model: str) -> AsyncIterator[bytes]:
        translator = AnthropicStreamTranslator(model)
        try:
            async for piece in stream.upstream:
                stream.telemetry.chunk(piece.chunks)
                for chunk in piece.chunks:
                    for event in translator.feed(chunk):
                        yield event
            for event in translator.finish():
                yield event
            stream.finished = True
        except UpstreamError as error:
            log.warning("stream from %s broke off: %s", stream.deployment.name, error.message)
            stream.error = error
            yield translator.error(error.message)
        finally:
            await self._stream_ended(stream)

    async def _stream_ended(self, stream: _Stream) -> None:
        # Runs on completion and when the client goes away (the relay is cancelled): closing
        # the upstream response cancels the upstream request.
        try:
            await stream.upstream.aclose()
        finally:
            dep = stream.deployment
            usage = stream.upstream.usage
            cost = dep.cost(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens)
            self.router.record_tokens(dep, usage.input_tokens + usage.output_tokens)
            telemetry = stream.telemetry
            attempts = len(stream.outcome.attempts)
            if self.access is not None:
                tokens = usage.input_tokens + usage.output_tokens
                await self.access.record(stream.key, tokens, cost)
                await self._count_deployment(dep, tokens)
            if stream.finished:
                telemetry.attempt_succeeded(stream.attempt_span, usage, None, cost)
                telemetry.succeeded(dep, usage, None, cost, attempts, stream.outcome.fallbacks)
            elif stream.error is not None:
                telemetry.attempt_failed(stream.attempt_span, stream.error)
                telemetry.failed(stream.error, attempts)
            else:
                stream.attempt_span.end()
                telemetry.stream_cut(attempts)


class _Stream:
    """A relayed stream and what its end must record."""

    def __init__(
        self,
        upstream: UpstreamStream,
        outcome: Outcome,
        telemetry: RequestTelemetry,
        attempt_span: Span,
    ) -> None:
        self.upstream = upstream
        self.outcome = outcome
        self.deployment = outcome.deployment
        self.telemetry = telemetry
        self.attempt_span = attempt_span
        self.finished = False
        self.error: UpstreamError | None = None
        self.key: KeyInfo | None = None


async def _attempt(
    telemetry: RequestTelemetry,
    dep: Deployment,
    attempt: Attempt,
    timeout: float,
    call: Callable[[], Awaitable[T]],
) -> tuple[T, Span]:
    """Run one attempt within its timeout, in its span; a failed attempt's span is ended."""
    span = telemetry.attempt(dep, attempt.number)
    try:
        async with asyncio.timeout(timeout):
            return await call(), span
    except TimeoutError:
        error = _timed_out(dep, timeout)
        telemetry.attempt_failed(span, error)
        raise error from None
    except UpstreamError as error:
        telemetry.attempt_failed(span, error)
        raise
    except BaseException:
        span.end()
        raise


def _key(request: Request) -> KeyInfo | None:
    """The caller's key, as the app's authentication step left it (None: anonymous)."""
    state = request.scope.get("state")
    return state.get("key") if state else None


def _timed_out(dep: Deployment, timeout: float) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"{dep.name} did not answer within {timeout:g}s")


def _wants_usage(body: dict[str, Any], anthropic: bool) -> bool:
    """Whether the client's stream ends with a usage chunk (Anthropic's always reports usage)."""
    options = body.get("stream_options")
    return anthropic or (isinstance(options, dict) and options.get("include_usage") is True)


def _request_timeout(request: Request, body: dict[str, Any]) -> float | None:
    """A per-request timeout: header ``x-spyglass-timeout`` or body ``timeout`` (seconds)."""
    value: Any = body.pop("timeout", None)
    header = request.headers.get("x-spyglass-timeout")
    if header is not None:
        value = header
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"Invalid timeout {value!r}: expected a number of seconds.", param="timeout"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidRequestError(
            "Invalid timeout: must be a positive number of seconds.", param="timeout"
        )
    return seconds

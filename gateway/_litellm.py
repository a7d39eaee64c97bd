"""The broad path: providers whose API is not OpenAI's go through litellm.

litellm is imported only when a configured deployment needs it (it costs seconds and
~100 MB), never at module import. Retries are the router's job, so litellm's are off.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._deployment import Deployment
from ._passthrough import retry_after_seconds, scrub
from ._upstream import SSE_DONE, Operation, StreamPiece, UpstreamResponse, Usage, sse_event
from .errors import (
    InvalidRequestError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeoutError,
)

# Our own keys in litellm_params, never passed on to litellm.
_SPYGLASS_KEYS = {
    "passthrough",
    "stream_usage",
    "weight",
    "rpm",
    "tpm",
    "input_cost_per_token",
    "output_cost_per_token",
    "stream_timeout",
}

# litellm 1.106's chat entry point routes any request with tools through its proxy's MCP
# gateway first, which imports the `mcp` package (a litellm[proxy] extra we do not install):
# every tool call failed with "No module named 'mcp'". Spyglass has no MCP tools to expand.
_CHAT_KWARGS = {"_skip_mcp_handler": True}


def import_litellm() -> Any:
    """Import litellm configured for a server: offline price map, no telemetry, quiet."""
    # Without this, importing litellm fetches the price map from the internet.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = False
    return litellm


class LitellmAdapter:
    """Calls any provider litellm supports and returns OpenAI-shaped results."""

    name = "litellm"

    def __init__(self) -> None:
        self._litellm = import_litellm()

    async def aclose(self) -> None:
        """litellm keeps module-level clients; nothing of ours to close."""

    def _kwargs(self, dep: Deployment, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        params = dep.params
        kwargs: dict[str, Any] = {**dep.request_defaults, **body}
        for key, value in params.extras().items():
            if key not in kwargs and not key.startswith("mock_"):
                kwargs[key] = value
        kwargs.update(
            model=params.model,
            timeout=timeout,
            num_retries=0,
            max_retries=0,
        )
        if params.api_key is not None:
            kwargs["api_key"] = params.api_key.get_secret_value()
        for name in ("api_base", "api_version", "organization", "extra_headers"):
            value = getattr(params, name)
            if value is not None:
                kwargs[name] = value
        for key in _SPYGLASS_KEYS:
            kwargs.pop(key, None)
        return kwargs

    async def send(
        self, op: Operation, dep: Deployment, body: dict[str, Any], timeout: float
    ) -> UpstreamResponse:
        kwargs = self._kwargs(dep, body, timeout)
        started = time.perf_counter()
        try:
            if op == "chat":
                result = await self._litellm.acompletion(**kwargs, **_CHAT_KWARGS)
            elif op == "embeddings":
                result = await self._litellm.aembedding(**kwargs)
            else:
                result = await self._litellm.atext_completion(**kwargs)
        except Exception as exc:
            raise self._error(dep, exc) from exc
        data = _dump(result)
        return UpstreamResponse(
            orjson.dumps(data),
            data,
            Usage.from_openai(data.get("usage")),
            (time.perf_counter() - started) * 1000,
        )

    async def stream(
        self,
        op: Operation,
        dep: Deployment,
        body: dict[str, Any],
        timeout: float,
        *,
        client_wants_usage: bool,
    ) -> LitellmStream:
        if op != "chat":
            raise InvalidRequestError(
                f"streaming {op} is not supported for provider {dep.provider}", param="stream"
            )
        kwargs = self._kwargs(dep, body, timeout)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        try:
            result = await self._litellm.acompletion(**kwargs, **_CHAT_KWARGS)
        except Exception as exc:
            raise self._error(dep, exc) from exc
        return LitellmStream(result, self, dep, include_usage=client_wants_usage)

    def _error(self, dep: Deployment, exc: Exception) -> UpstreamError:
        """Map a litellm exception to ours, with the provider's status and Retry-After."""
        litellm = self._litellm
        message = scrub(str(getattr(exc, "message", None) or exc), dep.secrets())[:1000]
        text = f"{dep.name}: {message}"
        if isinstance(exc, UpstreamError):
            return exc
        if isinstance(exc, litellm.Timeout):
            return UpstreamTimeoutError(text)
        if isinstance(exc, litellm.APIConnectionError):
            return UpstreamConnectionError(text)
        status = getattr(exc, "status_code", None)
        # litellm keeps the provider's headers apart; its `response` may be a stand-in.
        headers = getattr(exc, "litellm_response_headers", None) or getattr(
            getattr(exc, "response", None), "headers", None
        )
        if not isinstance(status, int):
            return UpstreamError(text)
        context = isinstance(exc, litellm.ContextWindowExceededError)
        policy = isinstance(exc, litellm.ContentPolicyViolationError)
        return UpstreamStatusError(
            text,
            status_code=status,
            retry_after=retry_after_seconds(headers) if headers is not None else None,
            context_window_exceeded=context,
            content_policy_violation=policy,
            code="context_length_exceeded" if context else None,
        )


class LitellmStream:
    """litellm's chunk objects as OpenAI SSE events."""

    def __init__(
        self, source: Any, adapter: LitellmAdapter, dep: Deployment, *, include_usage: bool
    ) -> None:
        self._source = source
        self._adapter = adapter
        self._dep = dep
        self._include_usage = include_usage
        self.usage = Usage()
        self.finish_reasons: list[str] = []
        self.first_chunk_at: float | None = None

    def __aiter__(self) -> AsyncIterator[StreamPiece]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[StreamPiece]:
        try:
            async for item in self._source:
                if self.first_chunk_at is None:
                    self.first_chunk_at = time.perf_counter()
                chunk = _dump(item)
                usage = chunk.get("usage")
                if usage:
                    self.usage = Usage.from_openai(usage)
                choices = chunk.get("choices") or []
                for choice in choices:
                    if choice.get("finish_reason"):
                        self.finish_reasons.append(choice["finish_reason"])
                if not choices and not self._include_usage:
                    continue
                if not self._include_usage:
                    chunk.pop("usage", None)
                yield StreamPiece(sse_event(orjson.dumps(chunk)), [chunk])
        except UpstreamError:
            raise
        except Exception as exc:
            raise self._adapter._error(self._dep, exc) from exc
        yield StreamPiece(SSE_DONE, [])

    async def aclose(self) -> None:
        close = getattr(self._source, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                pass


def _dump(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    dumped = result.model_dump(exclude_none=False)
    # litellm adds private bookkeeping fields; clients never see them.
    for key in [k for k in dumped if k.startswith("_")]:
        dumped.pop(key)
    return dumped if isinstance(dumped, dict) else {}

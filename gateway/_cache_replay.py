"""Answering a request from the response cache: the same body or stream, no upstream call.

A hit carries ``x-spyglass-cache: hit`` and ``x-spyglass-response-cost: 0``; its request span
says ``spyglass.cache.hit`` and costs 0. Answers are stored in OpenAI's form, so Anthropic's
``/v1/messages`` is translated on the way out, like a live answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from starlette.responses import Response, StreamingResponse

from ._anthropic import AnthropicStreamTranslator, openai_to_anthropic_response
from ._cache import CachedAnswer
from ._telemetry import RequestTelemetry

__all__ = ["cached_response"]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def cached_response(
    answer: CachedAnswer,
    *,
    group: str,
    call_id: str,
    started: float,
    telemetry: RequestTelemetry,
    anthropic: bool,
    requested_model: str,
    wants_usage: bool,
) -> Response:
    """The response to a request whose answer was found in the cache."""
    total_ms = (time.perf_counter() - started) * 1000
    headers = {
        "x-spyglass-call-id": call_id,
        "x-spyglass-model-group": group,
        "x-spyglass-attempts": "0",
        "x-spyglass-fallbacks": "0",
        "x-spyglass-overhead-duration-ms": f"{total_ms:.3f}",
        "x-spyglass-response-duration-ms": f"{total_ms:.3f}",
        "x-spyglass-response-cost": "0",
        "x-spyglass-cache": "hit",
    }
    if telemetry.trace_id:
        headers["x-spyglass-trace-id"] = telemetry.trace_id
    if answer.body is None:
        headers.update(_SSE_HEADERS)
        events = (
            _anthropic_events(answer, telemetry, requested_model)
            if anthropic
            else _events(answer, telemetry, wants_usage)
        )
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    data = answer.data()
    telemetry.served_from_cache(answer.usage_figures(), data)
    content = (
        orjson.dumps(openai_to_anthropic_response(data, requested_model))
        if anthropic
        else answer.body
    )
    return Response(content, 200, headers, "application/json")


async def _events(
    answer: CachedAnswer, telemetry: RequestTelemetry, wants_usage: bool
) -> AsyncIterator[bytes]:
    finished = False
    try:
        telemetry.chunk(answer.chunks or [])
        for event in answer.events(include_usage=wants_usage):
            yield event
        finished = True
    finally:
        _ended(answer, telemetry, finished)


async def _anthropic_events(
    answer: CachedAnswer, telemetry: RequestTelemetry, model: str
) -> AsyncIterator[bytes]:
    translator = AnthropicStreamTranslator(model)
    chunks = answer.chunks or []
    if chunks and answer.usage is not None:
        chunks = [*chunks, {"choices": [], "usage": answer.usage}]
    finished = False
    try:
        telemetry.chunk(answer.chunks or [])
        for chunk in chunks:
            for event in translator.feed(chunk):
                yield event
        for event in translator.finish():
            yield event
        finished = True
    finally:
        _ended(answer, telemetry, finished)


def _ended(answer: CachedAnswer, telemetry: RequestTelemetry, finished: bool) -> None:
    if finished:
        telemetry.served_from_cache(answer.usage_figures(), None)
    else:
        telemetry.stream_cut(0)

"""What a provider adapter returns: a whole response, or a stream of SSE pieces.

Every adapter speaks OpenAI's wire format outward, whatever the provider speaks, so the
endpoints relay bytes without knowing where they came from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Operation = Literal["chat", "completions", "embeddings"]

SSE_DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class Usage:
    """Token counts of one call, in OpenAI's terms."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_openai(cls, usage: Any) -> Usage:
        """Read an OpenAI ``usage`` object; anything malformed counts as zero."""
        if not isinstance(usage, dict):
            return cls()
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(
            input_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
            cache_read_tokens=_int(prompt_details.get("cached_tokens"))
            if isinstance(prompt_details, dict)
            else 0,
            reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
            if isinstance(completion_details, dict)
            else 0,
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class UpstreamResponse:
    """A complete, successful provider response in OpenAI's JSON format."""

    body: bytes
    data: dict[str, Any]
    usage: Usage
    upstream_ms: float = 0.0


@dataclass(slots=True)
class StreamPiece:
    """Bytes to relay as they are (one or more SSE events) and the chunks they hold, parsed."""

    raw: bytes
    chunks: list[dict[str, Any]] = field(default_factory=list)


class UpstreamStream(Protocol):
    """A provider stream after its status said success.

    Iterating yields pieces until the upstream ends; the final ``data: [DONE]`` event is part
    of the last piece. ``usage`` is filled in as the stream reports it. ``aclose`` releases the
    upstream connection, and cancels the upstream request if the stream is not finished.
    """

    usage: Usage
    finish_reasons: list[str]
    first_chunk_at: float | None

    def __aiter__(self) -> AsyncIterator[StreamPiece]: ...

    async def aclose(self) -> None: ...


def sse_event(payload: bytes) -> bytes:
    """One SSE ``data:`` event around a JSON payload."""
    return b"data: " + payload + b"\n\n"

"""A whole answer as a stream: the chunks OpenAI would have sent for it, and ``[DONE]``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ._upstream import SSE_DONE, Operation, StreamPiece, Usage, sse_event

__all__ = ["CompletionStream"]


class CompletionStream:
    """Streams a whole answer (a chat or text completion) as OpenAI chunks, then ``[DONE]``.

    The mock provider streams its answers this way (``chunk_wait`` apart), and the passthrough
    streams this way an upstream's JSON answer to a streamed request.
    """

    def __init__(
        self, op: Operation, data: dict[str, Any], chunk_wait: float, *, include_usage: bool
    ) -> None:
        self._op = op
        self._data = data
        self._wait = chunk_wait
        self._include_usage = include_usage
        self.usage = Usage.from_openai(data.get("usage"))
        self.finish_reasons: list[str] = []
        self.first_chunk_at: float | None = None

    def __aiter__(self) -> AsyncIterator[StreamPiece]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[StreamPiece]:
        chunks = _chunks(self._op, self._data)
        usage = self._data.get("usage")
        if self._include_usage and usage:
            chunks.append({**_chunk_base(self._op, self._data), "choices": [], "usage": usage})
        if not chunks:  # an answer without choices: the stream still ends properly
            yield StreamPiece(SSE_DONE, [])
            return
        for index, chunk in enumerate(chunks):
            if self._wait and index:
                await asyncio.sleep(self._wait)
            if self.first_chunk_at is None:
                self.first_chunk_at = time.perf_counter()
            for choice in chunk.get("choices", []):
                if choice.get("finish_reason"):
                    self.finish_reasons.append(choice["finish_reason"])
            raw = sse_event(orjson.dumps(chunk))
            if index == len(chunks) - 1:
                raw += SSE_DONE
            yield StreamPiece(raw, [chunk])

    async def aclose(self) -> None:
        """Nothing to release."""


def _chunk_base(op: Operation, data: dict[str, Any]) -> dict[str, Any]:
    base = {
        "id": data.get("id", ""),
        "object": "chat.completion.chunk" if op == "chat" else "text_completion",
        "created": data.get("created", 0),
        "model": data.get("model", ""),
    }
    if op == "chat":
        base["system_fingerprint"] = data.get("system_fingerprint")
    return base


def _pieces_of(text: str) -> list[str]:
    """The reply cut into word-sized pieces, whitespace kept, so joined they give it back."""
    pieces: list[str] = []
    current = ""
    for char in text:
        current += char
        if char == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _chunks(op: Operation, data: dict[str, Any]) -> list[dict[str, Any]]:
    base = _chunk_base(op, data)
    out: list[dict[str, Any]] = []
    for number, choice in enumerate(data.get("choices") or []):
        index = choice.get("index", number)
        if op == "completions":
            for piece in _pieces_of(choice.get("text") or ""):
                out.append(
                    {
                        **base,
                        "choices": [
                            {"index": index, "text": piece, "finish_reason": None, "logprobs": None}
                        ],
                    }
                )
            out.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": index,
                            "text": "",
                            "finish_reason": choice.get("finish_reason"),
                            "logprobs": None,
                        }
                    ],
                }
            )
            continue
        message = choice.get("message") or {}
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": index,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                        "logprobs": None,
                    }
                ],
            }
        )
        for piece in _pieces_of(message.get("content") or ""):
            out.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": index,
                            "delta": {"content": piece},
                            "finish_reason": None,
                            "logprobs": None,
                        }
                    ],
                }
            )
        for position, call in enumerate(message.get("tool_calls") or []):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            out.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": index,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": position,
                                        "id": call["id"],
                                        "type": "function",
                                        "function": {
                                            "name": call["function"]["name"],
                                            "arguments": arguments[:half],
                                        },
                                    }
                                ]
                            },
                            "finish_reason": None,
                            "logprobs": None,
                        }
                    ],
                }
            )
            out.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": index,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": position,
                                        "function": {"arguments": arguments[half:]},
                                    }
                                ]
                            },
                            "finish_reason": None,
                            "logprobs": None,
                        }
                    ],
                }
            )
        out.append(
            {
                **base,
                "choices": [
                    {
                        "index": index,
                        "delta": {},
                        "finish_reason": choice.get("finish_reason"),
                        "logprobs": None,
                    }
                ],
            }
        )
    return out

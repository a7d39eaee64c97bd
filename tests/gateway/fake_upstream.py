"""A tiny OpenAI-compatible upstream on 127.0.0.1, served by aiohttp in a background thread.

It records what the gateway sends it, answers non-streamed chat with a fixed reply, and streams
slowly (one chunk every ``chunk_interval`` seconds for ``stream_seconds``) so tests can see the
gateway hang up on it when its own client goes away.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

from aiohttp import web

REPLY = "Reply from the fake upstream."


class FakeUpstream:
    """Start with ``with FakeUpstream() as upstream:``; the API lives at ``upstream.url + "/v1"``.

    Attributes:
        requests: every request to /v1/chat/completions, as ``{"headers": ..., "body": ...}``.
        stream_started: set when a streamed response began.
        disconnected: set when a streamed response's client went away before its end.
    """

    def __init__(self, *, chunk_interval: float = 0.1, stream_seconds: float = 10.0) -> None:
        self.chunk_interval = chunk_interval
        self.stream_seconds = stream_seconds
        self.requests: list[dict[str, Any]] = []
        self.stream_started = threading.Event()
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._sock.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if not body.get("stream"):
            return web.json_response(_completion(body["model"]))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        self.stream_started.set()
        chunks = round(self.stream_seconds / self.chunk_interval)
        try:
            for index in range(chunks):
                chunk = _chunk(body["model"], f"tick {index} ")
                await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                await asyncio.sleep(self.chunk_interval)
            await response.write(b"data: [DONE]\n\n")
        except ConnectionResetError:
            self._saw_disconnect()
        except asyncio.CancelledError:
            self._saw_disconnect()
            raise
        return response

    def _saw_disconnect(self) -> None:
        self.disconnected_at = time.monotonic()
        self.disconnected.set()


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def _chunk(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }

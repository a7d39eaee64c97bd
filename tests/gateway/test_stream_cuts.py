"""Streams an upstream cuts short reach the client as errors, and a whole JSON answer to a
streamed request reaches it as a stream, over real sockets.

A raw TCP upstream answers each streamed chat the way its model name asks: close-delimited
(``Connection: close``, no length) or chunked, cut mid-event with a reset, ended cleanly
without ``data: [DONE]``, whole, or as plain JSON (an upstream ignoring ``stream: true``). The
real ``openai`` and ``anthropic`` SDKs call ``spyglass serve``; a cut stream must raise in the
SDK (an error event, no normal end) and leave ``error.type`` on the trace's request span.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Server

MODES = ("close-cut", "close-no-done", "chunked-cut", "close-whole", "json-text", "json-tool")
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def _completion(mode: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "Hello world"}
    if mode == "json-tool":
        message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    return {
        "id": "chatcmpl-json",
        "object": "chat.completion",
        "created": 1,
        "model": mode,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if mode == "json-tool" else "stop",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


def _event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _chunk(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-cut",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "cut",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


class RawUpstream:
    """One thread accepting connections; each answer is written byte by byte as its mode says."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            body = _read_request(conn)
            mode = json.loads(body)["model"]
            first, half = _event(_chunk("Hello")), _event(_chunk(" world"))[:25]
            done = _event("[DONE]")
            if mode.startswith("json"):
                answer = json.dumps(_completion(mode)).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(answer), answer)
                )
                return
            head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            if mode.startswith("chunked"):
                conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
                for piece in (first, half):
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                    time.sleep(0.05)
                _reset(conn)
                return
            conn.sendall(f"{head}Connection: close\r\n\r\n".encode())
            conn.sendall(first)
            time.sleep(0.05)
            if mode == "close-cut":
                conn.sendall(half)
                time.sleep(0.05)
                _reset(conn)
            elif mode == "close-whole":
                conn.sendall(_event(_chunk(" world")) + done)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return body


def _reset(conn: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed or cut-off upstream does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture(scope="module")
def raw_upstream() -> Iterator[RawUpstream]:
    upstream = RawUpstream()
    yield upstream
    upstream.close()


@pytest.fixture
def server(serve: Callable[..., Server], raw_upstream: RawUpstream) -> Server:
    models = [
        {
            "model_name": mode,
            "litellm_params": {
                "model": f"openai/{mode}",
                "api_base": raw_upstream.url + "/v1",
                "api_key": "sk-upstream",
            },
        }
        for mode in MODES
    ]
    return serve({"model_list": models, "router_settings": {"num_retries": 0}})


def _stream(server: Server, model: str) -> tuple[str, list[str], Exception | None]:
    """The trace id, the texts the SDK read, and the error it raised (None: a normal end)."""
    with openai.OpenAI(
        base_url=server.url + "/v1", api_key="client-key", max_retries=0, timeout=15
    ) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        texts: list[str] = []
        try:
            for chunk in raw.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    texts.append(chunk.choices[0].delta.content)
        except openai.APIError as error:
            return raw.headers["x-spyglass-trace-id"], texts, error
        return raw.headers["x-spyglass-trace-id"], texts, None


def _request_span(server: Server, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/api/traces/{trace_id}", timeout=5)
        if response.status_code == 200:
            spans = response.json()["spans"]
            roots = [s for s in spans if not s.get("parent_span_id")]
            if roots and len(spans) >= 2:
                found: dict[str, Any] = roots[0]
                return found
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not stored")


@pytest.mark.parametrize("mode", ["close-cut", "close-no-done", "chunked-cut"])
def test_a_stream_cut_short_is_an_error_to_the_client_and_on_the_trace(
    server: Server, mode: str
) -> None:
    trace_id, texts, error = _stream(server, mode)
    assert texts == ["Hello"]
    assert error is not None, "the SDK saw a normal end of a cut stream"
    assert "upstream stream" in str(error)
    span = _request_span(server, trace_id)
    assert span["status"] == "error"
    assert span["attributes"]["error.type"] == "upstream_stream_incomplete"


def test_a_whole_close_delimited_stream_is_a_success(server: Server) -> None:
    trace_id, texts, error = _stream(server, "close-whole")
    assert error is None
    assert "".join(texts) == "Hello world"
    span = _request_span(server, trace_id)
    assert span["status"] != "error"
    assert "error.type" not in span["attributes"]


def test_a_json_answer_to_a_streamed_request_is_streamed(server: Server) -> None:
    trace_id, texts, error = _stream(server, "json-text")
    assert error is None
    assert "".join(texts) == "Hello world"
    span = _request_span(server, trace_id)
    assert span["status"] != "error"
    assert span["attributes"]["gen_ai.usage.input_tokens"] == 7
    assert span["attributes"]["gen_ai.usage.output_tokens"] == 3


def test_a_json_tool_call_answer_streams_through_messages_too(server: Server) -> None:
    with openai.OpenAI(
        base_url=server.url + "/v1", api_key="client-key", max_retries=0, timeout=15
    ) as client:
        stream = client.chat.completions.create(
            model="json-tool", messages=[{"role": "user", "content": "weather?"}], stream=True
        )
        calls = [
            call
            for chunk in stream
            for choice in chunk.choices
            for call in choice.delta.tool_calls or []
        ]
    assert calls[0].function.name == "get_weather"
    assert "".join(c.function.arguments or "" for c in calls) == '{"city": "Paris"}'
    with anthropic.Anthropic(base_url=server.url, api_key="client-key", max_retries=0) as claude:
        with claude.messages.stream(
            model="json-tool", max_tokens=100, messages=[{"role": "user", "content": "weather?"}]
        ) as events:
            message = events.get_final_message()
    tool = next(block for block in message.content if block.type == "tool_use")
    assert tool.name == "get_weather"
    assert tool.input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"

"""Graceful shutdown: SIGTERM stops accepting, lets in-flight requests and streams finish, and
flushes their spans to the store before the process exits."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Server

REPLY = " ".join(f"word{i}" for i in range(12))
CONFIG = {
    "model_list": [
        {
            "model_name": "slow",
            "litellm_params": {"model": "mock/slow", "mock_latency_ms": 1500},
        },
        {
            "model_name": "slow-stream",
            "litellm_params": {
                "model": "mock/slow-stream",
                "mock_response": REPLY,
                "mock_chunk_latency_ms": 150,
            },
        },
    ]
}


def stored_span_names(home: Path, trace_id: str) -> list[str]:
    engine = create_engine(f"sqlite:///{home / 'spyglass.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT name FROM spans WHERE trace_id = :t"), {"t": trace_id}
        ).all()
    engine.dispose()
    return sorted(row[0] for row in rows)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_requests_and_streams_and_flushes_their_spans(
    serve: Callable[..., Server], tmp_path: Path, workers: int
) -> None:
    server = serve(CONFIG, env={"SPYGLASS_SERVER__WORKERS": str(workers)})
    results: dict[str, Any] = {}

    def whole() -> None:
        answer = httpx.post(
            server.url + "/v1/chat/completions",
            json={"model": "slow", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        results["whole"] = answer

    def streamed() -> None:
        body = {"model": "slow-stream", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream(
            "POST",
            server.url + "/v1/chat/completions",
            json={**body, "stream": True},
            timeout=30,
        ) as answer:
            results["stream_headers"] = answer.headers
            results["stream"] = answer.read()

    threads = [threading.Thread(target=whole), threading.Thread(target=streamed)]
    for thread in threads:
        thread.start()
    time.sleep(0.8)  # both requests are in flight: one waits on the mock, one streams
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    # uvicorn re-raises the signal once shut down: the exit status says "ended by SIGTERM".
    assert server.process.wait(30) in (0, -signal.SIGTERM), server.log()

    assert results["whole"].status_code == 200
    assert results["whole"].json()["choices"][0]["message"]["content"]
    stream = results["stream"].decode()
    assert stream.endswith("data: [DONE]\n\n")
    assert "word11" in stream
    home = tmp_path / "home"
    for trace_id in (
        results["whole"].headers["x-spyglass-trace-id"],
        results["stream_headers"]["x-spyglass-trace-id"],
    ):
        assert len(stored_span_names(home, trace_id)) == 2  # request span and attempt span
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log
    assert "Application shutdown complete" in log
    # Stopped accepting: a new connection is refused once it exited.
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health/live", timeout=2)

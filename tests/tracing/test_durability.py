"""An OTLP 200 means stored: `kill -9` of `spyglass serve` during ingest loses no span it
acknowledged. Exporters post batches over four connections; the server is killed mid-load,
started again on the same store, and every span of every acknowledged batch must be there."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Server
from tests.tracing.test_otlp import PROTOBUF, new_trace_id, pb_request, pb_span

SPANS_PER_REQUEST = 50


def _send_until_refused(url: str, acknowledged: list[str], stop: threading.Event) -> None:
    """Post batches of one trace each until the server goes away; note each one answered 200."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            trace_id = new_trace_id()
            spans = [pb_span(f"s{i}", trace_id=trace_id) for i in range(SPANS_PER_REQUEST)]
            body = pb_request(*spans).SerializeToString()
            try:
                answer = client.post(url, content=body, headers={"content-type": PROTOBUF})
            except httpx.HTTPError:
                return
            if answer.status_code == 200:
                acknowledged.append(trace_id)


def _stored_per_trace(url: str, trace_ids: list[str]) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT trace_id, count(*) FROM spans GROUP BY trace_id")
            stored: dict[str, int] = dict(connection.execute(query).all())
    finally:
        engine.dispose()
    return {trace_id: stored.get(trace_id, 0) for trace_id in trace_ids}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_during_ingest_loses_no_acknowledged_span(
    serve: Callable[..., Server], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    config: dict[str, object] = {"model_list": []}
    database = f"sqlite:///{tmp_path / 'home' / 'spyglass.db'}"
    if backend == "postgresql":
        database = request.getfixturevalue("pg_own_database")
        config["database_url"] = database
    server = serve(config, "first")
    acknowledged: list[str] = []
    stop = threading.Event()
    senders = [
        threading.Thread(
            target=_send_until_refused, args=(f"{server.url}/v1/traces", acknowledged, stop)
        )
        for _ in range(4)
    ]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.kill()  # SIGKILL: no shutdown, no flush
    server.process.wait(10)
    stop.set()
    for sender in senders:
        sender.join(15)
    assert len(acknowledged) >= 40, "the load did not get going"

    again = serve(config, "second")  # the same store, started as after a crash
    stored = _stored_per_trace(database, acknowledged)
    missing = {t: n for t, n in stored.items() if n != SPANS_PER_REQUEST}
    assert not missing, (
        f"{len(missing)} of {len(acknowledged)} acknowledged batches not (wholly) stored"
    )
    assert httpx.get(f"{again.url}/health/live", timeout=5).status_code == 200
    again.stop()  # before the PostgreSQL database is dropped

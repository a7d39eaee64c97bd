"""The write path under failure: a PostgreSQL outage under load, kill -9, graceful shutdown.

Each test drives a real ``spyglass serve`` process and then looks at the database itself.

- PostgreSQL outage: the gateway keeps answering while the store is down; spans wait in the
  queue and are written once it is back, each exactly once. When the queue is too small for the
  outage, spans are dropped, and the drops are reported (``/metrics`` or the log), never silent.
  These tests run their own PostgreSQL (initdb into a temporary directory, on a free port), so
  stopping it never disturbs the shared server at 5432.
- kill -9 on SQLite: the file is intact and every stored trace is whole (a batch is one
  transaction); a new server opens the same store without migrating and lists the old traces.
- SIGTERM: spans still queued when the server is told to stop are flushed before it exits.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import Server, free_port

MOCK_CHAT = {
    "model_name": "chat",
    "litellm_params": {"model": "mock/chat", "mock_response": "It is sunny in Paris."},
}
REQUESTS = 200  # over about four seconds in the outage tests
PACE = 0.02  # seconds between two requests
OUTAGE = (1.0, 3.0)  # PostgreSQL is stopped from 1 s to 3 s after the first request


# -- a PostgreSQL server of our own -----------------------------------------------------------


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class Postgres:
    """A throwaway PostgreSQL cluster: trust auth, 127.0.0.1 only, a free port, no fsync.

    initdb and postgres refuse to run as root, so as root they run as the ``postgres`` user,
    in a temporary directory owned by it (pytest's tmp_path is private to root).
    """

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="spyglass-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.sockets.mkdir()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            for path in (self.root, self.sockets):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, tool: str, *args: str | Path) -> None:
        done = subprocess.run(
            [*self._as, str(self.bin / tool), *map(str, args)],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-k {self.sockets} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w", "-t", "30")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> str:
        if not self.running():  # an earlier test failed in the middle of its outage
            self.start()
        name = f"spyglass_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def query(self, database: str, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url(database), connect_timeout=5) as connection:
            return connection.execute(sql).fetchall()

    def remove(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    cluster = Postgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


# -- requests and what the store holds --------------------------------------------------------


def chat(client: httpx.Client, trace_id: str, parent_id: str) -> int:
    """A chat completion in trace ``trace_id`` (as a child of span ``parent_id``)."""
    response = client.post(
        "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "Weather in Paris?"}]},
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    return response.status_code


def new_ids() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


SPANS_SQL = (
    "SELECT trace_id, span_id, parent_span_id, span_kind, is_attempt FROM spans ORDER BY trace_id"
)


def whole_gateway_trace(spans: list[tuple[Any, ...]], parent_id: str) -> bool:
    """The trace holds exactly the server span (child of the caller's) and its one attempt."""
    servers = [s for s in spans if s[3] == "server" and not s[4]]
    attempts = [s for s in spans if s[4]]
    return (
        len(spans) == 2
        and len(servers) == len(attempts) == 1
        and servers[0][2] == parent_id
        and attempts[0][2] == servers[0][1]
    )


def by_trace(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


def spans_dropped(server: Server) -> float | None:
    """``spyglass_spans_dropped_total`` from ``/metrics``, summed over labels; None if absent."""
    response = httpx.get(server.url + "/metrics", timeout=5)
    if response.status_code != 200:
        return None
    values = [
        float(line.rsplit(None, 1)[-1])
        for line in response.text.splitlines()
        if line.startswith(("spyglass_spans_dropped_total ", "spyglass_spans_dropped_total{"))
    ]
    return sum(values) if values else None


def send_through_outage(
    server: Server, postgres: Postgres
) -> tuple[list[tuple[str, str, float]], dict[str, float]]:
    """``REQUESTS`` chats at a steady pace while PostgreSQL goes down and comes back.

    Returns each request's (trace id, parent span id, time sent) and when the outage began,
    was complete, and ended (relative to the first request).
    """
    sent: list[tuple[str, str, float]] = []
    statuses: list[int] = []
    moments: dict[str, float] = {}
    start = time.monotonic()

    def sleep_until(offset: float) -> None:
        time.sleep(max(0.0, start + offset - time.monotonic()))

    def outage() -> None:
        sleep_until(OUTAGE[0])
        moments["stopping"] = time.monotonic() - start
        postgres.stop()
        moments["stopped"] = time.monotonic() - start
        sleep_until(OUTAGE[1])
        moments["starting"] = time.monotonic() - start
        postgres.start()

    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url, timeout=10) as client:
        controller = pool.submit(outage)
        for number in range(REQUESTS):
            sleep_until(number * PACE)
            trace_id, parent_id = new_ids()
            sent.append((trace_id, parent_id, time.monotonic() - start))
            statuses.append(chat(client, trace_id, parent_id))
        controller.result(timeout=60)

    assert statuses == [200] * REQUESTS, (
        f"the gateway failed requests during the outage: {statuses}"
    )
    during = [t for _, _, t in sent if moments["stopped"] <= t < moments["starting"]]
    assert len(during) >= 30, (moments, len(during))
    return sent, moments


# -- 1. PostgreSQL outage under load ----------------------------------------------------------


@pytest.mark.slow
def test_postgres_outage_loses_nothing_while_the_queue_has_room(
    serve: Callable[..., Server], postgres: Postgres
) -> None:
    database = postgres.create_database()
    server = serve({"database_url": postgres.url(database), "model_list": [MOCK_CHAT]})
    sent, _ = send_through_outage(server, postgres)
    expected = {trace_id for trace_id, _, _ in sent}

    deadline = time.monotonic() + 30
    listed: list[str] = []
    while time.monotonic() < deadline:
        response = httpx.get(server.url + "/api/traces", params={"limit": 500}, timeout=10)
        listed = [t["trace_id"] for t in response.json()["data"]]
        if expected <= set(listed):
            break
        time.sleep(0.25)
    missing = expected - set(listed)
    assert not missing, f"{len(missing)} of {REQUESTS} traces never stored:\n{server.log()[-3000:]}"
    assert len(listed) == len(set(listed)) == REQUESTS

    traces = dict(postgres.query(database, "SELECT trace_id, span_count FROM traces"))
    spans = by_trace(postgres.query(database, SPANS_SQL))
    assert traces == dict.fromkeys(expected, 2)
    torn = [t for t, parent, _ in sent if not whole_gateway_trace(spans[t], parent)]
    assert not torn, [spans[t] for t in torn[:3]]
    assert spans_dropped(server) in (None, 0)
    # The retry path was really taken: the exporter met the outage and waited it out.
    assert "trace store unavailable" in server.log()


@pytest.mark.slow
def test_postgres_outage_with_a_small_queue_drops_spans_and_says_so(
    serve: Callable[..., Server], postgres: Postgres
) -> None:
    database = postgres.create_database()
    server = serve(
        {
            "database_url": postgres.url(database),
            "model_list": [MOCK_CHAT],
            "tracing": {"queue_size": 100},
        }
    )
    sent, moments = send_through_outage(server, postgres)

    # Spans are written in the order they were queued: once a request made after the outage is
    # stored, whatever was queued before it has been written or dropped.
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while True:
            trace_id, parent_id = new_ids()
            assert chat(client, trace_id, parent_id) == 200
            time.sleep(0.5)
            found = postgres.query(database, f"SELECT 1 FROM traces WHERE trace_id = '{trace_id}'")
            if found:
                break
            assert time.monotonic() < deadline, f"store never recovered:\n{server.log()[-3000:]}"

    spans = by_trace(postgres.query(database, SPANS_SQL))
    stored = [t for t, _, _ in sent if t in spans]
    assert 0 < len(stored) < REQUESTS
    # Before the outage the queue had room: those traces are all there, and whole.
    before = [(t, parent) for t, parent, at in sent if at < moments["stopping"]]
    assert before
    assert all(whole_gateway_trace(spans.get(t, []), parent) for t, parent in before)
    lost = 2 * REQUESTS - sum(len(spans[t]) for t in stored)
    assert lost > 0

    counts = dict(postgres.query(database, "SELECT trace_id, span_count FROM traces"))
    assert all(counts[t] == len(rows) for t, rows in spans.items())
    reported = spans_dropped(server)
    if reported is not None:
        assert reported >= lost
    else:
        assert "dropped" in server.log(), "spans were dropped silently"


# -- 2. kill -9 under load on SQLite ----------------------------------------------------------


def load(url: str, stop: threading.Event, answered: list[tuple[str, str]]) -> None:
    """Chats one after another until ``stop`` or the server goes away (at most 5,000)."""
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(5000):
            if stop.is_set():
                return
            trace_id, parent_id = new_ids()
            try:
                status = chat(client, trace_id, parent_id)
            except httpx.HTTPError:
                return
            if status == 200:
                answered.append((trace_id, parent_id))


def stored_traces(path: Path) -> int:
    """How many traces the store holds (0 before it exists or is migrated)."""
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(path, timeout=1)) as connection:
            return int(connection.execute("SELECT count(*) FROM traces").fetchone()[0])
    except sqlite3.Error:
        return 0


def schema(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as connection:
        return (
            connection.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall(),
            connection.execute("SELECT version_num FROM alembic_version").fetchall(),
        )


@pytest.mark.slow
def test_kill_9_under_load_leaves_a_whole_sqlite_store(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    # Small batches written often: the kill most likely lands in the middle of a write.
    config = {"model_list": [MOCK_CHAT], "tracing": {"batch_size": 50, "flush_interval_ms": 10}}
    server = serve(config, name="killed")
    answered: list[tuple[str, str]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(server.url, stop, answered)) for _ in range(8)]
    for thread in threads:
        thread.start()
    path = tmp_path / "home" / "spyglass.db"
    try:
        time.sleep(2)
        # On a busy machine the writer may not have committed yet: kill once it has.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not stored_traces(path):
            time.sleep(0.2)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert len(answered) > 100

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = dict(connection.execute("SELECT trace_id, span_count FROM traces").fetchall())
        spans = by_trace(connection.execute(SPANS_SQL).fetchall())
    parents = dict(answered)
    assert counts, "nothing was stored in two seconds of load"
    assert set(counts) == set(spans)
    assert set(counts) <= set(parents)
    assert all(counts[t] == len(rows) for t, rows in spans.items())
    # A request's attempt span ends just before its server span; the writer may take a batch
    # between the two, so the one request in that window at the last commit may be stored
    # with its attempt alone. Every other trace is whole.
    partial = [t for t in spans if not whole_gateway_trace(spans[t], parents[t])]
    assert len(partial) <= 1, [spans[t] for t in partial]
    assert all(len(spans[t]) == 1 and spans[t][0][4] for t in partial)
    before = schema(path)

    again = serve(config, name="restarted")
    listed: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(again.url + "/api/traces", params=params, timeout=10).json()
        listed += [t["trace_id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(listed) == sorted(counts)
    assert schema(path) == before, "the restarted server changed a migrated schema"


# -- 3. graceful shutdown ---------------------------------------------------------------------


def test_sigterm_flushes_queued_spans(serve: Callable[..., Server], tmp_path: Path) -> None:
    # Nothing is written until shutdown: the interval is a minute and no batch fills.
    config = {
        "model_list": [MOCK_CHAT],
        "tracing": {"batch_size": 10_000, "flush_interval_ms": 60_000},
    }
    server = serve(config)
    sent: list[tuple[str, str]] = []
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(100):
            sent.append(new_ids())
            assert chat(client, *sent[-1]) == 200
    server.process.send_signal(signal.SIGTERM)
    # uvicorn exits by the signal it was stopped with, once its shutdown is complete.
    assert server.process.wait(30) in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()

    with sqlite3.connect(tmp_path / "home" / "spyglass.db") as connection:
        counts = dict(connection.execute("SELECT trace_id, span_count FROM traces").fetchall())
        spans = by_trace(connection.execute(SPANS_SQL).fetchall())
    assert counts == {trace_id: 2 for trace_id, _ in sent}
    assert all(whole_gateway_trace(spans[t], parent) for t, parent in sent)

"""``spyglass serve --workers N`` on the embedded SQLite store: every span stored, no lock errors;
two replicas on one PostgreSQL and one Redis: one trace store, one shared cache."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import Server

MOCK = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/echo"}}]}
REDIS_URL = "redis://127.0.0.1:6379/0"


async def load(urls: list[str], requests: int, concurrency: int) -> list[httpx.Response]:
    """``requests`` chat calls spread over ``urls``, ``concurrency`` at a time, half streamed."""
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(number: int) -> httpx.Response:
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": f"request {number}"}],
                "stream": number % 2 == 0,
            }
            async with limit:
                answer = await client.post(
                    urls[number % len(urls)] + "/v1/chat/completions", json=body
                )
                await answer.aread()
                return answer

        return list(await asyncio.gather(*(one(n) for n in range(requests))))


def count_spans(url: str, trace_ids: list[str]) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = {
                row[0]: row[1]
                for row in connection.execute(
                    text("SELECT trace_id, count(*) FROM spans GROUP BY trace_id")
                )
            }
    finally:
        engine.dispose()
    return sum(stored.get(t, 0) for t in trace_ids)


def wait_for_spans(url: str, trace_ids: list[str], expected: int) -> int:
    found = 0
    for _ in range(100):
        found = count_spans(url, trace_ids)
        if found >= expected:
            break
        time.sleep(0.1)
    return found


@pytest.mark.slow
async def test_two_workers_on_sqlite_store_every_span_without_lock_errors(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    config = {
        **MOCK,
        # Small, frequent batches: the two workers' writers contend for the file often.
        "tracing": {"batch_size": 5, "flush_interval_ms": 10},
    }
    server = serve(config, env={"SPYGLASS_SERVER__WORKERS": "2"})
    answers = await load([server.url], requests=300, concurrency=24)
    assert [a.status_code for a in answers] == [200] * 300
    trace_ids = [a.headers["x-spyglass-trace-id"] for a in answers]
    database = f"sqlite:///{tmp_path / 'home' / 'spyglass.db'}"
    assert await asyncio.to_thread(wait_for_spans, database, trace_ids, 600) == 600
    server.stop()
    log = server.log()
    assert "locked" not in log.lower()
    assert "ERROR" not in log and "Traceback" not in log, log
    assert log.count("Application startup complete") == 2


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_replicas_share_one_postgres_store_and_one_redis_cache(
    pg_database: str,  # first: torn down after the servers stop (see test_access_servers)
    serve: Callable[..., Server],
) -> None:
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    config = {
        **MOCK,
        "database_url": pg_database,
        "redis_url": REDIS_URL,
        "cache": {"enabled": True, "namespace": namespace},
    }
    first = serve(config, name="a")
    second = serve(config, name="b")
    answers = await load([first.url, second.url], requests=60, concurrency=8)
    assert [a.status_code for a in answers] == [200] * 60
    trace_ids = [a.headers["x-spyglass-trace-id"] for a in answers]
    assert await asyncio.to_thread(wait_for_spans, pg_database, trace_ids, 120) == 120

    body = {"model": "m", "messages": [{"role": "user", "content": f"shared {namespace}"}]}
    async with httpx.AsyncClient(timeout=30) as client:
        on_a = await client.post(first.url + "/v1/chat/completions", json=body)
        on_b = await client.post(second.url + "/v1/chat/completions", json=body)
        streamed = {**body, "stream": True}
        stream_a = await client.post(first.url + "/v1/chat/completions", json=streamed)
        stream_b = await client.post(second.url + "/v1/chat/completions", json=streamed)
    assert on_a.headers["x-spyglass-cache"] == "miss"
    assert on_b.headers["x-spyglass-cache"] == "hit"
    assert on_b.json() == on_a.json()
    assert stream_a.headers["x-spyglass-cache"] == "miss"
    assert stream_b.headers["x-spyglass-cache"] == "hit"
    assert stream_b.content == stream_a.content

    store = redis.Redis.from_url(REDIS_URL)
    keys = list(store.scan_iter(f"{namespace}:*"))
    assert len(keys) == 62  # the 60 requests of the load, then one whole answer, one stream
    store.delete(*keys)
    store.close()
    for server in (first, second):
        server.stop()
        assert "ERROR" not in server.log(), server.log()

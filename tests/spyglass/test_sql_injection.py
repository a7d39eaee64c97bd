"""SQL injection attempts in every query and path parameter of every ``GET /api/*`` operation
(enumerated from the app's OpenAPI schema) do nothing: no 5xx, no database error text in the
answer, no more rows than an ordinary non-matching value gets, and the tables are intact.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from spyglass import Settings, create_app

Build = Callable[..., Settings]

PAYLOADS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE spans; --",
    "') UNION SELECT name, name FROM sqlite_master --",
    "' UNION SELECT table_name FROM information_schema.tables --",
    "x' AND (SELECT 1 FROM spans LIMIT 1) = 1 --",
    "\\'; DELETE FROM traces; --",
    "0x27 OR 1=1",
    "$99",
    "?",
]
BENIGN = "no-such-value"
LEAKS = (
    "syntax error",
    "sqlite",
    "psycopg",
    "operationalerror",
    "programmingerror",
    "traceback",
    "unrecognized token",
    "sql statement",
    "select ",
)
CONFIG = {
    "model_list": [
        {"model_name": "m", "litellm_params": {"model": "mock/echo", "mock_mode": "echo"}}
    ]
}


def get_operations(app: FastAPI) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every GET operation under /api with its parameters."""
    found = []
    for path, methods in app.openapi()["paths"].items():
        if path.startswith("/api/") and "get" in methods:
            found.append((path, methods["get"].get("parameters", [])))
    return found


def rows_of(body: Any) -> int | None:
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in ("data", "spans", "items", "results"):
            if isinstance(body.get(key), list):
                return len(body[key])
    return None


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("spans", "traces")
            }
    finally:
        engine.dispose()


async def attack(settings: Settings) -> None:
    app = create_app(settings)
    url = settings.database_url_value()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://spyglass.test"
        ) as client:
            for number in range(3):
                body = {
                    "model": "m",
                    "messages": [{"role": "user", "content": f"secret {number}"}],
                    "user": f"user-{number}",
                    "metadata": {"session_id": f"session-{number}"},
                }
                answer = await client.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200
            app.state.tracing.pipeline.flush()
            before = await asyncio.to_thread(table_counts, url)
            assert before["traces"] >= 3
            problems: list[str] = []
            for path, parameters in get_operations(app):
                for target in parameters:
                    for payload in PAYLOADS:
                        problems += await try_one(client, path, parameters, target, payload)
            assert not problems, "\n".join(problems[:20])
            after = await asyncio.to_thread(table_counts, url)
            assert after == before


async def try_one(
    client: httpx.AsyncClient,
    path: str,
    parameters: list[dict[str, Any]],
    target: dict[str, Any],
    payload: str,
) -> list[str]:
    """Send ``payload`` in ``target`` (others benign), and the benign value alone; compare."""

    async def send(value: str) -> httpx.Response:
        url = path
        query: dict[str, str] = {}
        for parameter in parameters:
            if parameter["in"] == "path":
                given = value if parameter is target else BENIGN
                url = url.replace("{" + parameter["name"] + "}", given.replace("/", "%2F"))
            elif parameter is target:
                query[parameter["name"]] = value
        return await client.get(url, params=query)

    injected = await send(payload)
    label = f"GET {path} {target['name']}={payload!r}: {injected.status_code}"
    found = []
    if injected.status_code >= 500:
        found.append(f"{label} (server error)")
    lowered = injected.text.lower()
    leaked = [marker for marker in LEAKS if marker in lowered and marker not in payload.lower()]
    if leaked:
        found.append(f"{label} leaks {leaked}: {injected.text[:200]}")
    if injected.status_code >= 400:
        body = injected.json()
        if not isinstance(body, dict) or not ({"error", "detail"} & set(body)):
            found.append(f"{label} error not in the documented shape: {injected.text[:200]}")
    elif injected.status_code == 200 and "json" in injected.headers.get("content-type", ""):
        rows = rows_of(injected.json())
        benign = await send(BENIGN)
        benign_rows = rows_of(benign.json()) if benign.status_code == 200 else 0
        if rows is not None and benign_rows is not None and rows > benign_rows:
            found.append(f"{label} returned {rows} rows, an unmatched value {benign_rows}")
    return found


async def test_sql_injection_does_nothing_on_sqlite(settings_from: Build) -> None:
    await attack(settings_from(CONFIG))


@pytest.mark.postgres
async def test_sql_injection_does_nothing_on_postgresql(
    settings_from: Build, pg_database: str
) -> None:
    await attack(settings_from({**CONFIG, "database_url": pg_database}))

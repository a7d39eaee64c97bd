"""Shared fixtures: a clean environment, apps driven in-process, servers in subprocesses,
and the real PostgreSQL of this machine."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from spyglass import Settings, create_app, load_settings

PG_ADMIN_URL = os.environ.get(
    "SPYGLASS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys or settings; data goes to tmp_path."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ANTHROPIC_", "OTEL_", "SPYGLASS_", "GEMINI_", "AZURE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPYGLASS_HOME", str(tmp_path / "home"))
    # litellm's default aiohttp transport bypasses respx; tests use httpx's own.
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    # In-process apps write spans from a thread: a writer process per app would add a second
    # of start-up to hundreds of tests. Servers in subprocesses (and tests/tracing's
    # reliability and writer tests) use the default, the writer process.
    monkeypatch.setenv("SPYGLASS_TRACING__WRITER", "thread")
    monkeypatch.chdir(tmp_path)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def settings_from(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings from a config dict, through the same loader `spyglass serve` uses."""

    def build(config: dict[str, Any], **overrides: Any) -> Settings:
        settings, _ = load_settings(write_config(tmp_path / "spyglass.yaml", config), **overrides)
        return settings

    return build


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client that calls it in-process."""
    app = create_app(settings, upstream_transport=transport, **kwargs)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://spyglass.test"
        ) as client:
            yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `spyglass serve` process on a free port."""

    def __init__(
        self, config_path: Path, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "spyglass",
                "serve",
                "--config",
                str(config_path),
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # A served process writes spans as in production: from its writer process.
            env={**os.environ, "SPYGLASS_TRACING__WRITER": "process", **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `spyglass serve` subprocesses from config dicts; all are stopped afterwards."""
    servers: list[Server] = []

    def start(
        config: dict[str, Any], name: str = "server", env: dict[str, str] | None = None
    ) -> Server:
        path = write_config(tmp_path / f"{name}.yaml", config)
        server = Server(path, tmp_path / f"{name}.log", env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on this machine's server for one test, dropped afterwards.

    One per test, so no test sees another's rows (creating one takes ~0.1 s). PostgreSQL is
    required, not optional: when it is unreachable the tests that need it fail.
    """
    yield from _new_pg_database()


@pytest.fixture
def pg_own_database(pg_database: str) -> str:
    """The same as ``pg_database`` (kept for the tests that say so explicitly)."""
    return pg_database


def _new_pg_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"spyglass_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required and unreachable: {exc}; {_HOW}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the services the suite needs ---------------------------------------------------------------

SERVICES = {"PostgreSQL": ("127.0.0.1", 5432), "Redis": ("127.0.0.1", 6379)}
_HOW = (
    "start them as README step 2 says (with Docker: `docker run -d -p 5432:5432 -e "
    "POSTGRES_DB=test -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16 && docker run -d -p "
    "6379:6379 redis:7`)"
)


def missing_services() -> list[str]:
    """The services of ``SERVICES`` nothing answers on, as ``name host:port``."""
    missing = []
    for name, address in SERVICES.items():
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError:
            missing.append(f"{name} at {address[0]}:{address[1]}")
    return missing


def pytest_report_header(config: pytest.Config) -> str:
    missing = missing_services()
    config.stash[_MISSING] = missing
    if not missing:
        return "services: PostgreSQL and Redis answer"
    return f"services MISSING: {', '.join(missing)}; the tests that need them fail: {_HOW}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    missing = config.stash.get(_MISSING, [])
    if missing:
        terminalreporter.write_line(
            f"{', '.join(missing)} did not answer, so the tests that need it failed: {_HOW}",
            red=True,
        )


_MISSING = pytest.StashKey[list[str]]()

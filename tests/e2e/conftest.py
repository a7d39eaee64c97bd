"""Browser tests: a real `spyglass serve` over a seeded SQLite store, driven in Debian's
headless Chromium by Playwright. Screenshots go to tests/e2e/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from spyglass._db import create_store_engine, upgrade_store
from tests.conftest import Server
from tracing import TraceStore

from .seed import ECHO_MODEL, seed_evals, seed_prompts, seed_traces

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
# The flags this machine's closed network needs (no background fetches, no sign-in, no GPU).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWER_TIMEZONE = "Asia/Kolkata"  # not the machine's: times must follow the browser's zone


@pytest.fixture(scope="package")
def chromium() -> Path:
    """Debian's chromium, installed with apt when missing; a clear failure when impossible."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail("the browser tests need Debian's chromium (/usr/bin/chromium) and apt-get")
        result = subprocess.run(
            [apt, "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"could not install chromium with apt-get:\n{result.stderr[-2000:]}")
    return CHROMIUM


def _start(directory: Path, seeded: bool, env: dict[str, str] | None = None) -> Server:
    home = directory / "home"
    home.mkdir(parents=True)
    config = directory / "spyglass.yaml"
    config.write_text(yaml.safe_dump({"model_list": [ECHO_MODEL]}))
    # The server inherits os.environ: the developer's own SPYGLASS_* settings must not leak in.
    saved = {
        name: os.environ.pop(name) for name in list(os.environ) if name.startswith("SPYGLASS_")
    }
    try:
        if seeded:
            engine = create_store_engine(f"sqlite:///{home / 'spyglass.db'}")
            upgrade_store(engine)
            seed_traces(TraceStore(engine))
            engine.dispose()
            seed_evals(directory, config, {"SPYGLASS_HOME": str(home)})
        return Server(config, directory / "server.log", {"SPYGLASS_HOME": str(home), **(env or {})})
    finally:
        os.environ.update(saved)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Serving the seeded store: agent turns, retries, errors, XSS payloads, a 50k-span trace."""
    running = _start(tmp_path_factory.mktemp("seeded"), seeded=True)
    try:
        seed_prompts(running.url)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh install: nothing recorded yet."""
    running = _start(tmp_path_factory.mktemp("empty"), seeded=False)
    yield running
    running.stop()


@pytest.fixture(scope="package")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watch:
    """What a page did that it must not: script errors, dialogs, a set window.__xss."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.missing_pages: set[str] = set()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # A 404 from the API is a state the page shows (say, an unknown trace); the browser
        # logs it too. A missing file of the UI's own is an error. So is a page that 404s,
        # except the one a test opens on purpose (``expect_missing_page``).
        page.on(
            "console",
            lambda m: (
                self.errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on(
            "response",
            lambda r: (
                self.errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and "/api/" not in r.url and r.url not in self.missing_pages
                else None
            ),
        )

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (light theme, 1440x900, the viewer in India); checked after each test."""
    scheme = getattr(request, "param", "light")
    context = browser.new_context(
        viewport={"width": 1440, "height": 900},
        color_scheme=scheme,
        timezone_id=VIEWER_TIMEZONE,
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    watch = Watch(page)
    page.watch = watch
    yield page
    try:
        assert page.evaluate("window.__xss") is None, "an injected script ran"
        assert not watch.dialogs, f"a dialog opened: {watch.dialogs}"
        assert not watch.errors, f"the page logged errors: {watch.errors}"
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    """Save a screenshot of the page as a test artifact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


MASTER_KEY = "sk-master-e2e-0123456789abcdef"


@pytest.fixture(scope="package")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a master key: every /api call needs a key; the pages stay public."""
    running = _start(
        tmp_path_factory.mktemp("auth"), seeded=False, env={"SPYGLASS_MASTER_KEY": MASTER_KEY}
    )
    yield running
    running.stop()

"""Every code snippet of the README and docs/ runs as written, against the demo server.

Each ```python block, and each ``curl`` command of the ```bash blocks (a whole block when it
holds only ``spyglass prompts``/``traces`` commands, ``curl`` and ``export`` lines), runs in a
subprocess against one ``spyglass serve --config examples/demo.yaml``, with the docs' address
(127.0.0.1:4000) replaced by that server's. A snippet the docs introduce with
``SPYGLASS_CACHE__ENABLED=true`` (the response cache's example) runs against a second demo
server started that way. A snippet passes when it exits 0; curl is run with ``--fail-with-body``, so an HTTP error fails it. The prompt the
docs' examples use is pushed first, with the CLI commands docs/prompts.md gives.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, Server

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ADDRESS = "127.0.0.1:4000"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_CACHE_ON = "SPYGLASS_CACHE__ENABLED=true"
_WHOLE_BLOCK = re.compile(r"^(#.*|export \w+=\S+|spyglass (prompts|traces) .*|curl .*|\s+.*|)$")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    language: str  # python or bash
    code: str
    cached: bool = False  # to run with the response cache on

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def _commands(code: str) -> list[str]:
    """A bash block's curl commands, each with its continuation lines."""
    commands: list[str] = []
    lines = code.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("curl "):
            command = [line.strip()]
            open_quote = line.count("'") % 2 == 1
            while (command[-1].endswith("\\") or open_quote) and index + 1 < len(lines):
                index += 1
                command.append(lines[index])
                open_quote ^= lines[index].count("'") % 2 == 1
            commands.append("\n".join(command))
        index += 1
    return commands


def snippets() -> Iterator[Snippet]:
    for path in DOCS:
        text = path.read_text()
        for match in _FENCE.finditer(text):
            language, code = match.group(1), match.group(2)
            line = text.count("\n", 0, match.start()) + 1
            cached = _CACHE_ON in text[max(0, match.start() - 300) : match.start()]
            if language == "python":
                yield Snippet(path, line, "python", code, cached)
            elif language in ("bash", "sh"):
                if all(_WHOLE_BLOCK.match(row) for row in code.splitlines()) and "curl" in code:
                    yield Snippet(path, line, "bash", code, cached)
                else:
                    for command in _commands(code):
                        yield Snippet(path, line, "bash", command, cached)


ALL = list(snippets())


Demo = Callable[[bool], tuple[Server, dict[str, str]]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo server (and the environment snippets run in), started on first use; one with
    the response cache on, for the snippets that say so."""
    servers: dict[bool, tuple[Server, dict[str, str]]] = {}

    def get(cached: bool) -> tuple[Server, dict[str, str]]:
        if cached not in servers:
            servers[cached] = _start(tmp_path_factory, cached)
        return servers[cached]

    try:
        yield get
    finally:
        for server, _ in servers.values():
            server.stop()


def _start(tmp_path_factory: pytest.TempPathFactory, cached: bool) -> tuple[Server, dict[str, str]]:
    home = tmp_path_factory.mktemp("docs-home")
    env = {
        **os.environ,
        "SPYGLASS_HOME": str(home),
        "SPYGLASS_CONFIG": str(REPO / "examples" / "demo.yaml"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in list(env):
        if name.startswith(("OPENAI_", "ANTHROPIC_", "OTEL_", "SPYGLASS_URL", "SPYGLASS_API")):
            del env[name]
    server_env = {**env, "SPYGLASS_CACHE__ENABLED": "true"} if cached else env
    server = Server(REPO / "examples" / "demo.yaml", home / "server.log", server_env)
    try:
        for command in (
            "spyglass prompts push summarize -f examples/prompts/summarize.yaml -m first",
            "spyglass prompts label summarize 1 production",
        ):
            done = subprocess.run(
                command.split(), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
    except BaseException:
        server.stop()
        raise
    return server, env


def test_the_docs_have_snippets_to_run() -> None:
    languages = {s.language for s in ALL}
    assert languages == {"python", "bash"}
    assert len([s for s in ALL if s.language == "python"]) >= 8


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet_runs_as_written(snippet: Snippet, demo: Demo) -> None:
    server, env = demo(snippet.cached)
    code = snippet.code.replace(ADDRESS, f"127.0.0.1:{server.port}")
    if snippet.language == "python":
        command = [sys.executable, "-c", code]
    else:
        code = re.sub(r"(^|\s)curl ", r"\1curl --fail-with-body --max-time 20 ", code)
        command = ["bash", "-euo", "pipefail", "-c", code]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, (
        f"{snippet.id} failed ({done.returncode}):\n{code}\n--- stdout\n{done.stdout[-2000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )

"""Every Jinja2 render is bounded: output size, loop iterations plus calls, wall time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from prompts import RenderLimitError, Template
from spyglass._settings import Settings
from tests.conftest import running_app

NESTED = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"


def _limit_of(text: str) -> str:
    with pytest.raises(RenderLimitError) as caught:
        Template(text, "jinja2").render({})
    return caught.value.limit


def test_output_is_bounded() -> None:
    assert _limit_of('{% for a in range(20) %}{{ "x" * 100000 }}{% endfor %}') == "output"


def test_loop_iterations_are_bounded_even_without_output() -> None:
    assert _limit_of(NESTED) == "iterations"
    assert _limit_of(NESTED.replace("x", "")) == "iterations"


def test_wall_time_is_bounded_for_recursion_without_loops() -> None:
    started = time.monotonic()
    text = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    assert _limit_of(text) == "time"
    assert time.monotonic() - started < 10


def test_ordinary_templates_still_render() -> None:
    text = "{% for x in items %}{{ loop.index }}:{{ x }} {% endfor %}{{ n | default(3) }}"
    assert Template(text, "jinja2").render({"items": ["a", "b"], "n": 5}).value == "1:a 2:b 5"


@pytest.fixture
async def api(settings_from: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings_from({})) as client:
        yield client


async def test_the_render_api_answers_400_naming_the_limit_and_stays_live(
    api: httpx.AsyncClient,
) -> None:
    bomb = api.post("/api/prompts/render", json={"engine": "jinja2", "template": NESTED})
    live = api.get("/health/live")
    answer, health = await asyncio.gather(bomb, live)
    assert answer.status_code == 400
    error = answer.json()
    assert "loop iterations" in str(error)
    assert "iterations" in str(error)
    assert health.status_code == 200

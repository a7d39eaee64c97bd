"""Every Jinja2 render is bounded: output size, loop iterations plus calls, wall time, and
memory (a render worker whose address space is capped)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import openai
import pytest

from prompts import RenderLimitError, Template
from spyglass._settings import Settings
from tests.conftest import Server, running_app

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


def test_recursion_without_loops_is_bounded() -> None:
    started = time.monotonic()
    text = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    assert _limit_of(text) in ("iterations", "time")
    assert time.monotonic() - started < 10


def test_wall_time_is_bounded_when_each_step_is_slow() -> None:
    started = time.monotonic()
    text = '{% for i in range(100000) %}{% set _ = ("ab" * 50000)|replace("a", "bb") %}{% endfor %}'
    assert _limit_of(text) == "time"
    assert time.monotonic() - started < 10


def test_saving_a_template_evaluates_nothing() -> None:
    started = time.monotonic()
    template = Template('{{ "x"|center(2000000000) }}{{ "%2000000000d" % 1 }}', "jinja2")
    assert template.variables == ()
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "text",
    [
        '{{ ("x"|center(2000000000))|length }}',
        '{{ ("%2000000000d"|format(1))|length }}',
        '{{ "x".ljust(2000000000)|length }}',
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}'
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    ],
)
def test_memory_is_bounded_where_one_step_builds_gigabytes(text: str) -> None:
    assert _limit_of(text) == "memory"
    assert Template("{{ 1 + 1 }}", "jinja2").render({}).value == "2"  # the next render works


def test_the_bounds_hold_for_a_whole_chat_template_not_each_message() -> None:
    half = '{% for a in range(6) %}{{ "x" * 100000 }}{% endfor %}'  # 600,000 characters
    chat = [{"role": "system", "content": half}, {"role": "user", "content": half}]
    with pytest.raises(RenderLimitError) as caught:
        Template(chat, "jinja2").render({})
    assert caught.value.limit == "output"
    assert len(Template(chat[:1], "jinja2").render({}).value[0]["content"]) == 600_000


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


def test_a_stored_bomb_prompt_is_a_400_through_the_gateway(serve: Callable[..., Server]) -> None:
    server = serve(
        {
            "model_list": [
                {
                    "model_name": "echo",
                    "litellm_params": {"model": "mock/echo", "mock_mode": "echo"},
                }
            ]
        }
    )
    for name, template in (("nested", NESTED), ("wide", '{{ "x"|center(2000000000) }}')):
        created = httpx.post(
            f"{server.url}/api/prompts/{name}/versions",
            json={"template": template, "engine": "jinja2", "model_config": {"model": "echo"}},
            timeout=10,
        )
        assert created.status_code in (200, 201), created.text
    live: list[int] = []
    with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        for name, bound in (("nested", "iterations"), ("wide", "memory")):
            watcher = threading.Thread(
                target=lambda: live.append(
                    httpx.get(f"{server.url}/health/live", timeout=5).status_code
                )
            )
            watcher.start()
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(
                    model="", messages=[], extra_body={"prompt": {"name": name}}
                )
            watcher.join()
            assert caught.value.param == "prompt"
            assert caught.value.code == "render_limit_exceeded"
            assert f"the {bound} bound" in caught.value.message
    assert live == [200, 200]
    rss_kib = next(
        int(line.split()[1])
        for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    assert rss_kib < 1_000_000  # the 2 GB string was never built in the server

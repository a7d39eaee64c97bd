"""The data the browser tests walk: traces written through the store's write path, prompts
pushed through the registry's API. Payloads that would run if rendered as markup are spread
through every kind of stored value."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.trace import SpanKind

from tests.tracing.helpers import MS, T0, llm, make_span, rows, sid, tid
from tracing import TraceStore

# Each sets window.__xss if it ever runs.
XSS_SCRIPT = "<script>window.__xss = 'script'</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss='img'\">"
XSS_SVG = '"><svg onload="window.__xss=\'svg\'">'

AGENT, FLAKY, FAILED, XSS, BIG = 1, 2, 3, 4, 5
SESSION = "sess-42"
BIG_AGENTS, BIG_STEPS, BIG_TOOLS = 40, 25, 49
BIG_SPANS = 1 + BIG_AGENTS + BIG_AGENTS * BIG_STEPS * (1 + BIG_TOOLS)
LONG_ANSWER = "\n".join(f"Line {n}: the refund policy covers this case." for n in range(1, 61))


def ago(minutes: float) -> int:
    """The span-time offset (ms after helpers' T0) of ``minutes`` before now."""
    return (time.time_ns() - T0) // MS - int(minutes * 60_000)


def messages(*pairs: tuple[str, list[dict[str, Any]]]) -> str:
    return orjson.dumps([{"role": role, "parts": parts} for role, parts in pairs]).decode()


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def chat_attrs(
    model: str, provider: str, tokens: tuple[int, int], cost: float, **extra: Any
) -> dict[str, Any]:
    return llm(
        tokens[0],
        tokens[1],
        cost,
        model,
        {"gen_ai.provider.name": provider, "spyglass.time_to_first_token_ms": 180.0, **extra},
    )


def agent_trace(trace: int, start: int, question: str, turn: int) -> list[Any]:
    """An agent turn in session sess-42: retrieval, a tool call, its result and the answer."""
    labels = {"gen_ai.conversation.id": SESSION, "enduser.id": "alice"}
    first = messages(("system", [text("You are a support agent.")]), ("user", [text(question)]))
    call = [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "lookup_order",
                    "arguments": {"order_id": "A-1001"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]
    second = messages(
        ("user", [text(question)]),
        (
            "tool",
            [
                {
                    "type": "tool_call_response",
                    "id": "call_1",
                    "response": {"status": "shipped", "eta": "2 days"},
                }
            ],
        ),
    )
    answer = [
        {
            "role": "assistant",
            "parts": [text(LONG_ANSWER if turn == 1 else f"Answer {turn}: it ships in 2 days.")],
            "finish_reason": "stop",
        }
    ]
    return [
        make_span(
            trace,
            1,
            None,
            "support agent",
            start,
            start + 2400,
            {"gen_ai.operation.name": "invoke_agent", **labels},
        ),
        make_span(
            trace,
            2,
            1,
            "retrieve docs",
            start + 10,
            start + 300,
            {
                "gen_ai.operation.name": "retrieval",
                "retrieval.documents.0.document.id": "kb-12",
                "retrieval.documents.0.document.content": "Orders ship within 2 days.",
                "retrieval.documents.0.document.score": 0.87,
                "retrieval.documents.1.document.id": "kb-40",
                "retrieval.documents.1.document.content": "Track an order from its page.",
                "retrieval.documents.1.document.score": 0.52,
            },
        ),
        make_span(
            trace,
            3,
            1,
            "chat gpt-4o",
            start + 310,
            start + 1100,
            chat_attrs(
                "gpt-4o",
                "openai",
                (420, 35),
                0.0031,
                **labels,
                **{
                    "gen_ai.input.messages": first,
                    "gen_ai.output.messages": orjson.dumps(call).decode(),
                    "gen_ai.prompt.name": "support/greeter",
                    "gen_ai.prompt.version": "2",
                },
            ),
            kind=SpanKind.CLIENT,
        ),
        make_span(
            trace,
            4,
            1,
            "lookup_order",
            start + 1110,
            start + 1400,
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"},
        ),
        make_span(
            trace,
            5,
            1,
            "chat gpt-4o",
            start + 1410,
            start + 2390,
            chat_attrs(
                "gpt-4o",
                "openai",
                (510, 80),
                0.0052,
                **labels,
                **{
                    "gen_ai.input.messages": second,
                    "gen_ai.output.messages": orjson.dumps(answer).decode(),
                },
            ),
            kind=SpanKind.CLIENT,
        ),
    ]


def flaky_trace(start: int) -> list[Any]:
    """A gateway request whose first attempt failed and whose retry went to a fallback."""
    question = messages(("user", [text("Summarise my last invoice")]))
    return [
        make_span(
            FLAKY,
            1,
            None,
            "chat claude-sonnet",
            start,
            start + 1900,
            chat_attrs(
                "claude-sonnet",
                "anthropic",
                (200, 60),
                0.0042,
                **{
                    "gen_ai.input.messages": question,
                    "spyglass.attempts": 2,
                    "spyglass.key.id": "key-team-a",
                },
            ),
            "ok",
            kind=SpanKind.SERVER,
        ),
        make_span(
            FLAKY,
            2,
            1,
            "attempt claude-sonnet",
            start + 5,
            start + 900,
            {
                "spyglass.attempt": 1,
                "gen_ai.request.model": "claude-sonnet",
                "gen_ai.provider.name": "anthropic",
                "error.type": "500",
            },
            "error",
            message="upstream returned 500: overloaded",
            kind=SpanKind.CLIENT,
        ),
        make_span(
            FLAKY,
            3,
            1,
            "attempt gpt-4o-mini",
            start + 950,
            start + 1890,
            {
                "spyglass.attempt": 2,
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.provider.name": "openai",
            },
            "ok",
            kind=SpanKind.CLIENT,
        ),
    ]


def failed_trace(start: int) -> list[Any]:
    return [
        make_span(
            FAILED,
            1,
            None,
            "summarize document",
            start,
            start + 700,
            {"app.tenant": "acme"},
            "error",
            message="ValueError: document is empty",
            events=[
                (
                    "exception",
                    {
                        "exception.type": "ValueError",
                        "exception.message": "document is empty",
                        "exception.stacktrace": 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: document is empty',
                    },
                )
            ],
        ),
    ]


def xss_trace(start: int) -> list[Any]:
    payload_messages = messages(("user", [text(XSS_SCRIPT)]), ("assistant", [text(XSS_IMG)]))
    return [
        make_span(
            XSS,
            1,
            None,
            XSS_IMG,
            start,
            start + 300,
            chat_attrs(
                XSS_SVG,
                "openai",
                (5, 5),
                0.0001,
                **{
                    "gen_ai.input.messages": payload_messages,
                    "xss.attribute": XSS_SCRIPT,
                    "enduser.id": XSS_SVG,
                    "gen_ai.conversation.id": XSS_IMG,
                },
            ),
            "ok",
            kind=SpanKind.CLIENT,
            events=[("note", {"html": XSS_IMG})],
        ),
    ]


def traffic(count: int = 60) -> list[Any]:
    """Plain chat calls spread over the last 24 hours, for the dashboard and the list."""
    models = [
        ("gpt-4o", "openai", 0.004),
        ("gpt-4o-mini", "openai", 0.0004),
        ("claude-sonnet", "anthropic", 0.006),
    ]
    spans = []
    for n in range(count):
        model, provider, cost = models[n % 3]
        start = ago(10 + n * 23)
        failed = n % 11 == 5
        spans.append(
            make_span(
                100 + n,
                1,
                None,
                f"chat {model}",
                start,
                start + 300 + (n * 37) % 1500,
                chat_attrs(
                    model,
                    provider,
                    (100 + n * 7, 20 + n),
                    cost,
                    **{
                        "spyglass.key.id": f"key-{n % 2}",
                        "gen_ai.input.messages": messages(("user", [text(f"Question number {n}")])),
                    },
                ),
                "error" if failed else "ok",
                message="rate limited" if failed else None,
                kind=SpanKind.SERVER,
            )
        )
    return spans


def big_trace(store: TraceStore, start: int) -> None:
    """BIG_SPANS spans: a root, agents, their steps, and each step's tool calls."""
    next_id = 2
    batch: list[Any] = [
        make_span(
            BIG,
            1,
            None,
            "batch backfill",
            start,
            start + 60_000,
            {"gen_ai.operation.name": "invoke_agent"},
        )
    ]
    for a in range(BIG_AGENTS):
        agent = next_id
        next_id += 1
        a_start = start + a * 1400
        batch.append(
            make_span(
                BIG,
                agent,
                1,
                f"agent {a}",
                a_start,
                a_start + 1400,
                {"gen_ai.operation.name": "invoke_agent"},
            )
        )
        for s in range(BIG_STEPS):
            step = next_id
            next_id += 1
            s_start = a_start + s * 55
            batch.append(make_span(BIG, step, agent, f"step {a}.{s}", s_start, s_start + 55))
            for t in range(BIG_TOOLS):
                batch.append(
                    make_span(
                        BIG,
                        next_id,
                        step,
                        f"tool {t}",
                        s_start + t,
                        s_start + t + 1,
                        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"tool_{t}"},
                    )
                )
                next_id += 1
        if len(batch) > 5000:
            store.write(rows(*batch))
            batch = []
    store.write(rows(*batch))


UNPRICED = 0x9999


def seed_traces(store: TraceStore, *, big: bool = True) -> None:
    for turn in range(1, 4):
        store.write(
            rows(
                *agent_trace(
                    AGENT if turn == 1 else 10 + turn,
                    ago(30 - turn * 5),
                    f"Where is my order A-1001? (turn {turn})",
                    turn,
                )
            )
        )
    store.write(rows(*flaky_trace(ago(8)), *failed_trace(ago(6)), *xss_trace(ago(4)), *traffic()))
    # A call to a model no price map knows: its cost is unknown, not $0.
    private = chat_attrs("private-model", "openai", (40, 9), 0.0)
    del private["spyglass.cost.usd"]
    store.write(rows(make_span(UNPRICED, 1, None, "chat private-model", ago(3), ago(2.9), private)))
    if big:
        big_trace(store, ago(60))


PROMPTS = [
    (
        "support/greeter",
        "Hello {{name}}, how can I help with {{topic}}?",
        "first draft",
        ["staging"],
    ),
    (
        "support/greeter",
        "Hello {{name}}!\nYou asked about {{topic}}.\nBe brief and kind.",
        "friendlier",
        ["production"],
    ),
    (
        "support/greeter",
        "Hi {{name}}!\nYou asked about {{topic}}.\nBe brief, kind and precise.\nSign as Spyglass.",
        "sign off",
        [],
    ),
    ("xss/" + "payload", f"{XSS_SCRIPT} {{{{name}}}} {XSS_IMG}", XSS_SVG, []),
]


def seed_prompts(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for name, template, message, labels in PROMPTS:
            response = client.post(
                f"/api/prompts/{name}/versions",
                json={"template": template, "message": message, "labels": labels},
            )
            assert response.status_code == 201, response.text


# The model the seeded evals call: the built-in mock provider answers with the prompt itself.
ECHO_MODEL = {"model_name": "echo", "litellm_params": {"model": "mock/echo", "mock_mode": "echo"}}
EVAL_EXPERIMENT = "helpdesk-answers"
EVAL_ROWS = [
    {"question": "Where is my order A-1001?", "expected": "order"},
    {"question": f"{XSS_SCRIPT} Can I get a refund?", "expected": "refund"},
    {"question": "Can I change my delivery address?", "expected": "address"},
    {"question": "Do you ship to Canada?", "expected": "yes"},
    {"question": f"{XSS_IMG} please cancel my plan", "expected": "cancel"},
    {"question": "How long does shipping take?", "expected": "3 days"},
    {"question": "Is there a student discount?", "expected": "discount"},
    {"question": f"Reset my password {XSS_SVG}", "expected": "password"},
    {"question": "What are your opening hours?", "expected": XSS_IMG},
]
EVAL_FILE = {
    "name": EVAL_EXPERIMENT,
    "description": "Which prompt answers customers with the right words, briefly?",
    "dataset": {"rows": EVAL_ROWS},
    "variants": [
        {"name": "terse", "prompt": {"template": "{{question}}"}, "model": "echo"},
        {
            "name": "hinted",
            "prompt": {
                "template": [
                    {"role": "system", "content": "You answer customers briefly."},
                    {"role": "user", "content": "{{question}} (mention: {{expected}})"},
                ]
            },
            "model": "echo",
        },
        {"name": "polite", "prompt": {"template": "Kindly answer: {{question}}"}, "model": "echo"},
    ],
    "scorers": [
        {"type": "icontains", "name": "mentions"},
        {"type": "length", "name": "brief", "max": 60},
        {"type": "similarity"},
    ],
}


def seed_evals(directory: Path, config: Path, env: dict[str, str]) -> None:
    """Run the eval CLI, as a user would, on an inline dataset against the echo model (one
    invocation: each costs the suite several seconds)."""
    for spec in (EVAL_FILE,):
        path = directory / f"{spec['name']}.yaml"
        path.write_text(orjson.dumps(spec).decode())  # JSON is YAML
        done = subprocess.run(
            [sys.executable, "-m", "spyglass", "eval", "run", str(path), "--config", str(config)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


__all__ = [
    "BIG_SPANS",
    "ECHO_MODEL",
    "EVAL_EXPERIMENT",
    "SESSION",
    "seed_evals",
    "seed_prompts",
    "seed_traces",
    "sid",
    "tid",
]

"""Recorded exports of other tracing libraries, posted to ``/v1/traces`` and read back.

The fixtures were made by the real MLflow tracing (OpenAI autolog) and OpenInference's tracer:
``fixtures/record.py`` regenerates them. Each test gives a fixture fresh ids and times, posts
it as OTLP/JSON, and checks what the trace API and the search show.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from spyglass import Settings
from tests.conftest import running_app
from tests.tracing.test_otlp import only, wait_for_trace
from tracing import bundled_prices

FIXTURES = Path(__file__).with_name("fixtures")


def fresh(name: str) -> tuple[dict[str, Any], str]:
    """The fixture with a new trace id and its spans moved to end a second ago."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    trace_id = os.urandom(16).hex()
    spans = [
        span
        for resource in data["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]
    shift = time.time_ns() - 10**9 - max(int(s["endTimeUnixNano"]) for s in spans)
    for span in spans:
        span["traceId"] = trace_id
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(span[key]) + shift)
    return data, trace_id


async def post(client: httpx.AsyncClient, data: dict[str, Any]) -> None:
    response = await client.post("/v1/traces", json=data)
    assert response.status_code == 200, response.text


@pytest.fixture
async def client(settings_from: Callable[..., Settings]) -> Any:
    async with running_app(settings_from({})) as client:
        yield client


async def test_mlflow_autolog_shows_model_tokens_messages_and_documents(
    client: httpx.AsyncClient,
) -> None:
    data, trace_id = fresh("mlflow_autolog")
    await post(client, data)
    found = await wait_for_trace(client, trace_id, spans=3)
    spans = found["spans"]
    chain = only(spans, name="answer")
    assert chain["kind"] == "chain"
    assert chain["content"] == {
        "input_value": '{"question": "How long do refunds take?"}',
        "output_value": "Refunds take 5 days.",
    }
    retriever = only(spans, name="search")
    assert retriever["kind"] == "retriever"
    assert retriever["content"]["documents"] == [
        {
            "id": "faq-3",
            "content": "Refunds are paid within 5 days.",
            "metadata": {"doc_uri": "faq.md"},
        },
        {"id": "faq-7", "content": "Shipping takes 2 days.", "metadata": {"doc_uri": "faq.md"}},
    ]
    call = only(spans, name="Completions")
    assert (call["kind"], call["model"]) == ("llm", "gpt-4o-mini")
    assert (call["input_tokens"], call["output_tokens"]) == (42, 6)
    assert [m["role"] for m in call["content"]["input"]] == ["system", "user"]
    assert call["content"]["output"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Refunds take 5 days."}],
            "finish_reason": "stop",
        }
    ]
    # Priced from the price map by the model the provider answered with.
    prices = bundled_prices()["gpt-4o-mini-2024-07-18"]
    expected = 42 * prices["input_cost_per_token"] + 6 * prices["output_cost_per_token"]
    assert call["cost"] == pytest.approx(expected)
    summary = found["trace"]
    assert (summary["llm_count"], summary["input_tokens"], summary["model"]) == (
        1,
        42,
        "gpt-4o-mini",
    )
    # Found by the text of its messages and documents.
    listed = await client.get("/api/traces", params={"q": "paid within"})
    assert [t["trace_id"] for t in listed.json()["data"]] == [trace_id]


async def test_openinference_prompt_and_retriever_spans(client: httpx.AsyncClient) -> None:
    data, trace_id = fresh("openinference_rag")
    await post(client, data)
    found = await wait_for_trace(client, trace_id, spans=3)
    spans = found["spans"]
    prompt = only(spans, name="render prompt")
    assert prompt["kind"] == "prompt"
    assert prompt["content"] == {"input_value": "refunds?", "output_value": "Answer refunds?"}
    retriever = only(spans, name="retrieve")
    assert retriever["kind"] == "retriever"
    assert retriever["content"]["documents"] == [
        {
            "id": "faq-3",
            "content": "Refunds are paid within 5 days.",
            "score": 0.91,
            "metadata": {"source": "faq.md"},
        },
        {
            "id": "faq-7",
            "content": "Shipping takes 2 days.",
            "score": 0.42,
            "metadata": {"source": "faq.md"},
        },
    ]
    listed = await client.get("/api/traces", params={"q": "shipping takes"})
    assert [t["trace_id"] for t in listed.json()["data"]] == [trace_id]
    kinds = await client.get("/api/traces", params={"attr": "openinference.span.kind=PROMPT"})
    assert [t["trace_id"] for t in kinds.json()["data"]] == [trace_id]

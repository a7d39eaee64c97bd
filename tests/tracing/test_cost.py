"""Cost: known from the gateway's prices or the price map, and unknown (never $0) otherwise.

Through the app in-process with the real ``openai`` SDK as the gateway's client and respx as
the provider, and OTLP spans posted to ``/v1/traces``; read back through the trace API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
import respx

from spyglass import Settings
from tests.conftest import running_app
from tests.tracing.test_otlp import new_trace_id, pb_request, pb_span, post_otlp, wait_for_trace
from tracing import bundled_prices, estimate_cost

UPSTREAM = "http://llm.internal/v1"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "served-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}


def prices(name: str) -> tuple[float, float]:
    """(input, output) per token, from the price map file litellm ships."""
    entry = bundled_prices()[name]
    return entry["input_cost_per_token"], entry["output_cost_per_token"]


def test_the_price_map_prices_what_the_provider_answered_with_first() -> None:
    dated_in, dated_out = prices("gpt-4o-mini-2024-07-18")
    found = estimate_cost(
        bundled_prices(),
        model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        provider="openai",
        input_tokens=1000,
        output_tokens=500,
    )
    assert found == pytest.approx(1000 * dated_in + 500 * dated_out)
    # A semconv provider name is the price map's prefix: azure.ai.openai -> azure/...
    azure_in, _ = prices("azure/gpt-4o")
    azure = estimate_cost(
        bundled_prices(),
        model="gpt-4o",
        response_model=None,
        provider="azure.ai.openai",
        input_tokens=10,
        output_tokens=0,
    )
    assert azure == pytest.approx(10 * azure_in)
    # Cached input at the cached price.
    cached = bundled_prices()["gpt-4o-mini"]["cache_read_input_token_cost"]
    with_cache = estimate_cost(
        bundled_prices(),
        model="gpt-4o-mini",
        response_model=None,
        provider=None,
        input_tokens=100,
        output_tokens=0,
        cache_read_tokens=40,
    )
    assert with_cache == pytest.approx(60 * prices("gpt-4o-mini")[0] + 40 * cached)
    for model, tokens in (("my-private-model", 10), ("gpt-4o-mini", None)):
        unknown = estimate_cost(
            bundled_prices(),
            model=model,
            response_model=None,
            provider="openai",
            input_tokens=tokens,
            output_tokens=tokens,
        )
        assert unknown is None, model


@pytest.fixture
def settings(settings_from: Callable[..., Settings]) -> Settings:
    def deployment(name: str, model: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": model, "api_base": UPSTREAM, "api_key": "k"},
        }

    return settings_from(
        {
            "model_list": [
                deployment("priced", "openai/gpt-4o-mini"),
                deployment("private", "openai/my-private-model"),
            ]
        }
    )


async def test_an_unpriced_deployment_has_an_unknown_cost_not_zero(settings: Settings) -> None:
    upstream = respx.Router(assert_all_mocked=True)
    upstream.post(f"{UPSTREAM}/chat/completions").respond(200, json=COMPLETION)
    transport = httpx.MockTransport(upstream.async_handler)
    async with running_app(settings, transport) as client:
        sdk = openai.AsyncOpenAI(
            base_url="http://spyglass.test/v1", api_key="none", http_client=client
        )
        answers = {}
        for group in ("priced", "private"):
            answers[group] = await sdk.chat.completions.with_raw_response.create(
                model=group, messages=[{"role": "user", "content": "Hi"}]
            )
        traces = {
            group: await wait_for_trace(client, answer.headers["x-spyglass-trace-id"], spans=2)
            for group, answer in answers.items()
        }
        stats = (await client.get("/api/stats", params={"group_by": "model"})).json()["data"]

    input_price, output_price = prices("gpt-4o-mini")
    expected = 1000 * input_price + 500 * output_price
    priced, private = answers["priced"], answers["private"]
    assert float(priced.headers["x-spyglass-response-cost"]) == pytest.approx(expected)
    assert "x-spyglass-response-cost" not in private.headers
    assert traces["priced"]["trace"]["cost"] == pytest.approx(expected)
    summary = traces["private"]["trace"]
    assert (summary["llm_count"], summary["unpriced_count"], summary["cost"]) == (1, 1, None)
    assert all(span["cost"] is None for span in traces["private"]["spans"])
    by_model = {row["group"]: (row["requests"], row["unpriced"]) for row in stats}
    assert by_model == {"priced": (1, 0), "private": (1, 1)}


async def test_otlp_calls_without_a_cost_are_priced_from_the_price_map(
    settings: Settings,
) -> None:
    known, unknown, mixed = new_trace_id(), new_trace_id(), new_trace_id()

    def call(trace_id: str, model: str) -> Any:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 500,
        }
        return pb_span(f"chat {model}", trace_id=trace_id, attributes=attributes)

    async with running_app(settings) as client:
        await post_otlp(
            client,
            pb_request(
                call(known, "gpt-4o-mini"),
                call(unknown, "my-private-model"),
                call(mixed, "gpt-4o-mini"),
                call(mixed, "my-private-model"),
            ),
        )
        found = {t: await wait_for_trace(client, t) for t in (known, unknown)}
        found[mixed] = await wait_for_trace(client, mixed, spans=2)
        listed = (await client.get("/api/traces", params={"limit": 10})).json()["data"]

    input_price, output_price = prices("gpt-4o-mini")
    expected = 1000 * input_price + 500 * output_price
    (span,) = found[known]["spans"]
    assert span["cost"] == pytest.approx(expected)
    assert span["attributes"]["spyglass.cost.source"] == "price_map"
    assert found[known]["trace"]["cost"] == pytest.approx(expected)
    (span,) = found[unknown]["spans"]
    assert span["cost"] is None and "spyglass.cost.source" not in span["attributes"]
    assert (found[unknown]["trace"]["cost"], found[unknown]["trace"]["unpriced_count"]) == (None, 1)
    # Some calls priced: the known part, with how many are not.
    assert found[mixed]["trace"]["cost"] == pytest.approx(expected)
    assert found[mixed]["trace"]["unpriced_count"] == 1
    # The list says the same as the trace.
    costs = {t["trace_id"]: t["cost"] for t in listed}
    assert costs[unknown] is None and costs[known] == pytest.approx(expected)
    assert json.dumps(listed)  # null, not NaN: valid JSON for every client

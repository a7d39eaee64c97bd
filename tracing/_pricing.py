"""Prices per token from litellm's bundled price map, read offline without importing litellm.

The gateway prices each deployment from it (with the config's overrides); the trace store
prices LLM spans that arrived over OTLP with a model and token counts but no cost, from the
same map, as Langfuse does. A call no price is known for has no cost (``None``), never ``0``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import orjson

__all__ = ["bundled_prices", "estimate_cost", "find_prices", "load_price_map", "token_cost"]

_MAP_FILE = "model_prices_and_context_window_backup.json"


def load_price_map() -> dict[str, Any]:
    """litellm's price map as shipped in the installed package ({} if it is missing)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for location in spec.submodule_search_locations:
        path = Path(location) / _MAP_FILE
        if path.is_file():
            data = orjson.loads(path.read_bytes())
            return data if isinstance(data, dict) else {}
    return {}


@functools.cache
def bundled_prices() -> dict[str, Any]:
    """``load_price_map()`` read once per process (about 70 ms, 3 MB): it never changes."""
    return load_price_map()


def find_prices(price_map: dict[str, Any], *names: str | None) -> dict[str, Any]:
    """The first price-map entry among ``names`` (full ``provider/model`` names first)."""
    for name in names:
        if not name:
            continue
        entry = price_map.get(name)
        if isinstance(entry, dict):
            return entry
    return {}


def token_cost(
    input_price: float,
    output_price: float,
    cache_read_price: float | None,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
) -> float:
    """USD for token counts at per-token prices; cached input at its own price if it has one."""
    cached = cache_read_price if cache_read_price is not None else input_price
    uncached = max(input_tokens - cache_read_tokens, 0)
    return uncached * input_price + cache_read_tokens * cached + output_tokens * output_price


# The GenAI semconv's provider names, as the price map's prefixes spell them.
_PREFIXES = {
    "aws.bedrock": "bedrock",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure_ai",
    "gcp.vertex_ai": "vertex_ai",
    "gcp.gemini": "gemini",
    "gcp.gen_ai": "gemini",
    "x_ai": "xai",
}


def estimate_cost(
    price_map: dict[str, Any],
    *,
    model: str | None,
    response_model: str | None,
    provider: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
) -> float | None:
    """A call's cost from the price map, or ``None`` when its model or its usage is unknown.

    The model the provider answered with is tried first (``gpt-4o-mini-2024-07-18`` is
    priced exactly), then the one asked for; each as ``provider/model``, then bare.
    """
    if input_tokens is None and output_tokens is None:
        return None
    prefix = _PREFIXES.get(provider or "", provider)
    names: list[str | None] = []
    for name in (response_model, model):
        if name:
            names += [f"{prefix}/{name}" if prefix else None, name, name.partition("/")[2]]
    prices = find_prices(price_map, *names)
    input_price = prices.get("input_cost_per_token")
    output_price = prices.get("output_cost_per_token", 0.0)
    if not isinstance(input_price, int | float) or not isinstance(output_price, int | float):
        return None
    cache_price = prices.get("cache_read_input_token_cost")
    return token_cost(
        float(input_price),
        float(output_price),
        float(cache_price) if isinstance(cache_price, int | float) else None,
        input_tokens or 0,
        output_tokens or 0,
        cache_read_tokens or 0,
    )

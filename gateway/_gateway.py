"""The gateway object: deployments built from config, their adapters, and the router."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ._config import DeploymentParams, GatewayConfig, ModelEntry
from ._deployment import (
    REQUEST_DEFAULT_KEYS,
    Deployment,
    ProviderAdapter,
    deployment_id,
    split_provider,
)
from ._mock import MockAdapter
from ._passthrough import OPENAI_COMPATIBLE, PassthroughAdapter
from ._pricing import find_prices, load_price_map
from ._router import Router
from .errors import ConfigError

log = logging.getLogger("spyglass.gateway")


def uses_passthrough(params: DeploymentParams) -> bool:
    """Whether a deployment takes the fast OpenAI-compatible path."""
    if params.passthrough is not None:
        return params.passthrough
    provider, _ = split_provider(params.model)
    return provider in OPENAI_COMPATIBLE


class Gateway:
    """Everything a request needs: the router over deployments, with their adapters.

    Args:
        config: the model list and router settings.
        http_client: the client the fast path sends with; its transport is what tests replace.
        router_kwargs: passed to :class:`Router` (tests give a clock, sleep and rng).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        http_client: httpx.AsyncClient,
        **router_kwargs: Any,
    ) -> None:
        self.config = config
        self._passthrough = PassthroughAdapter(http_client)
        self._mock = MockAdapter()
        self._litellm: ProviderAdapter | None = None
        price_map = load_price_map() if config.model_list else {}
        deployments = [
            self._deployment(index, entry, price_map)
            for index, entry in enumerate(config.model_list)
        ]
        self.router = Router(deployments, config.router_settings, **router_kwargs)
        for group, targets in _fallback_targets(config).items():
            missing = [t for t in targets if t not in self.router.groups]
            if missing:
                raise ConfigError(
                    f"router_settings: fallbacks of `{group}` name unknown model group(s) "
                    + ", ".join(f"`{m}`" for m in missing)
                )

    @property
    def uses_litellm(self) -> bool:
        return self._litellm is not None

    def _adapter(self, params: DeploymentParams) -> ProviderAdapter:
        provider, _ = split_provider(params.model)
        if provider == "mock":
            return self._mock
        if uses_passthrough(params):
            return self._passthrough
        if self._litellm is None:
            from ._litellm import LitellmAdapter

            self._litellm = LitellmAdapter()
        return self._litellm

    def _deployment(self, index: int, entry: ModelEntry, price_map: dict[str, Any]) -> Deployment:
        params = entry.litellm_params
        provider, upstream_model = split_provider(params.model)
        if (
            provider in OPENAI_COMPATIBLE
            and not OPENAI_COMPATIBLE[provider]
            and not params.api_base
        ):
            raise ConfigError(
                f"model_list[{index}].litellm_params.api_base: required for provider `{provider}`"
            )
        prices = find_prices(
            price_map,
            params.model,
            upstream_model,
            entry.model_info.get("base_model"),
        )
        priced = (
            bool(prices)
            or params.input_cost_per_token is not None
            or "input_cost_per_token" in entry.model_info
        )
        if not priced and provider != "mock":
            log.warning(
                "model_list[%d] (%s): %s is not in litellm's price map; its cost counts as 0 "
                "unless litellm_params sets input_cost_per_token and output_cost_per_token",
                index,
                entry.model_name,
                params.model,
            )
        weight = (
            params.weight if params.weight is not None else float(params.rpm or params.tpm or 1)
        )
        defaults = {k: v for k, v in params.extras().items() if k in REQUEST_DEFAULT_KEYS}
        return Deployment(
            id=deployment_id(index, entry),
            group=entry.model_name,
            params=params,
            provider=provider,
            upstream_model=upstream_model,
            adapter=self._adapter(params),
            weight=weight,
            request_defaults=defaults,
            model_info=entry.model_info,
            input_cost_per_token=_price(
                params.input_cost_per_token, entry, prices, "input_cost_per_token"
            ),
            output_cost_per_token=_price(
                params.output_cost_per_token, entry, prices, "output_cost_per_token"
            ),
            cache_read_cost_per_token=prices.get("cache_read_input_token_cost"),
        )

    async def aclose(self) -> None:
        """Release adapters (the HTTP client is the app's to close)."""
        for adapter in (self._passthrough, self._mock, self._litellm):
            if adapter is not None:
                await adapter.aclose()


def _price(override: float | None, entry: ModelEntry, prices: dict[str, Any], key: str) -> float:
    """Config first (litellm_params, then model_info), then litellm's price map, else 0."""
    if override is not None:
        return override
    for source in (entry.model_info, prices):
        value = source.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def _fallback_targets(config: GatewayConfig) -> dict[str, list[str]]:
    settings = config.router_settings
    merged: dict[str, list[str]] = {}
    for entries in (settings.fallbacks, settings.context_window_fallbacks):
        for entry in entries:
            for group, targets in entry.items():
                merged.setdefault(group, []).extend(targets)
    if settings.default_fallbacks:
        merged.setdefault("default_fallbacks", []).extend(settings.default_fallbacks)
    return merged

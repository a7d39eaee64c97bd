"""The gateway object: deployments built from config, their adapters, and the router."""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr

from tracing import bundled_prices, find_prices

from ._auth import Access
from ._cache import build_cache
from ._config import DeploymentParams, GatewayConfig, ModelEntry
from ._deployment import (
    REQUEST_DEFAULT_KEYS,
    Deployment,
    ProviderAdapter,
    deployment_id,
    split_provider,
)
from ._mock import MockAdapter
from ._passthrough import KEY_VARIABLES, OPENAI_COMPATIBLE, PassthroughAdapter
from ._prompting import PromptSource
from ._router import Router
from ._telemetry import Telemetry
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
        transport: what the fast path sends through (aiohttp's in production; tests give respx's).
        tracer_provider: where request and attempt spans go (none: no spans).
        capture_content: record messages on spans (a request may still opt out by header).
        prompts: where chat requests naming a registry prompt get it from (none: such
            requests are refused).
        redis: a ``redis.asyncio.Redis`` for state replicas share (limits, budgets, cache);
            None keeps that state in this process.
        access: authentication, limits and budgets (None: open, no limits).
        router_kwargs: passed to :class:`Router` (tests give a clock, sleep and rng).

    Raises:
        ConfigError: the configuration is inconsistent (unknown fallbacks, a Redis cache
            without Redis...).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        transport: httpx.AsyncBaseTransport,
        tracer_provider: TracerProvider | None = None,
        capture_content: bool = True,
        prompts: PromptSource | None = None,
        redis: Any = None,
        access: Access | None = None,
        **router_kwargs: Any,
    ) -> None:
        problems = check_config(config)
        if problems:
            raise ConfigError("; ".join(f"{key}: {message}" for key, message in problems))
        self.config = config
        self.prompts = prompts
        self.redis = redis
        self.access = access
        self.cache = build_cache(config.cache, redis)
        self.telemetry = Telemetry(tracer_provider, capture_content=capture_content)
        self._passthrough = PassthroughAdapter(transport)
        self._mock = MockAdapter()
        self._litellm: ProviderAdapter | None = None
        price_map = bundled_prices() if config.model_list else {}
        deployments = [
            self._deployment(index, entry, price_map)
            for index, entry in enumerate(config.model_list)
        ]
        self.router = Router(deployments, config.router_settings, **router_kwargs)

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
        if params.api_key is None and uses_passthrough(params):
            # Like LiteLLM: without api_key, the provider's usual variable supplies it.
            for variable in KEY_VARIABLES.get(provider, ()):
                if os.environ.get(variable):
                    params = params.model_copy(update={"api_key": SecretStr(os.environ[variable])})
                    break
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
                "model_list[%d] (%s): %s is not in litellm's price map; its cost is unknown "
                "(not counted in budgets) unless litellm_params sets input_cost_per_token and "
                "output_cost_per_token",
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
            cache_read_cost_per_token=_cache_read_price(params, entry, prices),
            priced=priced or provider == "mock",  # the mock is free unless priced
        )

    async def aclose(self) -> None:
        """Release adapters (the HTTP client is the app's to close)."""
        for adapter in (self._passthrough, self._mock, self._litellm):
            if adapter is not None:
                await adapter.aclose()


def _cache_read_price(
    params: DeploymentParams, entry: ModelEntry, prices: dict[str, Any]
) -> float | None:
    """The cached-input price: configured, else the map's unless the input price was overridden."""
    if params.cache_read_input_token_cost is not None:
        return params.cache_read_input_token_cost
    overridden = (
        params.input_cost_per_token is not None or "input_cost_per_token" in entry.model_info
    )
    value = entry.model_info.get("cache_read_input_token_cost")
    if value is None and not overridden:
        value = prices.get("cache_read_input_token_cost")
    return float(value) if isinstance(value, int | float) else None


def _price(override: float | None, entry: ModelEntry, prices: dict[str, Any], key: str) -> float:
    """Config first (litellm_params, then model_info), then litellm's price map, else 0."""
    if override is not None:
        return override
    for source in (entry.model_info, prices):
        value = source.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def check_config(config: GatewayConfig) -> list[tuple[str, str]]:
    """Problems no single field can see: (dotted key, message) pairs, empty when consistent."""
    problems: list[tuple[str, str]] = []
    groups = {entry.model_name for entry in config.model_list}
    for index, entry in enumerate(config.model_list):
        params = entry.litellm_params
        provider, _ = split_provider(params.model)
        needs_base = provider in OPENAI_COMPATIBLE and not OPENAI_COMPATIBLE[provider]
        custom = params.passthrough and provider not in OPENAI_COMPATIBLE
        if (needs_base or custom) and not params.api_base:
            key = f"model_list[{index}].litellm_params.api_base"
            problems.append((key, f"required for provider `{provider or params.model}`"))
    settings = config.router_settings
    for section in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        for position, entry in enumerate(getattr(settings, section)):
            for group, targets in entry.items():
                for target in [group, *targets]:
                    if target not in groups:
                        key = f"router_settings.{section}[{position}]"
                        problems.append((key, f"unknown model group `{target}`"))
    for position, target in enumerate(settings.default_fallbacks):
        if target not in groups:
            key = f"router_settings.default_fallbacks[{position}]"
            problems.append((key, f"unknown model group `{target}`"))
    for alias, aliased in settings.model_group_alias.items():
        name = aliased if isinstance(aliased, str) else aliased.model
        if name not in groups:
            key = f"router_settings.model_group_alias.{alias}"
            problems.append((key, f"unknown model group `{name}`"))
    return problems

"""The gateway's configuration: LiteLLM proxy's ``model_list`` and ``router_settings``, as is.

A LiteLLM proxy user can start Spyglass on their existing file: every key LiteLLM documents
for these two sections is accepted. Provider-specific keys inside ``litellm_params``
(``aws_region_name``, ``vertex_project``...) are kept and handed to the provider; keys
Spyglass does not use elsewhere produce a warning, collected by :func:`unknown_keys`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = [
    "CacheConfig",
    "DeploymentParams",
    "GatewayConfig",
    "ModelEntry",
    "RouterSettings",
    "unknown_keys",
]

RoutingStrategy = Literal[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
]


class DeploymentParams(BaseModel):
    """``litellm_params`` of one deployment: where and how to call the provider.

    Unknown keys are allowed: they are provider parameters (passed to litellm) or request
    defaults (``temperature``...) applied when the client does not set them.
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="provider/model, e.g. openai/gpt-4o-mini or mock/demo")
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    organization: str | None = None
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    weight: float | None = Field(default=None, ge=0)
    max_retries: int | None = Field(default=None, ge=0)
    extra_headers: dict[str, str] | None = None
    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost: float | None = Field(default=None, ge=0)
    # Spyglass: force the passthrough (true) or litellm (false) path; None decides by provider.
    passthrough: bool | None = None
    # Spyglass: ask OpenAI-compatible upstreams for usage on streams (stream_options).
    stream_usage: bool = True

    @field_validator("model")
    @classmethod
    def _model_has_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model, e.g. openai/gpt-4o-mini")
        return value

    def extras(self) -> dict[str, Any]:
        """The keys beyond the declared fields, as given."""
        return dict(self.model_extra or {})


class ModelEntry(BaseModel):
    """One entry of ``model_list``: a deployment serving the model group ``model_name``."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    litellm_params: DeploymentParams
    model_info: dict[str, Any] = Field(default_factory=dict)


class AliasTarget(BaseModel):
    """LiteLLM's long form of an alias: ``{model: group, hidden: true}`` keeps it off /v1/models."""

    model: str
    hidden: bool = False


class RouterSettings(BaseModel):
    """``router_settings``: how a model group picks deployments, retries and falls back."""

    model_config = ConfigDict(extra="allow")

    routing_strategy: RoutingStrategy = "simple-shuffle"
    num_retries: int = Field(default=2, ge=0, le=20)
    timeout: float = Field(default=600.0, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    retry_after: float = Field(default=0.0, ge=0, description="minimum wait between retries")
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    context_window_fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    content_policy_fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    default_fallbacks: list[str] = Field(default_factory=list)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: float = Field(default=5.0, ge=0)
    model_group_alias: dict[str, str | AliasTarget] = Field(default_factory=dict)
    # Spyglass: backoff between retries is min(cap, base * 2**attempt) with full jitter.
    retry_backoff_base: float = Field(default=0.5, ge=0)
    retry_backoff_max: float = Field(default=8.0, ge=0)


class CacheConfig(BaseModel):
    """``cache:``: the exact-match response cache (off unless ``enabled``).

    LiteLLM's ``litellm_settings: {cache: true, cache_params: {...}}`` is accepted too and
    folded in by the settings.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="answer repeated requests from the cache")
    backend: Literal["auto", "memory", "redis"] = Field(
        default="auto", description="auto: Redis when redis_url is set, else this process' memory"
    )
    ttl: float = Field(default=600.0, gt=0, description="seconds an answer stays cached")
    namespace: str = Field(default="spyglass", min_length=1, description="prefix of the Redis keys")
    max_entries: int = Field(default=10_000, ge=1, description="in-memory backend: LRU bound")
    max_memory_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1024, description="in-memory backend: bound on stored bytes"
    )
    max_entry_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="larger answers are not cached"
    )


class GatewayConfig(BaseModel):
    """What the gateway needs from the settings."""

    model_list: list[ModelEntry] = Field(default_factory=list)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    max_request_body_bytes: int = 10 * 1024 * 1024
    cache: CacheConfig = Field(default_factory=CacheConfig)


def unknown_keys(config: GatewayConfig) -> list[str]:
    """Dotted paths of keys the gateway does not understand (for warnings)."""
    found = [
        f"model_list[{i}].{key}"
        for i, entry in enumerate(config.model_list)
        for key in entry.model_extra or {}
    ]
    found += [f"router_settings.{key}" for key in config.router_settings.model_extra or {}]
    return found

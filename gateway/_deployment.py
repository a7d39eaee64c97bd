"""A deployment: one configured way to serve a model group, with its live health figures."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracing import token_cost

from ._config import DeploymentParams, ModelEntry
from ._upstream import Operation, UpstreamResponse, UpstreamStream

# Request parameters a deployment's litellm_params may set as defaults for its calls.
REQUEST_DEFAULT_KEYS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "seed",
        "reasoning_effort",
        "response_format",
        "user",
        "n",
        "logit_bias",
    }
)


class ProviderAdapter(Protocol):
    """Calls one kind of provider and answers in OpenAI's format.

    Adapters raise :class:`gateway.errors.UpstreamError` subclasses for every failure.
    """

    name: str

    async def send(
        self, op: Operation, dep: Deployment, body: dict[str, Any], timeout: float
    ) -> UpstreamResponse: ...

    async def stream(
        self,
        op: Operation,
        dep: Deployment,
        body: dict[str, Any],
        timeout: float,
        *,
        client_wants_usage: bool,
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


@dataclass(eq=False)
class Deployment:
    """One ``model_list`` entry, resolved, with the figures routing decides on."""

    id: str
    group: str
    params: DeploymentParams
    provider: str
    upstream_model: str
    adapter: ProviderAdapter
    weight: float
    request_defaults: dict[str, Any]
    model_info: dict[str, Any]
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    cache_read_cost_per_token: float | None = None
    priced: bool = True  # False: no price is known, so its calls' cost is unknown (None)
    # live state
    in_flight: int = 0
    latency_ewma: float | None = None
    cooldown_until: float = 0.0
    failures: deque[float] = field(default_factory=deque)
    minute: int = -1
    minute_requests: int = 0
    minute_tokens: int = 0

    @property
    def name(self) -> str:
        """``group/provider-model``, safe to show: names no secret."""
        return f"{self.group}:{self.params.model}"

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0
    ) -> float | None:
        """USD for the given token counts at this deployment's prices; None when unpriced."""
        if not self.priced:
            return None
        return token_cost(
            self.input_cost_per_token,
            self.output_cost_per_token,
            self.cache_read_cost_per_token,
            input_tokens,
            output_tokens,
            cache_read_tokens,
        )

    def secrets(self) -> list[str]:
        """Secret values of this deployment, for scrubbing them from provider messages."""
        found = []
        if self.params.api_key is not None:
            found.append(self.params.api_key.get_secret_value())
        for key, value in self.params.extras().items():
            if isinstance(value, str) and _looks_secret(key):
                found.append(value)
        return [s for s in found if len(s) >= 4]


def _looks_secret(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in ("key", "secret", "token", "password", "credential"))


def deployment_id(index: int, entry: ModelEntry) -> str:
    """``model_info.id`` if given, else a stable id that does not depend on secrets."""
    given = entry.model_info.get("id")
    if isinstance(given, str) and given:
        return given
    basis = (
        f"{index}|{entry.model_name}|{entry.litellm_params.model}|{entry.litellm_params.api_base}"
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def split_provider(model: str) -> tuple[str, str]:
    """``openai/gpt-4o`` -> (``openai``, ``gpt-4o``); a bare name's provider is guessed."""
    provider, sep, rest = model.partition("/")
    if sep:
        return provider, rest
    bare = model.lower()
    if bare.startswith(
        ("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci", "babbage")
    ):
        return "openai", model
    if bare.startswith("claude"):
        return "anthropic", model
    if bare.startswith("gemini"):
        return "gemini", model
    return "", model

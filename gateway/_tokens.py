"""Counting a request's input tokens without calling a model: Anthropic's
``POST /v1/messages/count_tokens``, on any model group.

The mock provider counts as it charges. Other providers are counted by litellm's
``token_counter`` with the tokenizer it bundles for the model (Anthropic's for Claude,
tiktoken's for OpenAI's and as the fallback), offline: an estimate where the provider's own
tokenizer is not public, as for current Claude models.
"""

from __future__ import annotations

from typing import Any

from ._deployment import Deployment
from ._litellm import import_litellm
from ._mock import prompt_tokens

__all__ = ["count_input_tokens"]


def count_input_tokens(dep: Deployment, body: dict[str, Any]) -> int:
    """The input tokens of an OpenAI chat body sent to ``dep`` (blocking: litellm's first
    import takes a second or two, so call it off the event loop)."""
    if dep.provider == "mock":
        return prompt_tokens(dep, body)
    litellm = import_litellm()
    counted = litellm.token_counter(
        model=f"{dep.provider}/{dep.upstream_model}",
        messages=body.get("messages") or [],
        tools=body.get("tools"),
    )
    return int(counted)

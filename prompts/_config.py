"""The registry's settings, one section of Spyglass's config file (``prompts:``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PromptsConfig"]


class PromptsConfig(BaseModel):
    """How the gateway resolves prompts that requests name."""

    model_config = ConfigDict(extra="forbid")

    cache_ttl: float = Field(
        default=10.0,
        ge=0,
        description="seconds the gateway reuses a resolved prompt version before asking the "
        "store again (a moved label takes effect within this time)",
    )

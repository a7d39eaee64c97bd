"""Access settings: the master key, team limits and budget alerts (config section ``auth:``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["AuthConfig", "BudgetAlerts", "TeamLimits", "parse_period"]

_PERIOD = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_period(value: str | int | float) -> int:
    """``30d``, ``12h``, ``1w`` (or seconds) as seconds; a ValueError names what is expected."""
    if isinstance(value, bool):
        raise ValueError("expected a period such as 30d, 12h or 1w")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        match = _PERIOD.fullmatch(value.strip().lower())
        if match is None:
            raise ValueError(f"expected a period such as 30d, 12h or 1w, got {value!r}")
        seconds = int(match[1]) * _UNITS[match[2]]
    if seconds < 60:
        raise ValueError("a period must be at least a minute")
    return seconds


class TeamLimits(BaseModel):
    """Limits shared by every key of one team."""

    model_config = ConfigDict(extra="forbid")

    rpm: int | None = Field(default=None, ge=1, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute")
    budget_usd: float | None = Field(default=None, ge=0, description="spend allowed per period")
    budget_period: str = Field(default="30d", description="how often the budget resets")

    @field_validator("budget_period")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(value)
        return value


class BudgetAlerts(BaseModel):
    """A webhook called when a key's or team's spend crosses a share of its budget."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="POSTed a JSON event once per threshold per period")
    thresholds: list[float] = Field(default=[0.8, 1.0], description="shares of the budget")

    @field_validator("thresholds")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < t <= 10 for t in value):
            raise ValueError("thresholds are shares of the budget, e.g. [0.5, 0.8, 1.0]")
        return sorted(value)


class AuthConfig(BaseModel):
    """Who may call: the master key turns authentication on everywhere."""

    model_config = ConfigDict(extra="forbid")

    master_key: SecretStr | None = Field(
        default=None,
        description="admin key; when set, every route but /health needs a key "
        "(also SPYGLASS_MASTER_KEY or general_settings.master_key)",
    )
    key_cache_ttl: float = Field(
        default=5.0, ge=0, description="seconds a looked-up key is reused (revocation delay)"
    )
    teams: dict[str, TeamLimits] = Field(default_factory=dict)
    budget_alerts: BudgetAlerts | None = None
    feedback_origins: list[str] = Field(
        default_factory=list,
        description="web origins (https://app.example.com) whose pages may POST /api/scores "
        "from the browser (CORS), with a feedback key; '*' for any",
    )

    @field_validator("feedback_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(
                    f"expected an origin such as https://app.example.com (no path), got {origin!r}"
                )
        return value

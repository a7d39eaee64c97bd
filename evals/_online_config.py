"""The ``online_evals:`` section: rules that score production traces as they arrive.

A rule says which traces (by model, prompt, root span name, project, metadata), how many of
them (``sample_rate``, decided by the trace id, so every replica decides alike), how long to
wait for the rest of a trace (``delay_seconds``), and the scorers: the same entries as an eval
file's ``scorers:``. Only the shape is checked here; ``OnlineEvaluator`` builds the scorers and
checks their models against the gateway at startup, naming ``online_evals.rules[i]...``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["OnlineEvalConfig", "OnlineRule", "RuleFilter"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class RuleFilter(BaseModel):
    """Which traces a rule takes: every key given must match (all of them: AND)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="the trace's (first) model")
    prompt: str | None = Field(
        default=None,
        description="a prompt name, name/version, or name@label (the version the label holds)",
    )
    name: str | None = Field(default=None, description="the root span's name")
    project: str | None = None
    service: str | None = Field(default=None, description="the root span's service.name")
    status: str | None = Field(default=None, description="ok or error")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="span attributes that must equal these values"
    )


class OnlineRule(BaseModel):
    """One rule: which traces, how many, when, and how they are scored."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="names the rule's scores (scorer: RULE/NAME)")
    filter: RuleFilter = Field(default_factory=RuleFilter, alias="where")
    sample_rate: float = Field(default=1.0, ge=0, le=1)
    delay_seconds: float = Field(
        default=10.0, ge=0, description="wait this long after a trace arrives for its other spans"
    )
    scorers: list[dict[str, Any]] = Field(min_length=1)
    enabled: bool = True

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OnlineEvalConfig(BaseModel):
    """Online evaluation: the rules, and the queue and workers that apply them."""

    model_config = ConfigDict(extra="forbid")

    rules: list[OnlineRule] = Field(default_factory=list)
    queue_size: int = Field(
        default=100_000, ge=1, description="pending traces kept; more are dropped (and counted)"
    )
    concurrency: int = Field(default=8, ge=1, le=256, description="traces scored at once")
    batch_size: int = Field(default=200, ge=1, le=10_000, description="traces claimed at once")
    poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    lease_seconds: float = Field(
        default=120.0, gt=0, description="a claimed trace another replica may take after this"
    )
    busy_lag_seconds: float = Field(
        default=0.002,
        gt=0,
        description="the worker waits while the server's event loop lags more than this "
        "(requests first; the queue catches up after)",
    )

    @field_validator("rules")
    @classmethod
    def _distinct(cls, rules: list[OnlineRule]) -> list[OnlineRule]:
        seen: set[str] = set()
        for index, rule in enumerate(rules):
            if rule.name in seen:
                raise ValueError(f"rules[{index}].name: a second rule named {rule.name!r}")
            seen.add(rule.name)
        return rules

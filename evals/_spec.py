"""The eval file's shape: dataset, variants (or a matrix), scorers and settings.

Only the shape is checked here (pydantic); whether models, prompts, columns and variables
exist is checked against the gateway, the registry and the dataset by ``_plan``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._source import EvalSource
from .errors import EvalConfigError

__all__ = [
    "DatasetSpec",
    "EvalSettings",
    "EvalSpec",
    "InlinePrompt",
    "MatrixSpec",
    "VariantSpec",
    "parse_spec",
]

DatasetFormat = Literal["csv", "json", "jsonl", "parquet", "saved", "hub"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    """Where the rows come from: exactly one of ``path``, ``name`` (local HF cache), ``rows``
    or ``registry`` (a dataset of the store, at ``version``)."""

    path: str | None = Field(
        default=None, description="CSV, JSON Lines, JSON, Parquet file or a saved dataset dir"
    )
    name: str | None = Field(default=None, description="a dataset in the local HF cache")
    subset: str | None = Field(default=None, description="the HF configuration (subset)")
    cache_dir: str | None = Field(
        default=None, description="the HF datasets cache `name` is looked up in (default: HF's)"
    )
    rows: list[dict[str, Any]] | None = None
    registry: str | None = Field(default=None, description="a dataset in Spyglass's registry")
    version: int | Literal["latest"] | None = Field(
        default=None, description="the registry dataset's version (default: latest)"
    )
    format: DatasetFormat | None = None
    split: str | None = None
    columns: dict[str, str] = Field(
        default_factory=dict, description="variable name -> dataset column"
    )
    expected: str | None = Field(
        default=None, description="the column holding the expected output (default: expected)"
    )
    limit: int | None = Field(default=None, ge=1)
    shuffle: int | None = Field(default=None, description="shuffle with this seed")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        given = [k for k in ("path", "name", "rows", "registry") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `path`, `name`, `rows` or `registry`"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.version is not None and self.registry is None:
            raise ValueError("`version` is a registry dataset's: give `registry` too")
        if isinstance(self.version, int) and self.version < 1:
            raise ValueError("`version` starts at 1")
        return self


class InlinePrompt(_Strict):
    """A template written in the eval file: text, or a list of chat messages."""

    name: str | None = None
    template: str | list[dict[str, Any]]
    engine: Literal["mustache", "jinja2"] = "mustache"


PromptSpec = str | InlinePrompt


class VariantSpec(_Strict):
    """One thing compared: a prompt (registry ref or inline), a model, params."""

    name: str | None = None
    prompt: PromptSpec
    model: str | None = Field(default=None, description="a gateway model name")
    params: dict[str, Any] = Field(default_factory=dict)


class MatrixSpec(_Strict):
    """Shorthand: every prompt with every model (and the same params)."""

    prompts: list[PromptSpec] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class EvalSettings(_Strict):
    """How the runner calls the gateway."""

    concurrency: int = Field(default=8, ge=1, le=1024)
    repeats: int = Field(default=1, ge=1, le=100)
    timeout: float = Field(default=60.0, gt=0, description="seconds per call")
    retries: int = Field(default=3, ge=0, le=20)
    rpm: int | None = Field(default=None, ge=1, description="requests per minute, all variants")
    cache: bool = True


class EvalSpec(_Strict):
    """A whole eval file."""

    name: str | None = None
    description: str | None = None
    dataset: DatasetSpec
    variants: list[VariantSpec] = Field(default_factory=list)
    matrix: MatrixSpec | None = None
    scorers: list[dict[str, Any]] = Field(default_factory=list)
    settings: EvalSettings = Field(default_factory=EvalSettings)


def parse_spec(source: EvalSource) -> EvalSpec:
    """The file's values as an ``EvalSpec``.

    Raises:
        EvalConfigError: every shape error at once, each as ``file:line: key: problem``.
    """
    problems = []
    if not source.values.get("variants") and not source.values.get("matrix"):
        problems.append(f"{source.where(())}: give `variants` or `matrix` (what to compare)")
    try:
        spec = EvalSpec.model_validate(source.values)
    except ValidationError as exc:
        for error in exc.errors():
            # Union members add their type to the location (`str`, `InlinePrompt`).
            loc = tuple(
                p
                for p in error["loc"]
                if not (isinstance(p, str) and (p[:1].isupper() or p in ("str", "list[dict]")))
            )
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required key is missing"
            elif error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{source.where(loc)}: {message}")
    if problems:
        # A union's members each report; the same line once is enough.
        unique = list(dict.fromkeys(problems))
        raise EvalConfigError("invalid eval file:\n  " + "\n  ".join(unique)) from None
    return spec

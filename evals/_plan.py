"""From an eval file to a plan: variants resolved, dataset loaded, scorers built, all checked.

Every problem in the file is found before any model is called, and all are reported at once,
each naming its place (``evals/qa.yaml:14: variants[1].model: unknown model 'gpt-5'``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompts import PromptError, Template

from ._dataset import LoadedDataset, Registry, load_rows
from ._source import EvalSource
from ._spec import EvalSettings, EvalSpec, InlinePrompt, VariantSpec, parse_spec
from .errors import DatasetError, EvalConfigError

if TYPE_CHECKING:
    from prompts import ProjectPrompts, PromptStore

    from ._scoring import Scorer

__all__ = ["EvalPlan", "ScorerFactory", "Variant", "build_plan"]

ScorerFactory = Callable[..., "Scorer"]


@dataclass(frozen=True)
class Variant:
    """One resolved variant: a template pinned to a version, a model and its params."""

    name: str
    model: str
    params: dict[str, Any]
    template: Template
    prompt_name: str | None = None
    prompt_version: int | None = None
    spec: dict[str, Any] | None = None

    @property
    def prompt_ref(self) -> str | None:
        """``name/version`` for a registry prompt, None for an inline one."""
        if self.prompt_name is None or self.prompt_version is None:
            return None
        return f"{self.prompt_name}/{self.prompt_version}"

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The chat messages for one row (a text template becomes one user message)."""
        variables = {name: row[name] for name in self.template.variables}
        value = self.template.render(variables, where=f"variant {self.name}").value
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
        return value


@dataclass
class EvalPlan:
    """Everything a run needs, checked."""

    name: str
    description: str | None
    source: EvalSource
    spec: EvalSpec
    dataset: LoadedDataset
    variants: list[Variant]
    scorers: list[Scorer]
    expected_column: str | None

    @property
    def settings(self) -> EvalSettings:
        """Concurrency, repeats, timeout, retries, rpm, cache."""
        return self.spec.settings


def _default_factory() -> ScorerFactory:
    from ._scorers import build_scorer

    return build_scorer


def build_plan(
    source: EvalSource,
    *,
    prompts: PromptStore | ProjectPrompts | None,
    models: Collection[str] | None,
    limit: int | None = None,
    only: Sequence[str] = (),
    scorer_factory: ScorerFactory | None = None,
    isolated: bool = False,
    datasets: Registry | None = None,
) -> EvalPlan:
    """Check the whole file and resolve it into a plan.

    Args:
        source: the parsed eval file.
        prompts: the registry registry references are resolved in (None: no registry).
        models: the gateway's model names (None: not checked).
        limit: at most this many rows (``--limit``).
        only: run just these variants (``--variant``).
        scorer_factory: builds a scorer from its spec; the built-in registry by default.
        isolated: load the dataset in a child process (keeps ``datasets`` out of this one).
        datasets: reads registry datasets from the store (``dataset: {registry: NAME}``).

    Raises:
        EvalConfigError: listing every problem found, each with its place.
    """
    spec = parse_spec(source)
    problems: list[str] = []
    dataset: LoadedDataset | None = None
    try:
        dataset = load_rows(
            spec.dataset, source.directory, limit=limit, isolated=isolated, registry=datasets
        )
    except DatasetError as exc:
        path = tuple((exc.where or "dataset").split("."))
        problems.append(f"{source.where(path)}: {exc.message}")
    columns = set(dataset.columns) if dataset is not None else None

    variants = _variants(spec, source, prompts, models, columns, problems)
    if only:
        names = {v.name for v in variants}
        for name in only:
            if name not in names:
                problems.append(
                    f"--variant: no variant named {name!r} (variants: {', '.join(names)})"
                )
        variants = [v for v in variants if v.name in only]

    factory = scorer_factory or _default_factory()
    scorers: list[Scorer] = []
    for index, scorer_spec in enumerate(spec.scorers):
        where = source.where(("scorers", index))
        try:
            scorer = factory(scorer_spec, where=where, prompts=prompts, base_dir=source.directory)
        except EvalConfigError as exc:
            problems.append(str(exc))
            continue
        if any(s.name == scorer.name for s in scorers):
            problems.append(f"{where}: a second scorer named {scorer.name!r}: set `name`")
        for column in scorer.columns:
            if columns is not None and column not in columns:
                problems.append(f"{where}: column {column!r} is not in the dataset")
        for model in scorer.models:
            if models is not None and model not in models:
                problems.append(f"{where}: unknown model {model!r}{_known(models)}")
        scorers.append(scorer)

    expected = spec.dataset.expected
    if expected is not None and columns is not None and expected not in columns:
        problems.append(
            f"{source.where(('dataset', 'expected'))}: column {expected!r} is not in the dataset"
        )
    if expected is None and columns is not None and "expected" in columns:
        expected = "expected"
    if expected is None and columns is not None:
        for index, scorer in enumerate(scorers):
            if getattr(scorer, "expects", False):
                problems.append(
                    f"{source.where(('scorers', index))}: {scorer.name} compares with the "
                    "expected output, but the dataset has no `expected` column: set "
                    "dataset.expected to the column holding it (or give the scorer a value)"
                )
    if dataset is not None and not dataset.rows:
        problems.append(f"{source.where(('dataset',))}: the dataset has no rows")
    if problems:
        raise EvalConfigError("invalid eval file:\n  " + "\n  ".join(problems))
    assert dataset is not None
    name = spec.name or Path(source.name).stem
    return EvalPlan(name, spec.description, source, spec, dataset, variants, scorers, expected)


def _known(models: Collection[str]) -> str:
    shown = ", ".join(sorted(models)[:20]) or "none configured"
    return f" (gateway models: {shown})"


def _variants(
    spec: EvalSpec,
    source: EvalSource,
    prompts: PromptStore | ProjectPrompts | None,
    models: Collection[str] | None,
    columns: set[str] | None,
    problems: list[str],
) -> list[Variant]:
    listed: list[tuple[_Places, VariantSpec]] = [
        (_Places(("variants", i, "prompt"), ("variants", i, "model")), v)
        for i, v in enumerate(spec.variants)
    ]
    if spec.matrix is not None:
        for p, prompt in enumerate(spec.matrix.prompts):
            for m, model in enumerate(spec.matrix.models):
                name = f"{_prompt_label(prompt, p)}:{model}"
                variant = VariantSpec(
                    name=name, prompt=prompt, model=model, params=spec.matrix.params
                )
                places = _Places(("matrix", "prompts", p), ("matrix", "models", m))
                listed.append((places, variant))
    found: list[Variant] = []
    for index, (places, variant_spec) in enumerate(listed):
        resolved = _variant(variant_spec, index, places, source, prompts, models, columns, problems)
        if resolved is None:
            continue
        if any(v.name == resolved.name for v in found):
            where = source.where(
                places.prompt[:-1] if places.prompt[0] == "variants" else places.prompt
            )
            problems.append(f"{where}: a second variant named {resolved.name!r}")
            continue
        found.append(resolved)
    return found


@dataclass(frozen=True)
class _Places:
    """Where a variant's prompt and model are written (a matrix spreads them over two lists)."""

    prompt: tuple[str | int, ...]
    model: tuple[str | int, ...]


def _prompt_label(prompt: str | InlinePrompt, index: int) -> str:
    if isinstance(prompt, str):
        return prompt
    return prompt.name or f"inline{index + 1}"


def _variant(
    spec: VariantSpec,
    index: int,
    places: _Places,
    source: EvalSource,
    prompts: PromptStore | ProjectPrompts | None,
    models: Collection[str] | None,
    columns: set[str] | None,
    problems: list[str],
) -> Variant | None:
    where = source.where(places.prompt)
    prompt_name: str | None = None
    version: int | None = None
    params: dict[str, Any] = {}
    model = spec.model
    try:
        if isinstance(spec.prompt, str):
            if prompts is None:
                problems.append(f"{where}: no prompt registry to find {spec.prompt!r} in")
                return None
            found = prompts.get(spec.prompt)
            template = Template(found.template, found.engine)
            prompt_name, version = found.name, found.version
            params = {k: v for k, v in found.model_config.items() if k != "model"}
            for key in ("tools", "response_format"):
                if getattr(found, key):
                    params[key] = getattr(found, key)
            model = model or found.model_config.get("model")
        else:
            template = Template(spec.prompt.template, spec.prompt.engine)
    except PromptError as exc:
        problems.append(f"{where}: {exc}")
        return None
    name = spec.name or f"{_prompt_label(spec.prompt, index)}:{model}"
    model_where = source.where(places.model)
    if not model:
        problems.append(f"{model_where}: no model: set `model` (the prompt names none)")
        return None
    if models is not None and model not in models:
        problems.append(f"{model_where}: unknown model {model!r}{_known(models)}")
    if columns is not None:
        for variable in template.variables:
            if variable not in columns:
                problems.append(
                    f"{where}: template variable {variable!r} is not a dataset column "
                    f"(columns: {', '.join(sorted(columns))}; map one with dataset.columns)"
                )
    stored = spec.model_dump(exclude_none=True)
    if prompt_name is not None:
        stored["prompt"] = f"{prompt_name}/{version}"  # pinned, for rerun
    stored["name"] = name
    stored["model"] = model
    return Variant(name, model, {**params, **spec.params}, template, prompt_name, version, stored)

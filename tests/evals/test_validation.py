"""The whole eval file is checked before any call; each problem names its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import EvalConfigError, EvalSource, build_plan

MODELS = {"echo", "fixed"}


def plan_of(path: Path, **kwargs: object) -> object:
    return build_plan(EvalSource.read(path), prompts=None, models=MODELS, **kwargs)  # type: ignore[arg-type]


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """name: bad
dataset:
  rows:
    - {question: "2+2", answer: "4"}
  expected: answer
variants:
  - name: a
    prompt: {template: "Q: {{question}} in {{language}}"}
    model: gpt-9
  - name: b
    prompt: {template: "{{question}}"}
    model: echo
scorers:
  - type: exact_match
  - type: no_such_scorer
  - type: contains
    column: missing_column
"""
    )
    with pytest.raises(EvalConfigError) as caught:
        plan_of(path)
    message = str(caught.value)
    assert f"{path}:9: variants[0].model: unknown model 'gpt-9'" in message
    assert "gateway models: echo, fixed" in message
    assert f"{path}:8: variants[0].prompt: template variable 'language'" in message
    assert f"{path}:15: scorers[1]" in message and "no_such_scorer" in message
    assert f"{path}:16: scorers[2]" in message and "'missing_column'" in message
    # The variant that is fine is not reported.
    assert "variants[1]" not in message


def test_shape_errors_name_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(
        "dataset:\n  rows: [{a: 1}]\n  limt: 3\nvariants:\n  - prompt: {template: x}\n"
        "    model: echo\nsettings:\n  concurrency: 0\n"
    )
    with pytest.raises(EvalConfigError) as caught:
        plan_of(path)
    message = str(caught.value)
    assert f"{path}:3: dataset.limt: unknown key" in message
    assert f"{path}:8: settings.concurrency:" in message


def test_nothing_to_compare_and_two_sources(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("dataset: {rows: [{a: 1}], path: x.csv}\n")
    with pytest.raises(EvalConfigError) as caught:
        plan_of(path)
    assert "give `variants` or `matrix`" in str(caught.value)
    assert "exactly one of `path`, `name`, `rows` or `registry`" in str(caught.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("dataset:\n  rows: [\n")
    with pytest.raises(EvalConfigError, match=r"broken\.yaml:3: invalid YAML"):
        EvalSource.read(path)


def test_missing_mapped_column_and_unknown_variant(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(
        "dataset:\n  rows: [{q: 1}]\n  columns: {question: quest}\nvariants:\n"
        "  - {name: a, prompt: {template: '{{q}}'}, model: echo}\n"
    )
    with pytest.raises(EvalConfigError) as caught:
        plan_of(path, only=["nope"])
    message = str(caught.value)
    assert f"{path}:3: dataset.columns.question: column 'quest'" in message
    assert "--variant: no variant named 'nope'" in message


def test_matrix_expands_prompts_by_models(tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(
        "dataset: {rows: [{q: hi}]}\nmatrix:\n  prompts:\n    - {name: short, template: '{{q}}'}\n"
        "    - {name: long, template: 'Please answer: {{q}}'}\n  models: [echo, fixed]\n"
        "  params: {temperature: 0}\n"
    )
    plan = build_plan(EvalSource.read(path), prompts=None, models=MODELS)
    assert [v.name for v in plan.variants] == [
        "short:echo",
        "short:fixed",
        "long:echo",
        "long:fixed",
    ]
    assert all(v.params == {"temperature": 0} for v in plan.variants)
    assert plan.variants[2].messages({"q": "hi"}) == [
        {"role": "user", "content": "Please answer: hi"}
    ]


def test_matrix_unknown_model_points_at_the_models_list(tmp_path: Path) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(
        "dataset: {rows: [{q: hi}]}\nmatrix:\n  prompts: [{template: '{{q}}'}]\n"
        "  models:\n    - echo\n    - gpt-9\n"
    )
    with pytest.raises(EvalConfigError, match=rf"{path}:6: matrix.models\[1\]: unknown model"):
        build_plan(EvalSource.read(path), prompts=None, models=MODELS)


def test_registry_prompt_resolved_and_pinned(tmp_path: Path) -> None:
    from prompts import PromptStore
    from spyglass._db import create_store_engine, upgrade_store

    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade_store(engine)
    prompts = PromptStore(engine)
    prompts.create("greet")
    prompts.push("greet", "Hello {{name}}", model_config={"model": "echo", "temperature": 0.2})
    prompts.set_label("greet", "production", 1)
    path = tmp_path / "reg.yaml"
    path.write_text(
        "dataset: {rows: [{name: Ada}]}\nvariants:\n  - prompt: greet@production\n"
        "  - prompt: greet@staging\n    model: echo\n"
    )
    with pytest.raises(EvalConfigError, match=r"reg\.yaml:4: variants\[1\]\.prompt: .*staging"):
        build_plan(EvalSource.read(path), prompts=prompts, models=MODELS)
    path.write_text("dataset: {rows: [{name: Ada}]}\nvariants:\n  - prompt: greet@production\n")
    plan = build_plan(EvalSource.read(path), prompts=prompts, models=MODELS)
    (variant,) = plan.variants
    assert (variant.model, variant.params, variant.prompt_ref) == (
        "echo",
        {"temperature": 0.2},
        "greet/1",
    )
    assert variant.spec is not None and variant.spec["prompt"] == "greet/1"
    engine.dispose()


def test_a_scorer_needing_the_expected_output_without_one(tmp_path: Path) -> None:
    path = tmp_path / "noexp.yaml"
    path.write_text(
        "dataset: {rows: [{q: hi, answer: hi}]}\n"
        "variants: [{prompt: {template: '{{q}}'}, model: echo}]\n"
        "scorers:\n  - type: exact_match\n"
    )
    with pytest.raises(EvalConfigError, match=r"noexp\.yaml:4: scorers\[0\]: .*dataset.expected"):
        plan_of(path)
    path.write_text(
        path.read_text().replace(
            "{rows: [{q: hi, answer: hi}]}", "{rows: [{q: hi, answer: hi}], expected: answer}"
        )
    )
    assert plan_of(path) is not None

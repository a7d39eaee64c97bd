"""The registry store, on SQLite and on PostgreSQL: versions, labels, history, concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from prompts import (
    InvalidPromptError,
    PromptExistsError,
    PromptNotFoundError,
    PromptStore,
    parse_ref,
)

CHAT = [
    {"role": "system", "content": "You summarize in {{style}}."},
    {"role": "user", "content": "{{text}}"},
]


def test_versions_are_numbered_and_immutable(store: PromptStore, name: str) -> None:
    first, created = store.push(name, "v1 {{text}}", message="first", author="ann")
    assert (first.version, created) == (1, True)
    second, _ = store.push(name, CHAT, model_config={"model": "gpt-4o", "temperature": 0.2})
    assert second.version == 2
    assert second.type == "chat" and second.variables == ("style", "text")
    again = store.get(f"{name}/1")
    assert again.template == "v1 {{text}}"
    assert (again.message, again.author, again.variables) == ("first", "ann", ("text",))
    assert again.created_at is not None and again.created_at.tzinfo is not None
    assert [v.version for v in store.versions(name)] == [2, 1]


def test_an_identical_push_creates_no_version(store: PromptStore, name: str) -> None:
    store.push(name, CHAT, model_config={"model": "m"})
    same, created = store.push(name, CHAT, model_config={"model": "m"}, message="CI run 2")
    assert (same.version, created) == (1, False)
    # Any change of content — template, engine, model config, tools — is a new version.
    assert store.push(name, CHAT, model_config={"model": "m2"})[0].version == 2
    assert store.push(name, CHAT, model_config={"model": "m2"}, engine="jinja2")[0].version == 3
    # Going back to an earlier content is a new version too: only the latest is compared.
    assert store.push(name, CHAT, model_config={"model": "m"})[0].version == 4


def test_references_resolve_labels_latest_and_numbers(store: PromptStore, name: str) -> None:
    store.push(name, "one", labels=["production"])
    store.push(name, "two", labels=["staging"])
    assert store.get(name).version == 2
    assert store.get(f"{name}@latest").version == 2
    assert store.get(f"{name}@production").template == "one"
    assert store.get(parse_ref(f"{name}@staging")).template == "two"
    assert store.get(f"{name}/1").labels == ("production",)
    assert store.get(f"{name}/2").labels == ("latest", "staging")


@pytest.mark.parametrize(
    ("suffix", "message"),
    [("@nope", "no label 'nope'"), ("/9", "no version 9")],
)
def test_unknown_references_say_what_is_missing(
    store: PromptStore, name: str, suffix: str, message: str
) -> None:
    store.push(name, "x")
    with pytest.raises(PromptNotFoundError, match=message):
        store.get(name + suffix)
    with pytest.raises(PromptNotFoundError, match="no prompt named 'absent-prompt'"):
        store.get("absent-prompt@production")


def test_labels_move_and_every_move_is_kept(store: PromptStore, name: str) -> None:
    store.push(name, "one", labels=["production"], author="ann")
    store.push(name, "two")
    store.set_label(name, "production", 2, actor="bob")
    store.set_label(name, "production", 2, actor="bob")  # already there: not a move
    store.delete_label(name, "production", actor="cy")
    events = store.history(name)
    assert [(e["label"], e["from_version"], e["to_version"], e["actor"]) for e in events] == [
        ("production", 2, None, "cy"),
        ("production", 1, 2, "bob"),
        ("production", None, 1, "ann"),
    ]
    assert all(e["at"].endswith("+00:00") for e in events)
    with pytest.raises(PromptNotFoundError, match="no label 'production'"):
        store.get(f"{name}@production")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s, n: s.set_label(n, "latest", 1), "label"),
        (lambda s, n: s.set_label(n, "has space", 1), "label"),
        (lambda s, n: s.set_label(n, "12", 1), "label"),
        (lambda s, n: s.push(n, "x", labels=["bad label"]), "label"),
        (lambda s, n: s.push("bad name!", "x"), "name"),
        (lambda s, n: s.push("team/3", "x"), "name"),
        (lambda s, n: s.push("team/versions", "x"), "name"),
        (lambda s, n: s.push("a//b", "x"), "name"),
        (lambda s, n: s.push(n, "x", model_config={"model": 5}), "model_config.model"),
        (lambda s, n: s.push(n, [{"role": "oops", "content": ""}]), "template.messages[0].role"),
        (lambda s, n: s.create(n, tags=[""]), "tags"),
    ],
)
def test_bad_input_names_the_field(
    store: PromptStore, name: str, call: Callable[[PromptStore, str], Any], field: str
) -> None:
    store.push(name, "x")
    with pytest.raises(InvalidPromptError) as caught:
        call(store, name)
    assert caught.value.field == field


def test_setting_a_label_on_a_missing_version_fails(store: PromptStore, name: str) -> None:
    store.push(name, "x")
    with pytest.raises(PromptNotFoundError, match="no version 5"):
        store.set_label(name, "production", 5)


def test_create_list_search_and_page(store: PromptStore, name: str) -> None:
    store.create(name, description="Support inbox summaries", tags=["support"])
    with pytest.raises(PromptExistsError):
        store.create(name)
    store.push(name, "x", labels=["production"])
    for i in range(3):
        store.push(f"{name}-extra/{chr(97 + i)}", "y")
    found, _ = store.list_prompts(query="inbox summ")
    assert [s.name for s in found] == [name]
    assert found[0].labels == {"production": 1} and found[0].latest_version == 1
    assert [s.name for s in store.list_prompts(tag="support")[0]] == [name]
    # "%" and "_" in a search are literal characters, not wildcards.
    assert store.list_prompts(query="%")[0] == []
    first, cursor = store.list_prompts(query=name, limit=2)
    assert cursor == first[-1].name
    rest, end = store.list_prompts(query=name, limit=2, after=cursor)
    assert [s.name for s in first + rest] == sorted(s.name for s in first + rest)
    assert len(first + rest) == 4 and end is None
    updated = store.update(name, description="new", tags=["a", "b"])
    assert (updated.description, updated.tags) == ("new", ("a", "b"))


def test_diff_compares_template_and_model_config(store: PromptStore, name: str) -> None:
    store.push(name, "Summarize:\n{{text}}\n", model_config={"temperature": 0.2})
    store.push(name, "Summarize briefly:\n{{text}}\n", model_config={"temperature": 0.5})
    store.set_label(name, "production", 1)
    text = store.diff(name, "production", 2)
    assert text.startswith(f"--- {name}/1\n+++ {name}/2\n")
    assert "-Summarize:\n+Summarize briefly:\n" in text
    assert "-  temperature: 0.2\n+  temperature: 0.5\n" in text
    assert store.diff(name, 1, 1) == ""


def _race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return results


def test_concurrent_pushes_get_distinct_versions(engine: Engine, name: str) -> None:
    # One store per thread, as separate processes would have: separate connections.
    stores = [PromptStore(engine) for _ in range(8)]
    results = _race(8, lambda i: stores[i].push(name, f"variant {i}: {{{{text}}}}"))
    numbers = sorted(version.version for version, created in results)
    assert numbers == list(range(1, 9))
    assert all(created for _, created in results)
    templates = {v.version: v.template for v in PromptStore(engine).versions(name)}
    assert sorted(templates.values()) == sorted(f"variant {i}: {{{{text}}}}" for i in range(8))


def test_concurrent_identical_pushes_create_one_version(engine: Engine, name: str) -> None:
    results = _race(6, lambda i: PromptStore(engine).push(name, CHAT, labels=["production"]))
    assert {version.version for version, _ in results} == {1}
    assert sum(created for _, created in results) == 1
    assert [e["to_version"] for e in PromptStore(engine).history(name)] == [1]


def test_a_name_is_unique_per_project(store: PromptStore, name: str) -> None:
    store.push(name, "nobody's")
    store.push(name, "A's", project="A", labels=["production"])
    store.push(name, "B's", project="B")
    store.push(name, "B's again", project="B")
    assert store.get(name).template == "nobody's"
    assert store.get(f"{name}@production", project="A").template == "A's"
    assert [v.version for v in store.versions(name, project="B")] == [2, 1]
    with pytest.raises(PromptNotFoundError):
        store.get(f"{name}@production", project="B")
    with pytest.raises(PromptNotFoundError):
        store.get(name, project="C")
    with pytest.raises(PromptExistsError):
        store.create(name, project="A")
    store.create(name, project="C")
    assert [p.name for p in store.list_prompts(project="C")[0]] == [name]
    assert [e["to_version"] for e in store.history(name, project="A")] == [1]


def test_concurrent_first_pushes_in_two_projects(engine: Engine, name: str) -> None:
    """The lock on a new prompt is per (project, name): each project gets its own version 1."""
    results = _race(
        8, lambda i: PromptStore(engine).push(name, f"variant {i}", project="AB"[i % 2])
    )
    assert sorted(version.version for version, _ in results) == [1, 1, 2, 2, 3, 3, 4, 4]
    for project in "AB":
        assert len(PromptStore(engine).versions(name, project=project)) == 4

"""The trace list's indexed filters: attribute equality (``attr=``) and text search (``q=``).

SQLite answers both from one FTS5 index (message words, attribute facet tokens), kept in step
with the spans by triggers; PostgreSQL answers text from a GIN index on the words of the text
and attributes from its GIN index on them. Spans stored before the indexes existed are indexed by the migration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tests.tracing.helpers import llm, make_span, migrated_store, rows, store_url
from tracing import TraceFilter, TraceStore, delete_older_than, list_traces
from tracing._columns import SPAN_COLUMNS
from tracing._index import attribute_facets, facet_candidates, search_text


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    with migrated_store(store_url(request.param, request, tmp_path)) as store:
        yield store


def messages(*texts: str) -> str:
    return orjson.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts]
    ).decode()


def write(store: TraceStore, number: int, attributes: dict[str, Any], name: str = "step") -> None:
    store.write(
        rows(make_span(number, 1, None, name, number * 1000, number * 1000 + 10, attributes))
    )


def listed(store: TraceStore, **where: Any) -> list[int]:
    found, _ = list_traces(store, TraceFilter(**where), limit=500)
    return sorted(int(row["trace_id"], 16) for row in found)


def test_attribute_values_compare_by_their_json_type(store: TraceStore) -> None:
    write(store, 1, {"n": 3, "s": "3", "b": True, "f": 2.5, "big": 2**60 + 1})
    write(store, 2, {"n": 3.0, "s": "true", "b": False, "f": "2.5"})
    write(store, 3, {"n": [3], "s": "x" * 300, "b": "True"})
    cases = {
        ("n", "3"): [1, 2],  # 3 equals 3.0; an array holding 3 is not 3
        ("n", "3.0"): [1, 2],
        ("s", "3"): [1],
        ("s", "true"): [2],
        ("b", "true"): [1],
        ("b", "false"): [2],
        ("b", "True"): [3],
        ("b", "1"): [],
        ("f", "2.5"): [1, 2],
        ("big", str(2**60 + 1)): [1],  # exact beyond a float's precision
        ("s", "x" * 300): [3],  # too long to be indexed: read from the spans
        ("missing", "3"): [],
    }
    got = {case: listed(store, attributes=[case]) for case in cases}
    assert got == cases


def test_message_content_is_found_by_text_not_by_attribute_facets(store: TraceStore) -> None:
    short = messages("hi")
    write(store, 1, {**llm(), "gen_ai.input.messages": short})
    assert not any(key == "gen_ai.input.messages" for key, _ in attribute_facets({"k": 1}))
    assert facet_candidates("gen_ai.input.messages", short) is None
    assert listed(store, attributes=[("gen_ai.input.messages", short)]) == [1]  # still exact
    assert listed(store, text="hi") == [1]


def test_text_search_finds_words_of_names_and_messages_in_any_case(store: TraceStore) -> None:
    write(store, 1, {**llm(), "gen_ai.input.messages": messages("Où est le Café de Flore?")})
    write(store, 2, {**llm(), "gen_ai.input.messages": messages("A chargeback on invoice 42")})
    write(store, 3, {}, name="lookup_account")
    cases = {
        "CHARGEBACK": [2],
        "charge": [2],  # a word's beginning
        "invoice 42": [2],
        "café de": [1],
        "lookup_account": [3],
        "role": [],  # the messages' JSON structure is not text
        "nothing like it": [],
    }
    got = {q: listed(store, text=q) for q in cases}
    assert got == cases


def test_text_search_finds_words_not_the_inside_of_words(store: TraceStore) -> None:
    write(store, 1, {**llm(), "gen_ai.input.messages": messages("A chargeback on it, 4o-mini")})
    assert listed(store, text="back") == []
    assert listed(store, text="chargeback on") == [1]
    assert listed(store, text="on chargeback") == []  # the words in their order
    assert listed(store, text="4o-mini") == [1]
    assert listed(store, text="it's") == []


def test_punctuation_only_queries_read_the_text(store: TraceStore) -> None:
    write(store, 1, {}, name="100% done")
    write(store, 2, {}, name="half done")
    assert listed(store, text="%") == [1]
    assert listed(store, text="-") == []


def sqlite_store(tmp_path: Path) -> Iterator[TraceStore]:
    with migrated_store(f"sqlite:///{tmp_path / 'traces.db'}") as store:
        yield store


def check_index(store: TraceStore) -> int:
    """FTS5's own consistency check of the index against the spans; the spans indexed."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO span_search (span_search, rank) VALUES ('integrity-check', 1)"
        )
        return int(connection.exec_driver_sql("SELECT count(*) FROM span_search").scalar_one())


def test_sqlite_index_follows_writes_duplicates_and_retention(tmp_path: Path) -> None:
    with migrated_store(f"sqlite:///{tmp_path / 'traces.db'}") as store:
        for number in range(1, 6):
            write(store, number, {"tenant": f"t{number % 2}"})
            write(store, number, {"tenant": f"t{number % 2}"})  # sent again: stored once
        assert check_index(store) == 5
        assert listed(store, attributes=[("tenant", "t1")]) == [1, 3, 5]
        assert delete_older_than(store, 3500 * 10**6 + 1_700_000_000 * 10**9, pause=0) == 3
        assert check_index(store) == 2
        assert listed(store, attributes=[("tenant", "t1")]) == [5]
        assert listed(store, text="step") == [4, 5]


def test_search_columns_are_derived_by_the_store_not_given() -> None:
    assert SPAN_COLUMNS[-2:] == ("search_text", "attribute_tokens")
    row = rows(make_span(1, 1, None, "chat", 0, 1, {"x": 1}))[0]
    assert "search_text" not in row and "attribute_tokens" not in row
    content = {"input": [{"role": "user", "parts": [{"type": "tool_call", "arguments": {"q": 1}}]}]}
    assert search_text("chat", content) == "chat"
    content["input"][0]["parts"][0]["arguments"] = {"city": "Paris"}
    assert search_text("chat", orjson.dumps(content).decode()) == "chat\nParis"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_spans_stored_before_the_indexes_are_indexed_by_the_migration(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine = create_store_engine(store_url(backend, request, tmp_path))
    try:
        upgrade_store(engine, "0003")
        span = rows(
            make_span(7, 1, None, "answer", 0, 5, {"tenant": "acme", "n": 2}),
        )[0]
        old_columns = [
            c for c in SPAN_COLUMNS[:-2] if c not in ("project", "wraps_call", "online_eval")
        ]  # 0007, 0010
        json_columns = ("attributes", "events", "content")
        with engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO spans ({', '.join(old_columns)}) VALUES "
                    f"({', '.join(':' + c for c in old_columns)})"
                ),
                {
                    c: orjson.dumps(span[c]).decode() if c in json_columns else span[c]
                    for c in old_columns
                },
            )
        upgrade_store(engine)
        store = TraceStore(engine)
        assert list_traces(store, TraceFilter(text="answer"))[0] == []  # no summary row...
        with engine.begin() as connection:  # ...so give the trace one, as the writer would
            connection.execute(
                text(
                    "INSERT INTO traces (trace_id, start_ns, end_ns, duration_ms, status, "
                    "span_count, llm_count, input_tokens, output_tokens, cost, tags) VALUES "
                    "(:t, 0, 1, 0, 'ok', 1, 0, 0, 0, 0, '[]')"
                ),
                {"t": span["trace_id"]},
            )
        assert listed(store, text="answer") == [7]
        assert listed(store, attributes=[("tenant", "acme")]) == [7]
        assert listed(store, attributes=[("n", "2.0")]) == [7]
        # Down and up again: the columns and indexes go and come back, the spans stay.
        downgrade_store(engine, "0003")
        upgrade_store(engine)
        assert listed(store, text="answer") == [7]
        assert listed(store, attributes=[("tenant", "acme")]) == [7]
    finally:
        downgrade_store(engine, "base")
        engine.dispose()


@pytest.mark.parametrize(
    ("key", "content"),
    [
        ("gen_ai.input.messages", True),
        ("llm.input_messages.0.message.content", True),
        ("gen_ai.prompt.0.content", True),
        ("gen_ai.completion.1.role", True),
        ("gen_ai.prompt.name", False),
        ("gen_ai.prompt.version", False),
        ("gen_ai.request.model", False),
    ],
)
def test_which_attributes_are_content(key: str, content: bool) -> None:
    from tracing._content import is_content_key

    assert is_content_key(key) is content

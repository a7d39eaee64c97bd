"""The trace store and its queries, on SQLite and on the real PostgreSQL.

Writes are idempotent and assemble a trace from spans arriving in any order and batch; the
trace list filters, sorts and pages exactly; one trace's spans, sessions and usage statistics
come out with the figures computed here by hand.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from sqlalchemy import func, select, update

from tests.tracing.helpers import (
    MS,
    T0,
    llm,
    make_span,
    migrated_store,
    rows,
    sid,
    store_url,
    tid,
)
from tracing import (
    QueryError,
    TraceFilter,
    TraceStore,
    get_trace,
    list_sessions,
    list_traces,
    usage_stats,
)
from tracing._records import SPANS, TRACES

SECOND = 1000 * MS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    with migrated_store(store_url(request.param, request, tmp_path)) as store:
        yield store


def summary_of(store: TraceStore, number: int) -> dict[str, Any]:
    summary, _, _ = get_trace(store, tid(number))
    assert summary is not None
    return summary


def numbers(found: list[dict[str, Any]], key: str = "trace_id") -> list[int]:
    """Trace (or span) ids as the small numbers the tests made them from."""
    return [int(row[key], 16) for row in found]


def listed(store: TraceStore, **where: Any) -> list[int]:
    found, _ = list_traces(store, TraceFilter(**where), limit=500)
    return numbers(found)


def count(store: TraceStore, table: Any) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def usage(summary: dict[str, Any]) -> tuple[Any, ...]:
    return (
        summary["span_count"],
        summary["llm_count"],
        summary["input_tokens"],
        summary["output_tokens"],
        summary["cost"],
    )


# -- writing --------------------------------------------------------------------------------


def test_writing_a_batch_again_stores_and_counts_each_span_once(store: TraceStore) -> None:
    batch = rows(
        make_span(1, 1, None, "agent", 0, 100),
        make_span(1, 2, 1, "chat gpt-4o", 10, 50, llm(100, 20, 0.5, "gpt-4o")),
        make_span(1, 3, 1, "chat gpt-4o", 60, 90, llm(30, 10, 0.25, "gpt-4o")),
    )
    assert store.write([]) == 0
    assert store.write(batch) == 3
    assert store.write(batch) == 0
    assert usage(summary_of(store, 1)) == (3, 2, 130, 30, 0.75)
    assert count(store, SPANS) == 3

    # A retry that overlaps what is stored: only the one new span is added and counted.
    tool = make_span(1, 4, 1, "execute_tool search", 91, 95, llm(7, 7, 1.0))
    assert store.write([batch[2], *rows(tool), batch[1]]) == 1
    assert usage(summary_of(store, 1)) == (4, 3, 137, 37, 1.75)
    assert count(store, SPANS) == 4
    assert count(store, TRACES) == 1


def test_a_span_repeated_within_one_batch_is_stored_and_counted_once(store: TraceStore) -> None:
    row = rows(make_span(2, 1, None, "chat gpt-4o", 0, 10, llm(5, 3, 0.5)))[0]
    other = rows(make_span(3, 1, None, "chat gpt-4o", 0, 10, llm(1, 1, 0.125)))[0]
    assert store.write([row, other, row]) == 2
    assert usage(summary_of(store, 2)) == (1, 1, 5, 3, 0.5)
    assert usage(summary_of(store, 3)) == (1, 1, 1, 1, 0.125)


def test_a_trace_assembles_from_spans_arriving_out_of_order(store: TraceStore) -> None:
    root = make_span(7, 1, None, "agent run", 0, 100, service="frontend")
    plan = make_span(7, 2, 1, "plan", 5, 20, service="worker")
    call = make_span(7, 3, 2, "chat gpt-4o", 10, 18, llm(10, 2, 0.5, "gpt-4o"), service="worker")
    late = make_span(7, 4, 1, "cleanup", 90, 150, service="worker")
    skewed = make_span(7, 5, 1, "warm up", -5, 1, service="worker")

    assert store.write(rows(call, plan)) == 2
    early = summary_of(store, 7)
    # Until the root arrives the trace is named after its earliest span.
    assert (early["name"], early["root_span_id"], early["service_name"]) == (
        "plan",
        None,
        "worker",
    )
    assert (early["start_ns"], early["end_ns"], early["duration_ms"]) == (
        T0 + 5 * MS,
        T0 + 20 * MS,
        15.0,
    )
    assert store.write(rows(late)) == 1
    assert summary_of(store, 7)["name"] == "plan"

    assert store.write(rows(root)) == 1
    # A span starting before the root (clock skew) widens the trace but does not rename it.
    assert store.write(rows(skewed)) == 1
    summary = summary_of(store, 7)
    assert {k: summary[k] for k in ("name", "root_span_id", "service_name")} == {
        "name": "agent run",
        "root_span_id": sid(1),
        "service_name": "frontend",
    }
    assert (summary["start_ns"], summary["end_ns"], summary["duration_ms"]) == (
        T0 - 5 * MS,
        T0 + 150 * MS,
        155.0,
    )
    assert (summary["status"], summary["error"]) == ("ok", None)
    assert usage(summary) == (5, 1, 10, 2, 0.5)


def test_a_trace_with_any_failed_span_is_an_error_with_the_first_failure(
    store: TraceStore,
) -> None:
    store.write(
        rows(
            make_span(8, 2, 1, "fetch", 10, 20, status="ok"),
            make_span(8, 1, None, "job", 0, 100, status="ok"),
        )
    )
    assert (summary_of(store, 8)["status"], summary_of(store, 8)["error"]) == ("ok", None)
    # Listed later but started earlier: its message is the trace's.
    store.write(
        rows(
            make_span(8, 4, 1, "retry", 40, 50, status="error", message="second failure"),
            make_span(8, 3, 1, "call", 30, 35, status="error", message="first failure"),
        )
    )
    store.write(rows(make_span(8, 5, 1, "report", 60, 70, status="ok")))
    summary = summary_of(store, 8)
    assert (summary["status"], summary["error"], summary["span_count"]) == (
        "error",
        "first failure",
        5,
    )

    # A failure without a message is named by its span; spans never marked make an ok trace.
    store.write(rows(make_span(9, 1, None, "silent crash", 0, 5, status="error")))
    store.write(rows(make_span(10, 1, None, "plain", 0, 5), make_span(10, 2, 1, "step", 1, 2)))
    assert (summary_of(store, 9)["status"], summary_of(store, 9)["error"]) == (
        "error",
        "silent crash",
    )
    assert (summary_of(store, 10)["status"], summary_of(store, 10)["error"]) == ("ok", None)


def test_usage_sums_llm_spans_once_and_labels_come_from_the_first_span_having_them(
    store: TraceStore,
) -> None:
    root = make_span(3, 1, None, "support turn", 0, 500, {"gen_ai.conversation.id": "sess-1"})
    server = make_span(
        3,
        2,
        1,
        "chat support-bot",
        10,
        200,
        llm(
            100,
            20,
            0.5,
            "support-bot",
            {
                "gen_ai.provider.name": "openai",
                "enduser.id": "alice",
                "spyglass.key.id": "key-1",
                "gen_ai.prompt.name": "greeter",
                "gen_ai.prompt.version": "3",
                "spyglass.time_to_first_token_ms": 42.5,
            },
        ),
        kind=SpanKind.SERVER,
    )
    # The gateway's upstream attempt repeats its request's usage: not counted again.
    attempt = make_span(
        3,
        3,
        2,
        "chat gpt-4o",
        11,
        190,
        llm(
            100,
            20,
            0.5,
            "gpt-4o-2024-08-06",
            {"gen_ai.provider.name": "azure.ai.openai", "spyglass.attempt": 1},
        ),
        kind=SpanKind.CLIENT,
    )
    second = make_span(
        3,
        4,
        1,
        "chat claude",
        250,
        400,
        llm(
            7,
            3,
            0.25,
            "claude-3-5-haiku",
            {
                "gen_ai.provider.name": "anthropic",
                "gen_ai.conversation.id": "sess-2",
                "enduser.id": "bob",
                "spyglass.key.id": "key-2",
                "gen_ai.prompt.name": "other",
                "gen_ai.prompt.version": "1",
                "spyglass.time_to_first_token_ms": 9.0,
            },
        ),
    )
    embed = make_span(
        3,
        5,
        1,
        "embeddings text-embedding-3-small",
        410,
        420,
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.usage.input_tokens": 4,
            "spyglass.cost.usd": 0.125,
        },
    )
    tool = make_span(
        3,
        6,
        1,
        "execute_tool search",
        430,
        440,
        {"gen_ai.operation.name": "execute_tool", "gen_ai.usage.input_tokens": 1000},
    )
    assert store.write(rows(second, attempt, tool, root, embed, server)) == 6

    summary = summary_of(store, 3)
    assert usage(summary) == (6, 3, 111, 23, 0.875)
    assert {
        k: summary[k]
        for k in ("model", "provider", "session_id", "user_id", "key_id", "prompt", "ttft_ms")
    } == {
        "model": "support-bot",
        "provider": "openai",
        "session_id": "sess-1",
        "user_id": "alice",
        "key_id": "key-1",
        "prompt": "greeter/3",
        "ttft_ms": 42.5,
    }
    _, spans, _ = get_trace(store, tid(3))
    by_id = {int(s["span_id"], 16): s for s in spans}
    assert [by_id[n]["is_attempt"] for n in (1, 2, 3, 4, 5, 6)] == [
        False,
        False,
        True,
        False,
        False,
        False,
    ]
    assert [by_id[n]["kind"] for n in (1, 2, 3, 4, 5, 6)] == [
        "span",
        "llm",
        "llm",
        "llm",
        "embedding",
        "tool",
    ]


def wrapped_call(number: int) -> tuple[ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan]:
    """An app's LLM span (20 tokens, no cost) around the gateway's request span for the same
    call (its figures: 10 + 4 tokens, $0.5) and that span's attempt, under a chain root."""
    root = make_span(number, 1, None, "answer question", 0, 300)
    app = make_span(number, 2, 1, "ChatOpenAI", 10, 290, llm(16, 4, None, "gpt-4o"))
    gateway = make_span(
        number, 3, 2, "chat gpt-4o", 20, 280, llm(10, 4, 0.5, "gpt-4o"), kind=SpanKind.SERVER
    )
    attempt = make_span(
        number, 4, 3, "chat gpt-4o", 21, 279, llm(10, 4, 0.5, "gpt-4o", {"spyglass.attempt": 1})
    )
    return root, app, gateway, attempt


@pytest.mark.parametrize(
    "batches",
    [
        [(0, 1, 2, 3)],  # together
        [(0, 1), (2, 3)],  # the wrapper first: un-counted when the call beneath arrives
        [(2, 3), (0, 1)],  # the call first (the usual order: it ends first)
        [(3,), (2,), (1,), (0,)],  # one span at a time, leaf first
    ],
)
def test_an_llm_span_around_another_call_is_the_same_call(
    store: TraceStore, batches: list[tuple[int, ...]]
) -> None:
    spans = wrapped_call(20)
    for batch in batches:
        store.write(rows(*(spans[i] for i in batch)))
        store.write(rows(*(spans[i] for i in batch)))  # a retried export changes nothing
    assert usage(summary_of(store, 20)) == (4, 1, 10, 4, 0.5)
    with store.engine.connect() as connection:
        marked = connection.execute(select(SPANS.c.span_id).where(SPANS.c.wraps_call))
        assert [int(span, 16) for span in marked.scalars()] == [2]


def test_wrappers_nest_and_the_innermost_call_counts(store: TraceStore) -> None:
    """LangChain's span around the OpenAI instrumentation's, around the gateway's."""
    root, app, gateway, attempt = wrapped_call(21)
    chain = make_span(21, 5, 1, "RunnableSequence", 5, 295, llm(16, 4, None, "gpt-4o"))
    app = make_span(21, 2, 5, "openai.chat", 10, 290, llm(16, 4, None, "gpt-4o"))
    # Another call of the same trace, not wrapped, still counts.
    alone = make_span(21, 6, 1, "chat claude", 296, 299, llm(3, 2, 0.25, "claude"))
    store.write(rows(chain, alone))
    store.write(rows(root, gateway))
    store.write(rows(app, attempt))
    assert usage(summary_of(store, 21)) == (6, 2, 13, 6, pytest.approx(0.75))


def test_usage_stats_count_a_wrapped_call_once_and_split_by_source(store: TraceStore) -> None:
    root, app, gateway, attempt = wrapped_call(22)
    gateway = make_span(
        22, 3, 2, "chat gpt-4o", 20, 280, llm(10, 4, 0.5, "gpt-4o"), kind=SpanKind.SERVER
    )
    gateway_row = rows(gateway)[0]
    gateway_row["scope_name"] = "spyglass.gateway"
    # A call the app made straight to its provider: seen over OTLP only.
    direct = make_span(23, 1, None, "chat claude", 100, 200, llm(3, 2, 0.25, "claude"))
    store.write([*rows(root, app, attempt, direct), gateway_row])
    found = {
        source: [
            (b["requests"], b["input_tokens"], b["output_tokens"], b["cost"])
            for b in usage_stats(
                store, start_ns=T0, end_ns=T0 + SECOND, bucket_seconds=1, source=source
            )
        ]
        for source in ("all", "gateway", "app")
    }
    assert found == {
        "all": [(2, 13, 6, 0.75)],
        "gateway": [(1, 10, 4, 0.5)],
        "app": [(1, 3, 2, 0.25)],
    }
    with pytest.raises(QueryError) as error:
        usage_stats(store, start_ns=T0, end_ns=T0 + SECOND, bucket_seconds=1, source="x")  # type: ignore[arg-type]
    assert error.value.param == "source"


def test_a_prompt_without_version_is_its_name() -> None:
    (row,) = rows(make_span(4, 1, None, "chat", 0, 1, llm(extra={"gen_ai.prompt.name": "solo"})))
    assert row["prompt"] == "solo"


# -- the trace list -------------------------------------------------------------------------

QUESTION = orjson.dumps(
    [{"role": "user", "parts": [{"type": "text", "content": "What is the Capital of France?"}]}]
).decode()
BONJOUR = orjson.dumps(
    [{"role": "user", "parts": [{"type": "text", "content": "Bonjour tout le monde"}]}]
).decode()


def labels(
    provider: str, session: str, user: str, key: str | None = None, prompt: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "gen_ai.provider.name": provider,
        "gen_ai.conversation.id": session,
        "enduser.id": user,
    }
    if key:
        found["spyglass.key.id"] = key
    if prompt:
        found["gen_ai.prompt.name"], found["gen_ai.prompt.version"] = prompt.split("/")
    return found


def populate(store: TraceStore) -> None:
    """Five traces, a second apart (1 oldest):

    ====  ==========  ======  ===========  ========  =======  ======  ==========  ====  ====
    id    name        status  model        provider  session  user    service     ms    cost
    ====  ==========  ======  ===========  ========  =======  ======  ==========  ====  ====
    1     chat-turn   ok      gpt-4o       openai    s1       alice   app         100   0.5
    2     chat-turn   error   claude-3     anthropic s1       alice   app         300   0.25
    3     embed docs  ok      gpt-4o-mini  openai    s2       bob     batch       50    0.125
    4     tool run    ok      -            -         -        -       app         500   0
    5     chat-turn   ok      gpt-4o       openai    s3       carol   app         20    1.0
    ====  ==========  ======  ===========  ========  =======  ======  ==========  ====  ====

    1 has key-a and prompt greeter/3, 2 key-b, 5 greeter/4; 1 is tagged prod and v2, 3 prod,
    café and a"b.
    """
    store.write(
        rows(
            make_span(
                1,
                1,
                None,
                "chat-turn",
                0,
                100,
                {"http.status_code": 200, "feature.flag": True, "tenant": "acme"},
            ),
            make_span(
                1,
                2,
                1,
                "chat gpt-4o",
                10,
                90,
                llm(
                    100,
                    20,
                    0.5,
                    "gpt-4o",
                    {
                        **labels("openai", "s1", "alice", "key-a", "greeter/3"),
                        "gen_ai.input.messages": QUESTION,
                    },
                ),
            ),
            make_span(
                2,
                1,
                None,
                "chat-turn",
                1000,
                1300,
                {"http.status_code": 429, "feature.flag": False},
            ),
            make_span(
                2,
                2,
                1,
                "chat claude-3",
                1010,
                1290,
                llm(50, 10, 0.25, "claude-3", labels("anthropic", "s1", "alice", "key-b")),
                "error",
                message="rate limited",
            ),
            make_span(3, 1, None, "embed docs", 2000, 2050, {"tenant": "globex"}, service="batch"),
            make_span(
                3,
                2,
                1,
                "chat gpt-4o-mini",
                2010,
                2040,
                llm(
                    10,
                    0,
                    0.125,
                    "gpt-4o-mini",
                    {**labels("openai", "s2", "bob"), "gen_ai.input.messages": BONJOUR},
                ),
                service="batch",
            ),
            make_span(4, 1, None, "tool run", 3000, 3500, {"http.status_code": "200"}),
            make_span(5, 1, None, "chat-turn", 4000, 4020),
            make_span(
                5,
                2,
                1,
                "chat gpt-4o",
                4005,
                4015,
                llm(5, 5, 1.0, "gpt-4o", labels("openai", "s3", "carol", prompt="greeter/4")),
            ),
        )
    )
    with store.engine.begin() as connection:
        for number, tags in ((1, ["prod", "v2"]), (3, ["prod", "café", 'a"b'])):
            connection.execute(
                update(TRACES).where(TRACES.c.trace_id == tid(number)).values(tags=tags)
            )


FILTERS: list[tuple[dict[str, Any], list[int]]] = [
    ({}, [5, 4, 3, 2, 1]),
    ({"start_after_ns": T0 + 1000 * MS, "start_before_ns": T0 + 3000 * MS}, [3, 2]),
    ({"start_after_ns": T0 + 3000 * MS}, [5, 4]),
    ({"start_before_ns": T0 + 1000 * MS}, [1]),
    ({"status": "error"}, [2]),
    ({"status": "ok"}, [5, 4, 3, 1]),
    ({"model": "gpt-4o"}, [5, 1]),
    ({"model": "gpt-4"}, []),
    ({"provider": "openai"}, [5, 3, 1]),
    ({"name": "chat-turn"}, [5, 2, 1]),
    ({"name": "chat"}, []),
    ({"session_id": "s1"}, [2, 1]),
    ({"user_id": "alice"}, [2, 1]),
    ({"user_id": "bob"}, [3]),
    ({"key_id": "key-b"}, [2]),
    ({"prompt": "greeter/3"}, [1]),
    ({"prompt": "greeter"}, [5, 1]),
    ({"prompt": "greet"}, []),
    ({"service": "batch"}, [3]),
    ({"min_duration_ms": 300}, [4, 2]),
    ({"min_cost": 0.5}, [5, 1]),
    ({"tag": "prod"}, [3, 1]),
    ({"tag": "v2"}, [1]),
    ({"tag": "pro"}, []),
    ({"tag": "café"}, [3]),
    ({"tag": 'a"b'}, [3]),
    ({"tag": "b"}, []),
    ({"attributes": [("http.status_code", "200")]}, [4, 1]),
    ({"attributes": [("http.status_code", "200.0")]}, [1]),
    ({"attributes": [("http.status_code", "429")]}, [2]),
    ({"attributes": [("feature.flag", "true")]}, [1]),
    ({"attributes": [("feature.flag", "false")]}, [2]),
    ({"attributes": [("feature.flag", "1")]}, []),
    ({"attributes": [("tenant", "acme")]}, [1]),
    ({"attributes": [("tenant", "acm")]}, []),
    ({"attributes": [("gen_ai.request.model", "gpt-4o")]}, [5, 1]),
    ({"attributes": [("tenant", "acme"), ("http.status_code", "200")]}, [1]),
    ({"attributes": [("tenant", "acme"), ("http.status_code", "429")]}, []),
    ({"text": "capital of france"}, [1]),
    ({"text": "BONJOUR"}, [3]),
    ({"text": "turn"}, [5, 2, 1]),
    ({"text": "embed"}, [3]),
    ({"model": "gpt-4o", "session_id": "s3"}, [5]),
    ({"provider": "openai", "min_duration_ms": 50}, [3, 1]),
]


def test_each_filter_returns_exactly_its_traces(store: TraceStore) -> None:
    populate(store)
    got = {repr(where): listed(store, **where) for where, _ in FILTERS}
    assert got == {repr(where): expected for where, expected in FILTERS}


def test_traces_sort_newest_longest_or_costliest_first(store: TraceStore) -> None:
    populate(store)
    found = {
        sort: numbers(list_traces(store, TraceFilter(), sort=sort)[0])
        for sort in ("start", "duration", "cost")
    }
    assert found == {
        "start": [5, 4, 3, 2, 1],
        "duration": [4, 2, 1, 3, 5],
        "cost": [5, 1, 2, 3, 4],
    }


def pages(
    store: TraceStore, where: TraceFilter, sort: Any = "start", limit: int = 2
) -> list[list[int]]:
    found: list[list[int]] = []
    cursor = None
    for _ in range(20):
        page, cursor = list_traces(store, where, sort=sort, limit=limit, cursor=cursor)
        found.append(numbers(page))
        if cursor is None:
            return found
    raise AssertionError(f"pages never ended: {found}")


def test_keyset_pages_return_every_trace_once_in_order(store: TraceStore) -> None:
    populate(store)
    assert pages(store, TraceFilter()) == [[5, 4], [3, 2], [1]]
    assert pages(store, TraceFilter(), "duration") == [[4, 2], [1, 3], [5]]
    assert pages(store, TraceFilter(), "cost") == [[5, 1], [2, 3], [4]]
    assert pages(store, TraceFilter(provider="openai")) == [[5, 3], [1]]
    assert pages(store, TraceFilter(), limit=5) == [[5, 4, 3, 2, 1]]
    assert pages(store, TraceFilter(), limit=4) == [[5, 4, 3, 2], [1]]


def test_pages_break_ties_by_trace_id(store: TraceStore) -> None:
    store.write(rows(*(make_span(n, 1, None, "same", 0, 10, llm(1, 1, 0.5)) for n in range(1, 6))))
    for sort in ("start", "duration", "cost"):
        assert pages(store, TraceFilter(), sort) == [[5, 4], [3, 2], [1]]


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


BAD_CURSORS = [
    "garbage",
    "!!!!",
    "é",
    cursor_of({"a": 1}),
    cursor_of([1]),
    cursor_of([1, "a", 2]),
    cursor_of(["x", "y"]),
    cursor_of([{}, []]),
    cursor_of([1, 2]),
    cursor_of([True, "a"]),
]


def test_a_cursor_this_api_did_not_return_is_a_query_error(store: TraceStore) -> None:
    populate(store)
    for cursor in BAD_CURSORS:
        for sort in ("start", "duration", "cost"):
            with pytest.raises(QueryError) as caught:
                list_traces(store, TraceFilter(), sort=sort, cursor=cursor)  # type: ignore[arg-type]
            assert caught.value.param == "cursor", (cursor, sort)
        with pytest.raises(QueryError) as caught:
            get_trace(store, tid(1), cursor=cursor)
        assert caught.value.param == "cursor", cursor
        with pytest.raises(QueryError) as caught:
            list_sessions(store, cursor=cursor)
        assert caught.value.param == "cursor", cursor


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda s: list_traces(s, TraceFilter(), sort="name"), "sort"),
        (lambda s: list_traces(s, TraceFilter(), limit=0), "limit"),
        (lambda s: list_traces(s, TraceFilter(), limit=501), "limit"),
        (lambda s: list_traces(s, TraceFilter(status="failed")), "status"),
        (lambda s: list_sessions(s, limit=0), "limit"),
        (lambda s: get_trace(s, tid(1), limit=0), "limit"),
    ],
)
def test_out_of_range_arguments_name_themselves(call: Any, param: str) -> None:
    with migrated_store("sqlite://") as store, pytest.raises(QueryError) as caught:
        call(store)
    assert caught.value.param == param


HOSTILE = ["' OR 1=1 --", "%", "_", "\\", "%' OR '1'='1", "*", "prod%", "' OR ''='", "$.tenant"]
STRING_FILTERS = (
    "model",
    "provider",
    "name",
    "session_id",
    "user_id",
    "key_id",
    "prompt",
    "service",
    "tag",
    "text",
)


def test_hostile_values_in_string_filters_match_nothing(store: TraceStore) -> None:
    populate(store)
    matched = {}
    for value in HOSTILE:
        for name in STRING_FILTERS:
            matched[(name, value)] = listed(store, **{name: value})
        matched[("attribute key", value)] = listed(store, attributes=[(value, "acme")])
        matched[("attribute key", value + '"')] = listed(store, attributes=[(value + '"', "1")])
        matched[("attribute value", value)] = listed(store, attributes=[("tenant", value)])
        matched[("session user", value)] = list_sessions(store, user_id=value)[0]
    assert {k: v for k, v in matched.items() if v} == {}
    assert (count(store, TRACES), count(store, SPANS)) == (5, 9)


# -- one trace ------------------------------------------------------------------------------


def tree() -> list[ReadableSpan]:
    """Trace 9: root 1 with children 3 and 5 (same start) and 2; 4 is a child of 3."""
    return [
        make_span(9, 2, 1, "late child", 30, 40),
        make_span(9, 4, 3, "grandchild", 20, 25, {"n": 3, "ok": True, "list": ("a", "b")}),
        make_span(9, 5, 1, "twin b", 10, 15),
        make_span(9, 1, None, "root", 0, 100),
        make_span(9, 3, 1, "twin a", 10, 28),
    ]


def test_a_trace_lists_its_spans_in_start_order_in_pages(store: TraceStore) -> None:
    store.write(rows(*tree()))
    summary, spans, cursor = get_trace(store, tid(9))
    assert summary is not None and summary["span_count"] == 5
    assert (numbers(spans, "span_id"), cursor) == ([1, 3, 5, 4, 2], None)
    assert [s["parent_span_id"] for s in spans] == [None, sid(1), sid(1), sid(3), sid(1)]
    assert spans[3]["attributes"] == {"n": 3, "ok": True, "list": ["a", "b"]}
    assert spans[3]["start_ns"] == T0 + 20 * MS and spans[3]["duration_ms"] == 5.0

    found: list[list[int]] = []
    cursor = None
    while True:
        summary, page, cursor = get_trace(store, tid(9), limit=2, cursor=cursor)
        assert summary is not None
        found.append(numbers(page, "span_id"))
        if cursor is None:
            break
    assert found == [[1, 3], [5, 4], [2]]


def test_a_parent_gives_only_its_direct_children(store: TraceStore) -> None:
    store.write(rows(*tree()))
    children = {
        parent: numbers(get_trace(store, tid(9), parent_span_id=sid(parent))[1], "span_id")
        for parent in (1, 2, 3, 4)
    }
    assert children == {1: [3, 5, 2], 2: [], 3: [4], 4: []}
    _, first, cursor = get_trace(store, tid(9), parent_span_id=sid(1), limit=2)
    _, rest, end = get_trace(store, tid(9), parent_span_id=sid(1), limit=2, cursor=cursor)
    assert (numbers(first, "span_id"), numbers(rest, "span_id"), end) == ([3, 5], [2], None)


def test_an_unknown_trace_is_none_and_malformed_ids_name_themselves(store: TraceStore) -> None:
    store.write(rows(*tree()))
    assert get_trace(store, tid(10)) == (None, [], None)
    for bad in ("xyz", tid(0xABC).upper(), tid(9)[:-1], tid(9) + "0", "g" * 32, "' OR 1=1 --", ""):
        with pytest.raises(QueryError) as caught:
            get_trace(store, bad)
        assert caught.value.param == "trace_id", bad
    for bad in ("123", "z" * 16, sid(1) + "0", "' OR 1=1 --"):
        with pytest.raises(QueryError) as caught:
            get_trace(store, tid(9), parent_span_id=bad)
        assert caught.value.param == "parent", bad


# -- sessions -------------------------------------------------------------------------------


def test_sessions_group_traces_most_recent_first(store: TraceStore) -> None:
    populate(store)
    found, cursor = list_sessions(store)
    assert cursor is None
    assert found == [
        {
            "session_id": "s3",
            "trace_count": 1,
            "start_ns": T0 + 4000 * MS,
            "last_start_ns": T0 + 4000 * MS,
            "end_ns": T0 + 4020 * MS,
            "input_tokens": 5,
            "output_tokens": 5,
            "cost": 1.0,
            "llm_count": 1,
            "unpriced_count": 0,
            "error_count": 0,
            "user_id": "carol",
        },
        {
            "session_id": "s2",
            "trace_count": 1,
            "start_ns": T0 + 2000 * MS,
            "last_start_ns": T0 + 2000 * MS,
            "end_ns": T0 + 2050 * MS,
            "input_tokens": 10,
            "output_tokens": 0,
            "cost": 0.125,
            "llm_count": 1,
            "unpriced_count": 0,
            "error_count": 0,
            "user_id": "bob",
        },
        {
            "session_id": "s1",
            "trace_count": 2,
            "start_ns": T0,
            "last_start_ns": T0 + 1000 * MS,
            "end_ns": T0 + 1300 * MS,
            "input_tokens": 150,
            "output_tokens": 30,
            "cost": 0.75,
            "llm_count": 2,
            "unpriced_count": 0,
            "error_count": 1,
            "user_id": "alice",
        },
    ]
    assert [s["session_id"] for s in list_sessions(store, user_id="alice")[0]] == ["s1"]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = list_sessions(store, limit=1, cursor=cursor)
        seen.extend(s["session_id"] for s in page)
        if cursor is None:
            break
    assert seen == ["s3", "s2", "s1"]


def test_sessions_with_the_same_last_start_page_by_session_id(store: TraceStore) -> None:
    store.write(
        rows(
            *(
                make_span(n, 1, None, "turn", 0, 10, {"gen_ai.conversation.id": f"c{n}"})
                for n in range(1, 5)
            )
        )
    )
    first, cursor = list_sessions(store, limit=3)
    rest, end = list_sessions(store, limit=3, cursor=cursor)
    assert ([s["session_id"] for s in first], [s["session_id"] for s in rest], end) == (
        ["c4", "c3", "c2"],
        ["c1"],
        None,
    )


# -- usage statistics -----------------------------------------------------------------------


def call(
    number: int,
    start_ms: int,
    duration_ms: int,
    model: str,
    provider: str,
    key: str,
    tokens: tuple[int, int],
    cost: float,
    *,
    status: str = "unset",
    extra: dict[str, Any] | None = None,
) -> ReadableSpan:
    """One LLM request, alone in its trace."""
    attributes = llm(
        *tokens,
        cost,
        model,
        {"gen_ai.provider.name": provider, "spyglass.key.id": key, **(extra or {})},
    )
    return make_span(
        number, 1, None, f"chat {model}", start_ms, start_ms + duration_ms, attributes, status
    )


def ttft(ms: float) -> dict[str, Any]:
    return {"spyglass.time_to_first_token_ms": ms}


def calls() -> list[ReadableSpan]:
    """gpt-4o (openai, key-1) and claude-3 (anthropic, key-2) in two minute-buckets."""
    gpt = ("gpt-4o", "openai", "key-1", (10, 2), 0.125)
    claude = ("claude-3", "anthropic", "key-2", (20, 4), 0.25)
    spans = [
        call(1, 1000, 10, *gpt, extra=ttft(5)),
        call(2, 2000, 20, *gpt, extra=ttft(15)),
        call(3, 3000, 30, *gpt, extra=ttft(25)),
        call(4, 4000, 40, *gpt, status="error"),
        call(5, 5000, 100, *gpt),
        call(6, 6000, 50, *claude),
        call(7, 7000, 70, *claude),
        # Next bucket; TTFT from the semconv's first-chunk time, in seconds.
        call(8, 61_000, 200, *gpt, extra={"gen_ai.response.time_to_first_chunk": 0.5}),
        # Outside the range: just before it, and at its (exclusive) end.
        call(9, -1, 10, *gpt),
        call(10, 120_000, 10, *gpt),
        # Not counted: an upstream attempt (its request is), and a tool span.
        make_span(
            1,
            2,
            1,
            "chat gpt-4o",
            1001,
            1009,
            llm(10, 2, 0.125, "gpt-4o", {"spyglass.attempt": 1, "spyglass.key.id": "key-1"}),
        ),
        make_span(11, 1, None, "execute_tool x", 1500, 1600, {"gen_ai.operation.name": "tool"}),
    ]
    return spans


def bucket(
    start_s: int,
    group: str | None,
    durations: list[float],
    errors: int,
    tokens: tuple[int, int],
    cost: float,
    p50: float,
    p95: float,
    ttft_p50: float | None,
) -> dict[str, Any]:
    return {
        "bucket_start_ns": T0 + start_s * SECOND,
        "group": group,
        "requests": len(durations),
        "errors": errors,
        "error_rate": errors / len(durations),
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cost": cost,
        "unpriced": 0,
        "latency_p50_ms": p50,
        "latency_p95_ms": pytest.approx(p95),
        "ttft_p50_ms": ttft_p50,
    }


# Percentiles interpolate linearly between the closest ranks, as numpy's default does:
# for n sorted values, q lies at position (n - 1) * q / 100.
#   gpt-4o, minute 0: [10, 20, 30, 40, 100] -> p50 at 2 = 30; p95 at 3.8 = 40 + 0.8 * 60 = 88
#   claude-3, minute 0: [50, 70] -> p50 at 0.5 = 60; p95 at 0.95 = 50 + 0.95 * 20 = 69
#   everything, minute 0: [10, 20, 30, 40, 50, 70, 100] -> p50 at 3 = 40; p95 at 5.7 = 91
#   TTFT, minute 0: [5, 15, 25] -> p50 = 15
GPT_0 = ([10, 20, 30, 40, 100], 1, (50, 10), 0.625, 30.0, 88.0, 15.0)
CLAUDE_0 = ([50, 70], 0, (40, 8), 0.5, 60.0, 69.0, None)
GPT_1 = ([200], 0, (10, 2), 0.125, 200.0, 200.0, 500.0)


def test_usage_stats_per_bucket(store: TraceStore) -> None:
    store.write(rows(*calls()))
    found = usage_stats(store, start_ns=T0, end_ns=T0 + 120 * SECOND, bucket_seconds=60)
    assert found == [
        bucket(0, None, [10, 20, 30, 40, 50, 70, 100], 1, (90, 18), 1.125, 40.0, 91.0, 15.0),
        bucket(60, None, *GPT_1),
    ]


@pytest.mark.parametrize(
    ("group_by", "names"),
    [
        ("model", ("claude-3", "gpt-4o")),
        ("provider", ("anthropic", "openai")),
        ("key", ("key-2", "key-1")),
    ],
)
def test_usage_stats_per_group(store: TraceStore, group_by: Any, names: tuple[str, str]) -> None:
    store.write(rows(*calls()))
    found = usage_stats(
        store, start_ns=T0, end_ns=T0 + 120 * SECOND, bucket_seconds=60, group_by=group_by
    )
    claude, gpt = names
    expected = [
        bucket(0, claude, *CLAUDE_0),
        bucket(0, gpt, *GPT_0),
        bucket(60, gpt, *GPT_1),
    ]
    # Buckets come in time order, and within one in the groups' order.
    assert found == sorted(expected, key=lambda e: (e["bucket_start_ns"], e["group"]))


def test_usage_stats_over_one_bucket_and_an_empty_range(store: TraceStore) -> None:
    store.write(rows(*calls()))
    (whole,) = usage_stats(store, start_ns=T0, end_ns=T0 + 120 * SECOND, bucket_seconds=3600)
    assert (whole["requests"], whole["errors"], whole["input_tokens"], whole["cost"]) == (
        8,
        1,
        100,
        1.25,
    )
    assert usage_stats(store, start_ns=T0 - 9 * SECOND, end_ns=T0 - SECOND, bucket_seconds=1) == []


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"start_ns": T0, "end_ns": T0, "bucket_seconds": 60}, "end"),
        ({"start_ns": T0, "end_ns": T0 - 1, "bucket_seconds": 60}, "end"),
        ({"start_ns": T0, "end_ns": T0 + SECOND, "bucket_seconds": 0}, "bucket"),
        ({"start_ns": T0, "end_ns": T0 + 86_400 * SECOND, "bucket_seconds": 1}, "bucket"),
        (
            {"start_ns": T0, "end_ns": T0 + SECOND, "bucket_seconds": 1, "group_by": "user"},
            "group_by",
        ),
    ],
)
def test_bad_usage_ranges_name_themselves(arguments: dict[str, Any], param: str) -> None:
    with migrated_store("sqlite://") as store, pytest.raises(QueryError) as caught:
        usage_stats(store, **arguments)
    assert caught.value.param == param


def test_text_search_matches_message_text_not_its_json_structure(store: TraceStore) -> None:
    populate(store)
    assert {q: listed(store, text=q) for q in ("user", "role", "parts", '"')} == {
        "user": [],
        "role": [],
        "parts": [],
        '"': [],
    }

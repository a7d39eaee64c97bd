"""``spyglass traces``: the table, the API's JSON, filters, the span tree, pruning, and errors
that name the option at fault; over a store filled through the real write path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.trace import SpanKind
from typer.testing import CliRunner, Result

from spyglass import load_settings
from spyglass._cli import app
from spyglass._cli_render import local_time, span_label, span_tree
from spyglass._db import create_store_engine, upgrade_store
from tests.conftest import running_app
from tests.tracing.helpers import MS, T0, llm, make_span, migrated_store, rows, sid, tid
from tracing import TraceStore, get_trace

runner = CliRunner()
WIDE = {"COLUMNS": "250"}
MINUTE = 60_000
QUESTION = orjson.dumps(
    [{"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
).decode()


def ago(minutes: float) -> int:
    """The span-time offset (ms after helpers' T0) of ``minutes`` before now."""
    return (time.time_ns() - T0) // MS - int(minutes * MINUTE)


def labels(provider: str, session: str, user: str, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.provider.name": provider,
        "gen_ai.conversation.id": session,
        "enduser.id": user,
        **extra,
    }


def populate(store: TraceStore) -> None:
    """Three traces:

    1  agent run    30 min ago   error (a grandchild failed)  gpt-small, openai, sess-a, alice
       agent run
       ├── search        (tool, starts first)
       │   └── fetch page  (error: timeout after 1s)
       └── chat gpt-small  (12 -> 5 tokens, $0.0055)
    2  chat claude-ish  3 h ago  ok, 250 ms, 20 -> 2 tokens, $3.50, anthropic, sess-b, bob,
       key-b, prompt greeter/3
    3  embed docs   2 days ago   ok, 50 ms, service batch
    """
    a, b, c = ago(30), ago(180), ago(2 * 24 * 60)
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
    # Children before their parents, over two batches: the store assembles the trace.
    store.write(
        rows(
            make_span(
                1, 4, 3, "fetch page", a + 60, a + 1400, status="error", message="timeout after 1s"
            ),
            make_span(
                1,
                2,
                1,
                "chat gpt-small",
                a + 100,
                a + 900,
                llm(
                    12,
                    5,
                    0.0055,
                    "gpt-small",
                    {**labels("openai", "sess-a", "alice"), "gen_ai.input.messages": QUESTION},
                ),
                kind=SpanKind.CLIENT,
            ),
            make_span(3, 1, None, "embed docs", c, c + 50, service="batch"),
        )
    )
    store.write(
        rows(
            make_span(1, 3, 1, "search", a + 50, a + 1500, tool),
            make_span(1, 1, None, "agent run", a, a + 2000, {"app.tenant": "acme"}),
            make_span(
                2,
                1,
                None,
                "chat claude-ish",
                b,
                b + 250,
                llm(
                    20,
                    2,
                    3.5,
                    "claude-ish",
                    labels(
                        "anthropic",
                        "sess-b",
                        "bob",
                        **{
                            "app.tenant": "globex",
                            "spyglass.key.id": "key-b",
                            "gen_ai.prompt.name": "greeter",
                            "gen_ai.prompt.version": "3",
                        },
                    ),
                ),
                "ok",
            ),
        )
    )


@pytest.fixture
def store() -> Iterator[TraceStore]:
    """The store `spyglass serve` would use here (SQLite under SPYGLASS_HOME), filled."""
    settings, _ = load_settings(None)
    engine = create_store_engine(settings.database_url_value())
    upgrade_store(engine)
    store = TraceStore(engine)
    populate(store)
    yield store
    engine.dispose()


def invoke(*args: str, **kwargs: Any) -> Result:
    return runner.invoke(app, ["traces", *args], env=WIDE, **kwargs)


def listed(*args: str) -> list[int]:
    result = invoke("list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [int(t["trace_id"], 16) for t in json.loads(result.stdout)["data"]]


def line_of(output: str, text: str) -> str:
    found = [line for line in output.splitlines() if text in line]
    assert len(found) == 1, (text, output)
    return found[0]


def test_list_prints_a_table_newest_first(store: TraceStore) -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    output = result.stdout
    assert output.index(tid(1)) < output.index(tid(2)) < output.index(tid(3))
    first = line_of(output, tid(1))
    summary, _, _ = get_trace(store, tid(1))
    assert summary is not None
    for shown in (
        local_time(summary["start_ns"]),
        "agent run",
        "error",
        "2.00 s",
        "12 / 5",
        "$0.0055",
    ):
        assert shown in first
    for shown in ("gpt-small", "sess-a", "alice"):
        assert shown in first
    second = line_of(output, tid(2))
    for shown in ("chat claude-ish", " ok ", "250 ms", "20 / 2", "$3.50", "claude-ish", "bob"):
        assert shown in second
    third = line_of(output, tid(3))
    assert "embed docs" in third and "50 ms" in third
    assert "more:" not in output


def test_a_cost_no_price_is_known_for_is_unknown_not_zero(store: TraceStore) -> None:
    """Trace 4 calls a model no price map knows; trace 5 calls the mock, which is free."""
    now = ago(1)
    store.write(rows(make_span(4, 1, None, "chat private", now, now + 10, llm(7, 3, None, "mine"))))
    store.write(rows(make_span(5, 1, None, "chat mock", now, now + 10, llm(7, 3, 0.0, "mock"))))
    listed_lines = invoke("list").stdout
    assert "unknown" in line_of(listed_lines, tid(4))
    assert "$0" in line_of(listed_lines, tid(5))
    assert " - " in line_of(listed_lines, tid(3))  # no LLM call at all
    shown = invoke("show", tid(4))
    assert shown.exit_code == 0, shown.output
    assert "unknown" in line_of(shown.stdout, "cost")
    as_json = json.loads(invoke("show", tid(4), "--json").stdout)["trace"]
    assert (as_json["cost"], as_json["unpriced_count"]) == (None, 1)


def test_a_narrow_terminal_drops_columns_but_never_cuts_an_id(store: TraceStore) -> None:
    result = runner.invoke(app, ["traces", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    first = line_of(result.stdout, tid(1))
    assert "error" in first and "agent run" in first
    assert "alice" not in result.stdout  # the least wanted columns went first
    assert all(len(line) <= 80 for line in result.stdout.splitlines() if "more:" not in line)


@pytest.mark.postgres
def test_list_and_show_read_postgresql(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with migrated_store(pg_database) as store:
        populate(store)
        monkeypatch.setenv("SPYGLASS_DATABASE_URL", pg_database)
        assert listed("--attr", "app.tenant=acme") == [1]
        assert listed("--sort", "cost") == [2, 1, 3]
        result = invoke("show", tid(1))
        assert result.exit_code == 0, result.output
        assert "fetch page" in result.stdout


async def test_list_json_is_the_apis(store: TraceStore) -> None:
    settings, _ = load_settings(None)
    async with running_app(settings) as client:
        for query, args in (
            ({}, []),
            ({"status": "ok", "sort": "cost"}, ["--status", "ok", "--sort", "cost"]),
            ({"limit": "2"}, ["--limit", "2"]),
        ):
            api = await client.get("/api/traces", params=query)
            assert api.status_code == 200
            result = invoke("list", "--json", *args)
            assert result.exit_code == 0, result.output
            assert result.stdout.encode() == api.content + b"\n"
        cursor = api.json()["next_cursor"]
        assert cursor is not None
        api = await client.get("/api/traces", params={"limit": "2", "cursor": cursor})
        result = invoke("list", "--json", "--limit", "2", "--cursor", cursor)
        assert result.stdout.encode() == api.content + b"\n"
        assert [t["trace_id"] for t in api.json()["data"]] == [tid(3)]


def four_hours_ago_local() -> str:
    return datetime.fromtimestamp(time.time() - 4 * 3600).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], [1, 2, 3]),
        (["--status", "error"], [1]),
        (["--status", "ok"], [2, 3]),
        (["--model", "claude-ish"], [2]),
        (["--provider", "openai"], [1]),
        (["--name", "embed docs"], [3]),
        (["--session", "sess-a"], [1]),
        (["--user", "bob"], [2]),
        (["--key", "key-b"], [2]),
        (["--prompt", "greeter"], [2]),
        (["--service", "batch"], [3]),
        (["--since", "1h"], [1]),
        (["--since", "1d"], [1, 2]),
        (["--since", "90m", "--until", "10m"], [1]),
        (["--until", "1h"], [2, 3]),
        (["--since", "four hours ago"], [1, 2]),
        (["--min-duration-ms", "1000"], [1]),
        (["--min-cost", "1"], [2]),
        (["--attr", "app.tenant=acme"], [1]),
        (["--attr", "app.tenant=globex", "--attr", "gen_ai.provider.name=anthropic"], [2]),
        (["--attr", "app.tenant=globex", "--attr", "gen_ai.provider.name=openai"], []),
        (["--search", "capital of FRANCE"], [1]),
        (["--search", "fetch"], [1]),
        (["--sort", "cost"], [2, 1, 3]),
        (["--sort", "duration"], [1, 2, 3]),
    ],
)
def test_list_filters(store: TraceStore, args: list[str], expected: list[int]) -> None:
    args = [four_hours_ago_local() if a == "four hours ago" else a for a in args]
    assert listed(*args) == expected


def test_list_pages_with_the_printed_cursor(store: TraceStore) -> None:
    seen: list[str] = []
    args = ["list", "--limit", "2"]
    for _ in range(3):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        seen += [t for t in (tid(1), tid(2), tid(3)) if t in result.stdout]
        if "more: add --cursor " not in result.stdout:
            break
        cursor = result.stdout.split("more: add --cursor ")[1].split()[0]
        args = ["list", "--limit", "2", "--cursor", cursor]
    assert seen == [tid(1), tid(2), tid(3)]


def test_show_prints_the_summary_and_the_span_tree(store: TraceStore) -> None:
    result = invoke("show", tid(1).upper())
    assert result.exit_code == 0, result.output
    output = result.stdout
    assert "4 (1 LLM call)" in line_of(output, "spans")
    assert "error: timeout after 1s" in line_of(output, "status")
    assert "sess-a" in line_of(output, "session")
    tree = output[output.index("agent run  " + tid(1)) :].splitlines()
    names = ["agent run  span", "search  tool", "fetch page  span", "chat gpt-small  llm"]
    lines = [next(i for i, line in enumerate(tree) if name in line) for name in names]
    assert lines == sorted(lines), tree  # children in start order: search before chat
    depth = [tree[i].index(name) for i, name in zip(lines, names, strict=True)]
    assert depth[0] < depth[1] == depth[3] < depth[2], tree
    assert "error: timeout after 1s" in tree[lines[2]]
    assert "gpt-small" in tree[lines[3]] and "12→5 tok" in tree[lines[3]]
    assert "showing the first" not in output


async def test_show_json_is_the_apis(store: TraceStore) -> None:
    settings, _ = load_settings(None)
    async with running_app(settings) as client:
        for number in (1, 2):
            api = await client.get(f"/api/traces/{tid(number)}")
            result = invoke("show", tid(number), "--json")
            assert result.exit_code == 0, result.output
            assert result.stdout.encode() == api.content + b"\n"


def test_show_pages_through_a_large_trace_and_caps_the_tree(
    store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("spyglass._cli_traces._PAGE", 3)
    monkeypatch.setattr("spyglass._cli_traces.SHOW_LIMIT", 7)
    spans = [make_span(9, 1, None, "big", 0, 100)]
    spans += [make_span(9, n, 1, f"step {n:02d}", n, n + 1) for n in range(2, 13)]
    store.write(rows(*spans))
    result = invoke("show", tid(9))
    assert result.exit_code == 0, result.output
    assert "step 07" in result.stdout and "step 08" not in result.stdout
    assert "showing the first 7 of 12 spans" in result.stdout
    result = invoke("show", tid(9), "--json")
    shown = json.loads(result.stdout)
    assert [s["span_id"] for s in shown["spans"]] == [sid(n) for n in range(1, 13)]
    assert shown["next_cursor"] is None


def span(number: int, parent: int | None, **fields: Any) -> dict[str, Any]:
    return {
        "span_id": sid(number),
        "parent_span_id": sid(parent) if parent is not None else None,
        "name": f"s{number}",
        "kind": "span",
        "status": "unset",
        "duration_ms": 1.0,
        **fields,
    }


def test_the_tree_shows_orphans_and_cycles_at_the_top() -> None:
    from rich.console import Console

    trace = {"name": "t", "trace_id": tid(1)}
    spans = [span(1, None), span(2, 7), span(3, 4), span(4, 3), span(5, 5), span(6, 1)]
    console = Console(width=100, record=True)
    console.print(span_tree(trace, spans))
    lines = console.export_text().splitlines()
    shown = {
        line.split()[-4].lstrip("─"): len(line) - len(line.lstrip("│├└─ ")) for line in lines[1:]
    }
    assert set(shown) == {"s1", "s2", "s3", "s4", "s5", "s6"}
    assert shown["s1"] == shown["s2"] == shown["s3"] == shown["s5"] < shown["s6"] == shown["s4"]


def test_a_failed_span_is_red() -> None:
    failed = span_label(span(1, None, status="error", status_message="boom"))
    assert {s.style for s in failed.spans} >= {"red"}
    assert "bold red" in str(failed.style)
    assert "red" not in str(span_label(span(1, None, status="ok")).style)


def test_markup_in_names_is_shown_as_written(store: TraceStore) -> None:
    store.write(rows(make_span(8, 1, None, "[bold]x[/] [link=y]", ago(1), ago(1) + 5)))
    assert "[bold]x[/] [link=y]" in invoke("list").stdout
    assert "[bold]x[/] [link=y]" in invoke("show", tid(8)).stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "xyz"], 2, "error: TRACE_ID: expected 32 hexadecimal digits (got 'xyz')"),
        (["show", "g" * 32], 2, "error: TRACE_ID: expected 32 hexadecimal digits"),
        (["show", tid(404)], 1, f"error: no trace {tid(404)}"),
        (["list", "--since", "yesterday"], 2, "error: --since: expected a time like 30m"),
        (["list", "--until", "3 fortnights"], 2, "error: --until: expected a time like 30m"),
        (["list", "--attr", "noequals"], 2, "error: --attr: expected KEY=VALUE (got 'noequals')"),
        (["list", "--attr", "=v"], 2, "error: --attr: expected KEY=VALUE"),
        (["list", "--cursor", "bogus!"], 2, "error: --cursor: not a cursor this API returned"),
        (["list", "--limit", "0"], 2, "error: --limit: expected 1 to 500"),
        (
            ["list", "--sort", "size"],
            2,
            "error: --sort: expected start, duration, cost or score:NAME",
        ),
        (["list", "--status", "fine"], 2, "error: --status: expected ok or error"),
        (["list", "--min-cost", "-1"], 2, "error: --min-cost: expected 0 or more"),
        (["prune", "--older-than", "soon"], 2, "error: --older-than: expected a time like"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(
    store: TraceStore, args: list[str], code: int, message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_without_a_store_each_command_says_how_to_get_one() -> None:
    database = Path("home") / "spyglass.db"
    result = invoke("list")
    assert result.exit_code == 0
    assert "no traces yet: start `spyglass serve` and send a request" in result.output
    result = invoke("list", "--json")
    assert json.loads(result.stdout) == {"data": [], "next_cursor": None}
    result = invoke("show", tid(1))
    assert result.exit_code == 1
    assert f"no trace {tid(1)}: no traces yet" in result.stderr
    result = invoke("prune", "--older-than", "30d", "--yes")
    assert result.exit_code == 0
    assert "nothing to delete: no traces yet" in result.stdout
    assert not database.exists()  # looking did not create it
    # A database that exists but was never migrated is no store either.
    database.parent.mkdir()
    database.touch()
    assert "no traces yet" in invoke("list").output


def test_an_unreachable_store_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPYGLASS_DATABASE_URL", "postgresql://user:hunter2@127.0.0.1:1/x")
    result = invoke("list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open the store: OperationalError")
    assert "hunter2" not in result.output


def test_prune_deletes_old_traces_and_their_spans(store: TraceStore) -> None:
    result = invoke("prune", "--older-than", "1d", input="n\n")
    assert result.exit_code == 1  # declined: nothing deleted
    assert "Delete 1 trace(s) started before" in result.output
    assert listed() == [1, 2, 3]
    result = invoke("prune", "--older-than", "1d", input="y\n")
    assert result.exit_code == 0, result.output
    assert "deleted 1 trace(s) and 1 span(s) started before" in result.stdout
    assert listed() == [1, 2]
    result = invoke("prune", "--older-than", "2h", "--yes")
    assert "deleted 1 trace(s) and 1 span(s)" in result.stdout
    result = invoke("prune", "--older-than", "2h", "--yes")
    assert result.exit_code == 0
    assert "no traces started before" in result.stdout
    assert listed() == [1]
    assert invoke("show", tid(1)).exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["traces", "--help"],
        ["traces", "list", "--help"],
        ["traces", "show", "--help"],
        ["traces", "prune", "--help"],
    ],
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys; from spyglass._cli import app; from typer.testing import CliRunner;"
        f"r = CliRunner().invoke(app, {args!r}); assert r.exit_code == 0, r.output;"
        "heavy = {'litellm', 'fastapi', 'sqlalchemy', 'httpx', 'uvicorn', 'gateway', 'tracing'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_listing_traces_never_imports_litellm(store: TraceStore) -> None:
    code = (
        "import sys; from spyglass._cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['traces', 'list']); assert r.exit_code == 0, r.output;"
        f"r = CliRunner().invoke(app, ['traces', 'show', '{tid(1)}']); assert r.exit_code == 0;"
        "assert 'agent run' in r.output, r.output;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'litellm'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

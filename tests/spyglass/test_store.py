"""The store: migrations and readiness on the embedded SQLite and on the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from spyglass import Settings
from spyglass._db import (
    HEAD_REVISION,
    check_store,
    create_store_engine,
    current_revision,
    downgrade_store,
    head_revision,
    upgrade_store,
)
from tests.conftest import running_app


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'spyglass.db'}"
    url: str = request.getfixturevalue("pg_own_database")
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    downgrade_store(engine, "base")
    engine.dispose()


def test_migrations_apply_idempotently_and_revert(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade_store(engine)
    upgrade_store(engine)  # a second run changes nothing
    assert current_revision(engine) == head_revision()
    assert "alembic_version" in inspect(engine).get_table_names()
    downgrade_store(engine, "base")
    assert current_revision(engine) is None
    check_store(engine)


def test_a_store_at_the_head_is_not_migrated_again_and_one_behind_is(engine: Engine) -> None:
    assert HEAD_REVISION == head_revision()  # a new migration must move HEAD_REVISION too
    upgrade_store(engine)
    downgrade_store(engine, "0010")
    upgrade_store(engine)  # one behind: alembic runs
    assert current_revision(engine) == HEAD_REVISION
    upgrade_store(engine)  # at the head: answered by one query
    assert current_revision(engine) == HEAD_REVISION


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a' / 'b.db'}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
    assert (tmp_path / "a" / "b.db").exists()
    engine.dispose()


@pytest.mark.postgres
async def test_server_on_postgres_is_ready_and_migrated(
    settings_from: Callable[..., Settings], pg_database: str
) -> None:
    settings = settings_from({"database_url": pg_database})
    async with running_app(settings) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["store"] == "ok"
    engine = create_store_engine(pg_database)
    assert current_revision(engine) == head_revision()
    downgrade_store(engine, "base")
    engine.dispose()


async def test_ready_is_503_when_the_store_is_unreachable(
    settings_from: Callable[..., Settings],
) -> None:
    settings = settings_from(
        {"database_url": "postgresql://nobody@127.0.0.1:1/none", "tracing": {"enabled": False}}
    )
    async with running_app(settings, migrate=False) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "store": "unreachable"}


def test_projects_migration_keeps_the_rows_before_it(engine: Engine) -> None:
    """0007 adds projects: old traces, spans and runs have none; old prompts are unscoped."""
    from sqlalchemy import text

    from prompts import PromptStore

    upgrade_store(engine, "0006")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO traces (trace_id, start_ns, end_ns, duration_ms, status, span_count,"
                " llm_count, input_tokens, output_tokens, cost, tags) VALUES"
                " (:t, 1, 2, 0, 'ok', 1, 0, 0, 0, 0, '[]')"
            ),
            {"t": "a" * 32},
        )
        conn.execute(
            text(
                "INSERT INTO spans (trace_id, span_id, name, kind, span_kind, status, start_ns,"
                " end_ns, duration_ms, is_attempt, attributes, events) VALUES"
                " (:t, :s, 'old', 'span', 'internal', 'ok', 1, 2, 0, false, '{}', '[]')"
            ),
            {"t": "a" * 32, "s": "b" * 16},
        )
        conn.execute(
            text("INSERT INTO eval_experiments (id, name, created_at) VALUES (1, 'qa', :now)"),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO eval_runs (id, experiment_id, invocation, variant, status, total,"
                " dataset_hash, params, spec, tags, created_at) VALUES"
                " ('r1', 1, 'i', 'v', 'finished', 0, 'h', '{}', '{}', '[]', :now)"
            ),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
    # A prompt with two versions and a label, pushed by the store as it was at 0006.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO prompts (id, name, tags, created_at, updated_at) VALUES"
                " (7, 'summarize', '[]', :now, :now)"
            ),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
        for version in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO prompt_versions (prompt_id, version, engine, template, variables,"
                    " model_config, content_hash, created_at) VALUES"
                    " (7, :v, 'mustache', :tpl, '[]', '{}', :h, :now)"
                ),
                {"v": version, "tpl": f'"v{version}"', "h": str(version), "now": "2026-01-01"},
            )
        conn.execute(
            text(
                "INSERT INTO prompt_labels (prompt_id, label, version, updated_at) VALUES"
                " (7, 'production', 1, :now)"
            ),
            {"now": "2026-01-01T00:00:00+00:00"},
        )
    upgrade_store(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT project FROM traces")).all() == [(None,)]
        assert conn.execute(text("SELECT project FROM spans")).all() == [(None,)]
        assert conn.execute(text("SELECT project FROM eval_runs")).all() == [(None,)]
        assert conn.execute(text("SELECT project FROM prompts")).all() == [("",)]
    prompts = PromptStore(engine)
    assert prompts.get("summarize@production").template == "v1"
    assert [v.version for v in prompts.versions("summarize")] == [2, 1]
    # The same name in a project is another prompt; in the same project it is the same one.
    version, created = prompts.push("summarize", "A's", project="A")
    assert (version.version, created) == (1, True)
    assert prompts.get("summarize").template == "v2"
    # Going back would make 'summarize' ambiguous: refused, and nothing is lost.
    with pytest.raises(RuntimeError, match="summarize"):
        downgrade_store(engine, "0006")
    assert current_revision(engine) == head_revision()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM prompts WHERE project = 'A'"))
    downgrade_store(engine, "0006")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM prompt_versions")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM prompt_labels")).scalar() == 1


def test_trace_status_migration_forgives_failed_attempts_only(engine: Engine) -> None:
    """0009: a trace whose only failed span was a gateway attempt becomes ok."""
    from sqlalchemy import text

    upgrade_store(engine, "0008")
    spans = [  # (trace, span, status, is_attempt, message)
        ("a", "1", "ok", False, None),
        ("a", "2", "error", True, "flaky returned 503"),
        ("b", "3", "error", False, "the call failed"),
        ("b", "4", "error", True, "flaky returned 503"),
    ]
    with engine.begin() as conn:
        for trace in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO traces (trace_id, start_ns, end_ns, duration_ms, status, error,"
                    " span_count, llm_count, input_tokens, output_tokens, cost, tags) VALUES"
                    " (:t, 1, 2, 0, 'error', 'flaky returned 503', 2, 0, 0, 0, 0, '[]')"
                ),
                {"t": trace * 32},
            )
        for trace, span, status, attempt, message in spans:
            conn.execute(
                text(
                    "INSERT INTO spans (trace_id, span_id, name, kind, span_kind, status,"
                    " status_message, start_ns, end_ns, duration_ms, is_attempt, attributes,"
                    " events) VALUES (:t, :s, 'x', 'span', 'internal', :status, :message,"
                    " :start, 2, 0, :attempt, '{}', '[]')"
                ),
                {
                    "t": trace * 32,
                    "s": span * 16,
                    "status": status,
                    "message": message,
                    "start": int(span),
                    "attempt": attempt,
                },
            )
    upgrade_store(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT trace_id, status, error FROM traces ORDER BY trace_id"))
        found = [(t[0], status, error) for t, status, error in rows]
    assert found == [("a", "ok", None), ("b", "error", "the call failed")]


def test_one_call_migration_leaves_wrappers_out_of_summaries(engine: Engine) -> None:
    """0010: a stored app LLM span above the gateway's request span stops counting."""
    from sqlalchemy import text

    upgrade_store(engine, "0009")
    spans = [  # (span, parent, kind, is_attempt, tokens, cost)
        ("1", None, "chain", False, None, None),
        ("2", "1", "llm", False, 10, 0.5),  # the app's client span: wraps span 3
        ("3", "2", "llm", False, 10, 0.5),  # the gateway's request span
        ("4", "3", "llm", True, 10, 0.5),  # its attempt
        ("5", "1", "llm", False, 7, 0.25),  # another call, not wrapped
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO traces (trace_id, start_ns, end_ns, duration_ms, status, error,"
                " span_count, llm_count, input_tokens, output_tokens, cost, tags) VALUES"
                " (:t, 1, 2, 0, 'ok', NULL, 5, 3, 27, 27, 1.25, '[]')"
            ),
            {"t": "a" * 32},
        )
        for span, parent, kind, attempt, tokens, cost in spans:
            conn.execute(
                text(
                    "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, span_kind,"
                    " status, start_ns, end_ns, duration_ms, is_attempt, input_tokens,"
                    " output_tokens, cost, attributes, events) VALUES (:t, :s, :p, 'x', :kind,"
                    " 'internal', 'ok', 1, 2, 0, :attempt, :tokens, :tokens, :cost, '{}', '[]')"
                ),
                {
                    "t": "a" * 32,
                    "s": span * 16,
                    "p": parent and parent * 16,
                    "kind": kind,
                    "attempt": attempt,
                    "tokens": tokens,
                    "cost": cost,
                },
            )
    upgrade_store(engine)
    with engine.connect() as conn:
        summary = conn.execute(
            text("SELECT llm_count, input_tokens, output_tokens, cost FROM traces")
        ).one()
        wrappers = conn.execute(text("SELECT span_id FROM spans WHERE wraps_call")).scalars()
        assert [w[0] for w in wrappers] == ["2"]
    assert tuple(summary) == (2, 17, 17, 0.75)

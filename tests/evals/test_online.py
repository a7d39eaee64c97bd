"""Online evaluation: rules score traces the gateway served, off the request path, through the
real app; the queue's guarantees (sampled alike everywhere, bounded, each trace scored once by
two replicas on the real PostgreSQL, a dead replica's work finished by the other, a scorer's
exception an errored score); config errors named at startup; the backfill command."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from evals import OnlineEvalConfig, OnlineEvaluator, OnlineQueue, build_rules, sampled
from gateway import ConfigError
from spyglass import Settings
from spyglass._cli import app as cli
from spyglass._db import create_store_engine, downgrade_store, upgrade_store
from tests.conftest import running_app
from tests.tracing.helpers import make_span, rows
from tracing import ScoreStore, TraceStore

MODEL = {"model_name": "m", "litellm_params": {"model": "mock/m", "mock_response": "Paris."}}
SCORERS = [
    {"type": "icontains", "name": "says_paris", "value": "paris"},
    {"type": "length", "name": "short", "max": 20},
]


def rule(name: str = "quality", **extra: Any) -> dict[str, Any]:
    return {"name": name, "delay_seconds": 0, "scorers": SCORERS, **extra}


def online(*rules: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"rules": list(rules), "poll_interval_seconds": 0.05, **settings}


async def ask(client: httpx.AsyncClient, text: str) -> str:
    answer = await client.post(
        "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": text}]}
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-spyglass-trace-id"]


async def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_rule_scores_the_traces_it_takes_in_the_background(
    settings_from: Callable[..., Settings],
) -> None:
    config = {
        "model_list": [MODEL, {**MODEL, "model_name": "other"}],
        "online_evals": online(rule(where={"model": "m"})),
    }
    async with running_app(settings_from(config)) as client:
        state = client._transport.app.state  # type: ignore[attr-defined]
        taken = [await ask(client, f"Capital of France? {n}") for n in range(3)]
        skipped = await client.post(
            "/v1/chat/completions",
            json={"model": "other", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert state.tracing.pipeline.flush()
        scores = ScoreStore(state.engine)

        def scored() -> list[dict[str, Any]]:
            from tracing import ScoreQuery

            found, _ = scores.find(ScoreQuery(source="online"), limit=100)
            return found if len(found) >= 6 else []

        found = await wait_for(scored)
        assert sorted({s["trace_id"] for s in found}) == sorted(taken)
        assert {(s["name"], s["value"], s["scorer"]) for s in found} == {
            ("says_paris", 1.0, "quality"),
            ("short", 6.0, "quality"),  # the length; passed in its metadata
        }
        other = skipped.headers["x-spyglass-trace-id"]
        assert other not in {s["trace_id"] for s in found}
        # They are scores like any other: the trace list filters on them.
        listed = await client.get("/api/traces", params={"score": "says_paris>=1"})
        assert sorted(t["trace_id"] for t in listed.json()["data"]) == sorted(taken)
        assert state.online_evals.stats.scored == 3
        metrics = (await client.get("/metrics")).text
        assert "spyglass_online_eval_scored_total 3.0" in metrics
        assert 'spyglass_online_eval_rule_scored_total{rule="quality"} 3.0' in metrics


async def test_a_scorer_that_raises_gives_an_errored_score_and_the_worker_goes_on(
    settings_from: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / "flaky.py").write_text(
        "from evals import scorer\n\n\n@scorer\ndef explode(output):\n"
        "    raise RuntimeError('the judge fell over')\n"
    )
    broken = {"type": "python", "function": "./flaky.py:explode", "name": "explodes"}
    config = {"model_list": [MODEL], "online_evals": online(rule(scorers=[broken, SCORERS[0]]))}
    async with running_app(settings_from(config)) as client:
        state = client._transport.app.state  # type: ignore[attr-defined]
        first = await ask(client, "one")
        assert state.tracing.pipeline.flush()
        scores = ScoreStore(state.engine)

        def of(trace_id: str) -> list[dict[str, Any]]:
            return scores.for_traces([trace_id])[trace_id]

        found = await wait_for(lambda: of(first) if len(of(first)) == 2 else None)
        errored = next(s for s in found if s["name"] == "explodes")
        assert errored["value"] is None
        assert "RuntimeError: the judge fell over" in errored["error"]
        second = await ask(client, "two")  # the worker is still working
        assert state.tracing.pipeline.flush()
        await wait_for(lambda: len(of(second)) == 2)


async def test_a_judge_calls_the_gateway_marked_with_its_rule(
    settings_from: Callable[..., Settings],
) -> None:
    """A judge's calls are traced as the rule's, priced, and left out of the usage figures."""
    judge = {
        "model_name": "judge",
        "litellm_params": {
            "model": "mock/judge",
            "mock_response": '{"reasoning": "names the city", "score": true}',
            "mock_prompt_tokens": 100,
            "mock_completion_tokens": 10,
            "input_cost_per_token": 0.001,
            "output_cost_per_token": 0.002,
        },
    }
    # Not structured: the mock provider answers a JSON schema with an example of its own.
    rubric = {
        "type": "llm_judge",
        "name": "correct",
        "model": "judge",
        "rubric": "Is it right?",
        "structured": False,
    }
    config = {"model_list": [MODEL, judge], "online_evals": online(rule(scorers=[rubric]))}
    async with running_app(settings_from(config)) as client:
        state = client._transport.app.state  # type: ignore[attr-defined]
        asked = await ask(client, "Capital of France?")
        assert state.tracing.pipeline.flush()
        scores = ScoreStore(state.engine)
        found = await wait_for(lambda: scores.for_traces([asked])[asked])
        assert [(s["name"], s["value"], s["comment"]) for s in found] == [
            ("correct", 1.0, "names the city")
        ]

        from tracing import online_eval_costs

        def judged() -> Any:
            state.tracing.pipeline.flush()
            return online_eval_costs(state.trace_store).get("quality")

        cost = await wait_for(judged)
        assert cost == {"calls": 1, "cost": pytest.approx(0.12)}
        stats = (await client.get("/api/stats")).json()["data"]
        assert sum(r["requests"] for r in stats) == 1  # the user's call, not the judge's
        judges = (await client.get("/api/stats", params={"source": "online_evals"})).json()
        assert sum(r["requests"] for r in judges["data"]) == 1


def test_bad_rules_are_refused_at_startup_naming_their_place(
    settings_from: Callable[..., Settings],
) -> None:
    cases = [
        (rule(scorers=[{"type": "nope"}]), "online_evals.rules[0].scorers[0].type"),
        (
            rule(scorers=[{"type": "llm_judge", "model": "gpt-missing", "rubric": "good"}]),
            "unknown model 'gpt-missing'",
        ),
        (rule(scorers=[{"type": "icontains", "column": "nowhere"}]), "no column 'nowhere'"),
        ({"name": "x", "scorers": SCORERS, "sample_rate": 2}, "sample_rate"),
    ]
    for bad, words in cases:
        with pytest.raises(ConfigError) as caught:
            settings_from({"model_list": [MODEL], "online_evals": online(bad)})
        assert words in str(caught.value), (bad, str(caught.value))
        assert "spyglass.yaml" in str(caught.value)


def test_sampling_is_decided_by_the_trace_id_alike_everywhere() -> None:
    ids = [f"{n:032x}" for n in range(2000)]
    half = [t for t in ids if sampled("r", t, 0.5)]
    assert 900 < len(half) < 1100
    assert half == [t for t in ids if sampled("r", t, 0.5)]  # the same decision every time
    assert {t for t in ids if sampled("r", t, 0.1)} <= set(half)  # nested as rates grow
    assert [t for t in ids if sampled("r", t, 0.0)] == []
    assert len([t for t in ids if sampled("other", t, 0.5)]) != 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = (
        f"sqlite:///{tmp_path / 'online.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")
    )
    engine = create_store_engine(url)
    upgrade_store(engine)
    yield engine
    downgrade_store(engine, "base")
    engine.dispose()


def traced(engine: Engine, count: int, start: int = 1) -> list[str]:
    """``count`` one-span traces with messages, through the feed-writing store."""
    store = TraceStore(engine, feed=True)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "France?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}]
        ),
    }
    spans = [
        make_span(n, n, None, "chat m", n, n + 5, attributes) for n in range(start, start + count)
    ]
    assert store.write(rows(*spans)) == count
    return [f"{n:032x}" for n in range(start, start + count)]


class NoModels:
    async def chat(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no scorer of these calls a model")

    async def embed(self, *args: Any, **kwargs: Any) -> list[list[float]]:
        raise AssertionError("no scorer of these calls a model")


def evaluator(engine: Engine, **settings: Any) -> OnlineEvaluator:
    config = OnlineEvalConfig.model_validate(online(rule(), **settings))
    rules = build_rules(config, models=None, base_dir=Path.cwd())
    return OnlineEvaluator(engine, TraceStore(engine), config, rules, NoModels())


def score_count(engine: Engine) -> dict[str, int]:
    from tracing._score_records import SCORES

    with engine.connect() as connection:
        found = connection.execute(
            select(SCORES.c.trace_id, func.count()).group_by(SCORES.c.trace_id)
        ).all()
    return {trace: int(count) for trace, count in found}


async def test_two_replicas_score_each_trace_exactly_once(engine: Engine) -> None:
    traces = traced(engine, 60)
    a, b = evaluator(engine, batch_size=7), evaluator(engine, batch_size=7)

    async def work(replica: OnlineEvaluator) -> None:
        for _ in range(200):
            if not await replica.run_once():
                return

    await asyncio.gather(work(a), work(b))
    counts = score_count(engine)
    assert sorted(counts) == sorted(traces)
    assert set(counts.values()) == {2}  # two scorers, once each
    assert a.stats.scored + b.stats.scored == 60
    assert OnlineQueue(engine).depth() == 0


async def test_a_dead_replicas_claimed_work_is_finished_by_another(engine: Engine) -> None:
    traces = traced(engine, 10)
    dead, alive = evaluator(engine, lease_seconds=0.2), evaluator(engine)
    dead.queue.enqueue([r.config for r in dead.rules.values()])
    claimed = dead.queue.claim(dead.worker, limit=100, lease_seconds=0.2)
    assert len(claimed) == 10  # ... and then the process is killed: no completion
    assert await alive.run_once() is False or alive.stats.scored == 0  # leases still hold
    await asyncio.sleep(0.3)
    await alive.drain()
    assert sorted(score_count(engine)) == sorted(traces)
    assert set(score_count(engine).values()) == {2}
    # The dead one, had it come back late, could not write its scores again.
    assert dead.queue.complete(claimed[0], dead.worker, []) is False


async def test_pending_work_survives_a_restart_and_the_queue_is_bounded(engine: Engine) -> None:
    traced(engine, 5)
    first = evaluator(engine, queue_size=3)
    read, made, dropped = first.queue.enqueue([r.config for r in first.rules.values()])
    assert (read, made, dropped) == (5, 3, 2)
    # A new process (a restart) finds the queued traces in the store and scores them.
    second = evaluator(engine, queue_size=3)
    await second.drain()
    assert len(score_count(engine)) == 3
    assert second.queue.depth() == 0


def test_backfill_scores_past_traces_with_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    config = tmp_path / "spyglass.yaml"
    config.write_text(yaml.safe_dump({"model_list": [MODEL], "online_evals": online(rule())}))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'home' / 'spyglass.db'}")
    upgrade_store(engine)
    store = TraceStore(engine)  # traces written before any rule existed: no feed
    now_ms = (time.time_ns() - 1_700_000_000 * 10**9) // 10**6
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "France?"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]}]
        ),
    }
    store.write(
        rows(
            *(make_span(n, n, None, "chat", now_ms - 60_000, now_ms, attributes) for n in (1, 2, 3))
        )
    )
    store.write(rows(make_span(9, 9, None, "chat", now_ms - 10 * 86_400_000, now_ms, attributes)))
    result = CliRunner().invoke(
        cli, ["online-evals", "backfill", "quality", "--since", "7d", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "quality: 3 trace(s) queued" in result.output
    assert "3 trace(s) scored, 6 score(s) (0 errored)" in result.output
    assert sorted(score_count(engine)) == [f"{n:032x}" for n in (1, 2, 3)]
    again = CliRunner().invoke(
        cli, ["online-evals", "backfill", "quality", "--config", str(config)]
    )
    assert again.exit_code == 0
    assert set(score_count(engine).values()) == {4}  # run again: corrections, history kept
    assert len(ScoreStore(engine).for_traces([f"{1:032x}"])[f"{1:032x}"]) == 2
    listed = CliRunner().invoke(cli, ["online-evals", "list", "--json", "--config", str(config)])
    assert json.loads(listed.output)["data"][0]["scorers"] == ["says_paris", "short"]
    unknown = CliRunner().invoke(cli, ["online-evals", "backfill", "nope", "--config", str(config)])
    assert unknown.exit_code == 1 and "no online rule 'nope'" in unknown.output
    engine.dispose()


@pytest.mark.postgres
def test_two_servers_on_postgres_score_every_trace_once_when_one_is_killed(
    serve: Callable[..., Any], pg_database: str, tmp_path: Path
) -> None:
    """Two `spyglass serve` replicas on the real PostgreSQL and Redis: traffic to both, one
    killed with SIGKILL while it holds claimed work; the other finishes it, and every trace
    in the store ends with its rule's scores exactly once."""
    from sqlalchemy import create_engine, text

    # A slow scorer, so that the replica killed is holding claimed traces when it dies.
    (tmp_path / "slow.py").write_text(
        "import time\nfrom evals import scorer\n\n\n@scorer\ndef slow(output):\n"
        "    time.sleep(0.5)\n    return 1.0\n"
    )
    slow = {"type": "python", "function": "./slow.py:slow", "name": "slow"}
    config = {
        "database_url": pg_database,
        "redis_url": "redis://127.0.0.1:6379/0",
        "model_list": [MODEL],
        "online_evals": online(
            rule(delay_seconds=0.2, scorers=[slow, SCORERS[0]]),
            lease_seconds=2,
            poll_interval_seconds=0.1,
            batch_size=4,
            concurrency=4,
        ),
    }
    a, b = serve(config, "a"), serve(config, "b")
    for server in (a, b):
        for n in range(8):
            answer = httpx.post(
                server.url + "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": f"q{n}"}]},
                timeout=10,
            )
            assert answer.status_code == 200
    engine = create_engine(pg_database)
    held = f"%:{a.process.pid}:%"
    try:
        deadline = time.monotonic() + 20
        while True:  # until a holds claimed traces
            with engine.connect() as connection:
                holding = connection.execute(
                    text("SELECT count(*) FROM online_eval_jobs WHERE claimed_by LIKE :w"),
                    {"w": held},
                ).scalar()
            if holding:
                break
            assert time.monotonic() < deadline, "replica a never claimed work"
            time.sleep(0.05)
        a.process.kill()
        a.process.wait(10)
        deadline = time.monotonic() + 30
        while True:
            with engine.connect() as connection:
                traces = connection.execute(text("SELECT count(*) FROM traces")).scalar()
                per_trace = connection.execute(
                    text(
                        "SELECT t.trace_id, count(s.id) FROM traces t LEFT JOIN scores s "
                        "ON s.trace_id = t.trace_id GROUP BY t.trace_id"
                    )
                ).all()
                waiting = connection.execute(text("SELECT count(*) FROM online_eval_jobs")).scalar()
            if per_trace and all(count == 2 for _, count in per_trace) and not waiting:
                break
            assert time.monotonic() < deadline, (traces, waiting, per_trace)
            time.sleep(0.2)
        assert traces is not None and traces >= 8  # b's at least; a's as far as it wrote them
    finally:
        engine.dispose()


async def test_a_rule_for_a_prompt_label_follows_the_label(
    settings_from: Callable[..., Settings],
) -> None:
    """``where: {prompt: greet@production}`` takes the traces of the version the label holds
    now: move the label and the rule follows."""
    from prompts import PromptStore

    config = {
        "model_list": [MODEL],
        "online_evals": online(rule(where={"prompt": "greet@production"})),
    }
    async with running_app(settings_from(config)) as client:
        state = client._transport.app.state  # type: ignore[attr-defined]
        prompts = PromptStore(state.engine)
        for text in ("Hello {{name}}", "Hi {{name}}"):
            prompts.push("greet", text)
        prompts.set_label("greet", "production", 1)

        async def call() -> str:
            answer = await client.post(
                "/v1/chat/completions",
                json={
                    "model": "m",
                    "prompt": {"name": "greet", "version": 1, "variables": {"name": "Ann"}},
                },
            )
            assert answer.status_code == 200, answer.text
            return answer.headers["x-spyglass-trace-id"]

        first = await call()
        assert state.tracing.pipeline.flush()
        scores = ScoreStore(state.engine)
        await wait_for(lambda: scores.for_traces([first])[first])
        prompts.set_label("greet", "production", 2)  # version 1 no longer holds the label
        second = await call()
        assert state.tracing.pipeline.flush()
        await state.online_evals.drain(timeout=5)
        assert scores.for_traces([second])[second] == []

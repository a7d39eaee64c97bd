"""The trace-query benchmark's fixture: a store filled with ~1M realistic GenAI spans, fast.

Rows are not converted one by one: ``tracing._convert.span_to_row`` turns a few SDK
``ReadableSpan`` objects (a chain root, an LLM call, a tool call, a retrieval) into template
rows once, and the fixture copies and varies those dicts: ids, times, models and providers,
sessions, users, keys, prompts, statuses, tokens, costs, durations, attributes and message
text. They go to the store through ``tracing.TraceStore.write``, the product's write path, in
time order, as a live store would receive them. One trace is huge (50,000 spans by default).

What each benchmark query should match is counted while generating, so the report can say how
selective each filter is. The facts are kept in a ``bench_fixture`` table inside the store, so a
cached store (``--reuse``) carries them and a half-filled one (no row there) is refused.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import trace_kit as tk

FIXTURE_VERSION = 1
DAY_NS = 86_400 * 10**9
SPAN_WINDOW_DAYS = 30

# (provider, model, share of traces, $ per 1M input tokens, $ per 1M output tokens)
MODELS = [
    ("openai", "gpt-4o-mini", 0.38, 0.15, 0.60),
    ("openai", "gpt-4o", 0.18, 2.50, 10.0),
    ("anthropic", "claude-3-5-haiku", 0.15, 0.80, 4.0),
    ("anthropic", "claude-sonnet-4", 0.12, 3.0, 15.0),
    ("gcp.gemini", "gemini-2.0-flash", 0.10, 0.10, 0.40),
    ("groq", "llama-3.1-8b-instant", 0.05, 0.05, 0.08),
    ("openai", "o3-mini", 0.02, 1.10, 4.40),
]
WORKFLOWS = [
    f"{verb}_{noun}"
    for verb in ("answer", "summarize", "classify", "route", "draft")
    for noun in ("question", "ticket", "email", "invoice", "review")
]
PROMPTS = [
    f"{name}-prompt"
    for name in (
        "support",
        "triage",
        "summary",
        "router",
        "extract",
        "draft",
        "tone",
        "policy",
        "refund",
        "qa",
        "sql",
        "faq",
    )
]
QUESTIONS = [
    "How do I reset the password of account {n}?",
    "Why was invoice {n} charged twice this month?",
    "Can I move subscription {n} to the annual plan?",
    "Summarise ticket {n} for the on-call engineer.",
    "Which plan includes SSO for team {n}?",
    "The export of report {n} fails with a timeout, what now?",
    "Translate the reply to customer {n} into German.",
    "Is order {n} eligible for free shipping?",
]
RARE_WORD = "chargeback"  # in the question of ~1% of traces: the text-search query's target
ANSWERS = [
    "Open Settings, then Security, and choose Reset password.",
    "The second charge is a pending authorisation and will drop off in 3 days.",
    "Yes: Billing > Plan > Switch to annual; the difference is prorated.",
    "Customer reports intermittent 502s since the deploy; rollback suggested.",
]
N_USERS, N_KEYS, N_TENANTS = 5000, 40, 50


@dataclass
class Facts:
    """What was generated, kept with the store: sizes, ids and per-query match counts."""

    version: int = FIXTURE_VERSION
    spans: int = 0
    traces: int = 0
    big_trace_id: str = ""
    big_trace_spans: int = 0
    first_ns: int = 0
    last_ns: int = 0
    values: dict[str, Any] = field(default_factory=dict)  # the filter values queried
    matches: dict[str, int] = field(default_factory=dict)  # traces each filter matches
    fill_seconds: float = 0.0


# --------------------------------------------------------------------------- templates


def template_rows() -> dict[str, dict[str, Any]]:
    """One store row per span shape, made by the product's own conversion."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

    from tracing._convert import span_to_row

    resource = Resource({"service.name": "support-bot", "deployment.environment": "production"})
    scope = InstrumentationScope("opentelemetry.instrumentation.openai_v2", "2.1b0")
    messages_in = [
        {"role": "system", "parts": [{"type": "text", "content": "You are concise."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Q"}]},
    ]
    messages_out = [
        {"role": "assistant", "parts": [{"type": "text", "content": "A"}], "finish_reason": "stop"}
    ]
    shapes: dict[str, tuple[str, SpanKind, dict[str, Any]]] = {
        "root": (
            "invoke_workflow answer_question",
            SpanKind.SERVER,
            {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.agent.name": "support-bot",
                "gen_ai.conversation.id": "s",
                "enduser.id": "u",
                "app.tenant": "tenant-0",
                "app.feature": "answer",
                "app.channel": "web",
                "http.request.method": "POST",
                "http.route": "/v1/answer",
                "retrieval.documents": 3,
                "cache.hit": False,
                "request.id": "req-0",
                "user.locale": "en-US",
            },
        ),
        "llm": (
            "chat gpt-4o-mini",
            SpanKind.CLIENT,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 512,
                "gen_ai.response.id": "chatcmpl-0",
                "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.usage.input_tokens": 1,
                "gen_ai.usage.output_tokens": 1,
                "gen_ai.conversation.id": "s",
                "gen_ai.input.messages": json.dumps(messages_in),
                "gen_ai.output.messages": json.dumps(messages_out),
                "server.address": "api.openai.com",
                "server.port": 443,
            },
        ),
        "tool": (
            "execute_tool lookup_account",
            SpanKind.INTERNAL,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_account",
                "gen_ai.tool.call.id": "call_0",
                "gen_ai.tool.call.arguments": '{"account": 1}',
                "gen_ai.tool.call.result": '{"status": "active"}',
            },
        ),
        "retriever": (
            "retrieval kb",
            SpanKind.CLIENT,
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "kb-main",
                "db.system.name": "pgvector",
                "retrieval.top_k": 5,
            },
        ),
    }
    rows = {}
    for shape, (name, kind, attributes) in shapes.items():
        span = ReadableSpan(
            name=name,
            context=SpanContext(1, 2, is_remote=True),
            parent=None if shape == "root" else SpanContext(1, 3, is_remote=True),
            resource=resource,
            attributes=attributes,
            kind=kind,
            status=Status(StatusCode.UNSET),
            start_time=1,
            end_time=2,
            instrumentation_scope=scope,
        )
        rows[shape] = span_to_row(span)
    return rows


# --------------------------------------------------------------------------- generation


class Generator:
    """Yields batches of rows, in time order, counting what each query will match."""

    def __init__(self, spans: int, big_trace_spans: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.templates = template_rows()
        self.total = spans
        self.big = big_trace_spans
        self.facts = Facts()
        self.durations: list[float] = []
        self.costs: list[float] = []
        self.counts: Counter[str] = Counter()
        now = time.time_ns()
        self.first_ns = now - SPAN_WINDOW_DAYS * DAY_NS
        self.last_ns = now - 60 * 10**9
        self.weights = [m[2] for m in MODELS]
        # Chosen up front so that their matches are counted as traces are made.
        self.values = {
            "model": "gemini-2.0-flash",
            "provider": "anthropic",
            "user": "user-1234",
            "key": "key-07",
            "prompt": "refund-prompt",
            "name": "invoke_workflow summarize_invoice",
            "tenant": "tenant-7",
            "text": RARE_WORD,
            "range_start_ns": now - 12 * DAY_NS,
            "range_end_ns": now - 12 * DAY_NS + 3600 * 10**9,
        }

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        rng = self.rng
        regular = self.total - self.big
        # 5-10 spans a trace, 7.5 on average.
        traces = max(1, round(regular / 7.5))
        step = (self.last_ns - self.first_ns) / traces
        big_at = traces * 2 // 3  # ten days ago, roughly
        batch: list[dict[str, Any]] = []
        made, session, session_traces = 0, None, 0
        for i in range(traces):
            start = int(self.first_ns + i * step + rng.random() * step)
            if i == big_at and self.big:
                for row in self._big_trace(start):
                    batch.append(row)
                    if len(batch) >= size:
                        yield batch
                        batch = []
            spans = 5 + rng.randrange(6) if i < traces - 1 else max(1, regular - made)
            spans = min(spans, max(1, regular - made - (traces - i - 1)))
            if session is None or rng.random() < 0.2:  # ~5 traces a session
                if session and session_traces >= 4 and "session" not in self.values:
                    self.values["session"] = session  # the query's: a session of 4+ turns
                    self.counts["session"] = session_traces
                session, session_traces = f"sess-{i:07d}" if rng.random() < 0.8 else "", 0
            session_traces += 1
            rows = self._trace(start, spans, session or None)
            made += len(rows)
            batch.extend(rows)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        self._finish(traces + (1 if self.big else 0), made + self.big)

    def _ids(self) -> tuple[str, str]:
        bits = self.rng.getrandbits(192)
        return f"{bits >> 64:032x}", f"{bits & (2**64 - 1):016x}"

    def _trace(self, start: int, spans: int, session: str | None) -> list[dict[str, Any]]:
        rng, t = self.rng, self.templates
        trace_id, root_id = self._ids()
        provider, model, _, price_in, price_out = rng.choices(MODELS, self.weights)[0]
        workflow = rng.choice(WORKFLOWS)
        user = f"user-{min(int(rng.expovariate(1 / 800)), N_USERS - 1)}"  # some far busier
        key = f"key-{rng.randrange(N_KEYS):02d}" if rng.random() < 0.6 else None
        prompt_name = rng.choice(PROMPTS) if rng.random() < 0.4 else None
        prompt = f"{prompt_name}/{rng.randint(1, 5)}" if prompt_name else None
        tenant = f"tenant-{rng.randrange(N_TENANTS)}"
        error_at = rng.randrange(1, spans) if spans > 1 and rng.random() < 0.04 else -1
        rare = rng.random() < 0.01
        question = rng.choice(QUESTIONS).format(n=rng.randrange(10**6))
        if rare:
            question += f" The bank reports a {RARE_WORD} on it."
        rows = []
        clock = start + rng.randrange(1, 5) * 10**6
        cost = 0.0
        for c in range(1, spans):
            shape = (
                "retriever"
                if c == 1 and rng.random() < 0.5
                else rng.choices(("llm", "tool", "retriever"), (0.7, 0.2, 0.1))[0]
            )
            row = dict(t[shape])
            span_id = f"{rng.getrandbits(64):016x}"
            duration = int(rng.lognormvariate(5.8 if shape == "llm" else 3.5, 0.8) * 10**6)
            row.update(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=root_id,
                start_ns=clock,
                end_ns=clock + duration,
                duration_ms=duration / 1e6,
            )
            if c == error_at:
                row.update(status="error", status_message="RateLimitError: 429 Too Many Requests")
            if shape == "llm":
                tokens_in, tokens_out = rng.randrange(40, 4000), rng.randrange(5, 800)
                span_cost = (tokens_in * price_in + tokens_out * price_out) / 1e6
                cost += span_cost
                answer = rng.choice(ANSWERS)
                attributes = dict(row["attributes"])
                attributes.update(
                    {
                        "gen_ai.provider.name": provider,
                        "gen_ai.request.model": model,
                        "gen_ai.response.model": model,
                        "gen_ai.response.id": f"chatcmpl-{span_id}",
                        "gen_ai.usage.input_tokens": tokens_in,
                        "gen_ai.usage.output_tokens": tokens_out,
                        "gen_ai.conversation.id": session or "",
                        "spyglass.cost.usd": span_cost,
                    }
                )
                if key:
                    attributes["spyglass.key.id"] = key
                if prompt:
                    attributes["gen_ai.prompt.name"] = prompt_name
                    attributes["gen_ai.prompt.version"] = prompt.rpartition("/")[2]
                messages_in = [
                    {"role": "system", "parts": [{"type": "text", "content": "You are concise."}]},
                    {"role": "user", "parts": [{"type": "text", "content": question}]},
                ]
                messages_out = [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": answer}],
                        "finish_reason": "stop",
                    }
                ]
                attributes["gen_ai.input.messages"] = json.dumps(messages_in)
                attributes["gen_ai.output.messages"] = json.dumps(messages_out)
                row.update(
                    name=f"chat {model}",
                    model=model,
                    provider=provider,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost=span_cost,
                    session_id=session,
                    key_id=key,
                    prompt=prompt,
                    ttft_ms=duration / 1e6 * rng.uniform(0.1, 0.4),
                    attributes=attributes,
                    content={"input": messages_in, "output": messages_out},
                )
            rows.append(row)
            clock += duration + rng.randrange(1, 20) * 10**6
        end = clock + rng.randrange(1, 5) * 10**6
        root = dict(t["root"])
        attributes = dict(root["attributes"])
        attributes.update(
            {
                "gen_ai.conversation.id": session or "",
                "enduser.id": user,
                "app.tenant": tenant,
                "app.channel": rng.choice(("web", "email", "slack", "api")),
                "retrieval.documents": rng.randrange(1, 8),
                "cache.hit": rng.random() < 0.2,
                "request.id": f"req-{root_id}",
                "user.locale": rng.choice(("en-US", "de-DE", "fr-FR", "ja-JP")),
            }
        )
        root.update(
            trace_id=trace_id,
            span_id=root_id,
            name=f"invoke_workflow {workflow}",
            start_ns=start,
            end_ns=end,
            duration_ms=(end - start) / 1e6,
            session_id=session,
            user_id=user,
            status="error" if error_at > 0 else "ok",
            attributes=attributes,
        )
        rows.insert(0, root)
        self._count(rows, model, provider, workflow, user, key, prompt_name, tenant)
        self.durations.append((end - start) / 1e6)
        self.costs.append(cost)
        self._count_time(start)
        self.counts["text"] += rare and any(r["kind"] == "llm" for r in rows)
        return rows

    def _count_time(self, start: int) -> None:
        self.counts["_in_range"] += (
            self.values["range_start_ns"] <= start < self.values["range_end_ns"]
        )

    def _count(self, rows: list[dict[str, Any]], *values: Any) -> None:
        model, provider, workflow, user, key, prompt_name, tenant = values
        v, counts = self.values, self.counts
        has_llm = any(r["kind"] == "llm" for r in rows)
        counts["status"] += rows[0]["status"] == "error"
        counts["model"] += has_llm and model == v["model"]
        counts["provider"] += has_llm and provider == v["provider"]
        counts["name"] += f"invoke_workflow {workflow}" == v["name"]
        counts["user"] += user == v["user"]
        counts["key"] += has_llm and key == v["key"]
        counts["prompt"] += has_llm and prompt_name == v["prompt"]
        counts["tenant"] += tenant == v["tenant"]

    def _big_trace(self, start: int) -> Iterator[dict[str, Any]]:
        """One trace of ``self.big`` spans: a batch-evaluation run of many LLM and tool calls."""
        rng, t = self.rng, self.templates
        trace_id, root_id = self._ids()
        self.facts.big_trace_id = trace_id
        root = dict(t["root"])
        end = start + (self.big + 10) * 2 * 10**6
        root.update(
            trace_id=trace_id,
            span_id=root_id,
            name="invoke_workflow batch_evaluation",
            start_ns=start,
            end_ns=end,
            duration_ms=(end - start) / 1e6,
            status="ok",
        )
        self.durations.append((end - start) / 1e6)
        self.costs.append(0.0)
        self._count_time(start)
        yield root
        clock = start + 10**6
        for _ in range(self.big - 1):
            shape = "llm" if rng.random() < 0.8 else "tool"
            row = dict(t[shape])
            duration = rng.randrange(1, 4) * 10**6
            row.update(
                trace_id=trace_id,
                span_id=f"{rng.getrandbits(64):016x}",
                parent_span_id=root_id,
                start_ns=clock,
                end_ns=clock + duration,
                duration_ms=duration / 1e6,
            )
            clock += 2 * 10**6
            yield row

    def _finish(self, traces: int, spans: int) -> None:
        """Thresholds at the 98th percentile (2% of traces match) and the facts."""
        facts, counts, values = self.facts, self.counts, self.values
        values["min_duration_ms"] = round(tk.percentile(self.durations, 98), 1)
        values["min_cost"] = round(tk.percentile(self.costs, 98), 5)
        counts["min_duration_ms"] = sum(d >= values["min_duration_ms"] for d in self.durations)
        counts["min_cost"] = sum(c >= values["min_cost"] for c in self.costs)
        counts["range"] = counts.pop("_in_range", 0)
        facts.spans, facts.traces = spans, traces
        facts.big_trace_spans = self.big
        facts.first_ns, facts.last_ns = self.first_ns, self.last_ns
        facts.values = dict(values)
        facts.matches = dict(counts)


# --------------------------------------------------------------------------- filling


def fill(store: tk.Store, spans: int, big: int, batch_size: int = 5000) -> Facts:
    """Write the fixture into ``store`` (schema at head already); returns its facts."""
    from sqlalchemy import create_engine, event

    from tracing import TraceStore

    engine = create_engine(store.url.replace("postgresql://", "postgresql+psycopg://"))
    if store.kind == "sqlite":

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            # A fixture: losing it on a crash costs a refill, so no syncing while filling.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.close()

    writer = TraceStore(engine)
    generator = Generator(spans, big)
    started = time.monotonic()
    written, last_print = 0, started
    try:
        for batch in generator.batches(batch_size):
            written += writer.write(batch)
            now = time.monotonic()
            if now - last_print > 10:
                rate = written / (now - started)
                print(f"  filled {written:,} spans ({rate:,.0f}/s)", flush=True)
                last_print = now
        facts = generator.facts
        facts.fill_seconds = time.monotonic() - started
        if written != facts.spans:
            raise RuntimeError(f"wrote {written} spans, generated {facts.spans}")
        save_facts(engine, facts)
        with engine.connect() as conn:
            if store.kind == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        if store.kind == "postgresql":
            # What autovacuum would have done by the time anyone queries a store this size.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE spans")
                conn.exec_driver_sql("VACUUM ANALYZE traces")
    finally:
        engine.dispose()
    return facts


def save_facts(engine: Any, facts: Facts) -> None:
    """Keep the facts in the store (the ``bench_fixture`` table), replacing earlier ones."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_fixture (meta TEXT NOT NULL)"))
        conn.execute(text("DELETE FROM bench_fixture"))
        conn.execute(
            text("INSERT INTO bench_fixture (meta) VALUES (:m)"), {"m": json.dumps(facts.__dict__)}
        )


def load_facts(store: tk.Store) -> Facts | None:
    """The facts of a filled fixture, or None if the store has none (or is half-filled)."""
    sql = "SELECT meta FROM bench_fixture"
    with contextlib.suppress(Exception):
        if store.kind == "sqlite":
            import sqlite3

            assert store.sqlite_path is not None
            if not store.sqlite_path.exists():
                return None
            with contextlib.closing(sqlite3.connect(store.sqlite_path)) as db:
                rows = db.execute(sql).fetchall()
        else:
            rows = tk.pg_query(store.pg_database or "", sql)
        if rows:
            return Facts(**json.loads(rows[0][0]))
    return None


def share(matches: int, traces: int) -> str:
    if traces <= 0:
        return "—"
    pct = 100 * matches / traces
    return f"{matches:,} ({pct:.2g}%)" if pct >= 0.01 or matches == 0 else f"{matches:,} (<0.01%)"

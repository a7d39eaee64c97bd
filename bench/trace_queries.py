"""Trace queries: latency of the trace API on a store of ~1M spans and ~1M scores, and the
server's memory.

    .venv/bin/python bench/trace_queries.py [--spans 1000000] [--reuse FILE] [--postgres]
        [--reuse-pg NAME] [--runs 50] [--json-out FILE] [--strict]

Fills a store with ``--spans`` GenAI spans (``trace_fixture.py``: ~130k traces of 5-10 spans,
varied models, providers, sessions, users, keys, prompts, statuses, costs, durations and
attributes, plus one trace of 50,000 spans) through ``tracing.TraceStore.write``, and as many
scores on its traces and spans (``score_fixture.py``); then starts ``spyglass serve`` on it
and times, on loopback, each query of the trace list (first page, every filter, score filters,
a time range, sort by duration, filters that match nothing) and the big trace's first page of
1,000 spans: ``--runs`` sequential requests on one keep-alive connection after
``--warmup`` ones, p50 and p95. A query slower than its share of ``--budget`` seconds stops
early (at least 3 runs). Last, the server's resident memory (its process tree).

SQLite always (unless ``--skip-sqlite``); PostgreSQL too with ``--postgres``, in a database
``spyglass_bench_<random>`` on 127.0.0.1:5432 that is dropped afterwards. Filling 1M spans
takes minutes: ``--reuse FILE`` keeps the SQLite store in FILE and uses it next time (likewise
``--reuse-pg spyglass_bench_NAME``, which is kept). ``--spans 100000`` for a quick look.
Exit code 0 whatever the verdicts, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import overhead_kit as kit
import score_fixture as sf
import trace_fixture as fx
import trace_kit as tk

LIST_P95_MS = 50.0
BIG_TRACE_P95_MS = 100.0
RSS_MIB = 200.0
REFERENCES = (
    "Arize Phoenix (200k spans): newest 50 traces ~13 ms, attribute filter ~500 ms",
    "MLflow: unfiltered 56 ms, filtered 3.7 s, a filter matching nothing 244 s",
)


@dataclass
class Query:
    name: str
    path: str
    matches: str  # how many traces the filter matches, from the fixture's counts
    target_ms: float


@dataclass
class Timing:
    backend: str
    name: str
    path: str
    matches: str
    rows: int
    first_ms: float
    p50_ms: float
    p95_ms: float
    runs: int
    target_ms: float
    status: int

    @property
    def result(self) -> str:
        if self.status != 200:
            return f"ERROR (HTTP {self.status})"
        return "PASS" if self.p95_ms <= self.target_ms else "FAIL"


def queries(facts: fx.Facts) -> list[Query]:
    """What the UI asks for: the newest page, each filter, sorts, empty results, a big trace."""
    v, m, n = facts.values, facts.matches, facts.traces

    def q(name: str, params: dict[str, Any] | list[tuple[str, Any]], key: str | None) -> Query:
        path = "/api/traces?" + urllib.parse.urlencode(params) if params else "/api/traces"
        matches = fx.share(m.get(key, 0), n) if key else "all"
        return Query(name, path, matches, LIST_P95_MS)

    start_s, end_s = v["range_start_ns"] // 10**9, v["range_end_ns"] // 10**9
    return [
        q("newest (no filter)", {}, None),
        q("status=error", {"status": "error"}, "status"),
        q("model=", {"model": v["model"]}, "model"),
        q("provider=", {"provider": v["provider"]}, "provider"),
        q("session=", {"session": v["session"]}, "session"),
        q("user=", {"user": v["user"]}, "user"),
        q("key=", {"key": v["key"]}, "key"),
        q("prompt= (name, any version)", {"prompt": v["prompt"]}, "prompt"),
        q("name=", {"name": v["name"]}, "name"),
        q("min_duration_ms=", {"min_duration_ms": v["min_duration_ms"]}, "min_duration_ms"),
        q("min_cost=", {"min_cost": v["min_cost"]}, "min_cost"),
        q("attr=app.tenant=", [("attr", f"app.tenant={v['tenant']}")], "tenant"),
        q("q= (text)", {"q": v["text"]}, "text"),
        q("time range (1 hour)", {"start": start_s, "end": end_s}, "range"),
        q("sort=duration", {"sort": "duration"}, None),
        q("nothing: model=", {"model": "no-such-model"}, "none"),
        q("nothing: attr=", [("attr", "app.tenant=no-such-tenant")], "none"),
        q("nothing: q=", {"q": "no-such-text-qzx"}, "none"),
        q("score=helpful>=4", [("score", "helpful>=4")], "score_helpful_ge4"),
        q("score=!helpful (has none)", [("score", "!helpful")], "score_not_helpful"),
        q("score=thumbs=false", [("score", "thumbs=false")], "score_thumbs_false"),
        q("score=escalate (rare)", [("score", "escalate")], "score_escalate"),
        q("score=faithfulness<0.1", [("score", "faithfulness<0.1")], "score_faithfulness_lt01"),
        q("nothing: score=", [("score", "no-such-score")], "none"),
        Query(
            f"trace of {facts.big_trace_spans:,} spans, first 1,000",
            f"/api/traces/{facts.big_trace_id}?limit=1000",
            f"{facts.big_trace_spans:,} spans",
            BIG_TRACE_P95_MS,
        ),
    ]


def time_query(
    conn: http.client.HTTPConnection, query: Query, args: argparse.Namespace, budget: float
) -> tuple[list[float], float, int, int]:
    """(samples in ms, first request's ms, rows in the answer, HTTP status)."""
    samples: list[float] = []
    first, rows, status = float("nan"), 0, 0
    deadline = time.monotonic() + budget
    for i in range(args.warmup + args.runs):
        if i >= args.warmup + 3 and time.monotonic() > deadline:
            break  # slow query: enough runs for a median, the budget is spent
        started = time.perf_counter()
        conn.request("GET", query.path)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        status = response.status
        if status != 200:
            print(f"  {query.name}: HTTP {status}: {body[:300]!r}")
            break
        if i == 0:
            first = elapsed
            data = json.loads(body)
            rows = len(data["spans"] if "spans" in data else data["data"])
        elif i >= args.warmup:
            samples.append(elapsed)
    return samples, first, rows, status


def measure(
    args: argparse.Namespace, store: tk.Store, facts: fx.Facts, workdir: Path
) -> tuple[list[Timing], int]:
    """Serve ``store`` and time every query; returns the timings and the RSS (KiB) after."""
    timings: list[Timing] = []
    with contextlib.ExitStack() as stack:
        server = tk.start_server(stack, store, workdir, name=f"spyglass-{store.kind}")
        port = int(server.base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.timeout)
        stack.callback(conn.close)
        rss_start = kit.tree_rss_kib(server.pid)
        planned = queries(facts)
        for query in planned:
            samples, first, rows, status = time_query(conn, query, args, args.budget / len(planned))
            timing = Timing(
                backend=store.kind,
                name=query.name,
                path=query.path,
                matches=query.matches,
                rows=rows,
                first_ms=first,
                p50_ms=tk.percentile(samples, 50),
                p95_ms=tk.percentile(samples, 95),
                runs=len(samples),
                target_ms=query.target_ms,
                status=status,
            )
            timings.append(timing)
            print(
                f"  {store.kind:<10} {query.name:<36} p50 {timing.p50_ms:9.1f} ms  "
                f"p95 {timing.p95_ms:9.1f} ms  (n={timing.runs}, rows {rows})",
                flush=True,
            )
        rss = kit.tree_rss_kib(server.pid)
        print(f"  {store.kind:<10} RSS {rss_start / 1024:.1f} MiB at start, {rss / 1024:.1f} after")
    return timings, rss


def prepare(args: argparse.Namespace, kind: str, stack: contextlib.ExitStack, workdir: Path) -> Any:
    """A filled store of the requested size: reused when cached, filled (and maybe kept) if not."""
    big = args.big_trace or min(50_000, max(1000, args.spans // 20))
    if kind == "sqlite":
        path = (args.reuse or workdir / "fixture.db").resolve()
        store = tk.sqlite_store(path)
        exists = path.exists()
    else:
        name = args.reuse_pg or None
        exists = bool(name) and tk.pg_exists(name)
        store = tk.Store("postgresql", tk.PG_URL.format(db=name), pg_database=name)
        if not exists:
            store = tk.pg_create(name)
        if not args.reuse_pg:
            stack.callback(tk.pg_drop, store)
    if exists:
        facts = fx.load_facts(store)
        if facts is None or facts.version != fx.FIXTURE_VERSION:
            raise RuntimeError(
                f"{store.sqlite_path or store.pg_database}: not a complete "
                "fixture of this version; delete it (or drop it) and rerun"
            )
        if facts.spans != args.spans or facts.big_trace_spans != big:
            raise RuntimeError(
                f"{store.sqlite_path or store.pg_database} holds {facts.spans:,} spans "
                f"(big trace {facts.big_trace_spans:,}); pass --spans {facts.spans} "
                "or use another --reuse target"
            )
        print(f"{kind}: reusing {facts.spans:,} spans in {facts.traces:,} traces", flush=True)
        return store, with_scores(store, facts)
    print(f"{kind}: filling {args.spans:,} spans (big trace {big:,})", flush=True)
    tk.migrate(store, workdir)
    facts = fx.fill(store, args.spans, big)
    print(
        f"{kind}: filled {facts.spans:,} spans in {facts.traces:,} traces in "
        f"{facts.fill_seconds:.0f} s ({facts.spans / facts.fill_seconds:,.0f} spans/s)",
        flush=True,
    )
    return store, with_scores(store, facts)


def with_scores(store: tk.Store, facts: fx.Facts) -> fx.Facts:
    """The fixture's scores, added once (a store filled before scores existed gets them)."""
    if "scores" in facts.matches:
        print(f"{store.kind}: reusing {facts.matches['scores']:,} scores", flush=True)
        return facts
    total = int(facts.spans * sf.SCORES_PER_SPAN)
    print(f"{store.kind}: adding ~{total:,} scores", flush=True)
    tk.migrate(store, Path(tempfile.mkdtemp(prefix="sg-migrate-")))
    facts.matches.update(sf.fill_scores(store, total))
    from sqlalchemy import create_engine

    engine = create_engine(store.url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        fx.save_facts(engine, facts)
    finally:
        engine.dispose()
    return facts


def report(
    info: dict[str, str], results: dict[str, tuple[list[Timing], int, fx.Facts]]
) -> list[str]:
    print("\nMachine: " + ", ".join(f"{k}={val}" for k, val in info.items()))
    verdicts = []
    for kind, (timings, rss, facts) in results.items():
        size = (
            f"{facts.spans:,} spans in {facts.traces:,} traces, one of "
            f"{facts.big_trace_spans:,} spans"
        )
        print(f"\n{kind}: {size}; latency on loopback, p50/p95 over up to the given runs")
        head = (
            f"{'query':<37}{'matches (traces)':>18}{'rows':>6}{'first ms':>10}{'p50 ms':>9}"
            f"{'p95 ms':>9}{'n':>4}{'target':>9}  result"
        )
        print(head)
        print("-" * len(head))
        for t in timings:
            verdicts.append(t.result)
            print(
                f"{t.name:<37}{t.matches:>18}{t.rows:>6}{t.first_ms:>10.1f}{t.p50_ms:>9.1f}"
                f"{t.p95_ms:>9.1f}{t.runs:>4}{'≤ ' + format(t.target_ms, 'g'):>9}  {t.result}"
            )
        rss_result = "PASS" if rss / 1024 <= RSS_MIB else "FAIL"
        verdicts.append(rss_result)
        print(
            f"{'server RSS after the queries':<37}{rss / 1024:>48.1f} MiB  "
            f"≤ {RSS_MIB:g} MiB  {rss_result}"
        )
    print("\nReference (measured earlier, same kind of queries):")
    for line in REFERENCES:
        print(f"  {line}")
    return verdicts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in the fixture")
    parser.add_argument("--big-trace", type=int, help="spans of the big trace (default 50,000)")
    parser.add_argument("--reuse", type=Path, help="SQLite fixture file: used if there, kept")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--reuse-pg", help="PostgreSQL fixture database spyglass_bench_NAME, kept")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--runs", type=int, default=50, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per query first")
    parser.add_argument(
        "--budget", type=float, default=900.0, help="seconds for all queries of one store"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    parser.add_argument("--workdir", type=Path, help="keep logs (and an unnamed fixture) here")
    parser.add_argument("--src", type=Path, help="run spyglass from this source tree")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every target PASS")
    args = parser.parse_args(argv)
    if args.spans < 2000 or args.runs < 1 or args.warmup < 1:
        parser.error("--spans >= 2000, --runs >= 1, --warmup >= 1")
    if args.reuse_pg and not args.reuse_pg.startswith("spyglass_bench_"):
        parser.error("--reuse-pg must name a database spyglass_bench_...")
    if args.reuse_pg:
        args.postgres = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.src:
        tk.SOURCE_TREE = args.src.resolve()
        sys.path.insert(0, str(tk.SOURCE_TREE))  # the fixture imports tracing from there too
    kinds = ([] if args.skip_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    info = tk.machine_info(args.postgres)
    results: dict[str, tuple[list[Timing], int, fx.Facts]] = {}
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sg-queries-")))
        print(f"workdir {workdir}", flush=True)
        try:
            for kind in kinds:
                with contextlib.ExitStack() as store_stack:
                    store, facts = prepare(args, kind, store_stack, workdir)
                    timings, rss = measure(args, store, facts, workdir)
                    results[kind] = (timings, rss, facts)
        except Exception as exc:  # a failed run: say why, the finally blocks have cleaned up
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        info["loadavg_at_end"] = tk.loadavg()
    verdicts = report(info, results)
    if args.json_out:
        data = {
            "machine": info,
            "stores": {
                kind: {"facts": asdict(facts), "rss_kib": rss, "queries": [asdict(t) for t in ts]}
                for kind, (ts, rss, facts) in results.items()
            },
        }
        args.json_out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    if args.strict and any(v != "PASS" for v in verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

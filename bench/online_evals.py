"""Online evaluation: what a 100%-sampled rule costs the gateway, and how fast traces are scored.

Run ``bash bench/setup.sh`` once (nginx, its echo module, wrk), then::

    .venv/bin/python bench/online_evals.py [--duration 10] [--rounds 3] [--traces 20000]
        [--postgres] [--json-out FILE]

1. **The gateway with a rule.** Two ``spyglass serve`` (one worker each, SQLite each) over one
   nginx fake upstream: one with an ``online_evals`` rule that scores every trace with two
   deterministic scorers (``icontains``, ``length``; no delay), one without. wrk measures
   throughput at concurrency 32 and latency p50 at concurrency 1 on both, in interleaved
   rounds (the order rotates), medians over rounds. After each of its runs the rule's server
   is given time to finish scoring (so its scoring never runs during the other's turn; how
   long it took is reported), and at the end its scores are counted: every trace served is
   scored (or the backlog says how far behind it is).
2. **Scoring rate.** ``--traces`` one-call traces written through the trace store (with the
   feed on), then one ``OnlineEvaluator`` drains them: scores written per second, end to end
   (feed -> queue -> claim -> score -> write), on SQLite and with ``--postgres`` on the real
   PostgreSQL (a database ``spyglass_bench_<random>``, dropped afterwards).

Targets (issue 15): throughput with the rule >= 0.9x without; latency p50 unchanged within
noise; >= 1,000 deterministic scores/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median
from typing import Any

import overhead_kit as kit

ROOT = Path(__file__).resolve().parent.parent
SPYGLASS = ROOT / ".venv" / "bin" / "spyglass"
SCORERS = [
    {"type": "icontains", "name": "says_hello", "value": "hello"},
    {"type": "length", "name": "short", "max": 200},
]
RULE = {"name": "every-trace", "sample_rate": 1.0, "delay_seconds": 0, "scorers": SCORERS}


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "OPENAI_", "OTEL_"))
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


def start_servers(stack: contextlib.ExitStack, workdir: Path) -> dict[str, tuple[str, int, Path]]:
    """nginx, and the two gateways: name -> (base URL, pid, home)."""
    nginx = shutil.which("nginx")
    if nginx is None or not kit.ECHO_MODULE.exists() or shutil.which("wrk") is None:
        sys.exit("missing nginx, its echo module or wrk: run bash bench/setup.sh")
    upstream_port, plain_port, rule_port = kit.free_ports(3)
    conf = workdir / "nginx.conf"
    conf.write_text(kit.render_nginx_conf(workdir, upstream_port, 1))
    proc = kit.start_process(
        [nginx, "-c", str(conf), "-p", str(workdir)],
        log_path=workdir / "nginx.log",
        env=clean_env(),
        cwd=workdir,
    )
    stack.callback(kit.stop_process, proc)
    kit.wait_http_ok(
        f"http://127.0.0.1:{upstream_port}/v1/chat/completions",
        proc,
        workdir / "nginx.log",
        timeout=15,
        data=kit.request_body(stream=False).encode(),
    )
    base = kit.render_gateway_config(upstream_port)
    servers = {}
    for name, port, extra in (
        ("without rule", plain_port, ""),
        ("with rule", rule_port, "online_evals:\n  rules:\n    - " + json.dumps(RULE) + "\n"),
    ):
        home = workdir / name.replace(" ", "-")
        home.mkdir()
        config = home / "spyglass.yaml"
        config.write_text(base + extra)
        log = home / "server.log"
        cmd = [str(SPYGLASS), "serve", "--config", str(config), "--port", str(port)]
        server = kit.start_process(
            cmd, log_path=log, env=clean_env(SPYGLASS_HOME=str(home)), cwd=home
        )
        stack.callback(kit.stop_process, server)
        url = f"http://127.0.0.1:{port}"
        kit.wait_http_ok(url + "/health/live", server, log, timeout=60)
        servers[name] = (url, server.pid, home)
    return servers


def gateway_part(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    wrk = shutil.which("wrk") or "wrk"
    script = kit.write_wrk_script(workdir / "post.lua", kit.request_body(stream=False))
    results: dict[str, dict[str, list[float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = start_servers(stack, workdir)
        names = list(servers)
        for name in names:  # warm up: connections, JIT-less caches, the writer process
            url = servers[name][0] + "/v1/chat/completions"
            kit.run_wrk(wrk, url, script, connections=8, threads=2, duration=3)
            results[name] = {"rps_c32": [], "p50_c1_ms": [], "cpu_c32": []}
        served_before = time.time_ns()
        for round_number in range(args.rounds):
            order = names[round_number % 2 :] + names[: round_number % 2]
            for name in order:
                url, pid, _ = servers[name]
                cpu = kit.tree_cpu_seconds(pid)
                c32 = kit.run_wrk(
                    wrk,
                    url + "/v1/chat/completions",
                    script,
                    connections=32,
                    threads=2,
                    duration=args.duration,
                )
                results[name]["cpu_c32"].append((kit.tree_cpu_seconds(pid) - cpu) / c32.duration_s)
                c1 = kit.run_wrk(
                    wrk,
                    url + "/v1/chat/completions",
                    script,
                    connections=1,
                    threads=1,
                    duration=args.duration / 2,
                )
                results[name]["rps_c32"].append(c32.rps)
                results[name]["p50_c1_ms"].append(c1.p50_ms)
                if name == "with rule":  # its scoring must not run into the other's turn
                    caught = _scored(servers[name][2], 0, wait=args.catch_up)
                    results[name].setdefault("catch_up_s", []).append(caught["caught_up_after_s"])
                caught_up = (
                    results[name].get("catch_up_s", [None])[-1] if name == "with rule" else None
                )
                print(
                    f"  round {round_number + 1} {name:<13} c32 {c32.rps:8.0f} req/s  "
                    f"c1 p50 {c1.p50_ms:6.2f} ms  cpu {results[name]['cpu_c32'][-1]:.2f} cores"
                    + (f"  scoring caught up {caught_up} s later" if caught_up is not None else ""),
                    flush=True,
                )
        # How far behind is the rule? Wait until it has scored what it was sent (or give up).
        _, _, home = servers["with rule"]
        behind = _scored(home, served_before, wait=args.catch_up)
    return {name: {k: median(v) for k, v in r.items()} for name, r in results.items()} | {
        "scoring": behind
    }


def _scored(home: Path, since_ns: int, *, wait: float) -> dict[str, Any]:
    import sqlite3

    path = home / "spyglass.db"
    started = time.monotonic()
    while True:
        with contextlib.closing(sqlite3.connect(path)) as db:
            traces = db.execute("SELECT count(*) FROM traces").fetchone()[0]
            scored = db.execute(
                "SELECT count(DISTINCT trace_id) FROM scores WHERE source = 'online'"
            ).fetchone()[0]
            waiting = db.execute("SELECT count(*) FROM online_eval_jobs").fetchone()[0]
            feed = db.execute("SELECT count(*) FROM trace_feed").fetchone()[0]
        if scored >= traces or time.monotonic() - started > wait:
            return {
                "traces": traces,
                "scored": scored,
                "waiting": waiting,
                "feed_unread": feed,
                "caught_up_after_s": round(time.monotonic() - started, 1),
            }
        time.sleep(1)


def scoring_part(url: str, traces: int) -> dict[str, Any]:
    """Write ``traces`` traces (feed on) into a fresh store at ``url``; drain them; time it."""
    sys.path.insert(0, str(ROOT))
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    from evals import OnlineEvalConfig, OnlineEvaluator, build_rules
    from spyglass._db import create_store_engine, upgrade_store
    from tracing import TraceStore
    from tracing._convert import span_to_row

    engine = create_store_engine(url)
    upgrade_store(engine)
    store = TraceStore(engine, feed=True)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Hello from the fake upstream."}],
                }
            ]
        ),
    }
    now = time.time_ns()
    template = span_to_row(
        ReadableSpan(
            name="chat m",
            context=SpanContext(1, 1, is_remote=False, trace_flags=TraceFlags(1)),
            resource=Resource({"service.name": "bench"}),
            attributes=attributes,
            kind=SpanKind.CLIENT,
            status=Status(StatusCode.OK),
            start_time=now,
            end_time=now + 10**6,
            instrumentation_scope=InstrumentationScope("bench"),
        )
    )
    rows = []
    for _ in range(traces):
        row = dict(template)
        row["trace_id"], row["span_id"] = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        rows.append(row)
    for start in range(0, len(rows), 2000):
        store.write(rows[start : start + 2000])
    config = OnlineEvalConfig.model_validate(
        {"rules": [RULE], "batch_size": 500, "concurrency": 32, "queue_size": traces * 2}
    )

    class NoModels:
        async def chat(self, *a: Any, **k: Any) -> Any:
            raise AssertionError

        async def embed(self, *a: Any, **k: Any) -> Any:
            raise AssertionError

    worker = OnlineEvaluator(
        engine, store, config, build_rules(config, models=None, base_dir=ROOT), NoModels()
    )
    started = time.perf_counter()
    asyncio.run(worker.drain(timeout=3600))
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "traces": traces,
        "scored_traces": worker.stats.scored,
        "scores": worker.stats.scores,
        "seconds": round(seconds, 2),
        "scores_per_s": round(worker.stats.scores / seconds),
        "traces_per_s": round(worker.stats.scored / seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument(
        "--catch-up", type=float, default=120.0, help="seconds to wait for the rule"
    )
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--skip-gateway", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "machine": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "nproc": os.cpu_count(),
            "loadavg_at_start": kit_loadavg(),
        }
    }
    with tempfile.TemporaryDirectory(prefix="sg-online-") as scratch:
        workdir = Path(scratch)
        if not args.skip_gateway:
            print("gateway with and without a 100% rule:", flush=True)
            report["gateway"] = gateway_part(args, workdir)
        print(f"scoring {args.traces:,} traces (SQLite):", flush=True)
        report["scoring_sqlite"] = scoring_part(f"sqlite:///{workdir / 'scoring.db'}", args.traces)
        print(f"  {report['scoring_sqlite']}", flush=True)
        if args.postgres:
            sys.path.insert(0, str(Path(__file__).parent))
            import trace_kit as tk

            name = f"spyglass_bench_{uuid.uuid4().hex[:8]}"
            pg = tk.pg_create(name)
            try:
                print(f"scoring {args.traces:,} traces (PostgreSQL):", flush=True)
                report["scoring_postgresql"] = scoring_part(
                    pg.url.replace("postgresql://", "postgresql+psycopg://"), args.traces
                )
                print(f"  {report['scoring_postgresql']}", flush=True)
            finally:
                tk.pg_drop(pg)
    report["machine"]["loadavg_at_end"] = kit_loadavg()
    print_report(report)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def kit_loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_report(report: dict[str, Any]) -> None:
    print("\nMachine: " + ", ".join(f"{k}={v}" for k, v in report["machine"].items()))
    gateway = report.get("gateway")
    if gateway:
        plain, rule = gateway["without rule"], gateway["with rule"]
        ratio = rule["rps_c32"] / plain["rps_c32"]
        verdict = "PASS" if ratio >= 0.9 else "FAIL"
        added = rule["p50_c1_ms"] - plain["p50_c1_ms"]
        print("\nGateway, medians over rounds     without rule   with rule    ratio  target")
        print(
            f"  throughput c=32 (req/s)      {plain['rps_c32']:12.0f} {rule['rps_c32']:11.0f}"
            f" {ratio:7.2f}x  >= 0.9x {verdict}"
        )
        print(
            f"  latency p50 c=1 (ms)         {plain['p50_c1_ms']:12.2f} {rule['p50_c1_ms']:11.2f}"
            f" {added:+7.2f}   within noise"
        )
        print(f"  CPU at c=32 (cores)          {plain['cpu_c32']:12.2f} {rule['cpu_c32']:11.2f}")
        if "catch_up_s" in rule:
            print(f"  scoring done after each run  {'':12} {rule['catch_up_s']:10.1f} s (median)")
        s = gateway["scoring"]
        print(
            f"  the rule scored {s['scored']:,} of {s['traces']:,} traces served, "
            f"{s['caught_up_after_s']} s after the load ({s['waiting']} waiting)"
        )
    for key in ("scoring_sqlite", "scoring_postgresql"):
        if key in report:
            r = report[key]
            verdict = "PASS" if r["scores_per_s"] >= 1000 else "FAIL"
            print(
                f"\nScoring ({key.split('_')[1]}): {r['scores']:,} scores of "
                f"{r['scored_traces']:,} traces in {r['seconds']} s: {r['scores_per_s']:,} "
                f"scores/s ({r['traces_per_s']:,} traces/s)  >= 1,000/s  {verdict}"
            )


if __name__ == "__main__":
    sys.exit(main())

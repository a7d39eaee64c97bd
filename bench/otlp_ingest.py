"""OTLP ingest: how many spans per second ``spyglass serve`` persists from OTLP/HTTP exporters.

    .venv/bin/python bench/otlp_ingest.py [--duration 10] [--rounds 3] [--batches 100,500,1000]
        [--connections 4] [--postgres] [--profile] [--json-out FILE] [--strict]
        [--baseline DIR]

With ``--baseline DIR`` (a source tree of another commit, e.g. ``git worktree add /tmp/base
<commit>``), every run is made twice, by that tree and by this one, interleaved, and the
report gives both and their ratio: a side-by-side comparison on the same machine load.

Each run starts ``spyglass serve`` (one worker) on a fresh store, SQLite in a temp
SPYGLASS_HOME or, with ``--postgres``, a new database ``spyglass_bench_<random>`` on the local
PostgreSQL (dropped afterwards); ``--base-store FILE`` starts each SQLite run from a copy of a
store that already holds spans. A separate load process (``otlp_load.py``) pre-builds OTLP
protobuf ``ExportTraceServiceRequest`` bodies of GenAI traces (a chain root and four LLM calls,
~15 attributes each, short input/output messages) and POSTs them over 2-4 keep-alive
connections for a fixed time, retrying a batch after Retry-After when answered 503. Every
request carries new traces (fresh ids and timestamps are written into the pre-built bytes).

Persisted spans are counted in the ``spans`` table while the load runs and after it, until the
count stops rising. The figure judged is the sustained persisted rate: spans persisted divided
by the time from the first send to the last span persisted. Runs are repeated in rounds (batch
sizes rotating) and medians reported. Exit code 0 whatever the verdicts, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import overhead_kit as kit
import trace_kit as tk
from otlp_load import SPANS_PER_TRACE, load_process

TARGET_SQLITE = 20_000  # persisted spans/s
REFERENCES = (
    ("Arize Phoenix 20.26", "~180 spans/s persisted"),
    ("MLflow 3.17", "~2,000 spans/s persisted"),
)


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    tree: str  # "this", or "baseline" (--baseline)
    backend: str
    batch: int
    round: int
    requests: int
    accepted: int
    rejected: int
    busy_503: int
    errors: int
    persisted: int
    first_send: float
    last_done: float
    last_persist: float
    server_cpu_s: float
    rss_end_kib: int
    server_dropped: int  # from the server's /metrics (-1: not exposed)
    write_errors: int

    @property
    def persisted_rate(self) -> float:
        return self.persisted / max(self.last_persist - self.first_send, 1e-9)

    @property
    def accepted_rate(self) -> float:
        return self.accepted / max(self.last_done - self.first_send, 1e-9)

    @property
    def dropped(self) -> int:
        return self.accepted - self.persisted

    @property
    def drain_s(self) -> float:
        return self.last_persist - self.last_done

    @property
    def cpu_cores(self) -> float:
        return self.server_cpu_s / max(self.last_persist - self.first_send, 1e-9)

    @property
    def per_cpu_s(self) -> float:
        return self.persisted / max(self.server_cpu_s, 1e-9)


def one_run(
    args: argparse.Namespace, tree: str, backend: str, batch: int, number: int, workdir: Path
) -> Run:
    """A fresh store and server, one load of ``args.duration`` seconds, the count settled."""
    tk.SOURCE_TREE = (args.baseline if tree == "baseline" else args.src) or None
    if tk.SOURCE_TREE is not None:
        tk.SOURCE_TREE = tk.SOURCE_TREE.resolve()
    rundir = workdir / f"{tree}-{backend}-{batch}-r{number}"
    rundir.mkdir(parents=True)
    ctx = mp.get_context("spawn")
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            store = tk.pg_create()
            stack.callback(tk.pg_drop, store)  # runs after the server below has stopped
        else:
            store = tk.sqlite_store(rundir / "spyglass.db")
            if args.base_store:  # a store that already holds spans: copy it (kept apart)
                shutil.copyfile(args.base_store, store.sqlite_path)
        initial = store.count_spans(exact=True)
        server = tk.start_server(stack, store, rundir)
        port = int(server.base_url.rsplit(":", 1)[1])
        ready, go = ctx.Event(), ctx.Event()
        receive, send = ctx.Pipe(duplex=False)
        loader = ctx.Process(
            target=load_process,
            args=(port, batch, args.connections, args.duration, ready, go, send),
            name="otlp-load",
        )
        loader.start()
        stack.callback(_stop_loader, loader)
        if not ready.wait(120):
            raise RuntimeError("the load process did not build its bodies within 120 s")
        profiler = None
        if args.profile and number == 1:
            out = workdir / f"profile-{backend}-{batch}.txt"
            profiler = tk.start_py_spy(server.pid, out, args.duration + args.drain_timeout + 60)
            stack.callback(kit.stop_process, profiler)
        cpu_before = kit.tree_cpu_seconds(server.pid)
        go.set()
        last_count, last_change = initial, time.monotonic()
        load_result: dict[str, Any] | None = None
        hard_deadline = time.monotonic() + args.duration + 120 + args.drain_timeout
        load_ended = math.inf
        cpu_at_change = cpu_before
        while time.monotonic() < hard_deadline:
            if load_result is None and receive.poll(0):
                load_result = receive.recv()
                load_ended = time.monotonic()
            during_load = load_result is None
            count = store.count_spans(exact=False)
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
                cpu_at_change = kit.tree_cpu_seconds(server.pid)
            if not during_load and now - max(last_change, load_ended) >= args.settle:
                break
            if not during_load and now - load_ended > args.drain_timeout:
                print(f"  warning: the count still rose {args.drain_timeout:.0f}s after the load")
                break
            slow_poll = store.kind == "postgresql" and during_load
            time.sleep(1.0 if slow_poll else 0.25 if store.kind == "postgresql" else 0.1)
        if load_result is None:
            raise RuntimeError("the load process did not report")
        persisted = store.count_spans(exact=True) - initial
        metrics = tk.server_metrics(server.base_url)
        rss = kit.tree_rss_kib(server.pid)
        if load_result["errors"]:
            print(f"  errors: {load_result['error_samples']}\n{kit.log_tail(server.log, 10)}")
        if profiler is not None:
            tk.stop_py_spy(profiler)
    return Run(
        tree=tree,
        backend=backend,
        batch=batch,
        round=number,
        requests=load_result["requests"],
        accepted=load_result["accepted"],
        rejected=load_result["rejected"],
        busy_503=load_result["busy"],
        errors=load_result["errors"],
        persisted=persisted,
        first_send=load_result["first_send"],
        last_done=load_result["last_done"],
        last_persist=last_change,
        server_cpu_s=cpu_at_change - cpu_before,
        rss_end_kib=rss,
        server_dropped=int(metrics.get("spyglass_spans_dropped_total", -1)),
        write_errors=int(metrics.get("spyglass_span_write_errors_total", -1)),
    )


def _stop_loader(process: Any) -> None:
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join(10)


# --------------------------------------------------------------------------- report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per batch size; medians")
    parser.add_argument("--batches", default="100,500,1000", help="spans per request")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--base-store",
        type=Path,
        help="SQLite store each run starts from (a copy), e.g. trace_queries.py's 1M fixture",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds the count must hold")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server in round 1 (files in workdir)"
    )
    parser.add_argument("--workdir", type=Path, help="keep stores, logs, profiles here")
    parser.add_argument(
        "--src", type=Path, help="run spyglass from this source tree (e.g. a git archive of HEAD)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run every measurement with this source tree (another commit), interleaved",
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every target PASS")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batches.split(",")]
    if any(b < SPANS_PER_TRACE or b % SPANS_PER_TRACE for b in args.batch_sizes):
        parser.error(f"batch sizes must be multiples of {SPANS_PER_TRACE}")
    if not 1 <= args.connections <= 16 or args.duration < 1 or args.rounds < 1:
        parser.error("--connections 1..16, --duration >= 1, --rounds >= 1")
    return args


def report(info: dict[str, str], runs: list[Run], args: argparse.Namespace) -> list[str]:
    """Print the figures (medians over rounds) and verdicts; returns the verdicts."""
    print("\nMachine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(
        f"Load: {args.connections} connections, {args.duration:g} s per run, "
        f"{args.rounds} round(s); medians over rounds"
    )
    if args.base_store:
        print(f"SQLite runs start from a copy of {args.base_store} (spans already stored)")
    print()
    head = (
        f"{'tree':<9}{'store':<11}{'batch':>6}{'persisted/s':>13}{'accepted/s':>12}{'503s':>7}"
        f"{'dropped':>9}{'errors':>8}{'drain s':>9}{'CPU':>6}{'spans/CPU-s':>13}{'RSS MiB':>9}"
        f"  result"
    )
    print(head)
    print("-" * len(head))
    verdicts = []
    ratios = []
    baseline_rate = math.nan
    for backend, batch, tree in (
        (b, n, t)
        for b in ("sqlite", "postgresql")
        for n in args.batch_sizes
        for t in ("baseline", "this")
    ):
        mine = [r for r in runs if (r.tree, r.backend, r.batch) == (tree, backend, batch)]
        if not mine:
            continue

        def med(pick: Any, rows: list[Run] = mine) -> float:
            return kit.median([pick(r) for r in rows])

        rate = med(lambda r: r.persisted_rate)
        if tree == "baseline":
            baseline_rate = rate
            result = "(baseline)"
        elif backend == "sqlite":
            result = "PASS" if rate >= TARGET_SQLITE else "FAIL"
            verdicts.append(result)
            result += f" (target >= {TARGET_SQLITE:,})"
        else:
            result = "(no target)"
        if tree == "this" and args.baseline:
            ratios.append(f"  {backend:<11}{batch:>6}: {rate / baseline_rate:.2f}x")
        print(
            f"{tree:<9}{backend:<11}{batch:>6}{rate:>13,.0f}"
            f"{med(lambda r: r.accepted_rate):>12,.0f}"
            f"{med(lambda r: r.busy_503):>7.0f}{med(lambda r: r.dropped):>9.0f}"
            f"{med(lambda r: r.errors):>8.0f}{med(lambda r: r.drain_s):>9.1f}"
            f"{med(lambda r: r.cpu_cores):>6.2f}{med(lambda r: r.per_cpu_s):>13,.0f}"
            f"{med(lambda r: r.rss_end_kib) / 1024:>9.1f}  {result}"
        )
    if ratios:
        print(f"\npersisted/s, this tree / baseline ({args.baseline}):")
        print("\n".join(ratios))
    print("\nReference (measured earlier on this machine type, same kind of load):")
    for name, figure in REFERENCES:
        print(f"  {name:<22}{figure}")
    print(
        "\npersisted/s = spans in the table / (last span persisted - first send); accepted/s = "
        "spans answered 200 / load time;\ndropped = accepted - persisted (the per-run lines also "
        "give the server's spyglass_spans_dropped_total); drain = seconds from "
        "the load's end to the last span persisted;\nCPU = cores used by the spyglass process "
        "over the run (PostgreSQL's own processes not included)."
    )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not tk.SPYGLASS.exists():
        sys.exit(f"missing {tk.SPYGLASS}: .venv/bin/pip install -e .")
    backends = ([] if args.skip_sqlite else ["sqlite"]) + (["postgresql"] if args.postgres else [])
    info = tk.machine_info(args.postgres)
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sg-ingest-")))
        print(f"workdir {workdir}", flush=True)
        try:
            for number in range(1, args.rounds + 1):
                shift = (number - 1) % len(args.batch_sizes)
                order = args.batch_sizes[shift:] + args.batch_sizes[:shift]
                trees = ["baseline", "this"] if args.baseline else ["this"]
                if number % 2 == 0:
                    trees.reverse()  # neither tree always goes first
                for backend, batch, tree in (
                    (b, n, t) for b in backends for n in order for t in trees
                ):
                    run = one_run(args, tree, backend, batch, number, workdir)
                    runs.append(run)
                    print(
                        f"  round {number}/{args.rounds} {tree:<8} {backend:<10} "
                        f"batch {batch:>5}: "
                        f"persisted {run.persisted:>7,} = {run.persisted_rate:>7,.0f}/s, "
                        f"accepted {run.accepted_rate:>7,.0f}/s, 503s {run.busy_503}, "
                        f"dropped {run.dropped} (server: {run.server_dropped}), "
                        f"errors {run.errors}, write errors {run.write_errors}, "
                        f"drain {run.drain_s:.1f} s, CPU {run.cpu_cores:.2f}",
                        flush=True,
                    )
        except Exception as exc:  # a failed run: say why, the finally blocks have cleaned up
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        info["loadavg_at_end"] = tk.loadavg()
        verdicts = report(info, runs, args)
        if args.profile:
            for path in sorted(workdir.glob("profile-*.txt")):
                print(f"\n== {path.name}\n{tk.summarize_collapsed(path)}")
    if args.json_out:
        rows = [asdict(r) | {"persisted_rate": r.persisted_rate} for r in runs]
        args.json_out.write_text(json.dumps({"machine": info, "runs": rows}, indent=2) + "\n")
    if args.strict and any(v != "PASS" for v in verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

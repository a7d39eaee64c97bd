"""Soak: steady load through the full stack for a long time; no errors, no memory growth.

    .venv/bin/python bench/soak.py [--duration 600] [--rate 150] [--concurrency 32]
        [--warmup S] [--latency-ms 20] [--json-out FILE] [--strict]

Starts ``spyglass serve`` the way a team runs it: a master key (so every request is
authenticated), a virtual key with a rate limit and a budget (checked and counted on every
call, in Redis), the response cache on (Redis), tracing on, all on a fresh PostgreSQL database
``spyglass_bench_<random>`` (dropped afterwards). The model is the built-in mock provider with
``--latency-ms`` of latency, so the upstream costs no CPU.

An open-loop load sends ``--rate`` requests per second (at most ``--concurrency`` in flight):
65% unique chat prompts (cache misses), 25% from a small pool (cache hits once seen), 10%
unique streamed chats. Every answer is checked (status 200, a body or a finished stream).

The server's memory (its process tree: the server and its span writer) is sampled every 5 s.
Growth is judged from the end of the warm-up (default 10% of the run, at least 20 s) to the
end: the median of the last three samples against the median of the first three after
warm-up (of fewer, in a short run). Targets: no errors, growth <= 10%. Exit code 0 whatever
the verdicts, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import overhead_kit as kit
import trace_kit as tk

MASTER = "sk-soak-master-" + uuid.uuid4().hex
REDIS = "redis://127.0.0.1:6379/0"
GROWTH_LIMIT = 0.10


@dataclass
class Result:
    duration_s: float
    rate: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    cache_hits: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (t, MiB)
    log_errors: int = 0
    spans_stored: int = 0

    def growth(self, warmup: float) -> tuple[float, float, float]:
        after = [mib for t, mib in self.rss_samples if t >= warmup]
        if len(after) < 3:
            return float("nan"), float("nan"), float("nan")
        n = min(3, len(after) // 2)
        start = statistics.median(after[:n])
        end = statistics.median(after[-n:])
        return start, end, end / start - 1


async def _one(client: httpx.AsyncClient, kind: str, prompt: str, result: Result) -> None:
    body: dict[str, Any] = {"model": "soak", "messages": [{"role": "user", "content": prompt}]}
    started = time.perf_counter()
    try:
        if kind == "stream":
            body["stream"] = True
            async with client.stream("POST", "/v1/chat/completions", json=body) as answer:
                text = "".join([chunk async for chunk in answer.aiter_text()])
                good = answer.status_code == 200 and "[DONE]" in text
                status = answer.status_code
        else:
            answer = await client.post("/v1/chat/completions", json=body)
            status = answer.status_code
            good = status == 200 and bool(answer.json().get("choices"))
            if answer.headers.get("x-spyglass-cache") == "hit":
                result.cache_hits += 1
    except Exception as exc:  # a broken connection is an error of the run, not of the bench
        good, status = False, -1
        if len(result.error_samples) < 5:
            result.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}")
    if good:
        result.ok += 1
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
    else:
        result.errors += 1
        if status != -1 and len(result.error_samples) < 5:
            result.error_samples.append(f"{kind}: HTTP {status}")


async def _load(base: str, key: str, args: argparse.Namespace, result: Result, pid: int) -> None:
    rng = random.Random(7)
    pool = [f"Summarize ticket #{i}: the printer is on fire again." for i in range(40)]
    limits = httpx.Limits(max_connections=args.concurrency)
    headers = {"authorization": f"Bearer {key}"}
    in_flight: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(args.concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        start = time.monotonic()
        next_sample = 0.0

        async def run(kind: str, prompt: str) -> None:
            try:
                await _one(client, kind, prompt, result)
            finally:
                gate.release()

        while (elapsed := time.monotonic() - start) < args.duration:
            if elapsed >= next_sample:
                result.rss_samples.append((elapsed, kit.tree_rss_kib(pid) / 1024))
                next_sample += 5.0
            due = int(elapsed * args.rate)
            while result.sent < due:
                roll = rng.random()
                if roll < 0.10:
                    kind, prompt = "stream", f"Stream a haiku about {uuid.uuid4().hex}"
                elif roll < 0.35:
                    kind, prompt = "chat", rng.choice(pool)
                else:
                    kind, prompt = "chat", f"Classify {uuid.uuid4().hex} as spam or ham."
                await gate.acquire()
                result.sent += 1
                task = asyncio.create_task(run(kind, prompt))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.sleep(0.005)
        await asyncio.gather(*in_flight)
        result.rss_samples.append((time.monotonic() - start, kit.tree_rss_kib(pid) / 1024))


def run(args: argparse.Namespace) -> Result:
    result = Result(duration_s=args.duration, rate=args.rate)
    models = [
        {
            "model_name": "soak",
            "litellm_params": {
                "model": "mock/soak",
                "mock_latency_ms": args.latency_ms,
                "mock_chunk_latency_ms": 2,
                "input_cost_per_token": 1e-7,
                "output_cost_per_token": 2e-7,
            },
        }
    ]
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = tk.pg_create()
        stack.callback(tk.pg_drop, store)
        env = {
            "SPYGLASS_MASTER_KEY": MASTER,
            "SPYGLASS_REDIS_URL": REDIS,
            "SPYGLASS_CACHE__ENABLED": "true",
            "SPYGLASS_CACHE__TTL": "3600",
            "SPYGLASS_MODEL_LIST": json.dumps(models),
        }
        server = tk.start_server(stack, store, workdir, extra_env=env)
        created = httpx.post(
            f"{server.base_url}/api/keys",
            headers={"authorization": f"Bearer {MASTER}"},
            json={
                "name": "soak",
                "team": "soak-" + uuid.uuid4().hex[:6],
                "rpm": 1_000_000,
                "tpm": 100_000_000,
                "budget_usd": 1_000_000,
            },
            timeout=30,
        )
        created.raise_for_status()
        key = created.json()["key"]
        print(
            f"soak: {args.duration:.0f} s at {args.rate:g} req/s (<= {args.concurrency} in "
            f"flight) on PostgreSQL {store.pg_database}, Redis, cache on, auth on",
            flush=True,
        )
        asyncio.run(_load(server.base_url, key, args, result, server.pid))
        time.sleep(2)  # the last spans reach the store
        result.spans_stored = store.count_spans()
        log = server.log.read_text(errors="replace")
        result.log_errors = sum(1 for line in log.splitlines() if " ERROR " in f" {line} ")
    return result


def report(result: Result, args: argparse.Namespace) -> bool:
    warmup = args.warmup if args.warmup is not None else max(20.0, args.duration * 0.1)
    start, end, growth = result.growth(warmup)
    lat = sorted(result.latencies_ms)
    p50 = tk.percentile(lat, 50) if lat else float("nan")
    p95 = tk.percentile(lat, 95) if lat else float("nan")
    print(
        f"requests sent {result.sent}, ok {result.ok}, errors {result.errors} "
        f"({result.sent / result.duration_s:.1f} req/s), cache hits {result.cache_hits}"
    )
    print(
        f"latency p50 {p50:.1f} ms, p95 {p95:.1f} ms; spans stored {result.spans_stored}; "
        f"ERROR lines in the server log {result.log_errors}"
    )
    print(
        f"server RSS (process tree): {start:.1f} MiB after {warmup:.0f} s warm-up -> "
        f"{end:.1f} MiB at the end: {growth * 100:+.1f}%"
    )
    for sample in result.error_samples:
        print(f"  error: {sample}")
    no_errors = result.errors == 0 and result.log_errors == 0 and result.ok > 0
    flat = growth == growth and growth <= GROWTH_LIMIT  # NaN (too short a run) fails
    print(f"{'PASS' if no_errors else 'FAIL'}  no errors")
    print(f"{'PASS' if flat else 'FAIL'}  RSS growth after warm-up <= {GROWTH_LIMIT:.0%}")
    print(f"load average: {tk.loadavg()}")
    if args.json_out:
        data = asdict(result) | {"growth": growth, "rss_start_mib": start, "rss_end_mib": end}
        data.pop("latencies_ms")
        data |= {"p50_ms": p50, "p95_ms": p95}
        Path(args.json_out).write_text(json.dumps(data, indent=2))
    return no_errors and flat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second")
    parser.add_argument("--concurrency", type=int, default=32, help="most requests in flight")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before judging RSS")
    parser.add_argument("--latency-ms", type=int, default=20, help="the mock model's latency")
    parser.add_argument("--json-out", help="also write the figures as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless both targets pass")
    args = parser.parse_args(argv)
    passed = report(run(args), args)
    return 0 if passed or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())

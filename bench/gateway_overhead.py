"""Gateway overhead: Spyglass and LiteLLM proxy side by side, over one fake upstream.

Run ``bash bench/setup.sh`` once, then::

    .venv/bin/python bench/gateway_overhead.py [--duration 10] [--rounds 3]
        [--skip-litellm] [--skip-spyglass] [--json-out FILE] [--strict]

One run starts nginx (echo module) as a fake OpenAI upstream, then each gateway with the same
``model_list`` pointing at it, and measures every target with the same clients:

- latency p50 at concurrency 1 and throughput at concurrency 32, with wrk;
- time to first streamed chunk (TTFC) p50 at concurrency 1, with a small asyncio client;
- resident memory of each gateway's process tree after warm-up.

Targets are measured in interleaved rounds (the order rotates each round) and the median over
rounds is reported, so a burst of noise on this 2-core machine hits all of them alike.
"Added" figures are a gateway's figure minus the same figure measured directly against nginx.
Exit code is 0 whatever the verdicts, unless ``--strict`` (then 1 if any target is not PASS).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import overhead_kit as kit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPYGLASS = ROOT / ".venv" / "bin" / "spyglass"
DEFAULT_LITELLM = ROOT / "bench" / ".venv-litellm" / "bin" / "litellm"
COMPLETIONS_PATH = "/v1/chat/completions"
UPSTREAM = "nginx direct"
MAX_ERROR_RATE = 0.01  # above this a target's figures are not trusted
STARVED_CORES = 0.85  # a gateway using less CPU than this at c=32 was likely starved


@dataclass
class Round:
    """One round of measurements of one target."""

    latency_c1: kit.WrkResult
    throughput_c32: kit.WrkResult
    cpu_cores_c32: float  # CPU time of the server's process tree per second of the c=32 run
    ttfc_p50_ms: float
    ttfc_samples: int


@dataclass
class Target:
    """Something we send load to: the upstream itself or a gateway in front of it."""

    name: str
    base_url: str
    pid: int
    rounds: list[Round] = field(default_factory=list)
    rss_warm_kib: int = 0
    rss_end_kib: int = 0

    @property
    def url(self) -> str:
        return self.base_url + COMPLETIONS_PATH

    def median_of(self, pick: Callable[[Round], float]) -> float:
        return kit.median([pick(r) for r in self.rounds])

    @property
    def latency_p50_ms(self) -> float:
        return self.median_of(lambda r: r.latency_c1.p50_ms)

    @property
    def throughput_rps(self) -> float:
        return self.median_of(lambda r: r.throughput_c32.rps)

    @property
    def ttfc_p50_ms(self) -> float:
        return self.median_of(lambda r: r.ttfc_p50_ms)

    @property
    def error_rate(self) -> float:
        runs = [w for r in self.rounds for w in (r.latency_c1, r.throughput_c32)]
        return sum(w.errors for w in runs) / max(sum(w.requests for w in runs), 1)


@dataclass(frozen=True)
class Verdict:
    """One checked target: spyglass's and litellm's figures, their ratio and the goal."""

    name: str
    unit: str
    spyglass: float
    litellm: float
    ratio: float
    goal: str
    result: str  # PASS, FAIL, SKIP (a side not measured) or INVALID (too many errors)


# --------------------------------------------------------------------------- setup


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="seconds per wrk run, and the time cap of each TTFC run",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds per target; the median is reported",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of c=32 warm-up")
    parser.add_argument(
        "--ttfc-requests",
        type=int,
        default=300,
        help="streamed requests per TTFC run (fewer if --duration runs out)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads for the c=32 runs (each is a busy core)",
    )
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-spyglass", action="store_true")
    parser.add_argument("--spyglass-bin", type=Path, default=DEFAULT_SPYGLASS)
    parser.add_argument("--litellm-bin", type=Path, default=DEFAULT_LITELLM)
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--json-out", type=Path, help="also write the results here as JSON")
    parser.add_argument(
        "--workdir", type=Path, help="keep configs and server logs here (default: a temp dir)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every target is PASS")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration must be >= 1 and --rounds >= 1")
    return args


def require_tools(args: argparse.Namespace) -> tuple[str, str]:
    """Paths of wrk and nginx; exits saying how to get whatever is missing."""
    wrk, nginx = shutil.which("wrk"), shutil.which("nginx")
    setup = "run: bash bench/setup.sh"
    missing = [f"{name} ({setup})" for name, path in (("wrk", wrk), ("nginx", nginx)) if not path]
    if not kit.ECHO_MODULE.exists():
        missing.append(f"{kit.ECHO_MODULE} ({setup})")
    if not args.skip_litellm and not args.litellm_bin.exists():
        missing.append(f"{args.litellm_bin} ({setup}, or pass --skip-litellm)")
    if not args.skip_spyglass and not args.spyglass_bin.exists():
        missing.append(
            f"{args.spyglass_bin} (install the project: .venv/bin/pip install -e ., "
            "or pass --skip-spyglass)"
        )
    if missing or wrk is None or nginx is None:
        sys.exit("missing:\n  " + "\n  ".join(missing))
    return wrk, nginx


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without settings that would change a gateway's behaviour or route."""
    dropped_prefixes = ("OPENAI_", "SPYGLASS_", "LITELLM_", "OTEL_")
    dropped = {
        "DATABASE_URL",
        "REDIS_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(dropped_prefixes)
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


def start_upstream(stack: contextlib.ExitStack, nginx: str, workdir: Path, workers: int) -> Target:
    """Start nginx as the fake upstream and check both of its answers."""
    port = kit.free_ports(1)[0]
    conf = workdir / "nginx.conf"
    conf.write_text(kit.render_nginx_conf(workdir, port, workers))
    log = workdir / "nginx.log"
    proc = kit.start_process(
        [nginx, "-c", str(conf), "-p", str(workdir)], log_path=log, env=clean_env(), cwd=workdir
    )
    stack.callback(kit.stop_process, proc)
    base = f"http://127.0.0.1:{port}"
    kit.wait_http_ok(
        base + COMPLETIONS_PATH, proc, log, timeout=15, data=kit.request_body(stream=False).encode()
    )
    return Target(UPSTREAM, base, proc.pid)


def start_gateway(
    stack: contextlib.ExitStack,
    name: str,
    cmd: list[str],
    health: str,
    env: dict[str, str],
    workdir: Path,
) -> tuple[Target, Callable[[float], None]]:
    """Start a gateway; returns its target and a function that waits until it is live."""
    log = workdir / f"{name}.log"
    proc = kit.start_process(cmd, log_path=log, env=env, cwd=workdir)
    stack.callback(kit.stop_process, proc)
    port = cmd[cmd.index("--port") + 1]
    target = Target(name, f"http://127.0.0.1:{port}", proc.pid)

    def wait(timeout: float) -> None:
        kit.wait_http_ok(target.base_url + health, proc, log, timeout=timeout)

    return target, wait


def smoke_check(target: Target) -> None:
    """One plain and one streamed request must come back with the upstream's answer."""
    status, body = kit.post_json(target.url, kit.request_body(stream=False))
    if status != 200 or b"Hello from the fake upstream." not in body:
        raise RuntimeError(f"{target.name}: unexpected answer HTTP {status}: {body[:500]!r}")
    kit.measure_ttfc(target.url, count=1, warmup=0, time_limit=30)


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Load:
    """The load-generator settings shared by every target."""

    wrk: str
    script: Path
    duration: float
    wrk_threads: int
    ttfc_requests: int


def warm_up(target: Target, load: Load, seconds: float) -> None:
    kit.run_wrk(
        load.wrk,
        target.url,
        load.script,
        connections=32,
        threads=load.wrk_threads,
        duration=seconds,
    )
    kit.run_wrk(load.wrk, target.url, load.script, connections=1, threads=1, duration=1)
    kit.measure_ttfc(target.url, count=0, warmup=20, time_limit=seconds + 10)


def measure_round(target: Target, load: Load) -> Round:
    latency = kit.run_wrk(
        load.wrk, target.url, load.script, connections=1, threads=1, duration=load.duration
    )
    cpu_before = kit.tree_cpu_seconds(target.pid)
    throughput = kit.run_wrk(
        load.wrk,
        target.url,
        load.script,
        connections=32,
        threads=load.wrk_threads,
        duration=load.duration,
    )
    cpu = (kit.tree_cpu_seconds(target.pid) - cpu_before) / throughput.duration_s
    samples = kit.measure_ttfc(
        target.url, count=load.ttfc_requests, warmup=5, time_limit=load.duration
    )
    return Round(latency, throughput, cpu, kit.median(samples) * 1000, len(samples))


def run_rounds(targets: list[Target], load: Load, rounds: int) -> None:
    for number in range(rounds):
        shift = number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            result = measure_round(target, load)
            target.rounds.append(result)
            print(
                f"  round {number + 1}/{rounds} {target.name:<13} "
                f"p50 c=1 {result.latency_c1.p50_ms:8.3f} ms | "
                f"c=32 {result.throughput_c32.rps:9.1f} req/s, "
                f"CPU {result.cpu_cores_c32:4.2f} cores | "
                f"TTFC p50 {result.ttfc_p50_ms:8.3f} ms (n={result.ttfc_samples}) | "
                f"errors {result.latency_c1.errors + result.throughput_c32.errors}",
                flush=True,
            )


# --------------------------------------------------------------------------- verdicts


def judge(targets: dict[str, Target]) -> list[Verdict]:
    """The four checked targets, from the measured medians."""
    direct = targets[UPSTREAM]
    spy, lite = targets.get("spyglass"), targets.get("litellm")
    nan = math.nan

    def fig(t: Target | None, pick: Callable[[Target], float]) -> float:
        return pick(t) if t is not None and t.rounds else nan

    def verdict(
        name: str, unit: str, s: float, ll: float, lower_is_better: bool, goal: float
    ) -> Verdict:
        ratio = (max(s, 0.0) / ll) if ll > 0 else nan
        if math.isnan(s) or math.isnan(ll):
            result = "SKIP"
        elif any(t is not None and t.error_rate > MAX_ERROR_RATE for t in (spy, lite)):
            result = "INVALID"
        else:
            ok = ratio <= goal if lower_is_better else ratio >= goal
            result = "PASS" if ok else "FAIL"
        goal_text = f"{'≤' if lower_is_better else '≥'} {goal:g}x"
        return Verdict(name, unit, s, ll, ratio, goal_text, result)

    return [
        verdict(
            "added latency p50, c=1",
            "ms",
            fig(spy, lambda t: t.latency_p50_ms - direct.latency_p50_ms),
            fig(lite, lambda t: t.latency_p50_ms - direct.latency_p50_ms),
            True,
            0.1,
        ),
        verdict(
            "throughput, c=32",
            "req/s",
            fig(spy, lambda t: t.throughput_rps),
            fig(lite, lambda t: t.throughput_rps),
            False,
            15,
        ),
        verdict(
            "added TTFC p50, c=1 (stream)",
            "ms",
            fig(spy, lambda t: t.ttfc_p50_ms - direct.ttfc_p50_ms),
            fig(lite, lambda t: t.ttfc_p50_ms - direct.ttfc_p50_ms),
            True,
            0.1,
        ),
        verdict(
            "RSS after warm-up (process tree)",
            "MiB",
            fig(spy, lambda t: t.rss_warm_kib / 1024),
            fig(lite, lambda t: t.rss_warm_kib / 1024),
            True,
            0.5,
        ),
    ]


# --------------------------------------------------------------------------- reporting


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _dist_version(bin_path: Path, dist: str) -> str:
    python = bin_path.parent / "python"
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    return _version([str(python), "-c", code])


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: a hint of other load on the machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_info(args: argparse.Namespace, wrk: str, nginx: str) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx_workers": str(args.nginx_workers),
        "loadavg_at_start": loadavg(),
        "nginx": _version([nginx, "-v"]).removeprefix("nginx version: "),
        "wrk": " ".join(_version([wrk, "-v"]).split()[:2]),
    }
    if not args.skip_litellm:
        info["litellm"] = _dist_version(args.litellm_bin, "litellm")
    if not args.skip_spyglass:
        info["spyglass"] = _dist_version(args.spyglass_bin, "spyglass")
    return info


def _fmt(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def print_report(info: dict[str, str], targets: list[Target], verdicts: list[Verdict]) -> None:
    from rich.console import Console  # the report is the only user of rich
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 132)
    console.print("\n[bold]Machine[/bold]: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    upstream = targets[0]
    console.print(
        f"[bold]Fake upstream direct[/bold] (nginx, {info['nginx_workers']} worker): "
        f"p50 c=1 {_fmt(upstream.latency_p50_ms, 3)} ms, "
        f"throughput c=32 {_fmt(upstream.throughput_rps, 0)} req/s, "
        f"TTFC p50 {_fmt(upstream.ttfc_p50_ms, 3)} ms"
    )

    raw = Table(title="Measured (median over rounds)")
    for col in (
        "target",
        "p50 c=1 ms",
        "p99 c=1 ms",
        "req/s c=32",
        "p50 c=32 ms",
        "CPU c=32 cores",
        "req/CPU-s c=32",
        "TTFC p50 ms",
        "RSS warm MiB",
        "RSS end MiB",
        "errors",
    ):
        raw.add_column(col, justify="left" if col == "target" else "right", no_wrap=col == "target")
    for t in targets:
        is_upstream = t.name == UPSTREAM
        raw.add_row(
            t.name,
            _fmt(t.latency_p50_ms, 3),
            _fmt(t.median_of(lambda r: r.latency_c1.p99_ms), 3),
            _fmt(t.throughput_rps, 0),
            _fmt(t.median_of(lambda r: r.throughput_c32.p50_ms), 3),
            _fmt(t.median_of(lambda r: r.cpu_cores_c32), 2),
            _fmt(t.median_of(lambda r: r.throughput_c32.rps / max(r.cpu_cores_c32, 1e-9)), 0),
            _fmt(t.ttfc_p50_ms, 3),
            "—" if is_upstream else _fmt(t.rss_warm_kib / 1024, 1),
            "—" if is_upstream else _fmt(t.rss_end_kib / 1024, 1),
            f"{t.error_rate:.2%}",
        )
    console.print(raw)

    checks = Table(title="Targets (spyglass vs litellm proxy)")
    for col in ("target", "spyglass", "litellm", "ratio", "goal", "result"):
        checks.add_column(col, justify="left" if col in ("target", "result") else "right")
    style = {"PASS": "green", "FAIL": "red", "INVALID": "red", "SKIP": "yellow"}
    for v in verdicts:
        checks.add_row(
            f"{v.name} ({v.unit})",
            _fmt(v.spyglass),
            _fmt(v.litellm),
            _fmt(v.ratio, 3),
            v.goal,
            f"[{style[v.result]}]{v.result}[/]",
        )
    console.print(checks)
    for t in targets:
        if t.error_rate > MAX_ERROR_RATE:
            console.print(
                f"[red]warning[/red]: {t.name} failed {t.error_rate:.1%} of requests; "
                "its figures are not comparable"
            )
        cpu = t.median_of(lambda r: r.cpu_cores_c32)
        if t.name != UPSTREAM and cpu < STARVED_CORES:
            # A one-worker Python gateway facing an instant upstream should keep a core busy.
            console.print(
                f"[yellow]note[/yellow]: {t.name} used only {cpu:.2f} cores at c=32: other load "
                "on the machine? Compare req/CPU-s, or rerun on a quieter machine."
            )


def results_json(
    args: argparse.Namespace, info: dict[str, str], targets: list[Target], verdicts: list[Verdict]
) -> dict[str, object]:
    return {
        "machine": info,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "targets": {
            t.name: {
                "latency_p50_ms_c1": t.latency_p50_ms,
                "throughput_rps_c32": t.throughput_rps,
                "cpu_cores_c32": t.median_of(lambda r: r.cpu_cores_c32),
                "ttfc_p50_ms_c1": t.ttfc_p50_ms,
                "rss_warm_kib": t.rss_warm_kib,
                "rss_end_kib": t.rss_end_kib,
                "error_rate": t.error_rate,
                "rounds": [asdict(r) for r in t.rounds],
            }
            for t in targets
        },
        "verdicts": [asdict(v) for v in verdicts],
    }


# --------------------------------------------------------------------------- main


def start_targets(
    args: argparse.Namespace, stack: contextlib.ExitStack, nginx: str, workdir: Path
) -> list[Target]:
    """Start the upstream, then both gateways at once, and wait until all are live."""
    print(f"workdir {workdir}; starting the fake upstream (nginx)", flush=True)
    upstream = start_upstream(stack, nginx, workdir, args.nginx_workers)
    config = workdir / "gateway.yaml"
    config.write_text(kit.render_gateway_config(int(upstream.base_url.rsplit(":", 1)[1])))
    listen = ["--host", "127.0.0.1", "--port"]
    spyglass_port, litellm_port = kit.free_ports(2)
    gateways = []
    if not args.skip_spyglass:
        home = workdir / "spyglass-home"
        home.mkdir(exist_ok=True)
        cmd = [str(args.spyglass_bin), "serve", "--config", str(config), *listen]
        cmd += [str(spyglass_port), "--workers", "1"]
        env = clean_env(SPYGLASS_HOME=str(home))
        gateways.append(start_gateway(stack, "spyglass", cmd, "/health/live", env, workdir))
    if not args.skip_litellm:
        cmd = [str(args.litellm_bin), "--config", str(config), *listen]
        cmd += [str(litellm_port), "--num_workers", "1"]
        # Offline (bundled cost map), quiet, no database; it refuses to start without a key.
        env = clean_env(
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_LOG="ERROR",
            LITELLM_MASTER_KEY=kit.API_KEY,
        )
        gateways.append(start_gateway(stack, "litellm", cmd, "/health/liveliness", env, workdir))
    print(f"starting {', '.join(t.name for t, _ in gateways) or 'no gateway'}", flush=True)
    started = time.monotonic()
    for _, wait in gateways:
        wait(max(1.0, args.startup_timeout - (time.monotonic() - started)))
    return [upstream, *(t for t, _ in gateways)]


def measure(targets: list[Target], args: argparse.Namespace, wrk: str, workdir: Path) -> None:
    """Check, warm up and measure every target; fills in their rounds and RSS."""
    script = kit.write_wrk_script(workdir / "post.lua", kit.request_body(stream=False))
    load = Load(wrk, script, args.duration, args.wrk_threads, args.ttfc_requests)
    per_round = 2 * args.duration + args.duration  # two wrk runs and a capped TTFC run
    minutes = len(targets) * (args.warmup + 3 + args.rounds * per_round) / 60
    print(f"measuring {len(targets)} targets, {args.rounds} rounds: up to ~{minutes:.0f} min")
    for target in targets:
        smoke_check(target)
        warm_up(target, load, args.warmup)
        target.rss_warm_kib = kit.tree_rss_kib(target.pid)
    run_rounds(targets, load, args.rounds)
    for target in targets:
        target.rss_end_kib = kit.tree_rss_kib(target.pid)


def _finite(value: object) -> object:
    """JSON has no NaN: figures of skipped targets become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk, nginx = require_tools(args)
    info = machine_info(args, wrk, nginx)
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sg-bench-")))
        try:
            targets = start_targets(args, stack, nginx, workdir)
            measure(targets, args, wrk, workdir)
            info["loadavg_at_end"] = loadavg()
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    verdicts = judge({t.name: t for t in targets})
    print_report(info, targets, verdicts)
    if args.json_out:
        data = _finite(results_json(args, info, targets, verdicts))
        args.json_out.write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"results written to {args.json_out}")
    if args.strict and any(v.result != "PASS" for v in verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

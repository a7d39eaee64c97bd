"""Eval runner benchmark: 1,000 rows x 2 variants against a 200 ms model at concurrency 64.

Run from the repository's root::

    .venv/bin/python bench/eval_runner.py [--rows 1000] [--latency-ms 200] [--concurrency 64]
        [--skip-promptfoo] [--promptfoo-dir DIR] [--strict]

The model is the gateway's own ``mock/`` provider with ``mock_latency_ms`` (echoing the prompt),
called in-process as ``spyglass eval run`` does by default; the scorers are deterministic
(exact_match, icontains, length, similarity). Each run is a fresh ``spyglass eval run``
process on a fresh store, measured from outside:

- **run**: the runs' own clock, from the first run created to the last finished (calls,
  scoring, results written, metrics), against 1.2 x the ideal (rows x variants x latency /
  concurrency);
- **command**: the whole process, start-up and imports included;
- **cached**: the same eval again, answered from the response cache (target: run <= 2 s);
- **peak RSS** of the eval process (target <= 200 MB), from ``getrusage``.

Then every result is checked to be written (rows x variants, no errors). When promptfoo 0.121
(the last release for Node 20) installs into ``--promptfoo-dir``, the same workload runs
through it against a local fake OpenAI server with the same latency, for reference.
Exit code 0 whatever the verdicts, unless ``--strict``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import overhead_kit as kit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PROMPTFOO_VERSION = "0.121"
# case -> (first-run target as a multiple of the ideal, what the case is)
TARGETS = {
    "mock": (1.2, "the gateway's mock/ provider, in-process"),
    "http": (1.1, "an openai/ deployment over HTTP to nginx (echo module)"),
}


def model_params(case: str, latency_ms: int, upstream_port: int | None) -> dict[str, Any]:
    """The deployment behind ``slow-echo``: the in-process mock, or an OpenAI upstream."""
    if case == "mock":
        return {"model": "mock/slow-echo", "mock_mode": "echo", "mock_latency_ms": latency_ms}
    return {
        "model": "openai/gpt-4o-mini",
        "api_base": f"http://127.0.0.1:{upstream_port}/v1",
        "api_key": "sk-bench",
    }


def write_workload(where: Path, rows: int, concurrency: int, deployment: dict[str, Any]) -> Path:
    config = {"model_list": [{"model_name": "slow-echo", "litellm_params": deployment}]}
    where.mkdir(parents=True, exist_ok=True)
    (where / "spyglass.yaml").write_text(json.dumps(config))
    with (where / "data.jsonl").open("w") as out:
        for i in range(rows):
            out.write(json.dumps({"question": f"What is {i} + {i}?", "expected": str(2 * i)}))
            out.write("\n")
    spec = {
        "name": "bench",
        "dataset": {"path": "data.jsonl"},
        "variants": [
            {"name": "plain", "prompt": {"template": "{{question}}"}, "model": "slow-echo"},
            {
                "name": "polite",
                "prompt": {"template": [{"role": "user", "content": "Please: {{question}}"}]},
                "model": "slow-echo",
            },
        ],
        "scorers": [
            {"type": "exact_match", "name": "exact"},
            {"type": "icontains", "name": "mentions_plus", "value": "+"},
            {"type": "length", "max": 200},
            {"type": "similarity", "name": "similar"},
        ],
        "settings": {"concurrency": concurrency, "retries": 2},
    }
    path = where / "bench.yaml"
    path.write_text(json.dumps(spec))
    return path


def _tree(root: int) -> dict[int, str]:
    """The process tree under ``root``: pid -> command name."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        names[int(entry.name)] = name
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        found[pid] = names.get(pid, "?")
        todo += children.get(pid, [])
    return found


def _high_water_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_eval(workdir: Path, spec: Path) -> dict[str, Any]:
    """One ``spyglass eval run`` in a child process: its wall time and peak RSS.

    The eval process's own peak (VmHWM) is sampled until it exits, and so are its children's
    (the dataset reader, the trace writer), each reported apart.
    """
    env = {
        **os.environ,
        "SPYGLASS_HOME": str(workdir / "home"),
        "HF_HOME": str(workdir / "hf"),
        "COLUMNS": "120",
    }
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "spyglass",
            "eval",
            "run",
            str(spec),
            "--config",
            str(workdir / "spyglass.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=workdir,
    )
    peaks: dict[int, float] = {}
    roles: dict[int, str] = {}

    def sample() -> None:
        while process.poll() is None:
            for pid, name in _tree(process.pid).items():
                mb = _high_water_mb(pid)
                if mb is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), mb)
                    roles.setdefault(pid, "eval" if pid == process.pid else name)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if process.returncode != 0:
        sys.exit(f"eval run failed ({process.returncode}):\n{stdout}\n{stderr}")
    line = next(x for x in stderr.splitlines() if x.startswith("runs: "))
    ids = line.removeprefix("runs: ").split(", ")
    others = [mb for pid, mb in peaks.items() if pid != process.pid]
    return {
        "wall": wall,
        "cpu": cpu,
        "ids": ids,
        "peak_mb": peaks.get(process.pid),
        "child_peak_mb": max(others) if others else None,
        "output": stdout,
    }


def run_figures(db: Path, ids: list[str]) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        marks = ",".join("?" * len(ids))
        runs = conn.execute(
            f"SELECT created_at, finished_at, status, metrics FROM eval_runs WHERE id IN ({marks})",
            ids,
        ).fetchall()
        written = conn.execute(
            f"SELECT count(*), sum(error IS NOT NULL) FROM eval_results WHERE run_id IN ({marks})",
            ids,
        ).fetchone()
    start = min(datetime.fromisoformat(r[0]) for r in runs)
    end = max(datetime.fromisoformat(r[1]) for r in runs)
    metrics = [json.loads(r[3]) for r in runs]
    return {
        "run_s": (end - start).total_seconds(),
        "finished": all(r[2] == "finished" for r in runs),
        "results": written[0],
        "errors": int(written[1] or 0),
        "cached": sum(m["cached"] for m in metrics),
    }


# -- promptfoo, for reference ------------------------------------------------------------------


def promptfoo_binary(directory: Path) -> tuple[Path | None, str]:
    binary = directory / "node_modules" / ".bin" / "promptfoo"
    if binary.exists():
        return binary, "installed"
    if shutil.which("npm") is None:
        return None, "npm is not installed"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "install", f"promptfoo@{PROMPTFOO_VERSION}", "--no-audit", "--no-fund"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"npm install promptfoo@{PROMPTFOO_VERSION} failed: {type(exc).__name__}"
    return (binary, "installed") if binary.exists() else (None, "no promptfoo binary after install")


class FakeOpenAI:
    """A local OpenAI-compatible server answering after ``latency`` (echoing the prompt)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        from aiohttp import web

        async def chat(request: web.Request) -> web.Response:
            body = await request.json()
            await asyncio.sleep(self.latency)
            text = body["messages"][-1]["content"]
            return web.json_response(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
            )

        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()


def run_promptfoo(
    binary: Path, workdir: Path, rows: int, latency: float, concurrency: int
) -> dict[str, Any]:
    tests = [
        {
            "vars": {"question": f"What is {i} + {i}?"},
            "assert": [
                {"type": "equals", "value": str(2 * i)},
                {"type": "icontains", "value": "+"},
            ],
        }
        for i in range(rows)
    ]
    with FakeOpenAI(latency) as fake:
        config = {
            "prompts": ["{{question}}", "Please: {{question}}"],
            "providers": [
                {
                    "id": "openai:chat:fake",
                    "config": {"apiBaseUrl": f"http://127.0.0.1:{fake.port}/v1", "apiKey": "x"},
                }
            ],
            "tests": tests,
        }
        (workdir / "promptfooconfig.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "PROMPTFOO_CONFIG_DIR": str(workdir / "pf-home"),
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
        }
        figures = {}
        for label, extra in (("first", ["--no-cache"]), ("cached", [])):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            done = subprocess.run(
                [
                    str(binary),
                    "eval",
                    "-c",
                    "promptfooconfig.json",
                    "-j",
                    str(concurrency),
                    "--no-table",
                    "--no-progress-bar",
                    *extra,
                ],
                cwd=workdir,
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
            )
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            figures[label] = {
                "wall": wall,
                "rc": done.returncode,
                "peak_mb": peak / 1024 if peak > before else None,
            }
            if label == "first" and extra == ["--no-cache"]:
                # Fill the cache for the second run: the first ran without it.
                subprocess.run(
                    [
                        str(binary),
                        "eval",
                        "-c",
                        "promptfooconfig.json",
                        "-j",
                        str(concurrency),
                        "--no-table",
                        "--no-progress-bar",
                    ],
                    cwd=workdir,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=600,
                )
    return figures


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def start_nginx(stack: contextlib.ExitStack, workdir: Path, latency_ms: int) -> int:
    """nginx (echo module) answering chat completions after ``latency_ms``; returns its port."""
    nginx = shutil.which("nginx")
    if nginx is None or not kit.ECHO_MODULE.exists():
        sys.exit("the http case needs nginx with its echo module: run bash bench/setup.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    port = kit.free_ports(1)[0]
    conf = workdir / "nginx.conf"
    conf.write_text(kit.render_nginx_conf(workdir, port, workers=1, latency_ms=latency_ms))
    log = workdir / "nginx.log"
    proc = kit.start_process(
        [nginx, "-c", str(conf), "-p", str(workdir)],
        log_path=log,
        env=dict(os.environ),
        cwd=workdir,
    )
    stack.callback(kit.stop_process, proc)
    kit.wait_http_ok(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        proc,
        log,
        timeout=15,
        data=kit.request_body(stream=False).encode(),
    )
    return port


def measure_case(
    name: str, workdir: Path, spec: Path, calls: int, ideal: float, first_target: float
) -> tuple[list[bool], dict[str, Any]]:
    """A first run and a fully cached rerun of one case; prints and returns its figures."""
    db = workdir / "home" / "spyglass.db"
    verdicts = []
    first = run_eval(workdir, spec)
    figures = run_figures(db, first["ids"])
    ok = figures["run_s"] <= first_target * ideal
    verdicts.append(ok)
    print(
        f"  first run:  {figures['run_s']:.2f} s  ({figures['run_s'] / ideal:.2f}x ideal; "
        f"target <= {first_target}x = {first_target * ideal:.2f} s)  {verdict(ok)}"
    )
    print(
        f"              command {first['wall']:.2f} s (process start, imports and store "
        f"included), CPU {first['cpu']:.2f} s, peak RSS {first['peak_mb'] or 0:.0f} MB"
    )
    complete = figures["finished"] and figures["results"] == calls and not figures["errors"]
    verdicts.append(complete)
    print(
        f"  written:    {figures['results']}/{calls} results, {figures['errors']} errors  "
        f"{verdict(complete)}"
    )
    cached = run_eval(workdir, spec)
    again = run_figures(db, cached["ids"])
    ok = again["run_s"] <= 1.0 and again["cached"] == calls
    verdicts.append(ok)
    print(
        f"  cached run: {again['run_s']:.2f} s  ({again['cached']}/{calls} from the cache; "
        f"target <= 1 s)  {verdict(ok)}"
    )
    print(
        f"              command {cached['wall']:.2f} s, CPU {cached['cpu']:.2f} s, "
        f"peak RSS {cached['peak_mb'] or 0:.0f} MB"
    )
    peak = max(p for p in (first["peak_mb"], cached["peak_mb"]) if p is not None)
    ok = peak <= 200
    verdicts.append(ok)
    child = max((p for p in (first["child_peak_mb"], cached["child_peak_mb"]) if p), default=0)
    print(
        f"  peak RSS:   {peak:.0f} MB  (the eval process; target <= 200 MB)  {verdict(ok)};  "
        f"largest child (dataset reader / trace writer) {child:.0f} MB"
    )
    return verdicts, {
        "name": name,
        "run": figures["run_s"],
        "command": first["wall"],
        "cpu": first["cpu"],
        "cached_run": again["run_s"],
        "cached_command": cached["wall"],
        "cached_cpu": cached["cpu"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--cases",
        default="mock,http",
        help="comma-separated: mock (in-process mock provider), http (an openai/ deployment "
        "whose api_base is nginx answering after --latency-ms)",
    )
    parser.add_argument("--skip-promptfoo", action="store_true")
    parser.add_argument("--promptfoo-dir", type=Path, default=ROOT / "bench" / ".promptfoo")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(TARGETS))
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)} (known: {', '.join(TARGETS)})")

    calls = args.rows * 2
    ideal = calls * args.latency_ms / 1000 / args.concurrency
    results: list[bool] = []
    summary: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="spyglass-bench-eval-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        print(
            f"workload: {args.rows} rows x 2 variants = {calls} calls, model latency "
            f"{args.latency_ms} ms, concurrency {args.concurrency}; ideal {ideal:.2f} s"
        )
        for case in cases:
            workdir = Path(scratch) / case
            port = (
                start_nginx(stack, workdir / "nginx", args.latency_ms) if case == "http" else None
            )
            deployment = model_params(case, args.latency_ms, port)
            spec = write_workload(workdir, args.rows, args.concurrency, deployment)
            print(f"{case}: {TARGETS[case][1]}")
            verdicts, figures = measure_case(case, workdir, spec, calls, ideal, TARGETS[case][0])
            results += verdicts
            summary.append(figures)
        if args.skip_promptfoo:
            print("promptfoo:    skipped (--skip-promptfoo)")
        else:
            binary, why = promptfoo_binary(args.promptfoo_dir)
            if binary is None:
                print(f"promptfoo:    skipped: {why}")
            else:
                pf_dir = Path(scratch) / "promptfoo"
                pf_dir.mkdir()
                pf = run_promptfoo(
                    binary, pf_dir, args.rows, args.latency_ms / 1000, args.concurrency
                )
                for label, fig in pf.items():
                    peak_text = f"{fig['peak_mb']:.0f} MB" if fig["peak_mb"] else "n/a"
                    print(
                        f"promptfoo {PROMPTFOO_VERSION} {label}: {fig['wall']:.2f} s "
                        f"({fig['wall'] / ideal:.2f}x ideal), peak RSS {peak_text}, "
                        f"exit {fig['rc']}"
                    )
                    summary.append({"name": f"promptfoo {label}", "command": fig["wall"]})
    print("side by side (command wall, s):")
    for row in summary:
        if "run" in row:
            print(
                f"  {row['name']:<18} first {row['command']:6.2f} (run {row['run']:.2f}, "
                f"CPU {row['cpu']:.2f})   cached {row['cached_command']:6.2f} "
                f"(run {row['cached_run']:.2f}, CPU {row['cached_cpu']:.2f})"
            )
        else:
            print(f"  {row['name']:<18} {row['command']:6.2f}")
    load = os.getloadavg()
    print(
        f"overall: {verdict(all(results))}  (load average {load[0]:.1f} / {load[1]:.1f} on "
        f"{os.cpu_count()} cores: other work on the machine slows every figure)"
    )
    if args.strict and not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()

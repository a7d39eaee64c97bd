"""Helpers shared by the tracing benchmarks (``otlp_ingest.py``, ``trace_queries.py``).

Starting ``spyglass serve`` on a store (SQLite file or a throwaway PostgreSQL database),
counting persisted spans, percentiles, machine facts, and summarising a py-spy profile.
Process handling (own process group, TERM then KILL, bounded waits) is ``overhead_kit``'s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import secrets
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import overhead_kit as kit

ROOT = Path(__file__).resolve().parent.parent
SPYGLASS = ROOT / ".venv" / "bin" / "spyglass"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname={db} connect_timeout=10"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{db}"


# Set by a benchmark's --src: run spyglass from that source tree (PYTHONPATH comes before the
# editable install's path), e.g. a `git archive HEAD` snapshot while the working tree is busy.
SOURCE_TREE: Path | None = None


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without settings that would change the server's store or routes."""
    dropped_prefixes = ("OPENAI_", "SPYGLASS_", "LITELLM_", "OTEL_")
    dropped = {"DATABASE_URL", "REDIS_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in dropped and not k.startswith(dropped_prefixes)
    }
    env.pop("PYTHONPATH", None)
    if SOURCE_TREE is not None:
        env["PYTHONPATH"] = str(SOURCE_TREE)
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


def source_info() -> str:
    """Which Spyglass is measured: --src, or the working tree's commit (+ "dirty")."""
    if SOURCE_TREE is not None:
        return f"source tree {SOURCE_TREE}"
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"working tree at {head}" + (" + uncommitted changes" if dirty else "")


# --------------------------------------------------------------------------- stores


@dataclass
class Store:
    """Where a server keeps its traces: a SQLite file or a PostgreSQL database."""

    kind: str  # "sqlite" or "postgresql"
    url: str  # the SQLAlchemy URL given to spyglass as SPYGLASS_DATABASE_URL
    sqlite_path: Path | None = None
    pg_database: str | None = None

    def count_spans(self, *, exact: bool = True) -> int:
        """Rows in ``spans``. Without ``exact``, SQLite answers from max(rowid) (O(log n)):
        rows are only ever inserted, so it equals the count; PostgreSQL always counts."""
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            if not self.sqlite_path.exists():
                return 0
            sql = "SELECT count(*) FROM spans" if exact else "SELECT max(rowid) FROM spans"
            with contextlib.closing(
                sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
            ) as db:
                try:
                    return int(db.execute(sql).fetchone()[0] or 0)
                except sqlite3.OperationalError:  # before the migration made the table
                    return 0
        import psycopg

        try:
            return int(pg_query(self.pg_database or "", "SELECT count(*) FROM spans")[0][0])
        except psycopg.errors.UndefinedTable:  # before the migration made the table
            return 0


def sqlite_store(path: Path) -> Store:
    return Store("sqlite", f"sqlite:///{path.resolve()}", sqlite_path=path.resolve())


def pg_query(database: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one statement run in autocommit mode; [] for statements without rows."""
    import psycopg

    with psycopg.connect(PG_ADMIN.format(db=database), autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def pg_admin_database() -> str:
    """``test`` if it answers, else ``postgres``: where CREATE/DROP DATABASE are sent from."""
    for name in ("test", "postgres"):
        with contextlib.suppress(Exception):
            pg_query(name, "SELECT 1")
            return name
    raise RuntimeError("PostgreSQL at 127.0.0.1:5432 does not answer (databases test, postgres)")


def pg_create(name: str | None = None) -> Store:
    """A new, empty database ``spyglass_bench_<random>`` (or ``name``)."""
    name = name or f"spyglass_bench_{secrets.token_hex(4)}"
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    pg_query(pg_admin_database(), f'CREATE DATABASE "{name}"')
    return Store("postgresql", PG_URL.format(db=name), pg_database=name)


def pg_exists(name: str) -> bool:
    rows = pg_query(pg_admin_database(), f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    return bool(rows)


def pg_drop(store: Store) -> None:
    """Drop a benchmark database (only ever one this script created or was told to reuse)."""
    if store.pg_database and store.pg_database.startswith("spyglass_bench_"):
        pg_query(pg_admin_database(), f'DROP DATABASE IF EXISTS "{store.pg_database}" WITH (FORCE)')


def migrate(store: Store, workdir: Path) -> None:
    """Bring the store's schema to head with ``spyglass db upgrade`` (the public path)."""
    out = subprocess.run(
        [str(SPYGLASS), "db", "upgrade"],
        env=clean_env(SPYGLASS_HOME=str(workdir), SPYGLASS_DATABASE_URL=store.url),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"spyglass db upgrade failed:\n{out.stdout}\n{out.stderr}")


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_server(
    stack: contextlib.ExitStack,
    store: Store,
    workdir: Path,
    *,
    name: str = "spyglass",
    timeout: float = 120.0,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """``spyglass serve`` (one worker) on ``store``; stopped when ``stack`` closes."""
    port = kit.free_ports(1)[0]
    home = workdir / f"{name}-home"
    home.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    cmd = [str(SPYGLASS), "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", "1", "--log-level", "warning"]
    env = clean_env(SPYGLASS_HOME=str(home), SPYGLASS_DATABASE_URL=store.url, **(extra_env or {}))
    proc = kit.start_process(cmd, log_path=log, env=env, cwd=workdir)
    stack.callback(kit.stop_process, proc)
    base = f"http://127.0.0.1:{port}"
    kit.wait_http_ok(base + "/health/ready", proc, log, timeout=timeout)
    return Server(proc, base, log)


def server_metrics(base_url: str) -> dict[str, float]:
    """``GET /metrics`` (Prometheus text) as name -> value, summed over labels; {} if absent."""
    import urllib.request

    found: dict[str, float] = {}
    try:
        with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return found
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            key = name.split("{", 1)[0]
            found[key] = found.get(key, 0.0) + float(value)
    return found


# --------------------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_info(pg: bool) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "memory": f"{mem_gib:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "spyglass": source_info(),
        "loadavg_at_start": loadavg(),
    }
    if pg:
        with contextlib.suppress(Exception):
            version = pg_query(pg_admin_database(), "SHOW server_version")[0][0]
            info["postgresql"] = str(version).split()[0]
    return info


# --------------------------------------------------------------------------- profiling


def start_py_spy(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid``, its threads and children for ``seconds``: collapsed stacks."""
    cmd = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    cmd += ["--duration", str(max(1, round(seconds))), "--rate", "200", "--nonblocking"]
    cmd += ["--subprocesses"]  # the store's writer may be a child process
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def stop_py_spy(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Stop sampling now: py-spy writes its output when interrupted."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kit.stop_process(proc)


def summarize_collapsed(path: Path, top: int = 20) -> str:
    """Self and inclusive time per function from py-spy's raw (collapsed-stack) output."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = [f.split(" (")[0] + " (" + _short(f) + ")" for f in stack.split(";") if f]
            if frames:
                self_time[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    if not total:
        return f"(no samples in {path})"
    lines = [f"{total} samples; top self time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in self_time.most_common(top)]
    lines.append("top inclusive time:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """The file of a py-spy frame ``func (path/to/file.py:123)``, path shortened, no line:
    samples of one function at different lines add up."""
    where = frame.rpartition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return where


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False

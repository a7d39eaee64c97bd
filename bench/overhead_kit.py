"""Building blocks for ``gateway_overhead.py``: processes, the fake upstream, load and RSS.

Nothing here runs at import time. Every process is started in its own session so that
:func:`stop_process` can end it and its children by process-group id, and every wait and
load loop is bounded by a deadline.

The pieces:

- :func:`render_nginx_conf` - nginx (with the echo module) as a fake OpenAI upstream that
  answers a fixed ``chat.completion`` JSON, or an SSE stream when the body says
  ``"stream": true``.
- :func:`run_wrk` - one wrk run with a Lua ``done()`` hook that prints a parseable summary.
- :func:`measure_ttfc` - a sequential asyncio client timing the first ``data:`` bytes of
  streamed responses (wrk cannot see chunk boundaries).
- :func:`tree_rss_kib`, :func:`tree_cpu_seconds` - resident memory and CPU time of a process
  and all its descendants, read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
MODEL_NAME = "bench-model"
# Sent by every client and set as LiteLLM's master key (it refuses to start without one).
API_KEY = "sk-bench-0f6c2a9e4b7d4e1f8a3c5b2d9e7f1a64"

_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from the fake upstream."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
}
_CHUNK_DELTAS = [
    {"role": "assistant", "content": ""},
    {"content": "Hello"},
    {"content": " from the"},
    {"content": " fake upstream."},
]


def _chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse_events() -> list[str]:
    """The ``data:`` payloads of the fake stream: content chunks, a finish+usage chunk, DONE."""
    events = [json.dumps(_chunk(d), separators=(",", ":")) for d in _CHUNK_DELTAS]
    last = _chunk({}, finish="stop") | {"usage": _COMPLETION["usage"]}
    events.append(json.dumps(last, separators=(",", ":")))
    events.append("[DONE]")
    return events


def request_body(*, stream: bool) -> str:
    """The chat-completions request every client sends (to gateways and to nginx alike)."""
    body: dict[str, object] = {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    if stream:
        body["stream"] = True
    return json.dumps(body)


def _nginx_quote(text: str) -> str:
    """Single-quote ``text`` for nginx.conf (it has no single quotes or backslashes)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"cannot quote for nginx: {text!r}")
    return f"'{text}'"


def render_nginx_conf(workdir: Path, port: int, workers: int = 1, latency_ms: int = 0) -> str:
    """nginx.conf for the fake upstream, with every writable path inside ``workdir``.

    With ``latency_ms``, the JSON answer comes after that long (``echo_sleep``, which waits on
    a timer without holding the worker), like a model that takes time to answer.

    ``$request_body`` is only filled once the body has been read, which happens in the content
    phase (``echo_read_request_body``), after ``if`` would have run. So the branch is a lazy
    ``map`` on the body, evaluated by ``echo_exec`` when it redirects to the answer location.
    """
    completion = json.dumps(_COMPLETION, separators=(",", ":"))
    stream_lines = []
    for event in sse_events():
        stream_lines.append(f"      echo {_nginx_quote('data: ' + event)};")
        stream_lines.append("      echo '';")
        stream_lines.append("      echo_flush;")
    stream_body = "\n".join(stream_lines)
    if latency_ms > 0:
        json_body = (
            f"      echo_sleep {latency_ms / 1000:.3f};\n      echo {_nginx_quote(completion)};"
        )
    else:
        json_body = f"      return 200 {_nginx_quote(completion)};"
    return f"""\
load_module {ECHO_MODULE};
worker_processes {workers};
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/client_body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_buffer_size 1m;
  client_max_body_size 1m;
  map $request_body $fake_kind {{
    "~\\"stream\\"\\s*:\\s*true" stream;
    default json;
  }}
  server {{
    listen 127.0.0.1:{port};
    location = /v1/chat/completions {{
      echo_read_request_body;
      echo_exec /_fake/$fake_kind;
    }}
    location = /_fake/json {{
      internal;
      default_type application/json;
{json_body}
    }}
    location = /_fake/stream {{
      internal;
      default_type text/event-stream;
{stream_body}
    }}
  }}
}}
"""


def render_gateway_config(upstream_port: int) -> str:
    """The model list (LiteLLM proxy's format) given unchanged to both gateways."""
    return f"""\
model_list:
  - model_name: {MODEL_NAME}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: {API_KEY}
"""


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    The sockets are held open together so the kernel cannot hand out the same port twice.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def start_process(
    cmd: list[str], *, log_path: Path, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new session (its own process group), output to ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
            # Children that ignored SIGTERM may outlive the leader; sweep the group anyway.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_http_ok(
    url: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    *,
    timeout: float,
    data: bytes | None = None,
) -> None:
    """Poll ``url`` until it answers 2xx; fail early if ``proc`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before serving "
                f"{url}:\n{log_tail(log_path)}"
            )
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                if 200 <= resp.status < 300:
                    return
                last_error = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    tail = log_tail(log_path)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s ({last_error}):\n{tail}")


def post_json(url: str, body: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """One POST with the bench headers; returns status and raw body."""
    req = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"POST {url}: {exc}") from exc


# --------------------------------------------------------------------------- memory


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # Field 2 (comm) may contain spaces and parentheses; fields after the last ')' are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that exist now."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_kib(pid: int) -> int:
    """Sum of VmRSS (KiB) over ``pid`` and its descendants (shared pages count once per process)."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
                break
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time (s) used so far by ``pid`` and its living descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields from 3 (state) on
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- load: wrk

_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,' ..
    '"mean_us":%.1f,"socket_errors":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def write_wrk_script(path: Path, body: str) -> Path:
    """A wrk Lua script that POSTs ``body`` and prints a ``WRK_RESULT {json}`` line at the end."""
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {API_KEY}"\n' + _WRK_DONE
    )
    return path


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: request count, rate, latency percentiles (ms) and error counts."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / max(self.requests, 1)


def run_wrk(
    wrk: str, url: str, script: Path, *, connections: int, threads: int, duration: float
) -> WrkResult:
    """Run wrk for ``duration`` seconds (bounded by a hard timeout) and parse its summary."""
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            raw = json.loads(line.removeprefix("WRK_RESULT "))
            return WrkResult(
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                rps=raw["requests"] / (raw["duration_us"] / 1e6),
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                errors=raw["socket_errors"] + raw["status_errors"],
            )
    raise RuntimeError(
        f"wrk printed no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )


# --------------------------------------------------------------------------- load: TTFC


async def _ttfc_loop(
    url: str, body: bytes, count: int, warmup: int, time_limit: float
) -> list[float]:
    import aiohttp  # only the streaming measurement needs it

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    samples: list[float] = []
    deadline = time.monotonic() + time_limit
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(warmup + count):
            if time.monotonic() > deadline:
                break
            first: float | None = None
            seen = b""
            async with asyncio.timeout(30):
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: HTTP {resp.status}: {await resp.text()}")
                    async for chunk in resp.content.iter_any():
                        if first is None:
                            seen += chunk
                            if b"data:" in seen:
                                first = time.perf_counter() - start
                        else:
                            seen = seen[-32:] + chunk  # only the tail matters for [DONE]
            if first is None or b"[DONE]" not in seen:
                raise RuntimeError(f"{url}: stream without data or without [DONE]")
            if i >= warmup:
                samples.append(first)
    return samples


def measure_ttfc(url: str, *, count: int, warmup: int, time_limit: float) -> list[float]:
    """Time to the first ``data:`` bytes (seconds) of ``count`` sequential streamed requests.

    Stops early at ``time_limit`` seconds; each stream is read to ``[DONE]`` so the keep-alive
    connection is reused, as an SDK client would.
    """
    body = request_body(stream=True).encode()
    return asyncio.run(_ttfc_loop(url, body, count, warmup, time_limit))


def median(values: list[float]) -> float:
    """Median, or NaN for an empty list (a target that produced no sample)."""
    return statistics.median(values) if values else float("nan")

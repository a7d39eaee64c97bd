"""Jinja2 renders in worker processes, each under a memory limit.

The sandbox and the render bounds (output, steps, time: see ``_template.py``) stop loops and
long outputs, but not every way a template can build a huge value before writing anything:
``"x"|center(2000000000)``, ``"%2000000000d"|format(1)``, a string doubled forty times with
``~``, ``|replace`` or ``|join``... Each is one step and allocates gigabytes. So a Jinja2 render
runs in a worker process whose address space is capped (``RLIMIT_AS``, ``MAX_MEMORY_BYTES``
above what the worker holds when idle): past it, the allocation fails there, the worker
answers ``RenderLimitError(limit="memory")``, and the server never notices. A worker that
does not answer within the time bound plus a second is killed, and replaced.

The workers are this process's, shared by every render (like the sandbox environment): two
are started on the first Jinja2 render, more on demand when several renders run at once, and
up to ``IDLE_WORKERS`` wait between renders. One render costs a round trip (~0.1 ms) over a
pipe. Variables cross by pickle: values a caller passes that cannot be pickled (objects of a
notebook session) are rendered in this process instead, with the in-process bounds.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from .errors import RenderError, RenderLimitError, SandboxViolation

__all__ = ["MAX_MEMORY_BYTES", "isolated"]

log = logging.getLogger("spyglass.prompts")

MAX_MEMORY_BYTES = 512 * 1024 * 1024  # address space a render may add to an idle worker's
IDLE_WORKERS = 4
_GRACE_SECONDS = 1.0  # beyond the render's own time bound, before the worker is killed

_MEMORY_MESSAGE = f"template render exceeds {MAX_MEMORY_BYTES // 2**20} MiB of memory"
_ERRORS: dict[str, type[RenderError]] = {
    "RenderError": RenderError,
    "SandboxViolation": SandboxViolation,
}


def _limit_memory(extra: int) -> None:
    """Cap this process's address space at what it uses now plus ``extra`` bytes."""
    import resource

    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(connection: Connection, extra: int) -> None:
    """A worker: render each (body, engine, variables) it receives, answer with the value
    or the error's kind, message and bound."""
    from ._template import render_body

    render_body("{{ 1 }}", "jinja2", {})  # Jinja2 and the sandbox are built before the cap
    try:
        _limit_memory(extra)
    except (OSError, ValueError) as exc:  # no /proc (not Linux): render without the cap
        log.warning("render workers run without a memory limit: %s", exc)
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[Any, ...] = ("ok", render_body(*request))
        except MemoryError:
            answer = ("limit", _MEMORY_MESSAGE, "memory")
        except RenderLimitError as exc:
            answer = ("limit", exc.message, exc.limit)
        except RenderError as exc:
            answer = ("error", type(exc).__name__, exc.message)
        try:
            connection.send(answer)
        except MemoryError:  # the value itself is too large to send back
            connection.send(("limit", _MEMORY_MESSAGE, "memory"))
        except (EOFError, OSError):
            return


def child_main() -> None:
    """The worker process's entry point: ``python -c '...child_main()' FD``."""
    connection = Connection(int(sys.argv[1]))
    _serve(connection, MAX_MEMORY_BYTES)


class _Worker:
    def __init__(self) -> None:
        # A fresh interpreter that imports only the prompts package, not the server's main
        # module (as multiprocessing's spawn would): it starts in a tenth of a second.
        mine, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from prompts._isolation import child_main; child_main()",
                str(theirs.fileno()),
            ],
            pass_fds=(theirs.fileno(),),
            close_fds=True,
        )
        theirs.close()
        self.connection = Connection(mine.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.connection.close()


class RenderWorkers:
    """Worker processes Jinja2 renders run in (see the module docstring)."""

    def __init__(self, render: Callable[..., Any], *, timeout: float) -> None:
        self._render = render
        self._timeout = timeout
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker()

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < IDLE_WORKERS:
                self._idle.append(worker)
                return
        worker.kill()

    def render(self, body: Any, engine: str, variables: Mapping[str, Any]) -> Any:
        """``render(body, engine, variables)`` in a worker; its errors raised here."""
        try:
            request = pickle.dumps((body, engine, dict(variables)))
        except Exception:  # values of this process only: render them here
            return self._render(body, engine, variables)
        worker = self._take()
        try:
            worker.connection.send_bytes(request)
            if not worker.connection.poll(self._timeout + _GRACE_SECONDS):
                worker.kill()
                raise RenderLimitError(f"template render exceeds {self._timeout:g} s", limit="time")
            answer = worker.connection.recv()
        except (EOFError, OSError):
            worker.kill()
            raise RenderLimitError(_MEMORY_MESSAGE, limit="memory") from None
        self._give_back(worker)
        if answer[0] == "ok":
            return answer[1]
        if answer[0] == "limit":
            raise RenderLimitError(answer[1], limit=answer[2])
        raise _ERRORS.get(answer[1], RenderError)(answer[2])

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


@functools.cache
def _workers_of(pid: int, render: Callable[..., Any], timeout: float) -> RenderWorkers:
    """This process's workers (keyed by pid: a forked child starts its own)."""
    return RenderWorkers(render, timeout=timeout)


def isolated(
    render: Callable[..., Any], body: Any, engine: str, variables: Mapping[str, Any], timeout: float
) -> Any:
    """``render(body, engine, variables)`` in one of this process's render workers."""
    return _workers_of(os.getpid(), render, timeout).render(body, engine, variables)

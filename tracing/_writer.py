"""The store's writes in a child process, so they don't compete with requests for the GIL.

A gateway process is bound by one interpreter lock: the trace writer thread's SQL work (row
encoding, the driver's executemany, commits) stalled the event loop enough to cost a third of
its throughput at high concurrency. ``ProcessWriter`` has the same ``write(rows)`` as
:class:`TraceStore`; it sends each batch of rows to a child process that owns its own engine
and store, and waits for the answer (the waiting releases the lock). A failed write raises
``StoreWriteError`` in the caller, so the exporter's retry loop works as before; a child that
died is started again on the next write.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine

__all__ = ["ProcessWriter", "StoreWriteError"]

log = logging.getLogger("spyglass.tracing")


class StoreWriteError(Exception):
    """The child could not write a batch (the database is unreachable, ...)."""


def _serve(url: str, engine_factory: Callable[[str], Engine], connection: Connection) -> None:
    """The child: write each batch it receives, answer with the count or the error."""
    from ._store import TraceStore

    store = TraceStore(engine_factory(url))
    while True:
        try:
            rows = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            break
        if rows is None:
            break
        try:
            connection.send(("ok", store.write(rows)))
        except Exception as exc:
            connection.send(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
    store.engine.dispose()


class ProcessWriter:
    """Writes span rows through a child process; one batch at a time.

    Args:
        url: the database URL (password included: it stays between the two processes).
        engine_factory: a picklable function making the child's engine from the URL.
    """

    def __init__(self, url: str, engine_factory: Callable[[str], Engine]) -> None:
        self._url = url
        self._factory = engine_factory
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None

    def _ensure(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._connection:
            return self._connection
        self._stop_child()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(self._url, self._factory, child),
            name="spyglass-trace-writer",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent
        return parent

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store the rows; returns how many were new. Raises StoreWriteError."""
        if not rows:
            return 0
        with self._lock:
            connection = self._ensure()
            try:
                connection.send(list(rows))
                answer = connection.recv()
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise StoreWriteError(f"the trace writer process stopped ({exc!r})") from None
        if answer[0] == "ok":
            return int(answer[1])
        raise StoreWriteError(answer[1])

    def _stop_child(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            try:
                connection.send(None)
            except (OSError, ValueError):
                pass
            connection.close()
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def close(self) -> None:
        """Stop the child after the batch in progress."""
        with self._lock:
            self._stop_child()

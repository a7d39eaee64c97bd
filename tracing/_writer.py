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

import gc
import importlib
import logging
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import orjson
from sqlalchemy import Engine

__all__ = ["ProcessWriter", "StoreWriteError"]

log = logging.getLogger("spyglass.tracing")


class StoreWriteError(Exception):
    """The child could not write a batch (the database is unreachable, ...)."""


def _serve(url: str, engine_factory: Callable[[str], Engine], connection: Connection) -> None:
    """The child: write each batch it receives, answer with the count or the error."""
    from ._store import TraceStore

    store = TraceStore(engine_factory(url))
    # This process only turns batches into SQL: its garbage is freed by reference counting,
    # and the collector's passes over the rows of each batch would cost ~10% of its CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)
    while True:
        try:
            payload = connection.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            break
        if not payload:
            break
        rows = _decode_rows(payload)
        try:
            connection.send(("ok", store.write(rows)))
        except Exception as exc:
            connection.send(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
    store.engine.dispose()


def _encode_rows(rows: Sequence[dict[str, Any]]) -> bytes:
    """A batch of rows for the pipe: JSON (orjson writes it three times faster than pickle,
    and the parent process, which also serves requests, is the one that pays), or pickle
    (marked by its first byte) for what JSON cannot hold, such as an integer past 64 bits."""
    try:
        return orjson.dumps(rows)
    except TypeError:
        return pickle.dumps(list(rows), protocol=pickle.HIGHEST_PROTOCOL)


def _decode_rows(payload: bytes) -> list[dict[str, Any]]:
    if payload[:1] == b"\x80":  # a pickle's PROTO opcode; JSON starts with "["
        return pickle.loads(payload)  # type: ignore[no-any-return]
    return orjson.loads(payload)  # type: ignore[no-any-return]


def child_main() -> None:
    """Entry point of the writer process: ``python -c ... FD``.

    The first message names the database and the engine factory (``module:function``); the URL
    travels over the pipe, not the command line, where other users could read its password.
    """
    connection = Connection(int(sys.argv[1]))
    url, factory = connection.recv()
    module, _, name = factory.partition(":")
    engine_factory = getattr(importlib.import_module(module), name)
    _serve(url, engine_factory, connection)


class ProcessWriter:
    """Writes span rows through a child process; one batch at a time.

    Args:
        url: the database URL (password included: it stays between the two processes).
        engine_factory: ``module:function`` making the child's engine from the URL.
    """

    def __init__(self, url: str, engine_factory: str) -> None:
        self._url = url
        self._factory = engine_factory
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None
        self._pending = False  # a batch was sent and its answer not yet received

    def _ensure(self) -> Connection:
        if self._process is not None and self._process.poll() is None and self._connection:
            return self._connection
        self._stop_child()
        # A fresh interpreter that imports only the store (not multiprocessing's spawn, which
        # would import the server's main module and everything it pulls in again).
        mine, theirs = socket.socketpair()
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from tracing._writer import child_main; child_main()",
                str(theirs.fileno()),
            ],
            pass_fds=(theirs.fileno(),),
            close_fds=True,
        )
        theirs.close()
        connection = Connection(mine.detach())
        connection.send((self._url, self._factory))
        self._process, self._connection = process, connection
        return connection

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store the rows; returns how many were new. Raises StoreWriteError."""
        if not rows:
            return 0
        self.send(rows)
        return self.collect()

    def send(self, rows: Sequence[dict[str, Any]]) -> None:
        """Start storing the rows and return at once; ``collect`` gets the outcome.

        The caller can prepare its next batch while the child writes this one. One batch at
        a time: each ``send`` is followed by a ``collect``.
        """
        with self._lock:
            if self._pending:
                raise RuntimeError("collect() the batch in flight before sending another")
            connection = self._ensure()
            try:
                connection.send_bytes(_encode_rows(rows))
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise StoreWriteError(f"the trace writer process stopped ({exc!r})") from None
            self._pending = True

    def collect(self) -> int:
        """Wait for the batch in flight; returns how many of its rows were new (0 if none
        was sent). Raises StoreWriteError: the batch may then be sent again."""
        with self._lock:
            if not self._pending:
                return 0
            self._pending = False
            connection = self._connection
            try:
                if connection is None:
                    raise EOFError("no writer process")
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
        self._pending = False
        if connection is not None:
            try:
                connection.send_bytes(b"")
            except (OSError, ValueError):
                pass
            connection.close()
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def close(self) -> None:
        """Stop the child after the batch in progress."""
        with self._lock:
            self._stop_child()

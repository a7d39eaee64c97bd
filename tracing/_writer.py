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
import os
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


def _serve(
    url: str, engine_factory: Callable[[str], Engine], connection: Connection, feed: bool = False
) -> None:
    """The child: write each batch it receives, answer with the count or the error."""
    from ._store import TraceStore

    engine = engine_factory(url)
    checkpointer = _Checkpointer(engine) if engine.dialect.name == "sqlite" else None
    store = TraceStore(engine, feed=feed)
    # This process only turns batches into SQL: its garbage is freed by reference counting,
    # and the collector's passes over the rows of each batch would cost ~10% of its CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)
    try:
        while True:
            try:
                payload = connection.recv_bytes()
            except (EOFError, OSError):  # the parent is gone
                break
            if not payload:
                break
            rows = _decode_rows(payload)
            try:
                if checkpointer is not None:
                    checkpointer.before_write()
                connection.send(("ok", store.write(rows)))
            except Exception as exc:
                connection.send(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
            if checkpointer is not None:
                checkpointer.poke()
    finally:
        if checkpointer is not None:
            checkpointer.close()
        store.engine.dispose()


class _Checkpointer:
    """SQLite: copies the write-ahead log into the database on a thread of its own.

    Left to SQLite, the connection whose commit takes the log past ``wal_autocheckpoint``
    pages does the copy, and waits for its fsyncs: the writer spent ~15% of its time waiting
    for the disk. Its connections no longer checkpoint; this thread does, in PASSIVE mode
    (it never blocks the writer or readers) on a connection of its own, while the writer
    goes on (the sqlite3 module releases the interpreter lock while SQLite works). The log
    starts over once a checkpoint has caught up with the writer, so under a sustained load
    it reaches a few times ``_PAGES`` (~330 MB seen at 6,000 spans/s); should it outgrow
    ``_LIMIT`` pages (a checkpoint never catching up), the writer copies it all (RESTART)
    before its next batch.
    """

    _PAGES = 10_000  # a checkpoint once the log holds this many pages, as before
    _LIMIT = 16 * _PAGES

    def __init__(self, engine: Engine) -> None:
        import sqlite3

        from sqlalchemy import event

        self._engine = engine
        self._path = engine.url.database or ""

        @event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
            # The log's file keeps its largest size (a few hundred MB under a sustained
            # load) unless told: cut back to this when the log starts over.
            dbapi_connection.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")

        self._connection = sqlite3.connect(
            self._path, timeout=30, check_same_thread=False, isolation_level=None
        )
        page_size = self._connection.execute("PRAGMA page_size").fetchone()[0]
        self._threshold = self._PAGES * page_size
        self._limit = self._LIMIT * page_size
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="spyglass-checkpoint", daemon=True)
        self._thread.start()

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self._path + "-wal")
        except OSError:
            return 0

    def poke(self) -> None:
        """A batch was committed: see whether the log wants copying."""
        self._wake.set()

    def before_write(self) -> None:
        if self._log_size() > self._limit:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(1.0)
            self._wake.clear()
            if self._stop or self._log_size() < self._threshold:
                continue
            try:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception as exc:  # the next batch tries again
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(30)
        self._connection.close()


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
    url, factory, feed = connection.recv()
    module, _, name = factory.partition(":")
    engine_factory = getattr(importlib.import_module(module), name)
    _serve(url, engine_factory, connection, feed)


class ProcessWriter:
    """Writes span rows through a child process, which writes one batch at a time.

    Args:
        url: the database URL (password included: it stays between the two processes).
        engine_factory: ``module:function`` making the child's engine from the URL.
        feed: the child's store writes the trace feed (see ``TraceStore``).
    """

    def __init__(self, url: str, engine_factory: str, *, feed: bool = False) -> None:
        self._url = url
        self._factory = engine_factory
        self._feed = feed
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None
        self._pending = 0  # batches sent whose answers have not been received yet

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
        connection.send((self._url, self._factory, self._feed))
        self._process, self._connection = process, connection
        return connection

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store the rows; returns how many were new. Raises StoreWriteError."""
        if not rows:
            return 0
        self.send(rows)
        return self.collect()

    @staticmethod
    def encode(rows: Sequence[dict[str, Any]]) -> bytes:
        """The rows as ``send`` carries them (to encode a batch outside the lock)."""
        return _encode_rows(rows)

    @property
    def pending(self) -> int:
        """Batches sent whose outcome ``collect`` has not returned yet."""
        return self._pending

    def answered(self, timeout: float) -> bool:
        """Whether ``collect`` would return without waiting for the child (an answer came, the
        child stopped, or nothing is in flight), waiting up to ``timeout`` seconds for it."""
        connection = self._connection
        if not self._pending or connection is None:
            return True
        try:
            return connection.poll(timeout)
        except (OSError, ValueError):  # closed under us: collect reports it
            return True

    def send(self, rows: Sequence[dict[str, Any]], encoded: bytes | None = None) -> None:
        """Start storing the rows (``encoded``: as ``encode`` gave them) and return once the
        child has them or is about to; ``collect`` gets the outcome, in the order sent.

        The caller can send the next batch before collecting this one: the child then finds
        it waiting when this one is written, instead of idling until the caller (whose
        process also serves requests) gets round to sending it. A batch the child has not
        read yet waits in the socket, so ``send`` blocks while two are ahead of the child.
        """
        with self._lock:
            connection = self._ensure()
            try:
                connection.send_bytes(_encode_rows(rows) if encoded is None else encoded)
            except (EOFError, OSError) as exc:
                self._stop_child()
                raise StoreWriteError(f"the trace writer process stopped ({exc!r})") from None
            self._pending += 1

    def collect(self) -> int:
        """Wait for the oldest batch in flight; returns how many of its rows were new (0 if
        none was sent). Raises StoreWriteError: that batch may then be sent again; when the
        child stopped, every batch still in flight is lost with it, and ``pending`` is 0."""
        with self._lock:
            if not self._pending:
                return 0
            self._pending -= 1
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
        self._pending = 0
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

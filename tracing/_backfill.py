"""Filling the search columns of spans stored before they existed (a migration).

Spans are read in primary-key order, 2,000 at a time, and their ``search_text`` (and, on
SQLite, ``attribute_tokens``) written as the store's write path would have.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, text

from ._index import attribute_tokens, search_text

__all__ = ["backfill_indexes"]

_BATCH = 2000


def backfill_indexes(connection: Connection) -> int:
    """Index every span whose ``search_text`` is not set; returns how many were."""
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    done = 0
    after = ("", "")
    select = text(
        "SELECT trace_id, span_id, name, attributes, content FROM spans "
        "WHERE search_text IS NULL AND (trace_id > :t OR (trace_id = :t AND span_id > :s)) "
        "ORDER BY trace_id, span_id LIMIT :n"
    )
    cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        while True:
            rows = connection.execute(select, {"t": after[0], "s": after[1], "n": _BATCH}).all()
            if not rows:
                return done
            updates = []
            for trace_id, span_id, name, attributes, content in rows:
                loaded = _loaded(attributes) if sqlite else None
                tokens = attribute_tokens(loaded) if isinstance(loaded, dict) else None
                updates.append((search_text(name, _loaded(content)), tokens, trace_id, span_id))
            cursor.executemany(
                f"UPDATE spans SET search_text = {mark}, attribute_tokens = {mark} "
                f"WHERE trace_id = {mark} AND span_id = {mark}",
                updates,
            )
            done += len(rows)
            after = (rows[-1][0], rows[-1][1])
    finally:
        cursor.close()


def _loaded(value: Any) -> Any:
    """A JSON column's value: the driver gives SQLite's as text, PostgreSQL's parsed."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value

"""The SQL trace store: writes span rows and keeps per-trace summaries; SQLite or PostgreSQL.

Writing is idempotent: a span sent twice (an OTLP client retrying) is stored once and counted
once, because the summary is updated only from the spans the insert really added. Spans of one
trace may arrive in any order and in any number of batches.

One call is counted once. An application's LLM span that has an LLM call beneath it (typically
its client span around the gateway's request span, when it sends ``traceparent``; or LangChain's
span around its OpenAI instrumentation's) is a wrapper of that call: it is marked
``wraps_call`` and its usage is left out of the summary, whichever of the two arrives first. The
call beneath counts: for the gateway's request span, its tokens and cost are the gateway's own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Engine

from ._columns import SPAN_COLUMNS as _SPAN_COLUMNS
from ._columns import TRACE_COLUMNS as _TRACE_COLUMNS
from ._index import attribute_tokens, search_text

__all__ = ["TraceStore"]

_JSON_COLUMNS = {"attributes", "events", "content"}
# The columns a row carries; the store derives the last two, for the search indexes.
_ROW_COLUMNS = _SPAN_COLUMNS[:-2]
assert _SPAN_COLUMNS[-2:] == ("search_text", "attribute_tokens")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # already JSON text (see span_to_row's gateway content)
        return value
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer past 64 bits (an SDK span may carry one): json holds it
        return json.dumps(value, default=str)


class TraceStore:
    """Reads and writes traces through one SQLAlchemy engine (tests hand it any engine).

    With ``feed``, each write also records the traces it touched in the trace feed
    (``tracing._feed``), for online evaluation; without, writes cost what they always did.
    """

    def __init__(self, engine: Engine, *, feed: bool = False) -> None:
        self.engine = engine
        self.feed = feed
        self.dialect = engine.dialect.name
        postgres = self.dialect == "postgresql"
        mark = "%s" if postgres else "?"
        json_mark = "%s::jsonb" if postgres else "?"
        values = ", ".join(json_mark if c in _JSON_COLUMNS else mark for c in _SPAN_COLUMNS)
        # The hot insert goes to the driver directly, JSON encoded by orjson: SQLAlchemy's
        # per-row processing and json.dumps cost more CPU than the database itself.
        if postgres:
            self._insert_spans_sql = (
                f"INSERT INTO spans ({', '.join(_SPAN_COLUMNS)}) VALUES ({values}) "
                "ON CONFLICT (trace_id, span_id) DO NOTHING"
            )
        else:
            # SQLite: the writer names each new span's rowid, to index it in FTS5 by that
            # rowid in one statement after the spans (see migration 0008). Only new spans
            # reach this insert, under the write lock: a conflict is a bug, and raises.
            self._insert_spans_sql = (
                f"INSERT INTO spans (rowid, {', '.join(_SPAN_COLUMNS)}) VALUES (?, {values})"
            )
        self._upsert_sql = self._upsert_traces_sql()
        self._feed_sql = f"INSERT INTO trace_feed (trace_id, arrived_ns) VALUES ({mark}, {mark})"

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store span rows (from ``span_to_row``); returns how many were new."""
        if not rows:
            return 0
        with self.engine.begin() as connection:
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            # Writers in other processes (--workers, replicas) take turns, so a span two of
            # them receive (an OTLP client retrying elsewhere) is counted once.
            if self.dialect == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(7254617735)")
            elif not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                cursor.execute("BEGIN IMMEDIATE")
            new_rows = self._new_only(cursor, rows)
            if not new_rows:
                cursor.close()
                return 0
            unwrapped = self._mark_wrappers(cursor, new_rows)
            params, summaries = self.prepare(new_rows, unwrapped)
            try:
                self.execute(cursor, params, summaries)
            finally:
                cursor.close()
        return len(new_rows)

    def prepare(
        self, rows: Sequence[dict[str, Any]], unwrapped: Sequence[dict[str, Any]] = ()
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The parameters of new rows' inserts and of their traces' summary upserts.

        ``unwrapped`` are stored spans found to wrap a call in ``rows``: their usage leaves
        their traces' summaries.
        """
        tokens = self.dialect == "sqlite"  # PostgreSQL has a GIN index on attributes
        params = [
            (
                *(
                    _json(row.get(name)) if name in _JSON_COLUMNS else row.get(name)
                    for name in _ROW_COLUMNS
                ),
                search_text(row["name"], row.get("content")),
                attribute_tokens(row["attributes"]) if tokens else None,
            )
            for row in rows
        ]
        summaries = [
            tuple(_json(s[c]) if c == "tags" else s[c] for c in _TRACE_COLUMNS)
            for s in _summaries(rows, unwrapped)
        ]
        return params, summaries

    def execute(
        self, cursor: Any, params: list[tuple[Any, ...]], summaries: list[tuple[Any, ...]]
    ) -> None:
        """Run ``prepare``'s parameters on a driver cursor, in the caller's transaction."""
        if self.dialect == "sqlite":
            self._insert_indexed(cursor, params)
        else:
            cursor.executemany(self._insert_spans_sql, params)
        cursor.executemany(self._upsert_sql, summaries)
        if self.feed and summaries:
            now = time.time_ns()
            cursor.executemany(self._feed_sql, [(summary[0], now) for summary in summaries])

    def _insert_indexed(self, cursor: Any, params: list[tuple[Any, ...]]) -> None:
        """SQLite: insert the spans under rowids of their own, then their full-text rows.

        One ``executemany`` into the FTS5 table lets it buffer the whole batch's terms into
        one segment; a trigger per span would flush a segment per span (six times dearer).
        """
        cursor.execute("SELECT coalesce(max(rowid), 0) FROM spans")
        first = int(cursor.fetchone()[0]) + 1
        cursor.executemany(
            self._insert_spans_sql, [(first + i, *row) for i, row in enumerate(params)]
        )
        cursor.executemany(
            "INSERT INTO span_search (rowid, search_text, attribute_tokens) VALUES (?, ?, ?)",
            [(first + i, row[-2], row[-1]) for i, row in enumerate(params)],
        )

    def _mark_wrappers(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Set ``wraps_call`` on new rows; mark stored spans that new rows show to be wrappers.

        Returns the stored spans newly marked (their usage is to leave their summaries).
        """
        calls = []
        for row in rows:
            row["wraps_call"] = False
            if _is_call(row):
                calls.append(row)
        if not calls:
            return []
        # Wrappers within the batch: a call that is the parent of another call of the batch.
        parents = {(row["trace_id"], row["parent_span_id"]) for row in calls}
        unknown: list[dict[str, Any]] = []
        for row in calls:
            if (row["trace_id"], row["span_id"]) in parents:
                row["wraps_call"] = True
            elif row["scope_name"] != _GATEWAY_SCOPE:  # the gateway's calls have only attempts
                unknown.append(row)
        # New calls whose call beneath was stored earlier: the stored spans of their traces
        # (one index range each, usually empty: a trace's spans mostly arrive together). No
        # filter on kind in the SQL: SQLite would pick the kind index and scan every call.
        mark = "%s" if self.dialect == "postgresql" else "?"
        traces = list(dict.fromkeys(row["trace_id"] for row in unknown))
        below: set[tuple[str, str]] = set()
        for start in range(0, len(traces), 500):
            chunk = traces[start : start + 500]
            cursor.execute(
                "SELECT trace_id, parent_span_id, kind, is_attempt FROM spans "
                f"WHERE trace_id IN ({', '.join([mark] * len(chunk))})",
                chunk,
            )
            below.update((f[0], f[1]) for f in cursor.fetchall() if _is_stored_call(f))
        for row in unknown:
            if (row["trace_id"], row["span_id"]) in below:
                row["wraps_call"] = True
        # Stored calls above a new call: wrappers from now on.
        own = {(row["trace_id"], row["span_id"]) for row in rows}
        above = [
            (row["trace_id"], row["parent_span_id"])
            for row in calls
            if row["parent_span_id"] is not None
            and (row["trace_id"], row["parent_span_id"]) not in own
        ]
        stored = self._select_pairs(
            cursor,
            "SELECT trace_id, span_id, kind, is_attempt, wraps_call, input_tokens, output_tokens,"
            " cost, status FROM spans WHERE",
            f"trace_id = {mark} AND span_id = {mark}",
            above,
        )
        unwrapped = [
            {
                "trace_id": found[0],
                "span_id": found[1],
                "input_tokens": found[5],
                "output_tokens": found[6],
                "cost": found[7],
                "status": found[8],
            }
            for matches in stored.values()
            for found in matches
            if _is_stored_call(found) and not found[4]
        ]
        if unwrapped:
            cursor.executemany(
                "UPDATE spans SET wraps_call = {1} WHERE trace_id = {0} AND span_id = {0}".format(
                    mark, "true" if self.dialect == "postgresql" else "1"
                ),
                [(found["trace_id"], found["span_id"]) for found in unwrapped],
            )
        return unwrapped

    @staticmethod
    def _select_pairs(
        cursor: Any, query: str, pair: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
        """Rows of ``query`` for any of ``keys`` (an OR of index lookups), by their first two
        columns."""
        found: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            pairs = " OR ".join([f"({pair})"] * len(chunk))
            cursor.execute(f"{query} {pairs}", [value for key in chunk for value in key])
            for row in cursor.fetchall():
                found.setdefault((row[0], row[1]), []).append(tuple(row))
        return found

    def _new_only(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows not stored yet (a client may send a batch again), first of each kept."""
        keys = [(row["trace_id"], row["span_id"]) for row in rows]
        stored: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 200):
            chunk = keys[start : start + 200]
            if self.dialect == "postgresql":
                marks = ", ".join(["(%s, %s)"] * len(chunk))
                cursor.execute(
                    "SELECT trace_id, span_id FROM spans WHERE (trace_id, span_id) IN "
                    f"(VALUES {marks})",
                    [value for key in chunk for value in key],
                )
            else:
                # SQLite plans a row-value IN (VALUES ...) as a scan of the whole primary key
                # (~260 ms per 400 keys at 1M spans); an OR of pairs is one point lookup each
                # (~2 ms), whatever the size of the store or of a trace.
                pairs = " OR ".join(["(trace_id = ? AND span_id = ?)"] * len(chunk))
                cursor.execute(
                    f"SELECT trace_id, span_id FROM spans WHERE {pairs}",
                    [value for key in chunk for value in key],
                )
            stored.update((row[0], row[1]) for row in cursor.fetchall())
        fresh: list[dict[str, Any]] = []
        for row in rows:
            key = (row["trace_id"], row["span_id"])
            if key not in stored:
                stored.add(key)
                fresh.append(row)
        return fresh

    def _upsert_traces_sql(self) -> str:
        """The trace-summary upsert, run on the driver's cursor with one tuple per trace."""
        postgres = self.dialect == "postgresql"
        lower, upper = ("least", "greatest") if postgres else ("min", "max")
        mark = "%s" if postgres else "?"
        values = ", ".join(
            f"{mark}::jsonb" if postgres and c == "tags" else mark for c in _TRACE_COLUMNS
        )
        start = f"{lower}(traces.start_ns, excluded.start_ns)"
        end = f"{upper}(traces.end_ns, excluded.end_ns)"
        firsts = ", ".join(
            f"{c} = coalesce(traces.{c}, excluded.{c})" for c in (*_SUMMARY_KEYS, "ttft_ms")
        )
        sums = ", ".join(
            f"{c} = traces.{c} + excluded.{c}"
            for c in (
                "span_count",
                "llm_count",
                "unpriced_count",
                "input_tokens",
                "output_tokens",
                "cost",
            )
        )
        return (
            f"INSERT INTO traces ({', '.join(_TRACE_COLUMNS)}) VALUES ({values}) "
            "ON CONFLICT (trace_id) DO UPDATE SET "
            f"start_ns = {start}, end_ns = {end}, duration_ms = ({end} - {start}) / 1000000.0, "
            f"{sums}, "
            # A trace is an error when any of its spans but the gateway's attempts is.
            "status = CASE WHEN traces.status = 'error' OR excluded.status = 'error' "
            "THEN 'error' ELSE 'ok' END, "
            "error = coalesce(traces.error, excluded.error), "
            # The root span names the trace once it arrives; until then the earliest span.
            "name = CASE WHEN excluded.root_span_id IS NOT NULL THEN excluded.name "
            "WHEN traces.root_span_id IS NULL AND excluded.start_ns < traces.start_ns "
            "THEN excluded.name ELSE traces.name END, "
            "root_span_id = coalesce(excluded.root_span_id, traces.root_span_id), "
            "service_name = CASE WHEN excluded.root_span_id IS NOT NULL "
            "THEN excluded.service_name ELSE traces.service_name END, "
            f"{firsts}"
        )


_GATEWAY_SCOPE = "spyglass.gateway"  # the writer process imports no more than this module


def _is_call(row: dict[str, Any]) -> bool:
    """An LLM or embedding call: what the usage figures count (not a gateway attempt)."""
    return row["kind"] in ("llm", "embedding") and not row.get("is_attempt")


def _is_stored_call(found: tuple[Any, ...]) -> bool:
    """A stored row ``(trace_id, span_id, kind, is_attempt, ...)`` that is a call."""
    return found[2] in ("llm", "embedding") and not found[3]


def _unpriced(call: dict[str, Any]) -> bool:
    """A call whose cost is unknown: none was said or found, yet it answered or used tokens
    (a call that failed without using any cost nothing)."""
    if call["cost"] is not None:
        return False
    used = call["input_tokens"] is not None or call["output_tokens"] is not None
    return used or call["status"] != "error"


_SUMMARY_KEYS = ("model", "provider", "session_id", "user_id", "key_id", "prompt", "project")
_SUMMARY_KEYS_OF_ATTEMPT = ("session_id", "user_id", "key_id", "prompt", "project")


def _summaries(
    rows: Sequence[dict[str, Any]], unwrapped: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One partial summary per trace in ``rows``, to be merged into the stored one.

    ``unwrapped`` (stored calls that turned out to be wrappers) count negatively.
    """
    by_trace: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["start_ns"]):
        summary = by_trace.get(row["trace_id"])
        if summary is None:
            summary = by_trace[row["trace_id"]] = {
                "trace_id": row["trace_id"],
                "name": row["name"],
                "root_span_id": None,
                "service_name": row["service_name"],
                "start_ns": row["start_ns"],
                "end_ns": row["end_ns"],
                "duration_ms": 0.0,
                "status": "ok",
                "error": None,
                "span_count": 0,
                "llm_count": 0,
                "unpriced_count": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": 0.0,
                "model": None,
                "provider": None,
                "session_id": None,
                "user_id": None,
                "key_id": None,
                "prompt": None,
                "project": None,
                "ttft_ms": None,
                "tags": [],
            }
        summary["span_count"] += 1
        summary["end_ns"] = max(summary["end_ns"], row["end_ns"])
        if row["parent_span_id"] is None:
            summary["root_span_id"] = row["span_id"]
            summary["name"] = row["name"]
            summary["service_name"] = row["service_name"]
        # A failed attempt is not a failed trace: the request span tells how the call ended.
        if row["status"] == "error" and not row.get("is_attempt"):
            summary["status"] = "error"
            if summary["error"] is None:
                summary["error"] = row["status_message"] or row["name"]
        if _is_call(row) and not row.get("wraps_call"):
            summary["llm_count"] += 1
            summary["unpriced_count"] += _unpriced(row)
            summary["input_tokens"] += row["input_tokens"] or 0
            summary["output_tokens"] += row["output_tokens"] or 0
            summary["cost"] += row["cost"] or 0.0
            if summary["ttft_ms"] is None:
                summary["ttft_ms"] = row.get("ttft_ms")
        # An attempt names the upstream model; the trace shows what was asked for.
        keys = _SUMMARY_KEYS_OF_ATTEMPT if row.get("is_attempt") else _SUMMARY_KEYS
        for key in keys:
            if summary[key] is None and row.get(key):
                summary[key] = row[key]
    for span in unwrapped:  # its trace has a new span in ``rows``: the call beneath it
        summary = by_trace[span["trace_id"]]
        summary["llm_count"] -= 1
        summary["unpriced_count"] -= _unpriced(span)
        summary["input_tokens"] -= span["input_tokens"] or 0
        summary["output_tokens"] -= span["output_tokens"] or 0
        summary["cost"] -= span["cost"] or 0.0
    for summary in by_trace.values():
        summary["duration_ms"] = (summary["end_ns"] - summary["start_ns"]) / 1e6
    return list(by_trace.values())

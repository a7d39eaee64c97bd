"""Reading the trace store: the trace list with filters and keyset pagination, one trace's spans,
sessions, and usage statistics over time. Every value is a bound parameter."""

from __future__ import annotations

import base64
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from ._index import facet_candidates, facet_token
from ._records import SPANS, TRACES
from ._score_filters import ScoreCondition, score_condition, score_sort_column
from ._shapes import known_cost
from ._store import TraceStore

__all__ = [
    "QueryError",
    "TraceFilter",
    "get_trace",
    "list_sessions",
    "list_traces",
    "online_eval_costs",
    "usage_stats",
]

SortKey = str  # start, duration, cost, or score:NAME
_SORT_COLUMNS = {
    "start": TRACES.c.start_ns,
    "duration": TRACES.c.duration_ms,
    "cost": TRACES.c.cost,
}


class QueryError(ValueError):
    """A query parameter is invalid; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass
class TraceFilter:
    """What the trace list may be filtered on (all optional, all combined with AND)."""

    start_after_ns: int | None = None
    start_before_ns: int | None = None
    status: str | None = None
    model: str | None = None
    provider: str | None = None
    name: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    prompt: str | None = None
    service: str | None = None
    min_duration_ms: float | None = None
    min_cost: float | None = None
    tag: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None
    project: str | None = None
    scores: list[ScoreCondition] = field(default_factory=list)


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode_cursor(cursor: str, first: type | tuple[type, ...]) -> tuple[Any, str]:
    """A cursor's (sort value, id); its types are checked, for the database would refuse them."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise QueryError("cursor", "not a cursor this API returned") from None
    if (
        not isinstance(values, list)
        or len(values) != 2
        or isinstance(values[0], bool)
        or not isinstance(values[0], first)
        or not isinstance(values[1], str)
    ):
        raise QueryError("cursor", "not a cursor this API returned")
    return values[0], values[1]


def _conditions(store: TraceStore, where: TraceFilter) -> list[Any]:
    t = TRACES.c
    found: list[Any] = []
    if where.start_after_ns is not None:
        found.append(t.start_ns >= where.start_after_ns)
    if where.start_before_ns is not None:
        found.append(t.start_ns < where.start_before_ns)
    if where.status is not None:
        if where.status not in ("ok", "error"):
            raise QueryError("status", "expected ok or error")
        found.append(t.status == where.status)
    for column, value in (
        (t.model, where.model),
        (t.provider, where.provider),
        (t.name, where.name),
        (t.session_id, where.session_id),
        (t.user_id, where.user_id),
        (t.key_id, where.key_id),
        (t.service_name, where.service),
        (t.project, where.project),
    ):
        if value is not None:
            found.append(column == value)
    if where.prompt is not None:
        # A prompt's name matches each of its versions ("greeter" finds "greeter/3").
        found.append(
            or_(
                t.prompt == where.prompt,
                t.prompt.like(_like(where.prompt) + "/%", escape="\\"),
            )
        )
    if where.min_duration_ms is not None:
        found.append(t.duration_ms >= where.min_duration_ms)
    if where.min_cost is not None:
        found.append(t.cost >= where.min_cost)
    if where.tag is not None:
        # Element equality, not a pattern over the JSON text: escapes and non-ASCII differ
        # between JSON writers, and "b" must not match the tag 'a"b'.
        if store.dialect == "postgresql":
            found.append(type_coerce(t.tags, JSONB).contains([where.tag]))
        else:
            tags = func.json_each(t.tags).table_valued("value")
            found.append(exists().where(tags.c.value == where.tag))
    for key, value in where.attributes:
        found.append(_attribute_condition(store, key, value))
    if where.text:
        found.append(TRACES.c.trace_id.in_(_text_matches(store, where.text)))
    for condition in where.scores:
        found.append(score_condition(condition, where.project))
    return found


def _text_matches(store: TraceStore, text: str) -> Any:
    """The ids of traces with a span whose name or message text matches ``text``: its words in
    that order, the last one possibly unfinished ("capital of fr"), in any case.

    Both databases index the words of ``spans.search_text`` (SQLite: FTS5; PostgreSQL: a GIN
    index on its ``simple`` tsvector). A query without a word (punctuation only) reads the
    spans' text instead.
    """
    words = _WORDS.findall(text.lower())
    if not words:
        pattern = f"%{_like(text.lower())}%"
        return select(SPANS.c.trace_id).where(
            func.lower(SPANS.c.search_text).like(pattern, escape="\\")
        )
    if store.dialect == "postgresql":
        query = " <-> ".join(f"'{word}'" for word in words) + ":*"
        simple: Any = literal_column("'simple'::regconfig")
        hits = (
            select(SPANS.c.trace_id)
            .where(
                func.to_tsvector(simple, SPANS.c.search_text).op("@@")(
                    func.to_tsquery(simple, query)
                )
            )
            # Found first, then their traces: left to itself the planner walks the newest
            # traces testing each one's spans, taking ~0.5 s when 1% of the traces match.
            .cte("text_hits")
            .prefix_with("MATERIALIZED")
        )
        return select(hits.c.trace_id)
    # One FTS5 phrase, its last word a prefix; the tokenizer splits it as it split the text.
    phrase = '"' + text.replace('"', '""') + '"*'
    return _indexed_spans(f"search_text : {phrase}")


# Words as both indexes split text: letters and digits; anything else separates them.
_WORDS = re.compile(r"[^\W_]+")
_SPAN_SEARCH = table("span_search")


def _attribute_condition(store: TraceStore, key: str, value: str) -> Any:
    """A trace has a span whose attribute ``key`` equals ``value``."""
    candidates = facet_candidates(key, value) if store.dialect == "sqlite" else None
    if candidates is None:
        return exists().where(
            SPANS.c.trace_id == TRACES.c.trace_id, _attribute_equals(store, key, value)
        )
    tokens = " OR ".join(facet_token(key, facet) for facet in candidates)
    return TRACES.c.trace_id.in_(_indexed_spans(f"attribute_tokens : ({tokens})"))


def _indexed_spans(match: str) -> Any:
    """The trace ids of the spans the SQLite full-text index finds for an FTS5 query."""
    hits: Any = (
        select(literal_column("rowid"))
        .select_from(_SPAN_SEARCH)
        .where(literal_column("span_search").op("MATCH")(match))
    )
    return select(SPANS.c.trace_id).where(literal_column("spans.rowid").in_(hits))


def _attribute_equals(store: TraceStore, key: str, value: str) -> Any:
    """A span attribute equals ``value`` (as a string, or as the number it spells)."""
    candidates: list[Any] = [value]
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number):
        candidates.append(int(number) if number.is_integer() else number)
        digits = value.lstrip("-")
        if digits.isascii() and digits.isdigit() and abs(int(value)) < 2**63:
            candidates.append(int(value))  # exact beyond a float's precision
    if value in ("true", "false"):
        candidates.append(value == "true")
    if store.dialect == "postgresql":
        # JSONB containment can use the GIN index on attributes. The column's type is JSON
        # with a JSONB variant, whose comparator lacks ``contains``: coerce it.
        attributes = type_coerce(SPANS.c.attributes, JSONB)
        return or_(*(attributes.contains({key: c}) for c in candidates))
    # SQLite: the attribute's JSON type decides which comparison applies, as JSONB's does (a
    # number never equals text, and true is not 1). The key is a bound value, not a path.
    each = func.json_each(SPANS.c.attributes).table_valued("key", "value", "type")
    matches = [and_(each.c.type == "text", each.c.value == value)]
    numbers = [c for c in candidates[1:] if not isinstance(c, bool)]
    if numbers:
        matches.append(and_(each.c.type.in_(("integer", "real")), each.c.value == numbers[0]))
    if value in ("true", "false"):
        matches.append(each.c.type == value)
    return exists().where(each.c.key == key, or_(*matches))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_traces(
    store: TraceStore,
    where: TraceFilter,
    *,
    sort: SortKey = "start",
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of trace summaries, newest (or longest, costliest, or highest scored: sort
    ``score:NAME``) first, and the next cursor."""
    if not 1 <= limit <= 500:
        raise QueryError("limit", "expected 1 to 500")
    if isinstance(sort, str) and sort.startswith("score:") and sort[6:]:
        return _by_score(store, where, sort[6:], limit, cursor)
    if sort not in _SORT_COLUMNS:
        raise QueryError("sort", "expected start, duration, cost or score:NAME")
    column = _SORT_COLUMNS[sort]
    query = select(TRACES).where(*_conditions(store, where))
    if cursor:
        value, trace_id = _decode_cursor(cursor, int if sort == "start" else (int, float))
        query = query.where(tuple_(column, TRACES.c.trace_id) < tuple_(value, trace_id))
    query = query.order_by(column.desc(), TRACES.c.trace_id.desc()).limit(limit + 1)
    with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor([last[column.name], last["trace_id"]])
    return rows, next_cursor


def _by_score(
    store: TraceStore, where: TraceFilter, name: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The traces with score ``name``, highest first (ties: newest id first)."""
    scored = score_sort_column(name, where.project)
    value = scored.c.score_value
    query = (
        select(TRACES, value)
        .join(scored, scored.c.trace_id == TRACES.c.trace_id)
        .where(*_conditions(store, where))
    )
    if cursor:
        last, trace_id = _decode_cursor(cursor, (int, float))
        query = query.where(tuple_(value, TRACES.c.trace_id) < tuple_(last, trace_id))
    query = query.order_by(value.desc(), TRACES.c.trace_id.desc()).limit(limit + 1)
    with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor([rows[-1]["score_value"], rows[-1]["trace_id"]])
    for row in rows:
        row.pop("score_value")
    return rows, next_cursor


def get_trace(
    store: TraceStore,
    trace_id: str,
    *,
    parent_span_id: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
    project: str | None = None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """A trace's summary and a page of its spans in start order (or one span's children).

    With ``project``, a trace of another project is answered as if it did not exist.
    """
    if not 1 <= limit <= 10000:
        raise QueryError("limit", "expected 1 to 10000")
    if len(trace_id) != 32 or not _is_hex(trace_id):
        raise QueryError("trace_id", "expected 32 hexadecimal characters")
    query = select(*_SPAN_FIELDS).where(SPANS.c.trace_id == trace_id)
    if parent_span_id is not None:
        if len(parent_span_id) != 16 or not _is_hex(parent_span_id):
            raise QueryError("parent", "expected 16 hexadecimal characters")
        query = query.where(SPANS.c.parent_span_id == parent_span_id)
    if cursor:
        start, span_id = _decode_cursor(cursor, int)
        query = query.where(tuple_(SPANS.c.start_ns, SPANS.c.span_id) > tuple_(start, span_id))
    query = query.order_by(SPANS.c.start_ns, SPANS.c.span_id).limit(limit + 1)
    with store.engine.connect() as connection:
        summary_row = connection.execute(
            select(TRACES).where(TRACES.c.trace_id == trace_id)
        ).first()
        if summary_row is None or (project is not None and summary_row.project != project):
            return None, [], None
        spans = [dict(row._mapping) for row in connection.execute(query)]
    next_cursor = None
    if len(spans) > limit:
        spans = spans[:limit]
        next_cursor = _encode_cursor([spans[-1]["start_ns"], spans[-1]["span_id"]])
    return dict(summary_row._mapping), spans, next_cursor


# What a span is shown with: its row, less the text the search index is built from.
_SPAN_FIELDS = [c for c in SPANS.columns if c.name not in ("search_text", "attribute_tokens")]


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def list_sessions(
    store: TraceStore,
    *,
    limit: int = 50,
    cursor: str | None = None,
    user_id: str | None = None,
    project: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Sessions (conversations), most recently active first, with their totals."""
    if not 1 <= limit <= 500:
        raise QueryError("limit", "expected 1 to 500")
    t = TRACES.c
    last = func.max(t.start_ns)
    query = (
        select(
            t.session_id,
            func.count().label("trace_count"),
            func.min(t.start_ns).label("start_ns"),
            last.label("last_start_ns"),
            func.max(t.end_ns).label("end_ns"),
            func.sum(t.input_tokens).label("input_tokens"),
            func.sum(t.output_tokens).label("output_tokens"),
            func.sum(t.cost).label("cost"),
            func.sum(t.llm_count).label("llm_count"),
            func.sum(t.unpriced_count).label("unpriced_count"),
            func.sum(case((t.status == "error", 1), else_=0)).label("error_count"),
            func.max(t.user_id).label("user_id"),
        )
        .where(t.session_id.is_not(None))
        .group_by(t.session_id)
    )
    if user_id is not None:
        query = query.where(t.user_id == user_id)
    if project is not None:
        query = query.where(t.project == project)
    if cursor:
        when, session = _decode_cursor(cursor, int)
        query = query.having(or_(last < when, and_(last == when, t.session_id < session)))
    query = query.order_by(last.desc(), t.session_id.desc()).limit(limit + 1)
    with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["cost"] = known_cost(row)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor([rows[-1]["last_start_ns"], rows[-1]["session_id"]])
    return rows, next_cursor


GroupBy = Literal["model", "provider", "key", "none"]
Source = Literal["all", "gateway", "app", "online_evals"]
_GATEWAY_SCOPE = "spyglass.gateway"
_GROUP_COLUMNS = {"model": SPANS.c.model, "provider": SPANS.c.provider, "key": SPANS.c.key_id}


def usage_stats(
    store: TraceStore,
    *,
    start_ns: int,
    end_ns: int,
    bucket_seconds: int,
    group_by: GroupBy = "none",
    project: str | None = None,
    source: Source = "all",
) -> list[dict[str, Any]]:
    """Per time bucket (and group): LLM requests, errors, latency p50/p95, TTFT, tokens, cost,
    and ``unpriced``: how many of the requests have no known cost (left out of ``cost``).

    Each call counts once: not the gateway's attempts (their request span counts), nor an
    app's span that wraps a call beneath it (see ``TraceStore``). ``source`` keeps only the
    calls the gateway served (``gateway``: its request spans, here or from another Spyglass)
    or only those seen over OTLP alone (``app``). Online evaluation's judge calls are not user
    traffic: every source but ``online_evals`` (them alone) leaves them out. ``project``
    counts only that project's calls (the spans' own ``project``).
    """
    if end_ns <= start_ns:
        raise QueryError("end", "must be after start")
    if bucket_seconds < 1:
        raise QueryError("bucket", "expected at least 1 second")
    if (end_ns - start_ns) / (bucket_seconds * 1e9) > 10000:
        raise QueryError("bucket", "too many buckets for the range (at most 10000)")
    if group_by != "none" and group_by not in _GROUP_COLUMNS:
        raise QueryError("group_by", "expected model, provider, key or none")
    if source not in ("all", "gateway", "app", "online_evals"):
        raise QueryError("source", "expected all, gateway, app or online_evals")
    s = SPANS.c
    group_column = _GROUP_COLUMNS.get(group_by)
    columns: list[Any] = [
        s.start_ns,
        s.duration_ms,
        s.status,
        s.ttft_ms,
        s.input_tokens,
        s.output_tokens,
        s.cost,
    ]
    if group_column is not None:
        columns.append(group_column.label("group"))
    query = select(*columns).where(
        s.kind.in_(("llm", "embedding")),
        s.is_attempt.is_(False),
        s.wraps_call.is_(False),
        s.start_ns >= start_ns,
        s.start_ns < end_ns,
    )
    if source == "gateway":
        query = query.where(s.scope_name == _GATEWAY_SCOPE)
    elif source == "app":
        query = query.where(or_(s.scope_name.is_(None), s.scope_name != _GATEWAY_SCOPE))
    if source == "online_evals":
        query = query.where(s.online_eval.is_not(None))
    else:
        query = query.where(s.online_eval.is_(None))
    if project is not None:
        query = query.where(s.project == project)
    buckets: dict[tuple[int, Any], dict[str, Any]] = {}
    durations: dict[tuple[int, Any], list[float]] = defaultdict(list)
    ttfts: dict[tuple[int, Any], list[float]] = defaultdict(list)
    width = bucket_seconds * 1_000_000_000
    with store.engine.connect() as connection:
        for row in connection.execute(query):
            bucket = start_ns + (row.start_ns - start_ns) // width * width
            key = (bucket, row.group if group_column is not None else None)
            entry = buckets.get(key)
            if entry is None:
                entry = buckets[key] = {
                    "bucket_start_ns": bucket,
                    "group": key[1],
                    "requests": 0,
                    "errors": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost": 0.0,
                    "unpriced": 0,
                }
            entry["requests"] += 1
            entry["unpriced"] += row.cost is None and (
                row.input_tokens is not None
                or row.output_tokens is not None
                or row.status != "error"
            )
            entry["errors"] += row.status == "error"
            entry["input_tokens"] += row.input_tokens or 0
            entry["output_tokens"] += row.output_tokens or 0
            entry["cost"] += row.cost or 0.0
            durations[key].append(row.duration_ms)
            if row.ttft_ms is not None:
                ttfts[key].append(row.ttft_ms)
    for key, entry in buckets.items():
        entry["latency_p50_ms"] = _percentile(durations[key], 50)
        entry["latency_p95_ms"] = _percentile(durations[key], 95)
        entry["ttft_p50_ms"] = _percentile(ttfts[key], 50)
        entry["error_rate"] = entry["errors"] / entry["requests"]
    return sorted(buckets.values(), key=lambda e: (e["bucket_start_ns"], str(e["group"])))


def _percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def online_eval_costs(store: TraceStore, *, since_ns: int | None = None) -> dict[str, Any]:
    """What each online rule's judges cost: ``{rule: {"calls", "cost"}}`` (cost None when no
    call of it had a known price), counted once per call as usage statistics count them."""
    s = SPANS.c
    query = (
        select(s.online_eval, func.count().label("calls"), func.sum(s.cost).label("cost"))
        .where(
            s.online_eval.is_not(None),
            s.kind.in_(("llm", "embedding")),
            s.is_attempt.is_(False),
            s.wraps_call.is_(False),
        )
        .group_by(s.online_eval)
    )
    if since_ns is not None:
        query = query.where(s.start_ns >= since_ns)
    with store.engine.connect() as connection:
        return {
            row.online_eval: {"calls": int(row.calls), "cost": row.cost}
            for row in connection.execute(query)
        }

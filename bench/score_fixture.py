"""Scores for the trace-query fixture: ~1M of them on its traces and spans, as a store that
has run online evaluation and collected feedback for a month would hold.

- ``faithfulness`` (online, 0-1) on every trace; ``relevance`` (online, 0-1) on spans, as
  many as it takes to reach the total;
- ``thumbs`` (api, boolean) on 20% of traces, ``helpful`` (human, 1-5) on 5%, a fifth of those
  corrected once (the first score kept as history, superseded);
- ``escalate`` (human, boolean) on 0.1%: the rare filter.

Rows go in through SQLAlchemy Core in batches (``executemany``), not the API: the API's cost
per score is measured elsewhere; what this fixture is for is the trace list's score filters
at this size. The traces each benchmark filter matches are counted while generating.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import trace_kit as tk

SCORES_PER_SPAN = 1.0  # scores in all, per span of the fixture (1M spans: 1M scores)


def fill_scores(store: tk.Store, total: int, seed: int = 7) -> dict[str, int]:
    """Write ~``total`` scores; returns how many traces each benchmark score filter matches."""
    from sqlalchemy import create_engine, text

    from tracing._score_records import SCORES

    rng = random.Random(seed)
    engine = create_engine(store.url.replace("postgresql://", "postgresql+psycopg://"))
    started = time.monotonic()
    written = 0
    matched: dict[str, set[str]] = {
        "score_helpful_ge4": set(),
        "score_helpful": set(),
        "score_thumbs_false": set(),
        "score_escalate": set(),
        "score_faithfulness_lt01": set(),
    }
    batch: list[dict[str, Any]] = []
    clock = time.time_ns()

    def add(
        trace_id: str,
        span_id: str | None,
        name: str,
        value: float,
        source: str,
        data_type: str = "numeric",
        *,
        score_id: str | None = None,
        supersedes: str | None = None,
        superseded_by: str | None = None,
    ) -> str:
        nonlocal clock
        clock += 1
        score_id = score_id or uuid.uuid4().hex
        batch.append(
            {
                "id": score_id,
                "project": None,
                "target": "span" if span_id else "trace",
                "trace_id": trace_id,
                "span_id": span_id,
                "session_id": None,
                "run_id": None,
                "row_index": None,
                "name": name,
                "data_type": data_type,
                "value": value,
                "label": None,
                "comment": None,
                "source": source,
                "author": "key_bench" if source != "online" else None,
                "user_id": None,
                "scorer": f"rule-{name}" if source == "online" else None,
                "error": None,
                "metadata": {},
                "created_ns": clock,
                "supersedes": supersedes,
                "superseded_by": superseded_by,
            }
        )
        if len(batch) >= 10_000:
            flush()
        return score_id

    def flush() -> None:
        nonlocal written
        if batch:
            with engine.begin() as conn:
                conn.execute(SCORES.insert(), batch)
            written += len(batch)
            batch.clear()

    try:
        with engine.connect() as conn:
            traces = [row[0] for row in conn.execute(text("SELECT trace_id FROM traces"))]
            span_count = conn.execute(text("SELECT count(*) FROM spans")).scalar() or 0
        for trace_id in traces:
            value = rng.random()
            add(trace_id, None, "faithfulness", value, "online")
            if value < 0.1:
                matched["score_faithfulness_lt01"].add(trace_id)
            if rng.random() < 0.20:
                thumbs = rng.random() < 0.7
                add(trace_id, None, "thumbs", float(thumbs), "api", "boolean")
                if not thumbs:
                    matched["score_thumbs_false"].add(trace_id)
            if rng.random() < 0.05:
                helpful = float(rng.randint(1, 5))
                supersedes = None
                if rng.random() < 0.2:  # corrected once: the first stays, as history
                    later = uuid.uuid4().hex
                    first = float(rng.randint(1, 5))
                    supersedes = add(trace_id, None, "helpful", first, "human", superseded_by=later)
                    add(
                        trace_id,
                        None,
                        "helpful",
                        helpful,
                        "human",
                        score_id=later,
                        supersedes=supersedes,
                    )
                else:
                    add(trace_id, None, "helpful", helpful, "human")
                matched["score_helpful"].add(trace_id)
                if helpful >= 4:
                    matched["score_helpful_ge4"].add(trace_id)
            if rng.random() < 0.001:
                add(trace_id, None, "escalate", 1.0, "human", "boolean")
                matched["score_escalate"].add(trace_id)
        remaining = max(0, total - written - len(batch))
        share = remaining / span_count if span_count else 0
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
                text("SELECT trace_id, span_id FROM spans")
            )
            for trace_id, span_id in result:
                if rng.random() < share:
                    add(trace_id, span_id, "relevance", rng.random(), "online")
        flush()
        if store.kind == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE scores")
        else:
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE scores")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    print(f"  wrote {written:,} scores in {seconds:.0f} s ({written / seconds:,.0f}/s)", flush=True)
    counts = {name: len(ids) for name, ids in matched.items()}
    counts["score_not_helpful"] = len(traces) - counts["score_helpful"]
    counts["scores"] = written
    return counts

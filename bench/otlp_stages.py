"""OTLP ingest, stage by stage: the CPU one span costs at each step of the path, and what
that leaves of the 20,000 spans/s target on this machine.

    .venv/bin/python bench/otlp_stages.py [--batches 60] [--batch 1000] [--repeat 3]

The bodies are ``otlp_ingest.py``'s (``otlp_load.build_template``: GenAI traces of a chain
root and four LLM calls, ~15 attributes a span), with fresh trace ids per body. Each stage
runs in this one thread, timed with ``time.process_time`` (CPU, not wall clock: a noisy
machine slows it less), best of ``--repeat``; the store stages write into fresh SQLite
stores (a new one per repeat) of the same schema as ``spyglass serve``'s.

    parse       ``ExportTraceServiceRequest.ParseFromString`` (opentelemetry-proto on upb, C)
    attributes  each span's attributes read into a dict and nothing else: the least any
                converter built on opentelemetry-proto pays (its objects are made per value)
    convert     ``otlp_to_rows``: the server's whole conversion (attributes included)
    pipe        rows encoded for the writer process and decoded there
    write       ``TraceStore.write``: duplicate check, row preparation, SQL, commit
    sql         the SQL of those writes alone, parameters prepared beforehand: spans, their
                FTS5 rows, the trace summaries, and the commit (with SQLite's checkpoints)

The summary adds them up and says what rate two fully used cores could reach with nothing
else running (no HTTP, no load generator): for the whole path, and for its floor
(parse + attributes + sql), what is left if every Python step in between cost nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otlp_load import build_template

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 20_000  # persisted spans/s, SQLite


def _cpu(run: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """The least CPU seconds ``run`` took over ``repeat`` runs (``setup`` before each, untimed)."""
    best = float("inf")
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="request bodies (default 60)")
    parser.add_argument("--batch", type=int, default=1000, help="spans a body (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs a stage, best kept")
    args = parser.parse_args()

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from spyglass._db import create_store_engine, upgrade_store
    from tracing._convert import _attributes, otlp_to_rows
    from tracing._policy import ContentPolicy
    from tracing._store import TraceStore
    from tracing._writer import _decode_rows, _encode_rows

    rng = random.Random(7)
    templates = [build_template(args.batch, seed) for seed in range(4)]
    bodies = [templates[i % len(templates)].fresh(rng) for i in range(args.batches)]
    spans = sum(templates[i % len(templates)].spans for i in range(args.batches))
    policy = ContentPolicy(capture_content=True, max_attribute_bytes=64 * 1024)
    # As in the server and its writer process (see spyglass/_app.py and tracing/_writer.py).
    gc.set_threshold(20_000, 50, 50)

    requests: list[Any] = []

    def parse() -> None:
        requests.clear()
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            requests.append(request)

    def attributes() -> None:
        for request in requests:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        _attributes(span.attributes)

    batches: list[list[dict[str, Any]]] = []

    def convert() -> None:
        batches[:] = [otlp_to_rows(request, policy)[0] for request in requests]

    def pipe() -> None:
        for rows in batches:
            _decode_rows(_encode_rows(rows))

    workdir = Path(tempfile.mkdtemp(prefix="sg-stages-"))
    stores: list[TraceStore] = []

    def fresh_store() -> None:
        engine = create_store_engine(f"sqlite:///{workdir / f'store-{len(stores)}.db'}")
        upgrade_store(engine)
        stores.append(TraceStore(engine))

    def write() -> None:
        for rows in batches:
            stores[-1].write(rows)

    prepared: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []

    def prepare_sql() -> None:
        fresh_store()
        prepared[:] = [stores[-1].prepare(rows) for rows in batches]

    def sql() -> None:
        store = stores[-1]
        for params, summaries in prepared:
            with store.engine.begin() as connection:
                driver = connection.connection.driver_connection
                cursor = driver.cursor()  # type: ignore[union-attr]
                if not driver.in_transaction:  # type: ignore[union-attr]
                    cursor.execute("BEGIN IMMEDIATE")
                store.execute(cursor, params, summaries)
                cursor.close()

    stages: list[tuple[str, float]] = []
    for name, run, setup in (
        ("parse", parse, None),
        ("attributes", attributes, None),
        ("convert", convert, None),
        ("pipe", pipe, None),
        ("write", write, fresh_store),
        ("sql", sql, prepare_sql),
    ):
        seconds = _cpu(run, args.repeat, setup)
        stages.append((name, seconds / spans * 1e6))
        print(f"  {name:<11} {stages[-1][1]:7.1f} µs a span", flush=True)
    for store in stores:
        store.engine.dispose()

    per_span = dict(stages)
    whole = per_span["parse"] + per_span["convert"] + per_span["pipe"] + per_span["write"]
    floor = per_span["parse"] + per_span["attributes"] + per_span["sql"]
    cores = os.cpu_count() or 1
    print()
    print(f"{spans:,} spans ({args.batches} bodies of {args.batch}), best of {args.repeat}")
    alone = f"spans/s on {cores} cores, nothing else running"
    print(f"whole path  parse + convert + pipe + write = {whole:6.1f} µs a span")
    print(f"  -> at most {cores * 1e6 / whole:8,.0f} {alone}")
    print(f"floor       parse + attributes + sql       = {floor:6.1f} µs a span")
    print(f"  -> at most {cores * 1e6 / floor:8,.0f} {alone}")
    print(f"target      {TARGET:,} spans/s needs under {cores * 1e6 / TARGET:.0f} µs a span in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

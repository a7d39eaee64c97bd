"""The write path: processors in front of the store, the store behind an exporter.

``ContentPolicyProcessor`` (wrapping) strips or truncates message content and masks secrets;
``QueueProcessor`` is a batching processor with a bounded queue that never blocks the caller and
counts what it drops; ``StoreExporter`` writes batches and, when the database is unreachable,
keeps retrying the batch in hand while new spans wait in the queue.

Why not the SDK's BatchSpanProcessor: it drops a batch whose export raised, which would lose
every span written while PostgreSQL restarts, and it exposes neither its queue depth (the
OTLP receiver answers 503 when the queue is full) nor its drop count.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._content import CONTENT_ATTRIBUTES
from ._convert import otlp_to_rows, otlp_to_spans, span_to_row
from ._limits import DEFAULT_LIMITS, SpanLimits
from ._policy import CONTENT_EVENTS, TRUNCATED_ATTRIBUTE, ContentPolicy
from ._projects import Sender
from ._store import TraceStore
from ._writer import ProcessWriter

if TYPE_CHECKING:
    from ._metrics import SpanMetrics

__all__ = [
    "CONTENT_ATTRIBUTES",
    "CONTENT_EVENTS",
    "TRUNCATED_ATTRIBUTE",
    "ContentPolicyProcessor",
    "QueueProcessor",
    "Receipt",
    "StoreExporter",
    "TracePipeline",
]

log = logging.getLogger("spyglass.tracing")

Settled = Callable[[bool], None]  # told whether a batch was stored (True) or given up


class Receipt:
    """Spans queued together, and an awaitable for their being committed to the store.

    Queued right after its spans, the receipt travels with the batch that holds the last of
    them; the worker resolves it once that batch and every earlier one are settled: ``True``
    when all its spans are stored, ``False`` when any of them was lost (at shutdown).
    """

    __slots__ = ("count", "future", "loop", "start")

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        self.count = count
        self.start = 0  # the queue position of its first span, set by the worker
        self.loop = loop
        self.future: asyncio.Future[bool] = loop.create_future()

    def resolve(self, stored: bool) -> None:
        """From any thread: settle the future on its loop."""
        try:
            self.loop.call_soon_threadsafe(self._set, stored)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _set(self, stored: bool) -> None:
        if not self.future.done():
            self.future.set_result(stored)


_GATEWAY_SCOPE = "spyglass.gateway"
_GATEWAY_CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions")


class ContentPolicyProcessor(SpanProcessor):
    """Applies the content policy to finished spans, then hands them to ``inner``.

    Args:
        inner: the processor that queues spans for storage and export.
        capture_content: keep message content at all.
        max_attribute_bytes: longer string attributes are cut and named in ``spyglass.truncated``.
    """

    def __init__(
        self, inner: SpanProcessor, *, capture_content: bool, max_attribute_bytes: int
    ) -> None:
        self._inner = inner
        self.policy = ContentPolicy(
            capture_content=capture_content, max_attribute_bytes=max_attribute_bytes
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(self.apply(span))

    def apply(self, span: ReadableSpan) -> ReadableSpan:
        """The span as it may be stored: the same object when nothing needed changing."""
        attributes = span.attributes or {}
        scope = span.instrumentation_scope
        if scope is not None and scope.name == _GATEWAY_SCOPE and not span.events:
            # The gateway's own spans already follow the capture policy and never carry
            # secrets; only their message attributes can be too long. Checking those alone
            # keeps this off the request path's bill (it runs when a request's span ends).
            if not any(
                isinstance(value := attributes.get(key), str)
                and len(value) > self.policy.limit // 4
                for key in _GATEWAY_CONTENT
            ):
                return span
        changed = self.policy.attributes(attributes)
        events = self._events(span.events) if span.events else None
        if changed is None and events is None:
            return span
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes if changed is None else changed,
            events=span.events if events is None else events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _events(self, events: Sequence[Event]) -> list[Event] | None:
        """The events as they may be stored (same policy), or None when none needed changing."""
        kept: list[Event] = []
        changed = False
        for event in events:
            if not self.policy.keeps_event(event.name):
                changed = True
                continue
            attributes = self.policy.attributes(event.attributes or {})
            if attributes is None:
                kept.append(event)
            else:
                changed = True
                kept.append(Event(event.name, attributes, event.timestamp))
        return kept if changed else None

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class StoreExporter(SpanExporter):
    """Writes spans to a :class:`TraceStore`, retrying while the database is unreachable.

    Args:
        store: where the spans go.
        max_backoff: the longest wait between two attempts at writing a batch, in seconds.
        metrics: sees the rows of each batch's own (not received) spans once, before the
            write: the metrics describe the traffic, so they keep counting while the database
            is down, and a batch written after retries is not counted twice. Spans dropped
            before they reach the exporter (a full queue) are not counted, but
            ``spyglass_spans_dropped_total`` is.
    """

    def __init__(
        self,
        store: TraceStore | ProcessWriter,
        *,
        max_backoff: float = 5.0,
        metrics: SpanMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._max_backoff = max_backoff
        self._stopping = threading.Event()
        self.written = 0
        self.write_errors = 0
        # Sent to the writer process: each batch's rows, and what to tell when it is stored.
        self._in_flight: deque[tuple[list[dict[str, Any]], Settled | None]] = deque()
        self._flight_lock = threading.RLock()

    def export(self, spans: Sequence[ReadableSpan | dict[str, Any]]) -> SpanExportResult:
        """Store the spans; a received span may come as its row (``TracePipeline.convert``)."""
        return self.export_then(spans, None)

    def export_then(
        self, spans: Sequence[ReadableSpan | dict[str, Any]], settled: Settled | None
    ) -> SpanExportResult:
        """:meth:`export`, then ``settled(stored)`` once the batch is committed to the store
        (True) or given up (False, at shutdown); called in the order the batches came, each
        only after every earlier batch was settled."""
        rows: list[dict[str, Any]] = []
        # The rows of spans this process made: spans received over OTLP have remote contexts
        # (another Spyglass exporting its gateway spans here must not count as this one's).
        local: list[dict[str, Any]] = []
        for span in spans:
            if isinstance(span, dict):
                rows.append(span)
                continue
            try:
                row = span_to_row(span)
            except Exception as exc:  # one malformed span must not sink its batch
                log.warning("span %r could not be converted: %s", span.name, type(exc).__name__)
                if os.environ.get("PYTEST_CURRENT_TEST"):
                    raise
                continue
            rows.append(row)
            if span.context is not None and not span.context.is_remote:
                local.append(row)
        if self.metrics is not None and local:
            try:
                self.metrics.observe(local)
            except Exception as exc:  # metrics must never cost the spans their write
                log.warning("span metrics failed: %s", type(exc).__name__)
                if os.environ.get("PYTEST_CURRENT_TEST"):
                    raise
        if not isinstance(self.store, ProcessWriter):
            result = self._write(rows)
            if settled is not None:
                settled(result == SpanExportResult.SUCCESS)
            return result
        # Pipelined: the child writes one batch while the next waits in its pipe, and this
        # thread converts the one after. Encoded before waiting: the child then idles only
        # if this process cannot keep up at all.
        encoded = self.store.encode(rows)
        with self._flight_lock:
            if not self._settle(keep=1):
                if settled is not None:
                    settled(False)
                return SpanExportResult.FAILURE
            try:
                self.store.send(rows, encoded)
                self._in_flight.append((rows, settled))
                return SpanExportResult.SUCCESS
            except Exception as exc:
                self.write_errors += 1
                log.warning("trace store unavailable (%s); retrying", type(exc).__name__)
            # The child stopped: the batches it held went with it.
            stored = self._settle(keep=0)
            result = self._write(rows) if stored else SpanExportResult.FAILURE
            if settled is not None:
                settled(result == SpanExportResult.SUCCESS)
            return result

    def _settle(self, keep: int = 0) -> bool:
        """Wait for batches in flight, oldest first, until ``keep`` remain; write again (with
        retries) any that failed, and any the child lost by stopping. After a failure, every
        batch in flight is waited for first, so that each retry's answer is its own. Then
        tell each settled batch's ``settled``, in order: none before all of them are stored."""
        with self._flight_lock:
            if not isinstance(self.store, ProcessWriter):
                return True
            done: list[tuple[list[dict[str, Any]], Settled | None, bool]] = []
            while self._in_flight and (
                len(self._in_flight) > keep or any(not ok for *_, ok in done)
            ):
                rows, settled = self._in_flight.popleft()
                if not self.store.pending:  # the child stopped before answering for it
                    done.append((rows, settled, False))
                    continue
                try:
                    self.written += self.store.collect()
                    done.append((rows, settled, True))
                except Exception as exc:
                    self.write_errors += 1
                    log.warning("trace store unavailable (%s); retrying", type(exc).__name__)
                    done.append((rows, settled, False))
            results = [ok or self._write(rows) == SpanExportResult.SUCCESS for rows, _, ok in done]
            for (_, settled, _), stored in zip(done, results, strict=True):
                if settled is not None:
                    settled(stored)
            return all(results)

    def settle_unless(self, more: Callable[[], bool], poll: float = 0.002) -> bool:
        """Settle the batches in flight as the writer answers, oldest first, unless ``more()``
        says new spans are waiting first: then return False with the rest still in flight, so
        that the next batch reaches the writer while they are written. True: all settled."""
        if not isinstance(self.store, ProcessWriter):
            return True
        while True:
            with self._flight_lock:
                if not self._in_flight:
                    return True
                if self.store.answered(0):
                    self._settle(keep=len(self._in_flight) - 1)
                    continue
            if more():
                return False
            self.store.answered(poll)

    def _write(self, rows: list[dict[str, Any]]) -> SpanExportResult:
        """Write a batch, retrying with backoff while the store is unavailable."""
        backoff = 0.1
        while True:
            try:
                self.written += self.store.write(rows)
                return SpanExportResult.SUCCESS
            except Exception as exc:
                self.write_errors += 1
                if self._stopping.is_set():
                    log.error(
                        "dropping %d spans at shutdown: store unavailable (%s)",
                        len(rows),
                        type(exc).__name__,
                    )
                    return SpanExportResult.FAILURE
                log.warning(
                    "trace store unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def shutdown(self) -> None:
        self._stopping.set()  # first: a batch that cannot be stored is dropped, not retried
        self._settle()
        if isinstance(self.store, ProcessWriter):
            self.store.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until the batches in flight (if any) are stored."""
        return self._settle()


class QueueProcessor(SpanProcessor):
    """Batches finished spans to an exporter from a bounded queue, on a worker thread.

    ``on_end`` never blocks: when the queue is full the span is dropped and counted.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 20000,
        max_batch_size: int = 512,
        schedule_delay: float = 0.2,
        name: str = "spyglass-spans",
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.exporter = exporter
        self.capacity = max_queue_size
        self._batch = max_batch_size
        self._delay = schedule_delay
        self._queue: deque[ReadableSpan | dict[str, Any] | Receipt] = deque()
        self._taken = 0  # spans the worker took from the queue, ever
        self._lost_through = 0  # the queue position up to which a lost batch reached
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self._on_drop = on_drop
        self.dropped = 0
        self.exported = 0
        self._last_drop_log = -1e9
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Spans waiting to be written."""
        return len(self._queue)

    def has_room(self, count: int) -> bool:
        """Whether ``count`` more spans fit in the queue now."""
        return len(self._queue) + count <= self.capacity

    def enqueue(
        self, items: Sequence[ReadableSpan | dict[str, Any]], loop: asyncio.AbstractEventLoop
    ) -> Receipt | None:
        """Queue spans (or their rows) together, with a :class:`Receipt` for their being
        stored; None, and nothing queued, when they do not fit.

        The worker starts at once rather than after ``schedule_delay``: someone waits.
        """
        if self._stop or not self.has_room(len(items)):
            return None
        receipt = Receipt(len(items), loop)
        # One extend: no other thread's span lands between these spans and their receipt.
        self._queue.extend([*items, receipt])
        self._idle.clear()
        self._wake.set()
        return receipt

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do until the span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        if self._stop:
            self._count_drop(1)
            return
        if len(self._queue) >= self.capacity:
            self._count_drop(1)
            return
        self._queue.append(span)
        self._idle.clear()
        if len(self._queue) >= self._batch:
            self._wake.set()

    def _count_drop(self, count: int) -> None:
        with self._lock:
            self.dropped += count
            now = time.monotonic()
            # Said at once, then at most every 10 s while spans keep being dropped.
            loud = now - self._last_drop_log >= 10.0
            if loud:
                self._last_drop_log = now
        if loud:
            log.warning(
                "span queue full (%d spans): %d span(s) dropped so far; the store is slow or "
                "unreachable (see spyglass_spans_dropped_total)",
                self.capacity,
                self.dropped,
            )
        if self._on_drop is not None:
            self._on_drop(count)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            self._drain()
            if self._stop and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[Any] = []
            receipts: list[Receipt] = []
            while queue and len(batch) < self._batch:
                item = queue.popleft()
                if type(item) is Receipt:
                    item.start = self._taken + len(batch) - item.count
                    receipts.append(item)
                else:
                    batch.append(item)
            # A receipt right behind a full batch goes with it: its last span is in it.
            while queue and type(queue[0]) is Receipt:
                item = queue.popleft()
                assert isinstance(item, Receipt)
                item.start = self._taken + len(batch) - item.count
                receipts.append(item)
            self._taken += len(batch)
            settled = self._settler(receipts, self._taken) if receipts else None
            try:
                if settled is not None and batch and isinstance(self.exporter, StoreExporter):
                    self.exporter.export_then(batch, settled)
                else:
                    self.exporter.export(batch)
                    if settled is not None:
                        settled(self.exporter.force_flush())
                self.exported += len(batch)
            except Exception:
                log.exception("exporter failed; %d spans lost", len(batch))
                self._lost_through = self._taken
                for receipt in receipts:
                    receipt.resolve(False)
                if os.environ.get("PYTEST_CURRENT_TEST"):
                    raise
            exporter = self.exporter
            if not queue and isinstance(exporter, StoreExporter):
                # Settle (and acknowledge) what is in flight as it is written, but send spans
                # that arrive meanwhile at once: the writer never waits for this thread.
                exporter.settle_unless(lambda: bool(queue))
        # An exporter may still be writing the last batch (the writer process): idle means
        # stored, so that a flush is followed by queries that see every span.
        try:
            self.exporter.force_flush()
        except Exception:
            log.exception("exporter failed to flush")
            if os.environ.get("PYTEST_CURRENT_TEST"):
                raise
        self._idle.set()

    def _settler(self, receipts: list[Receipt], end: int) -> Settled:
        """What resolves a batch's receipts when the exporter settles it (in batch order)."""

        def settled(stored: bool) -> None:
            if not stored:
                self._lost_through = max(self._lost_through, end)
            for receipt in receipts:
                # A span of its own may have been in an earlier batch that was lost.
                receipt.resolve(stored and receipt.start >= self._lost_through)

        return settled

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until everything queued so far has been exported (or the timeout passes)."""
        deadline = time.monotonic() + timeout_millis / 1000
        self._wake.set()
        while time.monotonic() < deadline:
            if not self._queue and self._idle.wait(0.01):
                return True
            self._wake.set()
        return False

    def shutdown(self, timeout: float = 30.0) -> None:
        """Flush what is queued (bounded by ``timeout``), then stop the worker and exporter."""
        self.force_flush(int(timeout * 1000))
        self._stop = True
        self._wake.set()
        self.exporter.shutdown()
        self._thread.join(max(timeout, 0.1))


class TracePipeline:
    """The processors in front of the store, and of any external OTLP collector.

    ``head`` is what a TracerProvider is given; spans received over OTLP enter through
    :meth:`ingest`, so both reach the store the same way. With ``metrics``, the store's
    exporter (``exporter``) derives them from the spans it writes, on the worker thread.
    """

    def __init__(
        self,
        store: TraceStore,
        *,
        capture_content: bool = True,
        max_attribute_bytes: int = 64 * 1024,
        max_queue_size: int = 20000,
        max_batch_size: int = 512,
        schedule_delay: float = 0.2,
        exporters: Sequence[SpanExporter] = (),
        on_drop: Callable[[int], None] | None = None,
        metrics: SpanMetrics | None = None,
        writer: ProcessWriter | None = None,
        span_limits: SpanLimits = DEFAULT_LIMITS,
    ) -> None:
        from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor

        self.store = store
        self.span_limits = span_limits
        self.metrics = metrics
        self.exporter = StoreExporter(writer or store, metrics=metrics)
        self.queue = QueueProcessor(
            self.exporter,
            max_queue_size=max_queue_size,
            max_batch_size=max_batch_size,
            schedule_delay=schedule_delay,
            on_drop=on_drop,
        )
        self.exports = [
            QueueProcessor(exporter, max_queue_size=max_queue_size, name="spyglass-otlp-export")
            for exporter in exporters
        ]
        inner: SpanProcessor = self.queue
        if self.exports:
            fanout = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
            for processor in (self.queue, *self.exports):
                fanout.add_span_processor(processor)
            inner = fanout
        self.head = ContentPolicyProcessor(
            inner, capture_content=capture_content, max_attribute_bytes=max_attribute_bytes
        )

    def convert(self, request: Any, sender: Sender | None = None) -> tuple[list[Any], list[str]]:
        """An OTLP ``ExportTraceServiceRequest`` as what :meth:`ingest` takes, and the reasons
        spans were rejected; ``sender`` (the key's say on project and key id) and the span
        limits applied.

        Without external exporters, the spans become store rows directly (the content policy
        applied): the SDK's span objects would only be converted to rows again. With them,
        SDK spans, which the exporters need.
        """
        if self.exports:
            return otlp_to_spans(request, sender, self.span_limits)
        return otlp_to_rows(request, self.head.policy, sender, self.span_limits)

    def ingest(self, items: Sequence[ReadableSpan | dict[str, Any]]) -> None:
        """Spans received from outside (OTLP), finished already, as :meth:`convert` gave
        them: SDK spans go through the processors, rows (policy applied) to the store's queue.
        """
        queue = self.queue
        for item in items:
            if isinstance(item, dict):
                queue.on_end(item)  # type: ignore[arg-type]
            else:
                self.head.on_end(item)

    def ingest_durably(
        self, items: Sequence[ReadableSpan | dict[str, Any]], loop: asyncio.AbstractEventLoop
    ) -> Receipt | None:
        """:meth:`ingest`, with a :class:`Receipt` whose future says when the spans are
        committed to the store; None, and nothing taken, when the store's queue is full.

        External exporters get the spans as with :meth:`ingest`; only the store is waited for.
        """
        spans = [item if isinstance(item, dict) else self.head.apply(item) for item in items]
        receipt = self.queue.enqueue(spans, loop)
        if receipt is not None:
            for processor in self.exports:
                for span in spans:
                    if not isinstance(span, dict):
                        processor.on_end(span)
        return receipt

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until what is queued so far is written."""
        return self.head.force_flush(int(timeout * 1000))

    def shutdown(self, timeout: float = 30.0) -> None:
        """Flush and stop the workers."""
        self.queue.shutdown(timeout)
        for processor in self.exports:
            processor.shutdown(timeout)

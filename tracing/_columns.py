"""The columns of the store's tables, as plain names.

The write path (which also runs alone in the trace writer process) needs only these, not the
table models; a test checks they match ``_records``. ``search_text`` and ``attribute_tokens`` are
not in the rows the write path is given: the store derives them (see ``_index``).
"""

__all__ = ["SPAN_COLUMNS", "TRACE_COLUMNS"]

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "span_kind",
    "status",
    "status_message",
    "start_ns",
    "end_ns",
    "duration_ms",
    "service_name",
    "scope_name",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost",
    "session_id",
    "user_id",
    "key_id",
    "ttft_ms",
    "prompt",
    "project",
    "is_attempt",
    "wraps_call",
    "attributes",
    "events",
    "content",
    "online_eval",
    "search_text",
    "attribute_tokens",
)

TRACE_COLUMNS = (
    "trace_id",
    "name",
    "root_span_id",
    "service_name",
    "start_ns",
    "end_ns",
    "duration_ms",
    "status",
    "error",
    "span_count",
    "llm_count",
    "unpriced_count",
    "input_tokens",
    "output_tokens",
    "cost",
    "model",
    "provider",
    "session_id",
    "user_id",
    "key_id",
    "prompt",
    "project",
    "ttft_ms",
    "tags",
)

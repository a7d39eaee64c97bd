"""The OTLP/HTTP trace receiver (``POST /v1/traces``), per the OTLP specification.

Accepts ``application/x-protobuf`` and ``application/json`` bodies, optionally gzip- or
deflate-compressed (the SDK exporters offer both), decoded with ``opentelemetry-proto``;
answers in the request's encoding; reports spans it rejects as ``partial_success``; 400 for a
malformed body, 413 past the size limit (compressed or not), 415 for another content type or
encoding, 503 with Retry-After when the write queue has no room.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response

from ._pipeline import TracePipeline
from ._projects import Sender

__all__ = ["OtlpReceiver"]

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
# Content-Encoding -> zlib's wbits: gzip's header, or zlib's (HTTP's "deflate").
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OtlpReceiver:
    """Receives OTLP trace exports into a :class:`TracePipeline`.

    Args:
        pipeline: where accepted spans go (the same write path as the gateway's own spans).
        max_body_bytes: the limit on the body, compressed and decompressed alike.
        project_of: the project a request's spans must be filed under (its key's, when the
            key is confined to one), or None to keep the ``spyglass.project`` spans carry.
        vouches_for_keys: whether a request may attribute its spans to a key
            (``spyglass.key.id``); when it may not, the attribute is dropped. All may when
            not given.
    """

    def __init__(
        self,
        pipeline: TracePipeline,
        *,
        max_body_bytes: int = 16 * 1024 * 1024,
        project_of: Callable[[Request], str | None] | None = None,
        vouches_for_keys: Callable[[Request], bool] | None = None,
        ack_timeout: float = 5.0,
    ) -> None:
        self.pipeline = pipeline
        self.max_body_bytes = max_body_bytes
        self.ack_timeout = ack_timeout
        self.project_of = project_of
        self.vouches_for_keys = vouches_for_keys
        self.received = 0
        self.rejected = 0
        self.refused_busy = 0

    async def __call__(self, request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        as_json = media == _JSON
        try:
            if media not in (_PROTOBUF, _JSON):
                raise _BadRequest(
                    415, f"unsupported content type {media or 'none'!r}: use {_PROTOBUF} or {_JSON}"
                )
            body = await self._read(request)
            project = self.project_of(request) if self.project_of is not None else None
            keyed = self.vouches_for_keys is None or self.vouches_for_keys(request)
            spans, problems = await asyncio.to_thread(self._convert, body, as_json, project, keyed)
        except _BadRequest as error:
            return _status_response(error.status, error.message, as_json)
        if spans:
            receipt = self.pipeline.ingest_durably(spans, asyncio.get_running_loop())
            if receipt is None:
                self.refused_busy += 1
                return _busy("the trace store is busy; retry later", as_json)
            # Acknowledged means stored: a 200 only once the store committed every span.
            try:
                async with asyncio.timeout(self.ack_timeout):
                    stored = await asyncio.shield(receipt.future)
            except TimeoutError:
                stored = False
            if not stored:
                # Still queued (or lost at shutdown): the exporter sends them again, and the
                # store keeps one copy of a span it receives twice.
                self.refused_busy += 1
                return _busy(
                    f"the spans were not stored within {self.ack_timeout:g}s; retry later",
                    as_json,
                )
        self.received += len(spans)
        self.rejected += len(problems)
        response = ExportTraceServiceResponse()
        if problems:
            response.partial_success.rejected_spans = len(problems)
            shown = "; ".join(problems[:5]) + (
                f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            )
            response.partial_success.error_message = shown
        return _encode(response, as_json, 200)

    def _convert(
        self, body: bytes, as_json: bool, project: str | None, keyed: bool
    ) -> tuple[list[Any], list[str]]:
        sender = Sender(project, keep_key_ids=keyed)
        return self.pipeline.convert(_decode(body, as_json), sender)

    async def _read(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _BadRequest(413, f"body over the limit of {limit} bytes")
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise _BadRequest(413, f"body over the limit of {limit} bytes")
            parts.append(part)
        body = b"".join(parts)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding in _WBITS:
            return _inflate(body, limit, encoding)
        if encoding not in ("identity", ""):
            raise _BadRequest(
                415, f"unsupported content encoding {encoding!r}: use gzip, deflate or none"
            )
        return body


def _inflate(body: bytes, limit: int, encoding: str) -> bytes:
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _BadRequest(400, f"invalid {encoding} body: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise _BadRequest(413, f"decompressed body over the limit of {limit} bytes")
    if not inflater.eof:
        # A cut-off stream would otherwise parse as the spans before the cut.
        raise _BadRequest(400, f"invalid {encoding} body: the stream is truncated")
    return data


def _decode(body: bytes, as_json: bool) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if as_json:
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise _BadRequest(
                400, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(data, dict):
            raise _BadRequest(400, "the body must be a JSON object (ExportTraceServiceRequest)")
        _hex_ids_to_base64(data)
        try:
            json_format.ParseDict(data, request, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise _BadRequest(400, f"not an ExportTraceServiceRequest: {exc}") from None
    else:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise _BadRequest(400, f"not an ExportTraceServiceRequest: {exc}") from None
    return request


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP/JSON writes ids in hex, protobuf's JSON mapping wants base64: convert in place.

    An id that is not hex becomes empty, so that span is rejected (partial success) rather
    than the whole request.
    """

    def convert(holder: dict[str, Any], key: str) -> None:
        value = holder.get(key)
        if not isinstance(value, str) or not value:
            return
        try:
            holder[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except (ValueError, binascii.Error):
            holder[key] = ""

    for resource_spans in _dicts(data.get("resourceSpans") or data.get("resource_spans")):
        for scope_spans in _dicts(
            resource_spans.get("scopeSpans") or resource_spans.get("scope_spans")
        ):
            for span in _dicts(scope_spans.get("spans")):
                for key in (
                    "traceId",
                    "spanId",
                    "parentSpanId",
                    "trace_id",
                    "span_id",
                    "parent_span_id",
                ):
                    convert(span, key)
                for link in _dicts(span.get("links")):
                    for key in ("traceId", "spanId", "trace_id", "span_id"):
                        convert(link, key)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array; nothing for another shape (which ParseDict then rejects)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _encode(
    message: Any, as_json: bool, status: int, headers: dict[str, str] | None = None
) -> Response:
    if as_json:
        content = json_format.MessageToJson(message, indent=None).encode()
        return Response(content, status, headers, _JSON)
    return Response(message.SerializeToString(), status, headers, _PROTOBUF)


def _busy(message: str, as_json: bool) -> Response:
    return _status_response(503, message, as_json, headers={"retry-after": "1"})


def _status_response(
    status: int, message: str, as_json: bool, headers: dict[str, str] | None = None
) -> Response:
    """An error body as OTLP wants it: a google.rpc.Status in the request's encoding."""
    from google.rpc.status_pb2 import Status

    return _encode(
        Status(code=_GRPC_CODES.get(status, 2), message=message), as_json, status, headers
    )


# HTTP status -> google.rpc.Code
_GRPC_CODES = {400: 3, 413: 8, 415: 3, 429: 8, 503: 14}

"""The GenAI semconv message form, and conversions into it from the other shapes in use.

A message is ``{"role": ..., "parts": [...]}`` (output messages add ``"finish_reason"``); parts
are ``{"type": "text", "content"}``, ``{"type": "tool_call", "id", "name", "arguments"}``,
``{"type": "tool_call_response", "id", "response"}`` and ``uri``/``blob``/``reasoning`` parts
(OpenTelemetry GenAI semconv v1.41, ``gen_ai.input.messages``). Older conventions write
OpenAI-shaped messages (``content``, ``tool_calls``, ``tool_call_id``); ``message`` turns either
shape, or anything else, into the semconv form, and nothing here raises on odd input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "Message",
    "as_text",
    "loads",
    "message",
    "parse_messages",
    "parse_parts",
    "scalar",
    "text_value",
]

Message = dict[str, Any]

# OpenAI's finish reasons -> the semconv's (the other values are the same in both).
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}


def parse_messages(value: Any, default_role: str) -> list[Message] | None:
    """A ``gen_ai.*.messages`` value (JSON text or parsed) as a list of semconv messages."""
    if value is None:
        return None
    data = loads(value)
    if type(data) is not list:  # the common case skips the checks against ABCs below
        if isinstance(data, Mapping):
            data = [data]
        if isinstance(data, str | bytes) or not isinstance(data, Sequence):
            return [{"role": default_role, "parts": [_text(as_text(data))]}]
    return [message(item, default_role) for item in data]


def parse_parts(value: Any) -> list[dict[str, Any]] | None:
    """A ``gen_ai.system_instructions`` value (JSON text or parsed) as a list of parts."""
    if value is None:
        return None
    data = loads(value)
    if isinstance(data, Mapping):
        data = [data]
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        return [_text(as_text(data))]
    return [_part(item) for item in data]


def message(obj: Any, default_role: str) -> Message:
    """A semconv message from one in semconv form, in OpenAI's form, or from anything else."""
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return {"role": default_role, "parts": [_text(as_text(obj))]}
    role = scalar(obj.get("role")) or default_role
    parts = obj.get("parts")
    result: Message = {
        "role": role,
        "parts": [_part(p) for p in parts] if isinstance(parts, list) else _openai_parts(obj, role),
    }
    if scalar(obj.get("name")):
        result["name"] = obj["name"]
    finish_reason = scalar(obj.get("finish_reason"))
    if finish_reason:
        result["finish_reason"] = _FINISH_REASONS.get(finish_reason, finish_reason)
    return result


def _part(obj: Any) -> dict[str, Any]:
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return _text(as_text(obj))
    if obj.get("type") != "tool_call":
        return obj if type(obj) is dict else dict(obj)  # read only from here on: not copied
    part = dict(obj)
    part["arguments"] = _arguments(part.get("arguments"))
    return part


def _openai_parts(source: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    """The parts of an OpenAI-shaped message: content, tool calls, or a tool's result."""
    parts: list[dict[str, Any]] = []
    content = source.get("content")
    if isinstance(content, str) and content.startswith("[{"):
        # Older OpenLLMetry writes multimodal content as a JSON list of OpenAI parts.
        decoded = loads(content)
        content = decoded if isinstance(decoded, list) else content
    if source.get("tool_call_id") is not None or role == "tool":
        if content is not None:
            call_id = scalar(source.get("tool_call_id"))
            parts.append({"type": "tool_call_response", "id": call_id, "response": content})
    elif isinstance(content, list):
        parts.extend(_openai_content_part(item) for item in content)
    elif content is not None and content != "":
        parts.append(_text(as_text(content)))
    calls = source.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, Mapping):
            function = call.get("function")  # OpenAI nests name and arguments; some don't
            named = function if isinstance(function, Mapping) else call
            parts.append(_tool_call(call.get("id"), named.get("name"), named.get("arguments")))
    function_call = source.get("function_call")
    if isinstance(function_call, Mapping):
        parts.append(_tool_call(None, function_call.get("name"), function_call.get("arguments")))
    return parts


def _openai_content_part(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        return _text(as_text(item))
    kind = item.get("type")
    if kind == "text" or (kind is None and "text" in item):
        return _text(as_text(item.get("text")))
    if kind in ("image_url", "image"):
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if isinstance(url, str) and url.startswith("data:"):
            mime_type, _, data = url[5:].partition(";base64,")
            return {"type": "blob", "modality": "image", "mime_type": mime_type, "content": data}
        return {"type": "uri", "modality": "image", "uri": url}
    return dict(item)  # audio, files, ...: kept as they came


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": scalar(call_id),
        "name": scalar(name),
        "arguments": _arguments(arguments),
    }


def _arguments(value: Any) -> Any:
    """Tool-call arguments as JSON values when they are JSON text (OpenAI sends a string)."""
    decoded = loads(value)
    return decoded if isinstance(decoded, dict | list) else value


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


# -- values -------------------------------------------------------------------------------


def loads(value: Any) -> Any:
    """``value`` decoded if it is JSON text, else ``value`` itself."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def as_text(value: Any) -> str:
    """Text as is; anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str) if value is not None else ""


def text_value(value: Any) -> str | None:
    """A raw input or output value as text, ``None`` if absent."""
    return None if value is None else as_text(value)


def scalar(value: Any) -> str | None:
    """A scalar as text; empty strings and containers count as absent."""
    kind = type(value)
    if kind is str:  # most values: checked first, as this runs for every field of every span
        return value or None
    if value is None or kind is dict or kind is list or kind is tuple:
        return None
    if isinstance(value, Mapping | list | tuple) or value == "":
        return None
    return value if isinstance(value, str) else str(value)

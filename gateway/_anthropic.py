"""Translate between Anthropic's Messages API and OpenAI chat completions.

The gateway serves ``POST /v1/messages`` on top of OpenAI-style backends. This module holds
only the pure translation: request bodies one way, response bodies and streamed chunks the
other way. It does no I/O, so every rule here is pinned by plain unit tests.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

__all__ = [
    "AnthropicRequestError",
    "AnthropicStreamTranslator",
    "anthropic_to_openai_request",
    "openai_to_anthropic_response",
]

# Top-level request keys this module consumes; every other key is forwarded unchanged.
_HANDLED_KEYS = frozenset(
    "model max_tokens system messages stop_sequences temperature top_p top_k stream tools"
    " tool_choice metadata".split()
)
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class AnthropicRequestError(ValueError):
    """Bad Anthropic request; .param names the offending field.

    Example: ``param='messages[2].content[0].type'`` for an unknown block type.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# --- request ---------------------------------------------------------------------------------


def _expect(value: Any, kind: type, param: str, what: str) -> Any:
    # bool is an int subclass; a JSON `true` must never pass as a token count.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise AnthropicRequestError(f"{param}: expected {what}", param)
    return value


def _text_of_blocks(blocks: Any, param: str, sep: str) -> str:
    """Join a string or a list of text blocks (as allowed for `system` and tool results)."""
    if isinstance(blocks, str):
        return blocks
    _expect(blocks, list, param, "a string or a list of text blocks")
    texts: list[str] = []
    for i, block in enumerate(blocks):
        _expect(block, dict, f"{param}[{i}]", "an object")
        if block.get("type") != "text":
            raise AnthropicRequestError(
                f"{param}[{i}].type: expected 'text', got {block.get('type')!r}",
                f"{param}[{i}].type",
            )
        texts.append(_expect(block.get("text"), str, f"{param}[{i}].text", "a string"))
    return sep.join(texts)


def _image_part(block: dict[str, Any], param: str) -> dict[str, Any]:
    source = _expect(block.get("source"), dict, f"{param}.source", "an object")
    kind = source.get("type")
    if kind == "base64":
        media = _expect(source.get("media_type"), str, f"{param}.source.media_type", "a string")
        data = _expect(source.get("data"), str, f"{param}.source.data", "a string")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        url = _expect(source.get("url"), str, f"{param}.source.url", "a string")
    else:
        raise AnthropicRequestError(
            f"{param}.source.type: unsupported image source {kind!r}", f"{param}.source.type"
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _user_turn(content: list[Any], param: str) -> list[dict[str, Any]]:
    """One Anthropic user turn becomes tool messages first, then the remaining user content."""
    tool_msgs: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        bp = f"{param}[{j}]"
        _expect(block, dict, bp, "an object")
        kind = block.get("type")
        if kind == "text":
            text = _expect(block.get("text"), str, f"{bp}.text", "a string")
            parts.append({"type": "text", "text": text})
        elif kind == "image":
            parts.append(_image_part(block, bp))
        elif kind == "tool_result":
            call_id = _expect(block.get("tool_use_id"), str, f"{bp}.tool_use_id", "a string")
            # is_error has no OpenAI counterpart; the text itself carries the failure.
            text = _text_of_blocks(block.get("content") or "", f"{bp}.content", "\n")
            tool_msgs.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind in _DROPPED_BLOCKS:
            continue
        else:
            raise AnthropicRequestError(f"{bp}.type: unsupported block type {kind!r}", f"{bp}.type")
    if not parts:
        return tool_msgs or [{"role": "user", "content": ""}]
    # A lone text part stays a plain string: the widest range of backends accepts that.
    user_content: Any = (
        parts[0]["text"] if len(parts) == 1 and parts[0]["type"] == "text" else parts
    )
    return [*tool_msgs, {"role": "user", "content": user_content}]


def _assistant_turn(content: list[Any], param: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        bp = f"{param}[{j}]"
        _expect(block, dict, bp, "an object")
        kind = block.get("type")
        if kind == "text":
            texts.append(_expect(block.get("text"), str, f"{bp}.text", "a string"))
        elif kind == "tool_use":
            call_id = _expect(block.get("id"), str, f"{bp}.id", "a string")
            name = _expect(block.get("name"), str, f"{bp}.name", "a string")
            args = orjson.dumps(block.get("input", {})).decode()
            calls.append(
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            )
        elif kind in _DROPPED_BLOCKS:
            continue
        else:
            raise AnthropicRequestError(f"{bp}.type: unsupported block type {kind!r}", f"{bp}.type")
    # Assistant text blocks are consecutive model output (e.g. split by citations): no separator.
    text = "".join(texts)
    if not calls:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": text or None, "tool_calls": calls}


def _messages(raw: Any) -> list[dict[str, Any]]:
    _expect(raw, list, "messages", "a non-empty list")
    if not raw:
        raise AnthropicRequestError("messages: expected a non-empty list", "messages")
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(raw):
        mp = f"messages[{i}]"
        _expect(msg, dict, mp, "an object")
        role = msg.get("role")
        if role not in ("user", "assistant"):
            raise AnthropicRequestError(
                f"{mp}.role: expected 'user' or 'assistant', got {role!r}", f"{mp}.role"
            )
        content = msg.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        _expect(content, list, f"{mp}.content", "a string or a list of content blocks")
        if role == "user":
            out.extend(_user_turn(content, f"{mp}.content"))
        else:
            out.append(_assistant_turn(content, f"{mp}.content"))
    return out


def _tools(raw: Any) -> list[dict[str, Any]]:
    _expect(raw, list, "tools", "a list")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(raw):
        tp = f"tools[{i}]"
        _expect(tool, dict, tp, "an object")
        if tool.get("type", "custom") != "custom":
            # Anthropic server tools (web search, bash, ...) run on Anthropic's side only.
            raise AnthropicRequestError(
                f"{tp}.type: unsupported tool type {tool['type']!r}", f"{tp}.type"
            )
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise AnthropicRequestError(f"{tp}.name: expected a non-empty string", f"{tp}.name")
        function: dict[str, Any] = {"name": name}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(raw: Any, target: dict[str, Any]) -> None:
    _expect(raw, dict, "tool_choice", "an object")
    kind = raw.get("type")
    if kind == "auto":
        target["tool_choice"] = "auto"
    elif kind == "any":
        target["tool_choice"] = "required"
    elif kind == "none":
        target["tool_choice"] = "none"
    elif kind == "tool":
        name = _expect(raw.get("name"), str, "tool_choice.name", "a string")
        target["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        raise AnthropicRequestError(
            f"tool_choice.type: expected auto, any, tool or none, got {kind!r}", "tool_choice.type"
        )
    if raw.get("disable_parallel_tool_use") is True:
        target["parallel_tool_calls"] = False


def anthropic_to_openai_request(body: dict[str, Any]) -> dict[str, Any]:
    """Translate an Anthropic Messages request body to an OpenAI chat.completions body.

    Args:
        body: The decoded JSON body of ``POST /v1/messages``.

    Returns:
        A new dict suitable for ``POST /v1/chat/completions``; unknown top-level keys are
        copied through unchanged.

    Raises:
        AnthropicRequestError: the body is malformed; ``.param`` names the offending field.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise AnthropicRequestError("model: expected a non-empty string", "model")
    max_tokens = _expect(body.get("max_tokens"), int, "max_tokens", "a positive integer")
    if max_tokens < 1:
        raise AnthropicRequestError("max_tokens: expected a positive integer", "max_tokens")

    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        # Blocks are separate sections (clients split identity from instructions to place
        # cache breakpoints); a blank line keeps them from running into each other.
        system_text = _text_of_blocks(system, "system", "\n\n")
        if system_text:
            messages.append({"role": "system", "content": system_text})
    messages.extend(_messages(body.get("messages")))

    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
    stop = body.get("stop_sequences")
    if stop is not None and _expect(stop, list, "stop_sequences", "a list of strings"):
        out["stop"] = stop
    for key in ("temperature", "top_p", "top_k"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stream") is not None:
        out["stream"] = _expect(body["stream"], bool, "stream", "a boolean")
        if out["stream"]:
            out["stream_options"] = {"include_usage": True}
    if body.get("tools") is not None:
        out["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], out)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("user_id") is not None:
        out["user"] = metadata["user_id"]
    for key, value in body.items():
        if key not in _HANDLED_KEYS:
            out[key] = value
    return out


# --- response --------------------------------------------------------------------------------


def _message_id(openai_id: Any) -> str:
    if not isinstance(openai_id, str) or not openai_id:
        return f"msg_{uuid.uuid4().hex}"
    return openai_id if openai_id.startswith("msg_") else f"msg_{openai_id}"


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    # A model that emits broken JSON should still yield a usable Message; the client sees {}.
    try:
        parsed = orjson.loads(arguments or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _stop_reason(finish_reason: Any, has_tool_use: bool) -> str:
    stop = _FINISH_TO_STOP.get(finish_reason, "end_turn") if finish_reason else "end_turn"
    # Some backends report "stop" alongside tool calls; Anthropic clients loop on "tool_use".
    if has_tool_use and stop == "end_turn":
        return "tool_use"
    return stop


def _usage(usage: Any) -> dict[str, int]:
    """Map OpenAI usage to Anthropic's, where cached tokens are not part of input_tokens."""
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    out = {"input_tokens": prompt, "output_tokens": int(usage.get("completion_tokens") or 0)}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is not None:
        out["input_tokens"] = max(prompt - int(cached), 0)
        out["cache_read_input_tokens"] = int(cached)
    return out


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def openai_to_anthropic_response(resp: dict[str, Any], requested_model: str) -> dict[str, Any]:
    """Translate an OpenAI chat.completion response dict to an Anthropic Message dict.

    Args:
        resp: The decoded chat.completion body; only choice 0 is used.
        requested_model: The model name the client asked for, echoed back as ``model``.

    Returns:
        A dict shaped like Anthropic's ``Message``.
    """
    choices = resp.get("choices") or []
    choice = choices[0] if choices else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = _content_text(message.get("content")) or _content_text(message.get("refusal"))
    if text:
        content.append({"type": "text", "text": text})
    calls = list(message.get("tool_calls") or [])
    if message.get("function_call"):
        calls.append({"function": message["function_call"]})
    for call in calls:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name") or "",
                "input": _parse_arguments(function.get("arguments")),
            }
        )
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": content,
        "stop_reason": _stop_reason(choice.get("finish_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": _usage(resp.get("usage")),
    }


# --- streaming -------------------------------------------------------------------------------


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicStreamTranslator:
    """Turns OpenAI chat.completion.chunk dicts into Anthropic SSE event bytes.

    Feed every upstream chunk in order, then call ``finish()`` once the upstream stream ends
    (or ``error()`` if it fails). Content blocks are opened and closed strictly in sequence,
    as Anthropic's protocol requires.
    """

    def __init__(self, requested_model: str, message_id: str | None = None) -> None:
        """Args:
        requested_model: Echoed back as the message's ``model``.
        message_id: Fixed message id; by default derived from the first chunk's id.
        """
        self._model = requested_model
        self._message_id = message_id
        self._started = False
        self._done = False
        self._next_index = 0
        self._open: int | None = None  # Anthropic index of the block currently open
        self._open_is_text = False
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool_call index -> Anthropic index
        self._finish_reason: str | None = None
        self._usage: dict[str, int] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """Consume one upstream chunk.

        Args:
            chunk: A decoded ``chat.completion.chunk``.

        Returns:
            Zero or more complete SSE events.
        """
        choices = chunk.get("choices") or []
        if self._done or (not choices and not chunk.get("usage")):
            return []
        if chunk.get("usage"):
            self._usage = _usage(chunk["usage"])
        events = self._start(chunk.get("id"))
        choice = next((c for c in choices if c.get("index", 0) == 0), None)
        if choice is None:
            return events
        delta = choice.get("delta") or {}
        text = _content_text(delta.get("content")) or _content_text(delta.get("refusal"))
        if text:
            if not self._open_is_text:
                events += self._open_block({"type": "text", "text": ""}, is_text=True)
            events.append(self._delta({"type": "text_delta", "text": text}))
        for position, call in enumerate(delta.get("tool_calls") or []):
            index = call.get("index")
            events += self._tool_delta(position if index is None else index, call)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        return events

    def finish(self) -> list[bytes]:
        """Close the message; returns [] if already finished (or after ``error()``).

        Returns:
            Any pending ``content_block_stop``, then ``message_delta`` and ``message_stop``.
        """
        if self._done:
            return []
        events = self._start(None)
        events += self._close_block()
        self._done = True
        usage = dict(self._usage) if self._usage else {"output_tokens": 0}
        stop = _stop_reason(self._finish_reason, bool(self._tool_blocks))
        events.append(
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        events.append(_sse("message_stop", {"type": "message_stop"}))
        return events

    def error(self, message: str, type_: str = "api_error") -> bytes:
        """Build an ``event: error`` SSE event; it ends the stream, so ``finish()`` is a no-op.

        Args:
            message: Human-readable error message.
            type_: Anthropic error type, e.g. ``api_error`` or ``overloaded_error``.

        Returns:
            One complete SSE event.
        """
        self._done = True
        return _sse("error", {"type": "error", "error": {"type": type_, "message": message}})

    def _start(self, chunk_id: Any) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        if self._message_id is None:
            self._message_id = _message_id(chunk_id)
        usage = self._usage or {}
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": usage.get("input_tokens", 0), "output_tokens": 0},
        }
        return [_sse("message_start", {"type": "message_start", "message": message})]

    def _tool_delta(self, openai_index: int, call: dict[str, Any]) -> list[bytes]:
        events: list[bytes] = []
        function = call.get("function") or {}
        if openai_index not in self._tool_blocks:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name") or "",
                "input": {},
            }
            events += self._open_block(block, is_text=False)
            self._tool_blocks[openai_index] = self._next_index - 1
        fragment = function.get("arguments")
        if fragment:
            # Backends that interleave tool calls send fragments to an already-closed block;
            # addressing it by its index keeps the arguments instead of dropping them.
            index = self._tool_blocks[openai_index]
            events.append(
                self._delta({"type": "input_json_delta", "partial_json": fragment}, index)
            )
        return events

    def _open_block(self, block: dict[str, Any], *, is_text: bool) -> list[bytes]:
        events = self._close_block()
        self._open, self._open_is_text = self._next_index, is_text
        self._next_index += 1
        events.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": self._open, "content_block": block},
            )
        )
        return events

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        event = _sse("content_block_stop", {"type": "content_block_stop", "index": self._open})
        self._open, self._open_is_text = None, False
        return [event]

    def _delta(self, delta: dict[str, Any], index: int | None = None) -> bytes:
        index = self._open if index is None else index
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

"""The built-in ``mock/...`` provider: OpenAI-shaped answers with no network and no key.

Used by the demo configuration and by users' own tests. Its behaviour is set per deployment in
``litellm_params``:

- ``mock_response``: the reply text (default: a short greeting); ``mock_mode: echo`` replies
  with the last user message instead.
- ``mock_latency_ms``: wait before answering; ``mock_chunk_latency_ms``: wait between chunks.
- ``mock_error_status`` / ``mock_error_rate`` / ``mock_error_message`` / ``mock_retry_after``:
  fail like a provider would (e.g. 429 with Retry-After, 500), on every call or at a rate.
- ``mock_prompt_tokens`` / ``mock_completion_tokens``: fixed usage instead of an estimate.
- ``mock_dimensions``: embedding size (default 16; the request's ``dimensions`` wins).

Requests with ``tools`` get tool calls (arguments built from each tool's JSON schema) unless the
last message is a tool result, so client tool loops terminate; ``response_format`` with a JSON
schema gets a JSON reply that validates against it.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
import uuid
from typing import Any

import orjson

from ._completion_stream import CompletionStream
from ._deployment import Deployment
from ._upstream import Operation, UpstreamResponse, Usage
from .errors import InvalidRequestError, UpstreamStatusError

DEFAULT_REPLY = "Hello from Spyglass's mock provider. Ask me anything; I always say this."


def estimate_tokens(text: str) -> int:
    """A rough token count: about four characters a token, at least one for non-empty text."""
    return math.ceil(len(text) / 4) if text else 0


class MockAdapter:
    """Answers every operation locally, deterministically."""

    name = "mock"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    async def aclose(self) -> None:
        """Nothing to release."""

    async def send(
        self, op: Operation, dep: Deployment, body: dict[str, Any], timeout: float
    ) -> UpstreamResponse:
        started = time.perf_counter()
        await self._before(dep, timeout)
        data = _answer(op, dep, body)
        return UpstreamResponse(
            orjson.dumps(data),
            data,
            Usage.from_openai(data.get("usage")),
            (time.perf_counter() - started) * 1000,
        )

    async def stream(
        self,
        op: Operation,
        dep: Deployment,
        body: dict[str, Any],
        timeout: float,
        *,
        client_wants_usage: bool,
    ) -> CompletionStream:
        if op == "embeddings":
            raise InvalidRequestError("embeddings cannot be streamed", param="stream")
        await self._before(dep, timeout)
        data = _answer(op, dep, body)
        chunk_wait = _float(dep.params.extras().get("mock_chunk_latency_ms"), 0.0) / 1000
        return CompletionStream(op, data, chunk_wait, include_usage=client_wants_usage)

    async def _before(self, dep: Deployment, timeout: float) -> None:
        extras = dep.params.extras()
        latency = _float(extras.get("mock_latency_ms"), 0.0) / 1000
        if latency:
            # A mock slower than the timeout behaves like a slow provider: the caller's
            # asyncio.timeout around the attempt ends it.
            await asyncio.sleep(latency)
        status = extras.get("mock_error_status")
        if status is None:
            return
        rate = _float(extras.get("mock_error_rate"), 1.0)
        if self._rng.random() >= rate:
            return
        message = str(extras.get("mock_error_message") or f"mock error {status}")
        retry_after = extras.get("mock_retry_after")
        context = "context" in message.lower()
        raise UpstreamStatusError(
            f"{dep.name} returned {status}: {message}",
            status_code=int(status),
            retry_after=_float(retry_after, 0.0) if retry_after is not None else None,
            context_window_exceeded=context,
            code="context_length_exceeded" if context else None,
        )


def _answer(op: Operation, dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    if op == "embeddings":
        return _embeddings(dep, body)
    if op == "completions":
        return _completion(dep, body)
    return _chat(dep, body)


def _reply_text(dep: Deployment, last_user: str) -> str:
    extras = dep.params.extras()
    if extras.get("mock_mode") == "echo":
        return last_user
    return str(extras.get("mock_response") or DEFAULT_REPLY)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _limit(text: str, body: dict[str, Any]) -> tuple[str, str]:
    """Apply ``stop`` and ``max_tokens`` to the reply; returns (text, finish_reason)."""
    stop = body.get("stop")
    for sequence in [stop] if isinstance(stop, str) else stop or []:
        if isinstance(sequence, str) and sequence and sequence in text:
            text = text[: text.index(sequence)]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit > 0 and estimate_tokens(text) > limit:
        return text[: limit * 4], "length"
    return text, "stop"


def _usage(dep: Deployment, prompt: str, completion: str) -> dict[str, int]:
    extras = dep.params.extras()
    prompt_tokens = int(extras.get("mock_prompt_tokens") or estimate_tokens(prompt))
    completion_tokens = int(extras.get("mock_completion_tokens") or estimate_tokens(completion))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def prompt_tokens(dep: Deployment, body: dict[str, Any]) -> int:
    """The prompt tokens a chat body would be charged here (``count_tokens``)."""
    return _usage(dep, _prompt_text(body.get("messages") or []), "")["prompt_tokens"]


def _prompt_text(messages: list[Any]) -> str:
    return "\n".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))


def _chat(dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    prompt = _prompt_text(messages)
    last_user = next(
        (
            _text_of(m.get("content"))
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    tool_calls = _tool_calls(body, messages)
    if tool_calls:
        text, finish = "", "tool_calls"
    else:
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            text, finish = orjson.dumps(example_for(schema)).decode(), "stop"
        elif isinstance(response_format, dict) and response_format.get("type") == "json_object":
            text, finish = orjson.dumps({"reply": _reply_text(dep, last_user)}).decode(), "stop"
        else:
            text, finish = _limit(_reply_text(dep, last_user), body)
    n = body.get("n")
    count = n if isinstance(n, int) else 1
    choices = []
    for index in range(max(count, 1)):
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        choice: dict[str, Any] = {"index": index, "message": message, "finish_reason": finish}
        choice["logprobs"] = _logprobs(text) if body.get("logprobs") else None
        choices.append(choice)
    completion_text = text + "".join(c["function"]["arguments"] for c in tool_calls)
    return {
        "id": "chatcmpl-mock-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": dep.upstream_model,
        "system_fingerprint": "fp_spyglass_mock",
        "choices": choices,
        "usage": _usage(dep, prompt, completion_text),
    }


def _tool_calls(body: dict[str, Any], messages: list[Any]) -> list[dict[str, Any]]:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("function")]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
        if choice in ("auto", None):
            return []
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        tools = [t for t in tools if t["function"].get("name") == wanted]
    elif body.get("parallel_tool_calls") is False:
        tools = tools[:1]
    return [
        {
            "id": "call_"
            + hashlib.sha256(f"{i}{t['function'].get('name')}".encode()).hexdigest()[:24],
            "type": "function",
            "function": {
                "name": t["function"].get("name", ""),
                "arguments": orjson.dumps(
                    example_for(t["function"].get("parameters") or {})
                ).decode(),
            },
        }
        for i, t in enumerate(tools)
    ]


def example_for(schema: Any, depth: int = 0, root: Any = None) -> Any:
    """A small value valid against a JSON schema (the subset tools and outputs use).

    Local references (``{"$ref": "#/$defs/Item"}``, as pydantic and the OpenAI SDK write nested
    models) are resolved against the outermost schema.
    """
    if not isinstance(schema, dict) or depth > 8:
        return None
    if root is None:
        root = schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return example_for(_resolve_ref(root, ref), depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_for(schema[key][0], depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: example_for(sub, depth + 1, root) for name, sub in props.items()}
    if kind == "array":
        least = schema.get("minItems", 0)
        return [example_for(schema.get("items") or {}, depth + 1, root) for _ in range(least)]
    if kind == "string":
        return "example"[: schema["maxLength"]] if "maxLength" in schema else "example"
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def _resolve_ref(root: dict[str, Any], ref: str) -> Any:
    """The part of ``root`` a local JSON pointer (``#/$defs/Item``) names, or None."""
    if not ref.startswith("#"):
        return None
    found: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(found, dict) or part not in found:
            return None
        found = found[part]
    return found


def _logprobs(text: str) -> dict[str, Any]:
    tokens = text.split(" ") if text else []
    return {
        "content": [
            {"token": tok, "logprob": -0.01, "bytes": list(tok.encode()), "top_logprobs": []}
            for tok in tokens
        ],
        "refusal": None,
    }


def _completion(dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt", "")
    prompt_text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    text, finish = _limit(_reply_text(dep, prompt_text), body)
    return {
        "id": "cmpl-mock-" + uuid.uuid4().hex[:24],
        "object": "text_completion",
        "created": int(time.time()),
        "model": dep.upstream_model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        "usage": _usage(dep, prompt_text, text),
    }


def _embeddings(dep: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("input")
    inputs: list[Any] = (
        raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    )
    dims = body.get("dimensions") or dep.params.extras().get("mock_dimensions") or 16
    data = []
    for index, item in enumerate(inputs):
        data.append(
            {"object": "embedding", "index": index, "embedding": _vector(str(item), int(dims))}
        )
    text = " ".join(str(i) for i in inputs)
    prompt_tokens = int(dep.params.extras().get("mock_prompt_tokens") or estimate_tokens(text))
    return {
        "object": "list",
        "data": data,
        "model": dep.upstream_model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def _vector(text: str, dims: int) -> list[float]:
    """A unit vector that depends only on the text: same text, same embedding."""
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default

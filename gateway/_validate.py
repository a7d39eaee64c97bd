"""Checks on client request bodies: just enough to name a bad field before any upstream call.

Unknown parameters are not errors: they pass through to the provider.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequestError

_NUMBER = (int, float)

# Known parameters and the JSON types they must have.
_CHAT_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "presence_penalty": _NUMBER,
    "frequency_penalty": _NUMBER,
    "n": (int,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "seed": (int,),
    "top_logprobs": (int,),
    "stream": (bool,),
    "logprobs": (bool,),
    "parallel_tool_calls": (bool,),
    "stop": (str, list),
    "tools": (list,),
    "tool_choice": (str, dict),
    "response_format": (dict,),
    "stream_options": (dict,),
    "user": (str,),
    "logit_bias": (dict,),
    "metadata": (dict,),
    "timeout": _NUMBER,
}
# The legacy completions API's own parameters (its ``logprobs`` is a count, not a flag).
_COMPLETION_TYPES: dict[str, tuple[type, ...]] = {
    **_CHAT_TYPES,
    "logprobs": (int,),
    "best_of": (int,),
    "echo": (bool,),
    "suffix": (str,),
}
# The ranges OpenAI's API enforces: out of them, a 400 naming the parameter before any
# upstream call (a provider would refuse the request, or worse, accept it).
Ranges = dict[str, tuple[float | None, float | None]]  # parameter: (lowest, highest); None: open
_CHAT_RANGES: Ranges = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
    "n": (1, 128),
    "max_tokens": (1, None),
    "max_completion_tokens": (1, None),
    "top_logprobs": (0, 20),
}
_COMPLETION_RANGES = {**_CHAT_RANGES, "logprobs": (0, 5), "best_of": (1, 20)}
_EMBEDDING_RANGES: Ranges = {"dimensions": (1, None)}
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_TYPE_NAMES = {
    int: "integer",
    float: "number",
    bool: "boolean",
    str: "string",
    list: "array",
    dict: "object",
}


def _type_name(types: tuple[type, ...]) -> str:
    names = dict.fromkeys(_TYPE_NAMES[t] for t in types)
    if "integer" in names and "number" in names:
        del names["integer"]
    return " or ".join(names)


def _check_types(body: dict[str, Any], types: dict[str, tuple[type, ...]]) -> None:
    for key, value in body.items():
        expected = types.get(key)
        if expected is None or value is None:
            continue
        # JSON true/false are Python bools, which are also ints: never accept them as numbers.
        if isinstance(value, bool) and bool not in expected:
            ok = False
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise InvalidRequestError(
                f"Invalid type for '{key}': expected {_type_name(expected)}, "
                f"got {_json_type(value)}.",
                param=key,
                code="invalid_type",
            )


def _check_ranges(
    body: dict[str, Any], ranges: dict[str, tuple[float | None, float | None]]
) -> None:
    """After ``_check_types``: every known numeric parameter within its range."""
    for key, (low, high) in ranges.items():
        value = body.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        kind = "integer" if isinstance(value, int) else "decimal"
        if low is not None and value < low:
            raise InvalidRequestError(
                f"Invalid '{key}': {kind} below minimum value. "
                f"Expected a value >= {low:g}, but got {value:g} instead.",
                param=key,
                code=f"{kind}_below_min_value",
            )
        if high is not None and value > high:
            raise InvalidRequestError(
                f"Invalid '{key}': {kind} above maximum value. "
                f"Expected a value <= {high:g}, but got {value:g} instead.",
                param=key,
                code=f"{kind}_above_max_value",
            )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequestError("Missing required parameter: 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            f"Invalid type for 'model': expected a non-empty string, got {_json_type(model)}.",
            param="model",
            code="invalid_type",
        )
    return model


def check_chat(body: dict[str, Any]) -> None:
    """Validate a chat.completions body; raises InvalidRequestError naming the field."""
    require_model(body)
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequestError("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list):
        raise InvalidRequestError(
            f"Invalid type for 'messages': expected an array, got {_json_type(messages)}.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise InvalidRequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidRequestError(
                f"Invalid type for '{where}': expected an object, got {_json_type(message)}.",
                param=where,
                code="invalid_type",
            )
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidRequestError(
                f"Invalid value for '{where}.role': {role!r}. Supported values are: "
                + ", ".join(f"'{r}'" for r in sorted(_ROLES))
                + ".",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequestError(
                f"Invalid type for '{where}.content': expected a string or an array, "
                f"got {_json_type(content)}.",
                param=f"{where}.content",
                code="invalid_type",
            )
    _check_types(body, _CHAT_TYPES)
    _check_ranges(body, _CHAT_RANGES)


def check_completion(body: dict[str, Any]) -> None:
    """Validate a legacy completions body."""
    require_model(body)
    if "prompt" not in body:
        raise InvalidRequestError("Missing required parameter: 'prompt'.", param="prompt")
    prompt = body["prompt"]
    if not isinstance(prompt, str | list):
        raise InvalidRequestError(
            f"Invalid type for 'prompt': expected a string or an array, got {_json_type(prompt)}.",
            param="prompt",
            code="invalid_type",
        )
    _check_types(body, _COMPLETION_TYPES)
    _check_ranges(body, _COMPLETION_RANGES)


def check_embeddings(body: dict[str, Any]) -> None:
    """Validate an embeddings body."""
    require_model(body)
    if "input" not in body:
        raise InvalidRequestError("Missing required parameter: 'input'.", param="input")
    value = body["input"]
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        raise InvalidRequestError(
            "Invalid 'input': expected a non-empty string or array of strings or tokens.",
            param="input",
            code="invalid_value",
        )
    _check_types(body, {"dimensions": (int,), "encoding_format": (str,), "user": (str,)})
    _check_ranges(body, _EMBEDDING_RANGES)
    if body.get("stream"):
        raise InvalidRequestError("Embeddings cannot be streamed.", param="stream")

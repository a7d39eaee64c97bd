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
    n = body.get("n")
    if isinstance(n, int) and not 1 <= n <= 128:
        raise InvalidRequestError(
            f"Invalid value for 'n': {n}. Expected a value between 1 and 128.", param="n"
        )


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
    _check_types(body, _CHAT_TYPES)


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
    if body.get("stream"):
        raise InvalidRequestError("Embeddings cannot be streamed.", param="stream")

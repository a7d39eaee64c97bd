"""Chat requests that name a registry prompt instead of (or before) their messages.

Either ``"prompt": {"name": "summarize", "label": "production", "variables": {...}}`` in the
body (``"version": 3`` instead of a label; a plain ``"summarize@production"`` string also
works), or the header ``x-spyglass-prompt: summarize@production`` with ``"variables"`` in the
body. The version's messages come first, then any ``messages`` the request carries (a
conversation continuing from the prompt). The version's model config fills what the request
leaves out: the request always wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from prompts import (
    InvalidPromptError,
    MissingVariableError,
    PromptError,
    PromptNotFoundError,
    PromptRef,
    PromptVersion,
    RegistryUnavailableError,
    RenderLimitError,
    parse_ref,
)

from .errors import GatewayError, InvalidRequestError

__all__ = ["PromptSource", "apply_prompt", "wants_prompt"]

PROMPT_HEADER = "x-spyglass-prompt"


class PromptSource(Protocol):
    """Where the gateway gets versions: ``prompts.PromptClient`` (cached) fits."""

    async def aget(self, ref: str | PromptRef, *, project: str | None = None) -> PromptVersion: ...


def wants_prompt(body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
    return "prompt" in body or PROMPT_HEADER in headers


async def apply_prompt(
    body: dict[str, Any],
    headers: Mapping[str, str],
    source: PromptSource,
    project: str | None = None,
) -> tuple[dict[str, Any], PromptVersion]:
    """The request with the prompt rendered into it, and the version used.

    The name is looked up among ``project``'s prompts (None: the prompts of no project), so
    two teams may each have their own ``summarize``.

    Raises:
        InvalidRequestError: a malformed reference, a missing variable (named) or a prompt
            whose version names no model when the request gives none.
        GatewayError: 404 for an unknown prompt/label/version, 503 when the registry is down
            with nothing cached.
    """
    body = dict(body)
    ref, variables = _reference(body, headers)
    try:
        version = await source.aget(ref, project=project)
    except PromptNotFoundError as exc:
        raise _error(exc.message, 404, "prompt_not_found") from None
    except RegistryUnavailableError as exc:
        raise _error(exc.message, 503, "prompt_registry_unavailable") from None
    except InvalidPromptError as exc:
        raise InvalidRequestError(exc.message, param="prompt") from None
    try:
        if version.engine == "jinja2":  # in a render worker: wait for it off the event loop
            rendered = await asyncio.to_thread(version.fill, variables)
        else:
            rendered = version.fill(variables)
    except MissingVariableError as exc:
        raise InvalidRequestError(
            exc.message, param=f"prompt.variables.{exc.missing[0]}", code="missing_variable"
        ) from None
    except RenderLimitError as exc:
        raise InvalidRequestError(
            f"{exc.message} (prompt {version.ref}; the {exc.limit} bound)",
            param="prompt",
            code="render_limit_exceeded",
        ) from None
    except PromptError as exc:
        raise InvalidRequestError(exc.message, param="prompt") from None
    if isinstance(rendered.value, str):
        messages: list[Any] = [{"role": "user", "content": rendered.value}]
    else:
        messages = list(rendered.value)
    extra = body.get("messages")
    if extra is not None:
        if not isinstance(extra, list):
            raise InvalidRequestError("messages: expected an array", param="messages")
        messages.extend(extra)
    body["messages"] = messages
    for key, value in version.model_config.items():
        # Unset means absent: SDKs that require ``model`` are given "" to leave it to the prompt.
        if body.get(key) is None or (key == "model" and body.get(key) == ""):
            body[key] = value
    if version.tools and "tools" not in body:
        body["tools"] = version.tools
    if version.response_format and "response_format" not in body:
        body["response_format"] = version.response_format
    if not body.get("model"):
        raise InvalidRequestError(
            f"model: required (prompt {version.ref} names no model in its model_config)",
            param="model",
        )
    return body, version


def _error(message: str, status: int, code: str) -> GatewayError:
    error = GatewayError(message, status_code=status, param="prompt", code=code)
    error.error_type = "invalid_request_error" if status < 500 else "api_error"
    return error


def _reference(body: dict[str, Any], headers: Mapping[str, str]) -> tuple[PromptRef, Any]:
    spec = body.pop("prompt", None)
    variables = body.pop("variables", None)
    header = headers.get(PROMPT_HEADER)
    try:
        if spec is None:
            ref = parse_ref(header or "", PROMPT_HEADER)
        elif isinstance(spec, str):
            ref = parse_ref(spec, "prompt")
        elif isinstance(spec, dict):
            ref = _from_object(spec)
            if "variables" in spec:
                variables = spec["variables"]
        else:
            raise InvalidRequestError(
                "prompt: expected a reference string or an object with name", param="prompt"
            )
    except InvalidPromptError as exc:
        raise InvalidRequestError(exc.message, param=exc.field or "prompt") from None
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise InvalidRequestError("prompt.variables: expected an object", param="prompt.variables")
    return ref, variables


def _from_object(spec: dict[str, Any]) -> PromptRef:
    unknown = set(spec) - {"name", "label", "version", "variables"}
    if unknown:
        raise InvalidRequestError(
            f"prompt: unknown key(s) {', '.join(sorted(unknown))}; expected name, label, "
            "version, variables",
            param="prompt",
        )
    name, label, version = spec.get("name"), spec.get("label"), spec.get("version")
    if label is not None and version is not None:
        raise InvalidRequestError("prompt: give a label or a version, not both", param="prompt")
    if not isinstance(name, str):
        raise InvalidRequestError("prompt.name: expected the prompt's name", param="prompt.name")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidRequestError(
                "prompt.version: expected a version number", param="prompt.version"
            )
        return parse_ref(f"{name}/{version}", "prompt.name")
    if label is not None:
        if not isinstance(label, str):
            raise InvalidRequestError("prompt.label: expected a label", param="prompt.label")
        return parse_ref(f"{name}@{label}", "prompt.label")
    return parse_ref(name, "prompt.name")

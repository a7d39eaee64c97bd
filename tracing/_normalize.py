"""One span, read in whichever GenAI convention produced it, as one normalized view.

Spans reach the store from our gateway (OpenTelemetry GenAI semantic conventions plus
``spyglass.*``) and, over OTLP, from applications instrumented with the current or an older
version of those conventions, with OpenInference (Arize Phoenix) or with OpenLLMetry
(traceloop). Each convention has one reader below that returns the fields it found; where
several conventions are present the first reader to name a field wins, in the order
Spyglass > GenAI current > GenAI deprecated > OpenInference > OpenLLMetry.

Messages always come out in the GenAI semconv JSON form (``gen_ai.input.messages``):
``{"role": ..., "parts": [{"type": "text", "content": ...}, {"type": "tool_call", ...}]}``.
This module is pure: no I/O, no logging, nothing raised for odd input.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._messages import (
    Message,
    loads,
    message,
    parse_messages,
    parse_parts,
    scalar,
    text_value,
)

__all__ = ["SPAN_KINDS", "Normalized", "normalize"]

SPAN_KINDS = (
    "llm",
    "embedding",
    "chain",
    "agent",
    "tool",
    "retriever",
    "reranker",
    "guardrail",
    "evaluator",
    "prompt",
    "span",
)

Attributes = Mapping[str, Any]

# gen_ai.operation.name -> kind; the last three are OpenLLMetry's extensions of the list.
_OPERATION_KINDS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "retrieval": "retriever",
    "invoke_workflow": "chain",
    "execute_task": "chain",
    "llm_request": "llm",
    "vector_db_retrieve": "retriever",
}
# openinference.span.kind -> (kind, operation)
_OPENINFERENCE_KINDS = {
    "LLM": ("llm", None),
    "EMBEDDING": ("embedding", "embeddings"),
    "CHAIN": ("chain", None),
    "AGENT": ("agent", "invoke_agent"),
    "TOOL": ("tool", "execute_tool"),
    "RETRIEVER": ("retriever", "retrieval"),
    "RERANKER": ("reranker", None),
    "GUARDRAIL": ("guardrail", None),
    "EVALUATOR": ("evaluator", None),
    "PROMPT": ("prompt", None),
}
# mlflow.spanType -> (kind, operation)
_MLFLOW_KINDS = {
    "LLM": ("llm", None),
    "CHAT_MODEL": ("llm", "chat"),
    "EMBEDDING": ("embedding", "embeddings"),
    "CHAIN": ("chain", None),
    "WORKFLOW": ("chain", "invoke_workflow"),
    "TASK": ("chain", None),
    "PARSER": ("chain", None),
    "MEMORY": ("chain", None),
    "AGENT": ("agent", "invoke_agent"),
    "TOOL": ("tool", "execute_tool"),
    "RETRIEVER": ("retriever", "retrieval"),
    "RERANKER": ("reranker", None),
    "GUARDRAIL": ("guardrail", None),
    "EVALUATOR": ("evaluator", None),
}
# traceloop.span.kind -> (kind, operation)
_TRACELOOP_KINDS = {
    "workflow": ("chain", "invoke_workflow"),
    "task": ("chain", None),
    "agent": ("agent", "invoke_agent"),
    "tool": ("tool", "execute_tool"),
}
# llm.request.type (OpenLLMetry) -> (kind, operation)
_REQUEST_TYPES = {
    "chat": ("llm", "chat"),
    "completion": ("llm", "text_completion"),
    "embedding": ("embedding", "embeddings"),
    "rerank": ("reranker", None),
}
# Other conventions' provider names -> the GenAI semconv's gen_ai.provider.name values.
_PROVIDERS = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
    "google": "gcp.gen_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
}
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


@dataclass(slots=True)
class Normalized:
    """What the store and the UI show of a span, whatever convention it was written in."""

    kind: str = "span"
    operation: str | None = None
    model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    system_instructions: list[dict[str, Any]] | None = None
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    input_value: str | None = None
    output_value: str | None = None
    documents: list[dict[str, Any]] | None = None  # a retriever's or reranker's results
    tool_name: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    time_to_first_token_ms: float | None = None


def normalize(
    name: str,
    attributes: Mapping[str, Any],
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Normalized:
    """Read a span's attributes and events into the normalized view.

    Args:
        name: the span's name (a last resort for its kind: ``"chat gpt-4o"``).
        attributes: the span's attributes; values are primitives, sequences, or (from OTLP)
            mappings. Message attributes may be JSON strings or already-parsed values.
        events: the span's events as ``(name, attributes)`` pairs.

    Returns:
        The normalized view; fields no convention provides stay ``None``.
    """
    found: dict[str, Any] = {}
    # Only the conventions a span shows signs of are read: most spans carry one, and the
    # store normalizes every span it writes.
    deprecated, openinference, openllmetry, mlflow = _conventions(tuple(attributes))
    partials = [_read_spyglass(attributes), _read_genai(attributes)]
    if events or deprecated:
        partials.append(_read_genai_deprecated(attributes, events))
    if openinference:
        partials.append(_read_openinference(attributes))
    if openllmetry:
        partials.append(_read_openllmetry(attributes))
    if mlflow:
        partials.append(_read_mlflow(attributes))
    for partial in partials:
        for key, value in partial.items():
            if value is not None:
                found.setdefault(key, value)
    found.setdefault("model", found.get("response_model"))
    if "kind" not in found:
        found["kind"], operation = _infer_kind(name, found)
        found.setdefault("operation", operation)
    if isinstance(found.get("provider"), str):
        found["provider"] = _PROVIDERS.get(found["provider"].lower(), found["provider"])
    return Normalized(**found)


# First segments of the attribute keys each convention writes.
_OPENINFERENCE_ROOTS = frozenset(
    {
        "openinference",
        "llm",
        "input",
        "output",
        "embedding",
        "tool",
        "retrieval",
        "reranker",
        "session",
        "user",
        "prompt",
        "tag",
        "metadata",
    }
)
_OPENLLMETRY_ROOTS = frozenset({"traceloop", "gen_ai", "llm"})
_DEPRECATED_GENAI_KEYS = (
    "gen_ai.system",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.prompt",
    "gen_ai.completion",
)


# The keys OpenLLMetry writes under gen_ai.* that the current conventions do not.
_OPENLLMETRY_GENAI_KEYS = frozenset(
    {
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.user",
    }
)


@functools.lru_cache(maxsize=2048)
def _conventions(keys: tuple[str, ...]) -> tuple[bool, bool, bool, bool]:
    """Whether spans with these attribute keys may carry the deprecated GenAI names,
    OpenInference's, OpenLLMetry's or MLflow tracing's: one instrumentation writes the same
    keys span after span, so the answer is cached by the whole key set."""
    prefixes = {key.partition(".")[0] for key in keys}
    return (
        any(key in keys for key in _DEPRECATED_GENAI_KEYS),
        bool(prefixes & _OPENINFERENCE_ROOTS),
        bool(prefixes & _OPENLLMETRY_ROOTS) and _has_openllmetry_keys(keys, prefixes),
        "mlflow" in prefixes,
    )


def _has_openllmetry_keys(keys: Sequence[str], prefixes: set[str]) -> bool:
    """Whether a span carries anything ``_read_openllmetry`` reads: every GenAI semconv span
    has ``gen_ai.*`` keys, but only OpenLLMetry's have these (``gen_ai.prompt.0.content``)."""
    if "traceloop" in prefixes or "llm" in prefixes:
        return True
    for key in keys:
        if key in _OPENLLMETRY_GENAI_KEYS or (
            key.startswith(("gen_ai.prompt.", "gen_ai.completion."))
            and key[key.index(".", 7) + 1 : key.index(".", 7) + 2].isdigit()
        ):
            return True
    return False


def _infer_kind(name: str, found: Mapping[str, Any]) -> tuple[str, str | None]:
    """The kind of a span no convention marked: from a semconv-shaped name, else its content."""
    operation, _, rest = name.partition(" ")
    if rest and operation in _OPERATION_KINDS:
        return _OPERATION_KINDS[operation], operation
    llm_fields = ("model", "input_messages", "output_messages", "input_tokens", "output_tokens")
    if any(found.get(field) is not None for field in llm_fields):
        return "llm", None
    if found.get("tool_name") is not None:
        return "tool", "execute_tool"
    return "span", None


# -- readers, one per convention ----------------------------------------------------------


def _read_spyglass(attrs: Attributes) -> dict[str, Any]:
    return {
        "cost_usd": _float(attrs.get("spyglass.cost.usd")),
        "session_id": scalar(attrs.get("spyglass.session.id")),
        "user_id": scalar(attrs.get("spyglass.user.id")),
        "prompt_name": scalar(attrs.get("spyglass.prompt.name")),
        "prompt_version": scalar(attrs.get("spyglass.prompt.version")),
        "time_to_first_token_ms": _float(attrs.get("spyglass.time_to_first_token_ms")),
    }


def _read_genai(attrs: Attributes) -> dict[str, Any]:
    """OpenTelemetry GenAI semantic conventions, current names (v1.41)."""
    operation = scalar(attrs.get("gen_ai.operation.name"))
    first_chunk_s = _float(attrs.get("gen_ai.response.time_to_first_chunk"))
    return {
        "kind": _OPERATION_KINDS.get(operation or ""),
        "operation": operation,
        "model": scalar(attrs.get("gen_ai.request.model")),
        "response_model": scalar(attrs.get("gen_ai.response.model")),
        "provider": scalar(attrs.get("gen_ai.provider.name")),
        "input_tokens": _int(attrs.get("gen_ai.usage.input_tokens")),
        "output_tokens": _int(attrs.get("gen_ai.usage.output_tokens")),
        "cache_read_tokens": _int(attrs.get("gen_ai.usage.cache_read.input_tokens")),
        "reasoning_tokens": _int(attrs.get("gen_ai.usage.reasoning.output_tokens")),
        "session_id": scalar(attrs.get("gen_ai.conversation.id")),
        "user_id": scalar(attrs.get("enduser.id")),
        "system_instructions": parse_parts(attrs.get("gen_ai.system_instructions")),
        "input_messages": parse_messages(attrs.get("gen_ai.input.messages"), "user"),
        "output_messages": parse_messages(attrs.get("gen_ai.output.messages"), "assistant"),
        "input_value": text_value(attrs.get("gen_ai.tool.call.arguments")),
        "output_value": text_value(attrs.get("gen_ai.tool.call.result")),
        "tool_name": scalar(attrs.get("gen_ai.tool.name")),
        "prompt_name": scalar(attrs.get("gen_ai.prompt.name")),
        # The semconv names the prompt only; its version is read beside it when sent.
        "prompt_version": scalar(attrs.get("gen_ai.prompt.version")),
        "time_to_first_token_ms": None if first_chunk_s is None else first_chunk_s * 1000,
    }


def _read_genai_deprecated(
    attrs: Attributes, events: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """GenAI semconv names since replaced, and the per-message events before ``*.messages``."""
    inputs: list[Message] = []
    choices: list[tuple[int, Message]] = []
    for event_name, body in events:
        if event_name in _EVENT_ROLES:
            shaped = _event_message(body)
            if event_name == "gen_ai.tool.message":
                shaped.setdefault("tool_call_id", body.get("id"))
            inputs.append(message(shaped, _EVENT_ROLES[event_name]))
        elif event_name == "gen_ai.choice":
            choice = {
                **_event_message(_choice_body(body)),
                "finish_reason": body.get("finish_reason"),
            }
            choices.append((_int(body.get("index")) or 0, message(choice, "assistant")))
        elif event_name == "gen_ai.content.prompt":  # v1.26: the whole list in one event
            inputs.extend(parse_messages(body.get("gen_ai.prompt"), "user") or [])
        elif event_name == "gen_ai.content.completion":
            outputs = parse_messages(body.get("gen_ai.completion"), "assistant") or []
            choices.extend((len(choices), output) for output in outputs)
    choices.sort(key=lambda choice: choice[0])
    return {
        "provider": scalar(attrs.get("gen_ai.system")),
        "input_tokens": _int(attrs.get("gen_ai.usage.prompt_tokens")),
        "output_tokens": _int(attrs.get("gen_ai.usage.completion_tokens")),
        "input_messages": inputs or None,
        "output_messages": [output for _, output in choices] or None,
    }


def _event_message(body: Mapping[str, Any]) -> dict[str, Any]:
    """An event body as a message dict; exporters flatten its ``tool_calls`` to JSON text."""
    return {**body, "tool_calls": loads(body.get("tool_calls"))}


def _choice_body(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``gen_ai.choice`` event's message: JSON text, flattened (``message.role``) or inline."""
    choice = loads(body.get("message"))
    if isinstance(choice, Mapping):
        return choice
    return {k[8:]: v for k, v in body.items() if k.startswith("message.")} or body


def _read_openinference(attrs: Attributes) -> dict[str, Any]:
    """OpenInference (Arize Phoenix): ``openinference.span.kind``, ``llm.*``, flattened lists."""
    kind, operation = _OPENINFERENCE_KINDS.get(
        str(attrs.get("openinference.span.kind", "")).upper(), (None, None)
    )
    params = loads(
        attrs.get("llm.invocation_parameters") or attrs.get("embedding.invocation_parameters")
    )
    if not isinstance(params, Mapping):
        params = {}
    inputs = [
        message(_openinference_message(m), "user") for m in _indexed(attrs, "llm.input_messages.")
    ]
    shaped = [_openinference_message(m) for m in _indexed(attrs, "llm.output_messages.")]
    if len(shaped) == 1:  # the span's one finish reason is that message's
        shaped[0]["finish_reason"] = attrs.get("llm.finish_reason")
    outputs = [message(m, "assistant") for m in shaped]
    if kind == "llm" and (inputs or outputs):
        operation = "chat"
    prompts = [p.get("prompt.text") for p in _indexed(attrs, "llm.prompts.")]
    if not prompts and isinstance(attrs.get("llm.prompts"), list | tuple):
        prompts = list(attrs["llm.prompts"])  # the older form: a list of strings
    if prompts and not inputs:
        inputs = [message({"content": p}, "user") for p in prompts if isinstance(p, str)]
        outputs = [
            message({"content": c.get("completion.text")}, "assistant")
            for c in _indexed(attrs, "llm.choices.")
        ]
        operation = "text_completion" if kind == "llm" else operation
    if kind == "embedding" and not inputs:
        inputs = [
            message({"content": e.get("embedding.text")}, "user")
            for e in _indexed(attrs, "embedding.embeddings.")
            if isinstance(e.get("embedding.text"), str)
        ]
    return {
        "kind": kind,
        "operation": operation,
        "model": _first(
            attrs.get("llm.request.model_name"),
            params.get("model"),
            attrs.get("embedding.model_name"),
            attrs.get("reranker.model_name"),
        ),
        "response_model": _first(attrs.get("llm.response.model_name"), attrs.get("llm.model_name")),
        "provider": _first(attrs.get("llm.provider"), attrs.get("llm.system")),
        "input_tokens": _int(attrs.get("llm.token_count.prompt")),
        "output_tokens": _int(attrs.get("llm.token_count.completion")),
        "cache_read_tokens": _int(attrs.get("llm.token_count.prompt_details.cache_read")),
        "reasoning_tokens": _int(attrs.get("llm.token_count.completion_details.reasoning")),
        "cost_usd": _float(attrs.get("llm.cost.total")),
        "session_id": scalar(attrs.get("session.id")),
        "user_id": _first(attrs.get("user.id"), params.get("user")),
        "input_messages": inputs or None,
        "output_messages": outputs or None,
        "input_value": text_value(attrs.get("input.value")),
        "output_value": text_value(attrs.get("output.value")),
        "tool_name": scalar(attrs.get("tool.name")),
        "documents": _openinference_documents(attrs),
        "prompt_name": scalar(attrs.get("prompt.id")),
        "prompt_version": scalar(attrs.get("llm.prompt_template.version")),
    }


def _openinference_documents(attrs: Attributes) -> list[dict[str, Any]] | None:
    """A retriever's ``retrieval.documents.N.document.*`` (a reranker's output documents), or
    the JSON list OpenInference's GenAI conversion writes (``gen_ai.retrieval.documents``)."""
    flat = _indexed(attrs, "retrieval.documents.") or _indexed(attrs, "reranker.output_documents.")
    if flat:
        return _documents(
            {
                "id": d.get("document.id"),
                "content": d.get("document.content"),
                "score": d.get("document.score"),
                "metadata": d.get("document.metadata"),
            }
            for d in flat
        )
    listed = loads(attrs.get("gen_ai.retrieval.documents"))
    return _documents(listed) if isinstance(listed, list) else None


def _documents(found: Any) -> list[dict[str, Any]] | None:
    """Documents as ``{id, content, score, metadata}`` (unknown fields left out); metadata
    given as JSON text is parsed; LangChain's ``page_content`` is the content."""
    documents = []
    for item in found:
        if not isinstance(item, Mapping):
            continue
        document: dict[str, Any] = {}
        identifier = scalar(item.get("id"))
        content = _first(item.get("content"), item.get("page_content"), item.get("text"))
        score = _float(item.get("score"))
        metadata = loads(item.get("metadata"))
        for key, value in (
            ("id", identifier),
            ("content", content),
            ("score", score),
            ("metadata", metadata if isinstance(metadata, Mapping) else None),
        ):
            if value is not None:
                document[key] = value
        if document:
            documents.append(document)
    return documents or None


def _openinference_message(flat: Mapping[str, Any]) -> dict[str, Any]:
    """One ``llm.*_messages.N.`` group as an OpenAI-shaped message dict."""
    shaped: dict[str, Any] = {
        "role": flat.get("message.role"),
        "name": flat.get("message.name"),
        "tool_call_id": flat.get("message.tool_call_id"),
        "content": flat.get("message.content"),
    }
    contents = _indexed(flat, "message.contents.")
    if contents and shaped["content"] is None:
        shaped["content"] = [
            {
                "type": c.get("message_content.type"),
                "text": c.get("message_content.text"),
                "image_url": {"url": c.get("message_content.image.image.url")},
            }
            for c in contents
        ]
    shaped["tool_calls"] = [
        {
            "id": call.get("tool_call.id"),
            "name": call.get("tool_call.function.name"),
            "arguments": call.get("tool_call.function.arguments"),
        }
        for call in _indexed(flat, "message.tool_calls.")
    ]
    if flat.get("message.function_call_name") is not None:
        shaped["function_call"] = {
            "name": flat.get("message.function_call_name"),
            "arguments": flat.get("message.function_call_arguments_json"),
        }
    return shaped


def _read_openllmetry(attrs: Attributes) -> dict[str, Any]:
    """OpenLLMetry (traceloop): ``traceloop.*``, and its older ``gen_ai.prompt.N.*`` form."""
    kind, operation = _TRACELOOP_KINDS.get(str(attrs.get("traceloop.span.kind")), (None, None))
    if kind is None:
        kind, operation = _REQUEST_TYPES.get(str(attrs.get("llm.request.type")), (None, None))
    properties = "traceloop.association.properties."
    return {
        "kind": kind,
        "operation": operation,
        "cache_read_tokens": _int(attrs.get("gen_ai.usage.cache_read_input_tokens")),
        "reasoning_tokens": _int(
            _first(
                attrs.get("gen_ai.usage.reasoning_tokens"), attrs.get("llm.usage.reasoning_tokens")
            )
        ),
        "session_id": scalar(attrs.get(properties + "session_id")),
        "user_id": _first(
            attrs.get("gen_ai.user"), attrs.get("llm.user"), attrs.get(properties + "user_id")
        ),
        "input_messages": [
            message(_traceloop_message(m), "user") for m in _indexed(attrs, "gen_ai.prompt.")
        ]
        or None,
        "output_messages": [
            message(_traceloop_message(m), "assistant")
            for m in _indexed(attrs, "gen_ai.completion.")
        ]
        or None,
        "input_value": text_value(attrs.get("traceloop.entity.input")),
        "output_value": text_value(attrs.get("traceloop.entity.output")),
        "tool_name": scalar(attrs.get("traceloop.entity.name")) if kind == "tool" else None,
        "prompt_name": scalar(attrs.get("traceloop.prompt.key")),
        "prompt_version": scalar(attrs.get("traceloop.prompt.version")),
    }


def _read_mlflow(attrs: Attributes) -> dict[str, Any]:
    """MLflow tracing: every ``mlflow.*`` value is JSON text (``mlflow.spanType`` is
    ``'"LLM"'``); an autologged LLM span has its request and response whole in
    ``mlflow.spanInputs`` / ``mlflow.spanOutputs``, usage in ``mlflow.chat.tokenUsage``."""
    kind, operation = _MLFLOW_KINDS.get(
        str(loads(attrs.get("mlflow.spanType")) or "").upper(), (None, None)
    )
    inputs = loads(attrs.get("mlflow.spanInputs"))
    outputs = loads(attrs.get("mlflow.spanOutputs"))
    usage = loads(attrs.get("mlflow.chat.tokenUsage"))
    usage = usage if isinstance(usage, Mapping) else {}
    cost = loads(attrs.get("mlflow.llm.cost"))
    found: dict[str, Any] = {
        "kind": kind,
        "operation": operation,
        "response_model": scalar(loads(attrs.get("mlflow.llm.model"))),
        "provider": scalar(loads(attrs.get("mlflow.llm.provider"))),
        "input_tokens": _int(usage.get("input_tokens")),
        "output_tokens": _int(usage.get("output_tokens")),
        "cache_read_tokens": _int(usage.get("cache_read_input_tokens")),
        "cost_usd": _float(cost.get("total_cost")) if isinstance(cost, Mapping) else None,
    }
    if isinstance(inputs, Mapping):
        found["model"] = scalar(inputs.get("model"))
        messages = inputs.get("messages")
        if isinstance(messages, list) and kind in ("llm", None):
            found["input_messages"] = [message(m, "user") for m in messages]
            system = inputs.get("system")  # Anthropic's, beside the messages
            if isinstance(system, str | list) and system:
                found["system_instructions"] = message({"content": system}, "system")["parts"]
    if isinstance(outputs, Mapping) and isinstance(outputs.get("choices"), list):
        found["output_messages"] = [
            message(
                {**choice["message"], "finish_reason": choice.get("finish_reason")}, "assistant"
            )
            for choice in outputs["choices"]
            if isinstance(choice, Mapping) and isinstance(choice.get("message"), Mapping)
        ]
    elif isinstance(outputs, Mapping) and outputs.get("type") == "message":  # Anthropic's
        found["output_messages"] = [
            message(
                {"content": outputs.get("content"), "finish_reason": outputs.get("stop_reason")},
                "assistant",
            )
        ]
    if kind in ("retriever", "reranker") and isinstance(outputs, list):
        found["documents"] = _documents(outputs)
    if not found.get("input_messages") and inputs is not None:
        found["input_value"] = text_value(attrs.get("mlflow.spanInputs"))
    if not found.get("output_messages") and not found.get("documents") and outputs is not None:
        found["output_value"] = (
            outputs if isinstance(outputs, str) else text_value(attrs.get("mlflow.spanOutputs"))
        )
    return found


def _traceloop_message(flat: Mapping[str, Any]) -> dict[str, Any]:
    """One ``gen_ai.prompt.N.`` / ``gen_ai.completion.N.`` group as an OpenAI-shaped dict."""
    shaped = {key: flat.get(key) for key in ("role", "content", "tool_call_id", "finish_reason")}
    shaped["tool_calls"] = _indexed(flat, "tool_calls.")
    if flat.get("function_call.name") is not None:
        shaped["function_call"] = {
            "name": flat.get("function_call.name"),
            "arguments": flat.get("function_call.arguments"),
        }
    return shaped


# -- values -------------------------------------------------------------------------------


def _indexed(attrs: Attributes, prefix: str) -> list[dict[str, Any]]:
    """Flattened lists (``prefix.0.role``, ``prefix.1.role``) as one dict per index, in order."""
    groups: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, rest = key[len(prefix) :].partition(".")
            if index.isdigit() and rest:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[index] for index in sorted(groups)]


def _first(*values: Any) -> str | None:
    """The first of ``values`` that reads as text."""
    return next((text for text in map(scalar, values) if text is not None), None)


def _float(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:  # the common case first: this runs for every span
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = _float(value)
    return None if number is None else int(number)

"""The OpenAPI description of ``/v1``: its routes skip FastAPI (for speed), so they are
described here and merged into the app's schema by ``spyglass.create_app``.

The request schemas name the fields the gateway reads and validates, and allow the rest
(providers take many more); every error is OpenAI's ``{"error": {...}}``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["v1_openapi_paths"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_CONTENT = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "object"}},
        {"type": "null"},
    ]
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": _CONTENT,
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
}
_SAMPLING = {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "max_tokens": {"type": "integer", "minimum": 1},
    "max_completion_tokens": {"type": "integer", "minimum": 1},
    "n": {"type": "integer", "minimum": 1, "maximum": 8},
    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "seed": {"type": "integer"},
    "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
    "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
    "user": {"type": "string"},
    "stream": {"type": "boolean"},
    "stream_options": {
        "type": "object",
        "properties": {"include_usage": {"type": "boolean"}},
    },
}
_CHAT = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "a model group of the config"},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
        "prompt": {
            "oneOf": [
                {"type": "string", "description": "a registry reference: name@label"},
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "label": {"type": "string"},
                        "version": {"type": "integer", "minimum": 1},
                        "variables": {"type": "object"},
                    },
                },
            ]
        },
        **_SAMPLING,
    },
}
_COMPLETION = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string"},
        "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        **_SAMPLING,
    },
}
_EMBEDDINGS = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "dimensions": {"type": "integer", "minimum": 1, "maximum": 4096},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "user": {"type": "string"},
    },
}
_ANTHROPIC = {
    "type": "object",
    "required": ["model", "messages", "max_tokens"],
    "properties": {
        "model": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["user", "assistant"]},
                    "content": _CONTENT,
                },
            },
        },
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean"},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
    },
}
_STATUSES = {
    "400": "invalid request (the message names the field)",
    "401": "missing or wrong key (when a master key is set)",
    "403": "the key may not do this, or use this model",
    "404": "no such model group (or prompt)",
    "413": "the body is over the size limit",
    "429": "a rate limit or budget is spent; Retry-After says when to retry",
    "502": "the provider failed or could not be reached",
    "503": "every deployment of the group is cooling down",
    "504": "the provider did not answer in time",
}


def _errors() -> dict[str, Any]:
    return {
        status: {
            "description": text,
            "content": {"application/json": {"schema": _ERROR}},
        }
        for status, text in _STATUSES.items()
    }


_EXAMPLES: dict[str, dict[str, Any]] = {
    "chat_completions": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0.2,
    },
    "completions": {"model": "gpt-4o-mini", "prompt": "Say hello", "max_tokens": 16},
    "embeddings": {"model": "gpt-4o-mini", "input": ["hello", "world"]},
    "anthropic_messages": {
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello"}],
    },
}


def _post(summary: str, body: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["gateway"],
            "summary": summary,
            "operationId": operation_id,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": body, "example": _EXAMPLES[operation_id]}
                },
            },
            "responses": {
                "200": {
                    "description": "the provider's answer (a JSON object, or an SSE stream)",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors(),
            },
        }
    }


def v1_openapi_paths() -> dict[str, Any]:
    """OpenAPI path items for the gateway's ``/v1`` endpoints (OTLP ingest excepted: its body
    is protobuf or OTLP JSON, specified by OpenTelemetry)."""
    models = {
        "description": "the model groups of the config",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return {
        "/v1/chat/completions": _post("OpenAI chat completions", _CHAT, "chat_completions"),
        "/v1/completions": _post("OpenAI text completions", _COMPLETION, "completions"),
        "/v1/embeddings": _post("OpenAI embeddings", _EMBEDDINGS, "embeddings"),
        "/v1/messages": _post("Anthropic messages", _ANTHROPIC, "anthropic_messages"),
        "/v1/models": {
            "get": {
                "tags": ["gateway"],
                "summary": "List models",
                "operationId": "list_models",
                "responses": {"200": models, **_errors()},
            }
        },
        "/v1/models/{model}": {
            "get": {
                "tags": ["gateway"],
                "summary": "One model",
                "operationId": "get_model",
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": models, **_errors()},
            }
        },
    }

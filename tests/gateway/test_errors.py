"""Every error on /v1 is OpenAI-shaped, with the right status, and names what is wrong."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from spyglass import Settings
from tests.conftest import running_app

CONFIG = {
    "model_list": [
        {"model_name": "chat", "litellm_params": {"model": "mock/chat", "mock_response": "hi"}},
        {"model_name": "slow", "litellm_params": {"model": "mock/slow", "mock_latency_ms": 2000}},
        {
            "model_name": "slow-deployment",
            "litellm_params": {"model": "mock/slow", "mock_latency_ms": 2000, "timeout": 0.05},
        },
    ],
    "router_settings": {"num_retries": 0},
    "server": {"max_request_body_bytes": 2048},
}
MESSAGES = [{"role": "user", "content": "hello"}]


def assert_openai_error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


@pytest.fixture
async def client(settings_from: Callable[..., Settings]) -> AsyncIterator[Any]:
    async with running_app(settings_from(CONFIG)) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"messages": MESSAGES}, "model", "Missing required parameter: 'model'"),
        ({"model": 3, "messages": MESSAGES}, "model", "expected a non-empty string, got integer"),
        ({"model": "chat"}, "messages", "Missing required parameter: 'messages'"),
        ({"model": "chat", "messages": "hi"}, "messages", "expected an array, got string"),
        ({"model": "chat", "messages": []}, "messages", "empty array"),
        (
            {"model": "chat", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "'robot'",
        ),
        (
            {"model": "chat", "messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            "got integer",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "temperature": "hot"},
            "temperature",
            "expected number, got string",
        ),
        ({"model": "chat", "messages": MESSAGES, "stream": "yes"}, "stream", "expected boolean"),
        (
            {"model": "chat", "messages": MESSAGES, "max_tokens": 1.5},
            "max_tokens",
            "expected integer, got number",
        ),
        ({"model": "chat", "messages": MESSAGES, "n": True}, "n", "expected integer, got boolean"),
        ({"model": "chat", "messages": MESSAGES, "n": 0}, "n", "Expected a value >= 1"),
        ({"model": "chat", "messages": MESSAGES, "n": 129}, "n", "Expected a value <= 128"),
        (
            {"model": "chat", "messages": MESSAGES, "max_tokens": -5},
            "max_tokens",
            "integer below minimum value. Expected a value >= 1, but got -5 instead.",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "max_completion_tokens": 0},
            "max_completion_tokens",
            "below minimum value",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "temperature": 3},
            "temperature",
            "Expected a value <= 2, but got 3",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "top_p": -0.1},
            "top_p",
            "decimal below minimum value",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "presence_penalty": 2.5},
            "presence_penalty",
            "above maximum value",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "frequency_penalty": -3},
            "frequency_penalty",
            "below minimum value",
        ),
        (
            {"model": "chat", "messages": MESSAGES, "top_logprobs": 21},
            "top_logprobs",
            "above maximum value",
        ),
        ({"model": "chat", "messages": MESSAGES, "tools": {}}, "tools", "expected array"),
        ({"model": "chat", "messages": MESSAGES, "timeout": -1}, "timeout", "positive"),
    ],
)
async def test_bad_chat_body_is_400_naming_the_field(
    client: Any, body: dict[str, Any], param: str, fragment: str
) -> None:
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = assert_openai_error(response.json())
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/embeddings", {"model": "chat"}, "input"),
        ("/v1/embeddings", {"model": "chat", "input": []}, "input"),
        ("/v1/embeddings", {"model": "chat", "input": "x", "dimensions": "8"}, "dimensions"),
        ("/v1/completions", {"model": "chat"}, "prompt"),
        ("/v1/completions", {"model": "chat", "prompt": {"a": 1}}, "prompt"),
        ("/v1/embeddings", {"model": "chat", "input": "x", "dimensions": 0}, "dimensions"),
        ("/v1/completions", {"model": "chat", "prompt": "x", "logprobs": 6}, "logprobs"),
        ("/v1/completions", {"model": "chat", "prompt": "x", "max_tokens": -5}, "max_tokens"),
        ("/v1/completions", {"model": "chat", "prompt": "x", "best_of": 0}, "best_of"),
    ],
)
async def test_bad_bodies_on_other_endpoints(
    client: Any, path: str, body: dict[str, Any], param: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert assert_openai_error(response.json())["param"] == param


async def test_in_range_values_pass(client: Any) -> None:
    chat = {"model": "chat", "messages": MESSAGES, "temperature": 0, "top_p": 1, "n": 1}
    chat |= {"max_tokens": 1, "presence_penalty": -2, "frequency_penalty": 2, "top_logprobs": 0}
    assert (await client.post("/v1/chat/completions", json=chat)).status_code == 200
    # The legacy API's logprobs is a count, not chat's flag.
    completion = {"model": "chat", "prompt": "x", "logprobs": 5, "echo": False}
    assert (await client.post("/v1/completions", json=completion)).status_code == 200


async def test_malformed_json_is_400(client: Any) -> None:
    response = await client.post("/v1/chat/completions", content=b'{"model": "chat",')
    assert response.status_code == 400
    error = assert_openai_error(response.json())
    assert error["code"] == "invalid_json"
    assert "line 1" in error["message"]


async def test_json_that_is_not_an_object_is_400(client: Any) -> None:
    response = await client.post("/v1/chat/completions", content=b"[1, 2]")
    assert response.status_code == 400
    assert "JSON object" in assert_openai_error(response.json())["message"]


async def test_unknown_model_is_404(client: Any) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "gpt-9", "messages": MESSAGES}
    )
    assert response.status_code == 404
    error = assert_openai_error(response.json())
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert "gpt-9" in error["message"]
    assert (await client.get("/v1/models/gpt-9")).status_code == 404


async def test_body_over_limit_is_413_with_or_without_content_length(client: Any) -> None:
    big = {"model": "chat", "messages": [{"role": "user", "content": "x" * 4096}]}
    response = await client.post("/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert assert_openai_error(response.json())["code"] == "request_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}]}'

    response = await client.post("/v1/chat/completions", content=chunked())
    assert response.status_code == 413


async def test_unknown_path_and_wrong_method_are_openai_shaped(client: Any) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert assert_openai_error(response.json())["code"] == "not_found"
    response = await client.get("/v1/chat/completions")
    assert response.status_code == 405
    assert assert_openai_error(response.json())["code"] == "method_not_allowed"


async def test_per_request_timeout_header_gives_504(client: Any) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "slow", "messages": MESSAGES},
        headers={"x-spyglass-timeout": "0.05"},
    )
    assert response.status_code == 504
    assert assert_openai_error(response.json())["type"] == "timeout_error"


async def test_per_request_timeout_in_body_gives_504(client: Any) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "slow", "messages": MESSAGES, "timeout": 0.05}
    )
    assert response.status_code == 504


async def test_per_deployment_timeout_gives_504(client: Any) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "slow-deployment", "messages": MESSAGES}
    )
    assert response.status_code == 504


async def test_internal_error_hides_details_and_logs_no_traceback(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway._mock import MockAdapter

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-internal-detail sk-leak-me")

    monkeypatch.setattr(MockAdapter, "send", explode)
    with caplog.at_level(logging.INFO, logger="spyglass"):
        response = await client.post(
            "/v1/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
    assert response.status_code == 500
    error = assert_openai_error(response.json())
    assert error["code"] == "internal_error"
    assert "secret-internal-detail" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" in caplog.text
    assert "sk-leak-me" not in caplog.text and "Traceback" not in caplog.text


async def test_messages_endpoint_errors_suit_both_sdks(client: Any) -> None:
    response = await client.post("/v1/messages", json={"model": "chat", "messages": MESSAGES})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"  # Anthropic's shape...
    assert body["error"]["param"] == "max_tokens"  # ...and OpenAI's fields

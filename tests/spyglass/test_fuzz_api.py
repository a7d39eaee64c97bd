"""A bounded schemathesis session against the app's OpenAPI schema, in-process over ASGI: no
operation answers 5xx, and every error is in one of the documented shapes (OpenAI's
``{"error": {"message", "type", "param", "code"}}`` or FastAPI's ``{"detail": ...}``).

``/v1`` is in the schema too (``gateway.v1_openapi_paths``): its documented examples name the
model ``gpt-4o-mini``, which the config here serves from the mock provider, so the explicit
phase reaches the provider path; generated bodies probe validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok
from schemathesis.python import asgi

from spyglass import Settings, create_app

Build = Callable[..., Settings]

EXAMPLES_PER_OPERATION = 25
CONFIG = {
    "model_list": [
        {
            "model_name": "gpt-4o-mini",
            "litellm_params": {"model": "mock/echo", "mock_mode": "echo"},
        }
    ]
}


@pytest.fixture
def stop_lifespans() -> Iterator[None]:
    """schemathesis keeps the app's lifespan running for its calls; end it after the test."""
    yield
    asgi.shutdown_lifespans()


def problem(response: Any) -> str | None:
    """What is wrong with a response, or None."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}: {response.text[:300]}"
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} error is not JSON: {response.text[:200]}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and {"message", "type"} <= set(error):
        return None
    if isinstance(body, dict) and "detail" in body:
        return None
    return f"{status} error not in a documented shape: {response.text[:200]}"


@pytest.mark.slow
def test_fuzzing_the_openapi_schema_finds_no_server_error(
    settings_from: Build, stop_lifespans: None
) -> None:
    app = create_app(settings_from(CONFIG))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    found: list[str] = []
    answered: set[str] = set()
    operations = 0

    def run_example(operation: Any) -> None:
        """The operation's documented example (a real call through to the mock provider)."""
        content = (operation.definition.raw.get("requestBody") or {}).get("content", {})
        example = content.get("application/json", {}).get("example")
        case = operation.Case(
            body=example if example is not None else schemathesis.core.NOT_SET,
            media_type="application/json" if example is not None else None,
            path_parameters={"model": "gpt-4o-mini"} if "{model}" in operation.path else None,
        )
        response = case.call()
        if response.status_code == 200:
            answered.add(f"{case.method} {case.path}")
        else:
            found.append(f"documented example of {case.method} {case.path}: {response.text[:200]}")

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself is valid
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call()
            if response.status_code == 200 and case.path.startswith("/v1"):
                answered.add(f"{case.method} {case.path}")
            wrong = problem(response)
            if wrong is not None:
                found.append(f"{case.method} {case.formatted_path} {case.query}: {wrong}")

        run()
        if operation.path.startswith("/v1"):
            run_example(operation)
    assert operations >= 30  # /api and /v1
    # The documented examples reach the provider (mock) path of every /v1 operation.
    assert {
        "POST /v1/chat/completions",
        "POST /v1/completions",
        "POST /v1/embeddings",
        "POST /v1/messages",
        "GET /v1/models",
        "GET /v1/models/{model}",
    } <= answered, answered
    assert not found, "\n".join(sorted(set(found))[:30])

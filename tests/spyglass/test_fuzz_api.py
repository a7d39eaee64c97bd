"""A bounded schemathesis session against the app's OpenAPI schema, in-process over ASGI: no
operation answers 5xx, and every error is in one of the documented shapes (OpenAI's
``{"error": {"message", "type", "param", "code"}}`` or FastAPI's ``{"detail": ...}``).

``/v1`` is not described in the OpenAPI schema (its routes skip FastAPI), so its fuzzing is
the hand-written cases in tests/gateway; this session covers every operation the schema lists.
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
        {"model_name": "m", "litellm_params": {"model": "mock/echo", "mock_mode": "echo"}}
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
    operations = 0
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
            wrong = problem(response)
            if wrong is not None:
                found.append(f"{case.method} {case.formatted_path} {case.query}: {wrong}")

        run()
    assert operations >= 10
    assert not found, "\n".join(sorted(set(found))[:30])

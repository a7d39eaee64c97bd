"""A trace's status is how its call ended: on the demo config, a `demo-balanced` call that
failed on the flaky deployment and succeeded on a retry is an ok trace, not listed by
`status=error`; its failed attempt stays visible as a failed attempt span."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import yaml

from tests.conftest import REPO, Server


def _trace(server: Server, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/api/traces/{trace_id}", timeout=5)
        # The request span ends last: with it stored, the summary is whole.
        if answer.status_code == 200 and any(
            s["parent_span_id"] is None for s in answer.json()["spans"]
        ):
            found: dict[str, Any] = answer.json()
            return found
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not stored")


def test_a_call_that_succeeded_on_a_retry_is_an_ok_trace(serve: Callable[..., Server]) -> None:
    config = yaml.safe_load((REPO / "examples" / "demo.yaml").read_text())
    server = serve(config)
    retried: list[str] = []
    with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
        for _ in range(40):  # the flaky deployment fails half its calls; the order is shuffled
            raw = client.chat.completions.with_raw_response.create(
                model="demo-balanced", messages=[{"role": "user", "content": "hi"}]
            )
            if int(raw.headers["x-spyglass-attempts"]) > 1:
                retried.append(raw.headers["x-spyglass-trace-id"])
            if len(retried) == 2:
                break
    assert retried, "no call needed a retry in 40"
    for trace_id in retried:
        found = _trace(server, trace_id)
        assert found["trace"]["status"] == "ok"
        assert found["trace"]["error"] is None
        attempts = [s for s in found["spans"] if "spyglass.attempt" in s["attributes"]]
        assert attempts[0]["status"] == "error"  # the first attempt failed, visibly
    errors = httpx.get(f"{server.url}/api/traces", params={"status": "error"}, timeout=5)
    assert not {t["trace_id"] for t in errors.json()["data"]} & set(retried)

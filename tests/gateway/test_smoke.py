"""The demo configuration answers through the app, in-process."""

from __future__ import annotations

from pathlib import Path

from spyglass import load_settings
from tests.conftest import REPO, running_app


async def test_demo_config_answers_chat() -> None:
    settings, warnings = load_settings(REPO / "examples" / "demo.yaml")
    assert warnings == []
    async with running_app(settings) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "demo-echo", "messages": [{"role": "user", "content": "ping"}]},
        )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "ping"
    assert Path(settings.home, "spyglass.db").exists()

"""Keys and limits across real `spyglass serve` processes: replicas sharing PostgreSQL and
Redis behave as one, the server refuses to listen publicly without a master key, and no key
is ever stored or logged in clear."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Server, write_config
from tests.tcp_proxy import TcpProxy

MASTER = "sk-master-servers-7f3a"
UPSTREAM_SECRET = "sk-upstream-secret-55c1"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def model(**params: object) -> dict[str, object]:
    return {"model_name": "m", "litellm_params": {"model": "mock/m", **params}}


def test_two_replicas_share_one_rate_limit(
    # The database first: fixtures are torn down in reverse, so the servers stop before it is
    # dropped (dropped under them, they spent their shutdown retrying to flush spans: 20 s).
    pg_own_database: str,
    serve: Callable[..., Server],
) -> None:
    config = {
        "master_key": MASTER,
        "database_url": pg_own_database,
        "redis_url": "redis://127.0.0.1:6379/0",
        "model_list": [model()],
    }
    a, b = serve(config, "a"), serve(config, "b")
    created = httpx.post(
        f"{a.url}/api/keys",
        headers={"authorization": f"Bearer {MASTER}"},
        json={"name": "shared", "rpm": 60},
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]

    def call(i: int) -> int:
        server = (a, b)[i % 2]
        answer = httpx.post(
            f"{server.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json=CHAT,
            timeout=30,
        )
        return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(call, range(80)))
    assert codes.count(200) == 60, codes
    assert codes.count(429) == 20
    # Both replicas served some of the 60.
    assert len({i % 2 for i, code in enumerate(codes) if code == 200}) == 2


def test_public_bind_needs_a_master_key(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"model_list": [model()]})
    result = subprocess.run(
        [sys.executable, "-m", "spyglass", "serve", "--config", str(path), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a master key" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_key_in_clear_in_the_store_or_the_log(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    env = {"UPSTREAM_KEY": UPSTREAM_SECRET}
    config = {
        "master_key": MASTER,
        "model_list": [model(api_key="os.environ/UPSTREAM_KEY")],
        "server": {"log_level": "debug", "access_log": True},
    }
    server = serve(config, "s", env=env)
    admin = {"authorization": f"Bearer {MASTER}"}
    key = httpx.post(f"{server.url}/api/keys", headers=admin, json={"name": "k"}).json()["key"]
    user = {"authorization": f"Bearer {key}"}
    assert (
        httpx.post(f"{server.url}/v1/chat/completions", headers=user, json=CHAT).status_code == 200
    )
    wrong = {"authorization": f"Bearer {key}x"}
    assert (
        httpx.post(f"{server.url}/v1/chat/completions", headers=wrong, json=CHAT).status_code == 401
    )
    assert httpx.get(f"{server.url}/api/traces", headers=user).status_code == 200
    server.stop()
    home = tmp_path / "home"
    dumps = []
    for db in home.glob("*.db"):
        connection = sqlite3.connect(db)
        dumps.append("\n".join(connection.iterdump()))
        connection.close()
    assert dumps and "api_keys" in dumps[0]
    everything = "\n".join(dumps) + server.log()
    for secret in (MASTER, key, UPSTREAM_SECRET):
        assert secret not in everything


def test_a_database_outage_answers_unchecked_keys_503_with_retry_after(
    pg_own_database: str, serve: Callable[..., Server]
) -> None:
    with TcpProxy(5432) as database:
        config = {
            "master_key": MASTER,
            "database_url": pg_own_database.replace(":5432/", f":{database.port}/"),
            "model_list": [model()],
        }
        server = serve(config)
        admin = {"authorization": f"Bearer {MASTER}"}
        created = httpx.post(f"{server.url}/api/keys", headers=admin, json={"name": "later"})
        assert created.status_code == 201, created.text
        never_used = created.json()["key"]
        database.cut()
        for key in (never_used, "sk-sg-" + "0" * 40):  # not in the cache; unknown
            with openai.OpenAI(
                base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=15
            ) as client:
                with pytest.raises(openai.APIStatusError) as raised:
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "hi"}]
                    )
            assert raised.value.status_code == 503
            assert raised.value.response.headers["retry-after"] == "2"
            assert raised.value.body["code"] == "store_unavailable"  # type: ignore[index]
            assert raised.value.body["type"] == "service_unavailable_error"  # type: ignore[index]
        database.restore()
        answer = httpx.post(
            f"{server.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {never_used}"},
            json=CHAT,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        server.stop()
    log = server.log()
    assert "Traceback" not in log
    assert log.count("database unavailable while checking the API key") == 2

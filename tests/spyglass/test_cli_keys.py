"""`spyglass keys`: create (shown once), list, revoke and usage, on the server's store."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner, Result

from gateway import KeyStore, hash_key
from spyglass._cli import app
from spyglass._db import create_store_engine

runner = CliRunner()
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def run(*args: str) -> Result:
    return runner.invoke(app, ["keys", *args], env=WIDE)


def test_create_list_revoke() -> None:
    created = run(
        "create",
        "--name",
        "billing",
        "--team",
        "red",
        "--models",
        "gpt-4o, claude",
        "--rpm",
        "60",
        "--tpm",
        "1000",
        "--budget",
        "25",
        "--budget-period",
        "7d",
        "--expires",
        "90d",
        "--metadata",
        "env=prod",
        "--json",
    )
    assert created.exit_code == 0, created.output
    body = json.loads(created.stdout)
    key = body["key"]
    assert key.startswith("sk-sg-")
    assert body["models"] == ["gpt-4o", "claude"]
    assert (body["rpm"], body["tpm"], body["budget_usd"]) == (60, 1000, 25.0)
    assert body["budget_period_s"] == 7 * 86400 and body["metadata"] == {"env": "prod"}

    listed = run("list", "--json")
    assert [k["id"] for k in json.loads(listed.stdout)] == [body["id"]]
    assert key not in listed.stdout
    table = run("list")
    assert "billing" in table.stdout and "$25/7d" in table.stdout and "active" in table.stdout

    # Only the hash is stored.
    engine = create_store_engine(f"sqlite:///{os.environ['SPYGLASS_HOME']}/spyglass.db")
    store = KeyStore(engine)
    assert store.find(key) is not None
    with engine.connect() as conn:
        raw = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM api_keys")]
    assert key not in str(raw) and hash_key(key) in str(raw)
    engine.dispose()

    assert run("revoke", body["id"]).exit_code == 0
    assert run("list", "--json").stdout.strip() == "[]"
    assert "revoked" in run("list", "--revoked").stdout


def test_the_key_goes_to_stdout_alone_for_scripts() -> None:
    result = run("create", "--name", "ci")
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines()[-1].startswith("sk-sg-")
    assert "not shown again" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["create", "--role", "root"], 2, "--role: expected one of admin, member, viewer, ingest"),
        (["create", "--budget-period", "soon"], 2, "--budget-period: expected a period"),
        (
            ["create", "--expires", "whenever"],
            2,
            "--expires: expected a period (90d, 12h) or a date",
        ),
        (["create", "--metadata", "novalue"], 2, "--metadata: expected KEY=VALUE"),
        (["revoke", "key_nope"], 1, "no key with id 'key_nope'"),
        (["usage", "--by", "colour"], 2, "--by: expected key, team, project, model and/or day"),
    ],
)
def test_errors_name_the_option(args: list[str], code: int, words: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_usage_before_any_call() -> None:
    result = run("usage")
    assert result.exit_code == 0
    assert "no usage by keys in the last 30 days" in result.output

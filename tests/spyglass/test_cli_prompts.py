"""`spyglass prompts`: push from files, label, show, diff, history, render, pull round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from spyglass._cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}
CHAT_FILE = """\
messages:
  - role: system
    content: You summarize in {{style}}.
  - role: user
    content: "{{text}}"
model_config:
  model: gpt-4o-mini
  temperature: 0.2
description: Support inbox summaries
tags: [support]
"""


def run(*args: str) -> Result:
    return runner.invoke(app, ["prompts", *args], env=WIDE)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "summarize.txt").write_text("Summarize in {{style}}:\n{{text}}\n")
    (tmp_path / "summarize.yaml").write_text(CHAT_FILE)
    return tmp_path


def test_the_git_workflow(files: Path) -> None:
    pushed = run(
        "push",
        "summarize",
        "-f",
        str(files / "summarize.txt"),
        "-m",
        "first",
        "-l",
        "production",
        "--author",
        "ann",
    )
    assert pushed.exit_code == 0, pushed.output
    assert "pushed summarize/1 (production)" in pushed.output
    again = run("push", "summarize", "-f", str(files / "summarize.txt"))
    assert "unchanged: summarize/1 already has this content" in again.output
    chat = run(
        "push", "summarize", "-f", str(files / "summarize.yaml"), "-m", "chat", "-l", "staging"
    )
    assert "pushed summarize/2 (staging)" in chat.output

    listed = run("list", "--json")
    [entry] = json.loads(listed.output)
    assert (entry["latest_version"], entry["labels"]) == (2, {"production": 1, "staging": 2})
    assert entry["description"] == "Support inbox summaries"
    table = run("list")
    assert "summarize" in table.output and "production→1" in table.output

    shown = run("show", "summarize@production")
    assert "summarize/1" in shown.output and "variables: style, text" in shown.output
    assert "message: first" in shown.output and "by ann" in shown.output
    as_json = json.loads(run("show", "summarize/2", "--json").output)
    assert as_json["model_config"] == {"model": "gpt-4o-mini", "temperature": 0.2}

    diff = run("diff", "summarize", "1", "staging")
    assert diff.exit_code == 0
    assert "--- summarize/1" in diff.output and "+[system]" in diff.output
    assert "+  temperature: 0.2" in diff.output

    assert run("label", "summarize", "2", "production", "--actor", "bob").exit_code == 0
    history = json.loads(run("history", "summarize", "--json").output)
    latest = history[0]
    assert (latest["label"], latest["from_version"], latest["to_version"]) == ("production", 1, 2)
    assert latest["actor"] == "bob"
    assert "production" in run("history", "summarize").output

    rendered = run(
        "render", "summarize@production", "--var", "style=bullets", "--var", "text=Hello {{style}}"
    )
    assert rendered.exit_code == 0, rendered.output
    assert "You summarize in bullets." in rendered.output
    assert "Hello {{style}}" in rendered.output  # values are never re-read as templates

    out = files / "pulled.yaml"
    assert run("pull", "summarize@production", "--out", str(out)).exit_code == 0
    assert yaml.safe_load(out.read_text())["messages"][0]["role"] == "system"
    round_trip = run("push", "summarize", "-f", str(out))
    assert "unchanged: summarize/2" in round_trip.output

    text_out = files / "v1.txt"
    assert run("pull", "summarize/1", "--out", str(text_out)).exit_code == 0
    assert text_out.read_text() == "Summarize in {{style}}:\n{{text}}\n"
    refused = run("pull", "summarize/2", "--out", str(files / "v2.txt"))
    assert refused.exit_code == 2 and "use a .yaml or .json file" in refused.output


def test_render_as_json_with_a_vars_file(files: Path) -> None:
    run("push", "greet", "-f", str(files / "summarize.txt"))
    (files / "vars.json").write_text('{"style": "prose", "text": "T", "unused": 1}')
    result = run("render", "greet", "--vars-file", str(files / "vars.json"), "--json")
    assert json.loads(result.stdout)["rendered"] == "Summarize in prose:\nT\n"
    assert "variable 'unused' is not used by greet/1" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["show", "nope"], 1, "no prompt named 'nope'"),
        (["show", "greet@canary"], 1, "no label 'canary'"),
        (["render", "greet", "--var", "style=x"], 2, "missing variable text"),
        (["render", "greet", "--var", "novalue"], 2, "--var: expected NAME=VALUE"),
        (["push", "bad name", "-f", "{txt}"], 2, "name: 'bad name' may hold only"),
        (["push", "x", "-f", "{missing}"], 2, "--file: cannot read"),
        (["push", "x", "-f", "{bad_yaml}"], 2, "bad.yaml:3: not valid YAML"),
        (["push", "x", "-f", "{unknown_key}"], 2, "unknown key 'model'"),
        (["push", "x", "-f", "{both}"], 2, "exactly one of template (text) or messages"),
        (["push", "x", "-f", "{bad_role}"], 2, "template.messages[0].role"),
        (["label", "greet", "7", "production"], 1, "has no version 7"),
        (["label", "greet", "1", "latest"], 2, "'latest' always points at the newest"),
    ],
)
def test_errors_are_one_line_naming_the_problem(
    files: Path, args: list[str], code: int, words: str
) -> None:
    run("push", "greet", "-f", str(files / "summarize.txt"))
    (files / "bad.yaml").write_text("messages:\n  - role: [\n")
    (files / "unknown.yaml").write_text("template: x\nmodel: gpt\n")
    (files / "both.yaml").write_text("template: x\nmessages: []\n")
    (files / "role.yaml").write_text("- role: robot\n  content: hi\n")
    paths = {
        "txt": files / "summarize.txt",
        "missing": files / "absent.txt",
        "bad_yaml": files / "bad.yaml",
        "unknown_key": files / "unknown.yaml",
        "both": files / "both.yaml",
        "bad_role": files / "role.yaml",
    }
    result = run(*[a.format(**paths) for a in args])
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_reading_commands_before_any_push_say_what_to_do() -> None:
    result = run("list")
    assert result.exit_code == 1
    assert "no prompts yet: push one with `spyglass prompts push NAME --file F`" in result.output


def test_prompt_commands_never_import_litellm(files: Path) -> None:
    run("push", "greet", "-f", str(files / "summarize.txt"))
    code = (
        "import sys; from spyglass._cli import app; from typer.testing import CliRunner;"
        "r = CliRunner().invoke(app, ['prompts', 'list']); assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(app, ['prompts', 'render', 'greet', '-v', 'style=a', '-v',"
        " 'text=b']); assert r.exit_code == 0, r.output;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'litellm'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_project_option_picks_the_namespace(files: Path) -> None:
    text = str(files / "summarize.txt")
    assert run("push", "summarize", "-f", text, "--project", "A").exit_code == 0
    (files / "other.txt").write_text("Unscoped {{text}}\n")
    assert run("push", "summarize", "-f", str(files / "other.txt")).exit_code == 0
    assert "Summarize in" in run("show", "summarize", "--project", "A").output
    assert "Unscoped" in run("show", "summarize").output
    missing = run("show", "summarize", "--project", "B")
    assert missing.exit_code != 0
    listed = run("list", "--project", "A", "--json")
    assert [p["name"] for p in json.loads(listed.output)] == ["summarize"]


def test_a_blank_project_is_refused(files: Path) -> None:
    refused = run("list", "--project", " ")
    assert refused.exit_code == 2
    assert "--project" in refused.output and "must not be empty" in refused.output

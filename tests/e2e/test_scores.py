"""Annotating traces in the browser, signed in with a project's key on a server with a master
key: the trace page offers the project's score configs, the keyboard scores (4, n), a comment
goes with a score, corrections replace the person's earlier score, and the trace list shows,
facets and filters on the scores. A viewer sees the scores and cannot write them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import Server

from .conftest import MASTER_KEY, shot
from .seed import XSS_IMG

pytestmark = pytest.mark.slow


def _admin(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )


def _key(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    made = admin.post("/api/keys", json=fields)
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def _sign_in(page: Any, server: Server, key: str, path: str) -> None:
    page.goto(server.url + path)
    form = page.locator("[data-signin]")
    form.get_by_label("Key").fill(key)
    form.get_by_role("button", name="Sign in").click()
    # The trace page adds the selected span to its URL (?span=...).
    expect(page).to_have_url(re.compile(re.escape(path) + r"(\?span=[0-9a-f]+)?$"))


def _traced_call(server: Server, key: str, text: str) -> str:
    """A chat call with ``key``; its trace id once the trace is in the store."""
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": text}]},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    trace_id = answer.headers["x-spyglass-trace-id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/api/traces/{trace_id}", headers=headers).status_code == 200:
            return trace_id
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} never arrived")


def test_a_project_member_annotates_a_trace_with_the_keyboard(
    page: Any, auth_server: Server
) -> None:
    project = "annotations-e2e"
    with _admin(auth_server) as admin:
        member = _key(admin, name="reviewer", project=project)
        for config in (
            {"name": "helpful", "data_type": "numeric", "min_value": 1, "max_value": 5},
            {"name": "correct", "data_type": "boolean", "description": XSS_IMG},
            {"name": "tone", "data_type": "categorical", "categories": ["kind", "curt"]},
        ):
            made = admin.post("/api/score-configs", params={"project": project}, json=config)
            assert made.status_code == 201, made.text
    scored = _traced_call(auth_server, member["key"], "What is the capital of France?")
    other = _traced_call(auth_server, member["key"], "Another question")

    _sign_in(page, auth_server, member["key"], f"/traces/{scored}")
    panel = page.locator("[data-annotate=trace]")
    expect(panel.locator("[data-config]")).to_have_count(3)
    expect(panel).to_contain_text("No scores on this trace yet.")
    # The keyboard: 4 scores the first numeric config, n the first boolean one.
    page.locator(".tree-scroll").focus()
    page.keyboard.press("4")
    expect(panel.locator("[data-score-row=helpful]")).to_contain_text("helpful 4")
    panel.get_by_label("Comment").fill("right city, too terse")
    panel.get_by_label("Comment").press("Escape")
    page.keyboard.press("n")
    expect(panel.locator("[data-score-row=correct]")).to_contain_text("right city, too terse")
    panel.locator("[data-choice='tone=curt']").click()
    expect(panel.locator("[data-score-row=tone]")).to_contain_text("tone curt")
    # Scoring again corrects: one helpful score, the new value, the old one kept as history.
    panel.locator("[data-choice='helpful=5']").click()
    expect(panel.locator("[data-score-row=helpful]")).to_have_count(1)
    expect(panel.locator("[data-score-row=helpful]")).to_contain_text("helpful 5")
    expect(panel.locator("[data-choice='helpful=5']")).to_have_class(re.compile(r"\bon\b"))
    shot(page, "trace-annotated")

    # A span is annotated in its own panel.
    span_panel = page.locator("[data-annotate=span]")
    span_panel.locator("[data-choice='tone=kind']").click()
    expect(span_panel.locator("[data-score-row=tone]")).to_contain_text("tone kind")

    with _admin(auth_server) as admin:
        found = admin.get("/api/scores", params={"trace_id": scored}).json()["data"]
        history = admin.get(
            "/api/scores", params={"trace_id": scored, "name": "helpful", "history": "true"}
        ).json()["data"]
    by_name = {(s["name"], s["span_id"] is None): s for s in found}
    assert by_name["helpful", True]["value"] == 5.0
    assert by_name["correct", True]["value"] is False
    assert by_name["correct", True]["comment"] == "right city, too terse"
    assert all(s["source"] == "human" and s["author"] == member["id"] for s in found)
    assert all(s["project"] == project for s in found)
    assert [s["value"] for s in history] == [5.0, 4.0]

    # The list: badges, a Scores facet, and a filter.
    page.goto(f"{auth_server.url}/traces")
    row = page.locator(f"tr[data-href='/traces/{scored}']")
    expect(row.locator("[data-score=helpful]")).to_contain_text("helpful 5")
    expect(page.locator(f"tr[data-href='/traces/{other}'] [data-score]")).to_have_count(0)
    facet = page.locator("[data-facet=score]")
    expect(facet).to_contain_text("helpful")
    facet.get_by_role("button", name=re.compile("^helpful")).click()
    expect(page).to_have_url(re.compile(r"score=helpful"))
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(1)
    search = page.locator("[data-search]")
    search.fill("score:helpful<3")
    search.press("Enter")
    expect(page.locator("[data-empty=filtered]")).to_be_visible()
    search.fill("score:!helpful")
    search.press("Enter")
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(1)
    expect(page.locator(f"tr[data-href='/traces/{other}']")).to_be_visible()
    # Sorted by a score: only the scored trace, highest first.
    search.fill("")
    search.press("Enter")
    page.get_by_label("Sort").select_option("score:helpful")
    expect(page).to_have_url(re.compile(r"sort=score%3Ahelpful|sort=score:helpful"))
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(1)
    search.fill("score:!helpful")
    search.press("Enter")
    page.get_by_label("Sort").select_option("start")
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(1)
    # The traces shown, in bulk, as rows of a dataset.
    page.locator("[data-add-these]").click()
    bulk = page.get_by_role("dialog", name="Add to dataset")
    bulk.get_by_label("Dataset").fill("unscored")
    bulk.get_by_role("button", name="Add to dataset").click()
    expect(bulk.locator("[data-added]")).to_contain_text("unscored version 1 (1 row)")
    page.keyboard.press("Escape")

    # The dashboard charts each score's mean over time, here by model.
    page.goto(f"{auth_server.url}/dashboard?range=1h&scores_by=model")
    trend = page.locator("[data-score-trend=helpful]")
    expect(trend).to_contain_text("helpful (1 scores)")
    expect(page.locator("[data-score-trend=correct]")).to_contain_text("correct (1 scores)")
    expect(page.locator("[data-score-trend=tone]")).to_have_count(0)  # labels have no mean


def test_a_viewer_sees_scores_but_cannot_write_them(page: Any, auth_server: Server) -> None:
    project = "viewers-e2e"
    with _admin(auth_server) as admin:
        member = _key(admin, project=project)
        viewer = _key(admin, project=project, role="viewer")
        admin.post(
            "/api/score-configs",
            params={"project": project},
            json={"name": "thumbs", "data_type": "boolean"},
        )
    trace_id = _traced_call(auth_server, member["key"], "hello")
    sent = httpx.post(
        auth_server.url + "/api/scores",
        json={"trace_id": trace_id, "name": "thumbs", "value": True, "comment": XSS_IMG},
        headers={"Authorization": f"Bearer {member['key']}"},
    )
    assert sent.status_code == 201, sent.text
    _sign_in(page, auth_server, viewer["key"], f"/traces/{trace_id}")
    panel = page.locator("[data-annotate=trace]")
    expect(panel.locator("[data-score-row=thumbs]")).to_contain_text("thumbs yes")
    expect(panel.locator("[data-score-row=thumbs]")).to_contain_text(XSS_IMG)
    expect(panel.locator("[data-config]")).to_have_count(0)
    page.locator(".tree-scroll").focus()
    page.keyboard.press("n")  # nothing happens for a viewer
    expect(panel.locator("[data-score-row=thumbs]")).to_contain_text("thumbs yes")


def test_an_annotated_trace_becomes_a_dataset_row_that_an_eval_runs_on(
    page: Any, auth_server: Server, tmp_path: Path
) -> None:
    """The feedback loop end to end, with a project's key: score a trace, add it to a
    dataset from its page, and run an eval file on that dataset version."""
    project = "loop-e2e"
    with _admin(auth_server) as admin:
        member = _key(admin, name="curator", project=project)
        admin.post(
            "/api/score-configs",
            params={"project": project},
            json={"name": "correct", "data_type": "boolean"},
        )
    trace_id = _traced_call(auth_server, member["key"], "What is the capital of France?")

    _sign_in(page, auth_server, member["key"], f"/traces/{trace_id}")
    panel = page.locator("[data-annotate=trace]")
    expect(panel.locator("[data-config]")).to_have_count(1)
    page.locator(".tree-scroll").focus()
    page.keyboard.press("n")
    expect(panel.locator("[data-score-row=correct]")).to_contain_text("correct no")

    page.locator("[data-add-trace]").click()
    dialog = page.get_by_role("dialog", name="Add to dataset")
    expect(dialog.get_by_label("Input (JSON)")).to_have_value(
        re.compile(r'"input": "What is the capital of France\?"')
    )
    dialog.get_by_label("Dataset").fill("france-regressions")
    dialog.get_by_label("Expected").fill("Paris")
    dialog.get_by_role("button", name="Add to dataset").click()
    expect(dialog.locator("[data-added]")).to_contain_text("france-regressions version 1")
    shot(page, "trace-added-to-dataset")
    dialog.get_by_role("link", name="france-regressions version 1").click()
    rows = page.locator("[data-list=rows] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("What is the capital of France?")
    expect(rows.first).to_contain_text("Paris")
    expect(rows.first.get_by_role("link")).to_have_attribute("href", re.compile(trace_id))

    # The eval runs on that version, in the project, and records it.
    directory = auth_server.log_path.parent
    eval_file = tmp_path / "regressions.yaml"
    eval_file.write_text(
        yaml.safe_dump(
            {
                "name": "france-regressions",
                "dataset": {"registry": "france-regressions", "version": 1},
                "variants": [
                    {"name": "echo", "prompt": {"template": "{{input}}"}, "model": "echo"}
                ],
                "scorers": [{"type": "icontains", "name": "asks_capital", "value": "capital"}],
            }
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPYGLASS_")},
        "SPYGLASS_HOME": str(directory / "home"),
    }
    spyglass = [sys.executable, "-m", "spyglass"]
    config = ["--config", str(directory / "spyglass.yaml")]
    done = subprocess.run(
        [*spyglass, "eval", "run", str(eval_file), "--project", project, *config],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [*spyglass, "eval", "list", "--json", *config],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (run,) = [
        r for r in json.loads(listed.stdout)["runs"] if r["experiment"] == "france-regressions"
    ]
    assert run["params"]["dataset"] == "france-regressions@1"
    assert run["params"]["dataset_version"] == 1
    assert run["project"] == project and run["done"] == 1
    assert run["metrics"]["scores"]["asks_capital"]["pass_rate"] == 1.0


def test_two_reviewers_step_through_a_queue_made_from_the_trace_list(
    page: Any, browser: Any, auth_server: Server
) -> None:
    project = "review-e2e"
    with _admin(auth_server) as admin:
        ann = _key(admin, name="ann", project=project)
        bob = _key(admin, name="bob", project=project)
        admin.post(
            "/api/score-configs",
            params={"project": project},
            json={"name": "helpful", "data_type": "numeric", "min_value": 1, "max_value": 5},
        )
    traces = [_traced_call(auth_server, ann["key"], f"review question {n}") for n in range(3)]

    _sign_in(page, auth_server, ann["key"], "/traces")
    search = page.locator("[data-search]")
    search.fill("review question")
    search.press("Enter")
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(3)
    page.locator("[data-review-these]").click()
    expect(page).to_have_url(re.compile(r"/reviews/[0-9a-f]{32}$"))
    expect(page.locator("[data-queue-progress]")).to_contain_text("0 / 3")
    first = page.locator("[data-review-item]")
    expect(first.locator("[data-review-example]")).to_contain_text("review question")
    ann_item = first.get_attribute("data-review-item")

    # Bob, at the same time, in his own browser: another trace.
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        bob_page = other.new_page()
        _sign_in(bob_page, auth_server, bob["key"], page.url.removeprefix(auth_server.url))
        bob_item = bob_page.locator("[data-review-item]")
        expect(bob_item).to_be_visible()
        assert bob_item.get_attribute("data-review-item") != ann_item
        bob_page.keyboard.press("5")
        expect(bob_page.locator("[data-score-row=helpful]")).to_contain_text("helpful 5")
        bob_page.keyboard.press("Enter")
        expect(bob_page.locator("[data-queue-progress]")).to_contain_text("1 / 3")
    finally:
        other.close()

    page.keyboard.press("2")
    expect(page.locator("[data-score-row=helpful]")).to_contain_text("helpful 2")
    page.keyboard.press("Enter")
    expect(page.locator("[data-queue-progress]")).to_contain_text("2 / 3")
    # The third trace was handed to Bob when he finished his: it stays his (he may come
    # back) until his lease runs out, so there is nothing left for Ann.
    expect(page.locator("[data-empty=review-done]")).to_be_visible()
    page.keyboard.press("[")  # back to what ann scored: still there, and correctable
    expect(page.locator("[data-review-item]")).to_contain_text("reviewed earlier")
    shot(page, "review-queue")

    with _admin(auth_server) as admin:
        scored = {
            s["trace_id"]: s["value"]
            for s in admin.get("/api/scores", params={"name": "helpful"}).json()["data"]
            if s["trace_id"] in traces
        }
        queues = admin.get("/api/reviews", params={"project": project}).json()["data"]
    assert sorted(scored.values()) == [2.0, 5.0]
    (queue,) = queues
    assert (queue["progress"]["done"], queue["progress"]["pending"]) == (2, 1)

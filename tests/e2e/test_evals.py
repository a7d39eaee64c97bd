"""The Evals pages in a real browser, over runs recorded by `spyglass eval run` (seed.py):
experiments, runs, a run's rows with its filters, the comparison of several runs, links to
each row's trace, and dataset rows and outputs carrying XSS payloads shown as text."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import Server

from .conftest import shot
from .seed import EVAL_EXPERIMENT, EVAL_ROWS, XSS_IMG, XSS_SCRIPT

pytestmark = pytest.mark.slow


def _runs(server: Server) -> dict[str, dict[str, Any]]:
    found = httpx.get(server.url + "/api/runs", params={"experiment": EVAL_EXPERIMENT}).json()
    return {run["variant"]: run for run in found["runs"]}


def _results(server: Server, run_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{server.url}/api/runs/{run_id}/results").json()[
        "results"
    ]
    return found


def test_experiments_runs_and_a_runs_rows_with_filters(page: Any, server: Server) -> None:
    runs = _runs(server)
    page.goto(server.url + "/evals")
    experiments = page.locator("[data-list=experiments] tbody tr")
    expect(experiments).to_have_count(1)
    expect(page.locator("[data-list=recent-runs] tbody tr")).to_have_count(3)
    shot(page, "evals")

    experiments.filter(has_text=EVAL_EXPERIMENT).click()
    expect(page).to_have_url(re.compile(rf"/evals/experiments/{EVAL_EXPERIMENT}$"))
    expect(page.locator("[data-list=runs] tbody tr")).to_have_count(3)
    # The newest invocation's three variants start selected, ready to compare.
    expect(page.locator("[data-compare]")).to_have_text("Compare 3 runs")
    shot(page, "eval-experiment")

    hinted, terse = runs["hinted"], runs["terse"]
    page.locator("[data-list=runs]").get_by_role("link", name="hinted").click()
    expect(page).to_have_url(re.compile(rf"/evals/runs/{hinted['id']}"))
    expect(page.locator("[data-summary] tbody tr")).to_have_count(3)
    rows = page.locator("[data-list=results] tbody tr[data-row]")
    expect(rows).to_have_count(len(EVAL_ROWS))
    # Dataset rows and outputs carrying markup are shown as text.
    expect(page.get_by_text(XSS_SCRIPT, exact=False).first).to_be_visible()
    # Scorer column heads wrap instead of being cut short: each shows its whole name.
    for head in page.locator("[data-list=results] thead th.scorer-head").all():
        assert head.evaluate("th => th.scrollWidth <= th.clientWidth"), head.inner_text()
    # The baseline is the sibling run that ran before it.
    expect(page.locator("[data-baseline]")).to_have_value(terse["id"])
    shot(page, "eval-run")

    # Failed only: the rows with a failed or errored score, as the API's results say.
    ours = _results(server, hinted["id"])
    failing = [
        r["row_index"]
        for r in ours
        if r["error"] or any(s["passed"] is False or s["error"] for s in r["scores"].values())
    ]
    assert 0 < len(failing) < len(EVAL_ROWS)
    page.locator("[data-filter=failed]").check()
    expect(page).to_have_url(re.compile(r"failed=1"))
    expect(rows).to_have_count(len(failing))
    page.locator("[data-filter=failed]").uncheck()

    # Changed only: the rows whose verdict differs from the baseline's, as the API compares.
    comparison = httpx.get(
        server.url + "/api/compare", params={"runs": f"{terse['id']},{hinted['id']}"}
    ).json()["comparisons"][0]
    changed = sorted({i for s in comparison["scorers"] for i in s["changed_rows"]})
    assert changed
    page.locator("[data-filter=changed]").check()
    expect(rows).to_have_count(len(changed))
    assert [int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.row)")] == changed
    expect(rows.first.locator("td.flipped").first).to_contain_text("was")
    page.reload()  # the filters live in the URL
    expect(page.locator("[data-filter=changed]")).to_be_checked()
    expect(rows).to_have_count(len(changed))

    # A row opens its detail; its trace link leads to the call's trace.
    rows.first.click()
    expect(page.locator(".detail-row")).to_contain_text("Baseline output")
    link = rows.first.locator("[data-trace]")
    trace_id = link.get_attribute("data-trace")
    link.click()
    expect(page).to_have_url(re.compile(rf"/traces/{trace_id}(\?|$)"))
    expect(page.locator(".span-row").first).to_be_visible()


def test_comparison_heat_map_and_rows_side_by_side(page: Any, server: Server) -> None:
    runs = _runs(server)
    page.goto(f"{server.url}/evals/experiments/{EVAL_EXPERIMENT}")
    page.locator("[data-compare]").click()
    ordered = ",".join(runs[v]["id"] for v in ("terse", "hinted", "polite"))
    expect(page).to_have_url(re.compile(rf"/evals/compare\?runs={ordered}$"))

    heat = page.locator("[data-heatmap]")
    expect(heat.locator("tr[data-scorer]")).to_have_count(3)
    for scorer in ("mentions", "brief", "similarity"):
        row = heat.locator(f"tr[data-scorer={scorer}]")
        entries = [runs[v]["metrics"]["scores"][scorer] for v in ("terse", "hinted", "polite")]
        # A bounded length is judged by its verdicts: the best pass rate, not the best mean.
        figure = "pass_rate" if entries[0].get("judged_by") == "verdict" else "mean"
        means = [entry[figure] for entry in entries]
        if len(set(means)) == 1:
            expect(row.locator("td[data-best]")).to_have_count(0)
            continue
        best = means.index(max(means))
        # The best is marked, in the column of the run that has it.
        expect(row.locator("td[data-best]").first).to_have_attribute(
            "data-run", [runs[v]["id"] for v in ("terse", "hinted", "polite")][best]
        )
    expect(heat.locator("tr[data-scorer=mentions] td").nth(1)).to_contain_text("pass")
    expect(heat.locator("tr[data-scorer=mentions] td").nth(1)).to_contain_text("p=")

    rows = page.locator("[data-list=side-by-side] tbody tr")
    expect(rows).to_have_count(len(EVAL_ROWS))
    expect(page.get_by_text(XSS_IMG, exact=False).first).to_be_visible()
    shot(page, "eval-compare")
    page.locator("[data-filter=changed]").check()
    changed = page.locator("[data-list=side-by-side] tbody tr.changed")
    expect(rows).to_have_count(changed.count())
    assert 0 < changed.count() < len(EVAL_ROWS)
    expect(page.locator(".flipped-cell .flip-badges").first).to_be_visible()
    expect(rows.first.locator("[data-trace]")).to_have_count(3)

    page.emulate_media(color_scheme="dark")
    page.locator("[data-filter=changed]").uncheck()
    shot(page, "eval-compare-dark")
    page.goto(f"{server.url}/evals/runs/{runs['polite']['id']}")
    expect(page.locator("[data-list=results] tbody tr[data-row]")).to_have_count(len(EVAL_ROWS))
    shot(page, "eval-run-dark")

"""The web UI in a real browser: every page with seeded data, what it shows, keyboard use,
dark mode, empty states, XSS payloads shown as text, and the 50,000-span trace."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from spyglass._db import create_store_engine
from tests.conftest import Server
from tests.tracing.helpers import make_span, rows, tid
from tracing import TraceStore

from .conftest import ARTIFACTS, VIEWER_TIMEZONE, shot
from .seed import (
    AGENT,
    BIG,
    BIG_SPANS,
    FAILED,
    FLAKY,
    SESSION,
    UNPRICED,
    XSS,
    XSS_IMG,
    XSS_SCRIPT,
    ago,
)

pytestmark = pytest.mark.slow


def test_pages_are_served_with_a_strict_csp_without_shadowing_the_api(server: Server) -> None:
    for path in ("/", "/traces", f"/traces/{tid(AGENT)}", "/prompts/support/greeter", "/evals"):
        response = httpx.get(server.url + path)
        assert response.status_code == 200, path
        assert "text/html" in response.headers["content-type"]
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    asset = httpx.get(server.url + "/ui/js/main.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert "content-security-policy" in asset.headers
    assert httpx.get(server.url + "/api/traces").json()["data"]
    assert httpx.get(server.url + "/health/live").json() == {"status": "ok"}
    assert httpx.get(server.url + "/metrics").status_code == 200
    assert httpx.get(server.url + "/no-such-page").status_code == 404
    assert httpx.get(server.url + "/ui/../pyproject.toml").status_code == 404
    # No markup is built from strings anywhere in the UI's code.
    for module in (ARTIFACTS.parent.parent.parent / "spyglass" / "ui" / "js").glob("*.js"):
        code = module.read_text()
        assert not re.search(
            r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", code
        ), module


def test_traces_list_facets_query_bar_and_keyboard(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/traces$"))
    table = page.locator("[data-list=traces]")
    expect(table.locator("tbody tr")).to_have_count(50)
    # Times in the viewer's timezone (the browser's, not the server's).
    first = httpx.get(server.url + "/api/traces", params={"limit": 1}).json()["data"][0]
    local = datetime.fromisoformat(first["start_time"].replace("Z", "+00:00")).astimezone(
        ZoneInfo(VIEWER_TIMEZONE)
    )
    expect(table.locator("tbody tr").first.locator("td").first).to_contain_text(
        local.strftime("%H:%M:%S")
    )
    # The XSS trace's name and model are shown as text.
    expect(table.get_by_text(XSS_IMG).first).to_be_visible()
    shot(page, "traces")
    # A call no price is known for costs "unknown", not $0; a priced one shows dollars.
    unpriced = table.locator("tbody tr", has_text="chat private-model")
    expect(unpriced.locator("td.num").nth(2)).to_have_text("unknown")
    priced = table.locator("tbody tr", has_text="chat gpt-4o-mini").first
    expect(priced.locator("td.num").nth(2)).to_have_text(re.compile(r"^\$0\.\d{4}$"))
    page.goto(server.url + f"/traces/{UNPRICED:032x}")
    expect(page.locator(".stat", has_text="Cost").first).to_contain_text("unknown")
    page.goto(server.url + "/")

    page.locator("[data-facet=status]").get_by_role("button", name=re.compile("error")).click()
    expect(page).to_have_url(re.compile(r"status=error"))
    statuses = table.locator("tbody tr td:nth-child(3)")
    expect(statuses.first).to_have_text("error")
    assert set(statuses.all_inner_texts()) == {"error"}

    query = page.get_by_label("Query")
    expect(query).to_have_value("status:error")
    query.fill(query.input_value() + " model:gpt-4o-mini")
    query.press("Enter")
    expect(page).to_have_url(re.compile(r"model=gpt-4o-mini"))
    expect(page.locator(".chip", has_text="model:gpt-4o-mini")).to_be_visible()
    models = table.locator("tbody tr td:nth-child(7)")
    expect(models.first).to_have_text("gpt-4o-mini")  # the filtered page has arrived
    assert set(models.all_inner_texts()) == {"gpt-4o-mini"}
    # The filter state is in the URL: a reload shows the same view.
    page.reload()
    expect(page.locator(".chip", has_text="status:error")).to_be_visible()
    expect(models.first).to_have_text("gpt-4o-mini")
    assert set(models.all_inner_texts()) == {"gpt-4o-mini"}

    page.goto(server.url + "/traces?q=support")
    expect(table.locator("tbody tr")).to_have_count(3)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(table.locator("tbody tr.selected")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/traces/[0-9a-f]{32}"))
    expect(page.locator("h1")).to_have_text("support agent")


def test_cursor_pagination_and_live_traces(page: Any, server: Server) -> None:
    page.goto(server.url + "/traces")
    rows_ = page.locator("[data-list=traces] tbody tr")
    expect(rows_).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    total = len(httpx.get(server.url + "/api/traces", params={"limit": 500}).json()["data"])
    expect(rows_).to_have_count(total)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)

    # A trace recorded while the page is open appears at the top without a reload.
    engine = create_store_engine(f"sqlite:///{server_home(server)}/spyglass.db")
    try:
        start = ago(0)
        TraceStore(engine).write(rows(make_span(900, 1, None, "arrived live", start, start + 10)))
    finally:
        engine.dispose()
    expect(rows_.first).to_contain_text("arrived live", timeout=15_000)
    expect(rows_.first).to_have_class(re.compile("fresh"))


def server_home(server: Server) -> str:
    return str(server.log_path.parent / "home")


def test_trace_detail_tree_waterfall_chat_and_totals(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/traces/{tid(AGENT)}")
    tree = page.locator("[data-tree]")
    expect(tree.locator(".span-row")).to_have_count(5)
    expect(tree.locator(".bar")).to_have_count(5)
    totals = page.locator("[data-totals]")
    expect(totals).to_contain_text("$0.0083")
    expect(totals).to_contain_text("930 → 115")
    expect(totals).to_contain_text(SESSION)
    expect(totals).to_contain_text("support/greeter/2")

    # The retriever's documents, in rank order with their scores.
    tree.locator(".span-row").nth(1).click()
    documents = page.locator("[data-detail] [data-section=documents] [data-document]")
    expect(documents).to_have_count(2)
    expect(documents.nth(0)).to_contain_text("kb-12 · score 0.870")
    expect(documents.nth(0)).to_contain_text("Orders ship within 2 days.")
    expect(documents.nth(1)).to_contain_text("Track an order from its page.")

    # The second LLM call: the tool's result and the long answer, folded.
    tree.locator(".span-row").nth(4).click()
    expect(page).to_have_url(re.compile(r"span=0000000000000005"))
    chat = page.locator("[data-detail] [data-chat]")
    expect(chat.locator("[data-role=user]")).to_contain_text("Where is my order A-1001?")
    expect(chat.locator("[data-part=tool_result]")).to_contain_text('"status": "shipped"')
    assistant = chat.locator("[data-role=assistant]")
    expect(assistant).to_contain_text("Line 1:")
    expect(assistant).not_to_contain_text("Line 60:")
    assistant.get_by_role("button", name=re.compile("Show all")).click()
    expect(assistant).to_contain_text("Line 60:")
    detail = page.locator("[data-detail]")
    expect(detail).to_contain_text("980 ms")
    expect(detail).to_contain_text("$0.0052")
    expect(detail).to_contain_text("TTFT")

    # The first LLM call: its tool call, pretty-printed; then keyboard navigation in the tree.
    tree.locator(".span-row").nth(2).click()
    call = page.locator("[data-detail] [data-part=tool_call]")
    expect(call).to_contain_text("lookup_order")
    expect(call).to_contain_text('"order_id": "A-1001"')
    expect(page.locator("[data-detail] [data-role=system]")).to_contain_text("support agent")
    shot(page, "trace-detail")
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(r"span=0000000000000004"))
    expect(page.locator("[data-detail] h2")).to_have_text("lookup_order")
    page.locator("[data-detail]").get_by_role("tab", name=re.compile("Attributes")).click()
    expect(page.locator("[data-section=attributes]")).to_contain_text("gen_ai.tool.name")

    # Collapsing the root hides its subtree.
    tree.locator(".span-row").first.click()
    page.keyboard.press("ArrowLeft")
    expect(tree.locator(".span-row")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    expect(tree.locator(".span-row")).to_have_count(5)


def test_retries_and_fallbacks_show_as_attempts(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/traces/{tid(FLAKY)}")
    expect(page.locator("[data-tree] .attempt-badge")).to_have_count(2)
    attempts = page.locator("[data-section=attempts]")
    expect(attempts).to_contain_text("Attempts (2)")
    expect(attempts.locator("tr").nth(0)).to_contain_text("error")
    expect(attempts.locator("tr").nth(1)).to_contain_text("gpt-4o-mini")
    attempts.locator("tr").nth(0).click()
    expect(page.locator("[data-section=error]")).to_contain_text(
        "upstream returned 500: overloaded"
    )
    shot(page, "trace-attempts")


def test_errors_show_their_message_and_exception(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/traces/{tid(FAILED)}")
    error = page.locator("[data-section=error]")
    expect(error).to_contain_text("ValueError: document is empty")
    expect(error).to_contain_text("Traceback")


def test_xss_payloads_render_as_text(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/traces/{tid(XSS)}")
    expect(page.locator("h1")).to_have_text(XSS_IMG)
    chat = page.locator("[data-detail] [data-chat]")
    expect(chat.locator("[data-role=user]")).to_contain_text(XSS_SCRIPT)
    expect(chat.locator("[data-role=assistant]")).to_contain_text(XSS_IMG)
    page.locator("[data-detail]").get_by_role("tab", name=re.compile("Attributes")).click()
    expect(page.locator("[data-section=attributes]")).to_contain_text(XSS_SCRIPT)
    page.locator("[data-detail]").get_by_role("tab", name=re.compile("Events")).click()
    expect(page.locator("[data-section=events]")).to_contain_text("onerror")
    # Nothing the payloads describe exists as an element.
    assert page.locator("main img, main script, main svg[onload]").count() == 0
    shot(page, "xss-trace")
    page.goto(f"{server.url}/sessions")
    expect(page.locator("[data-list=sessions]")).to_contain_text(XSS_IMG)
    page.goto(f"{server.url}/prompts/xss/payload")
    expect(page.locator("[data-template]")).to_contain_text(XSS_SCRIPT)
    page.get_by_role("tab", name="Render preview").click()
    page.locator("[data-variable=name]").fill(XSS_IMG)
    page.get_by_role("button", name="Render").click()
    expect(page.locator("[data-rendered]")).to_contain_text(XSS_IMG)
    assert page.locator("main img, main script").count() == 0


def test_a_50000_span_trace_opens_fast_and_renders_only_what_is_visible(
    page: Any, server: Server
) -> None:
    page.goto(server.url + "/traces")
    expect(page.locator("[data-list=traces]")).to_be_visible()
    started = time.perf_counter()
    page.evaluate(
        f"history.pushState(null, '', '/traces/{tid(BIG)}'); dispatchEvent(new PopStateEvent('popstate'))"
    )
    rows_ = page.locator("[data-tree] .span-row")
    expect(rows_.first).to_be_visible()
    expect(page.locator("[data-detail] h2")).to_have_text("batch backfill")
    elapsed = time.perf_counter() - started
    load_ms = int(page.locator(".page").get_attribute("data-load-ms") or 0)
    (ARTIFACTS / "big-trace.txt").write_text(
        f"{BIG_SPANS} spans: shown in {elapsed:.2f} s (outline fetched and drawn in {load_ms} ms)\n"
    )
    assert elapsed < 2.0, f"{BIG_SPANS} spans took {elapsed:.2f} s"
    expect(page.locator("[data-totals]")).to_contain_text(f"{BIG_SPANS:,}")

    # Everything expanded: 50k rows in the tree, but only about a screenful in the DOM.
    page.get_by_role("button", name="Expand all").click()
    expect(page.locator(".pane-head", has_text="spans shown")).to_contain_text(
        f"{BIG_SPANS:,} of {BIG_SPANS:,}"
    )
    assert rows_.count() < 100
    page.locator("[data-tree]").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(rows_.last).to_contain_text("tool 48")
    assert rows_.count() < 100
    # Still responsive: selecting and moving through spans answers at once.
    started = time.perf_counter()
    rows_.last.click()
    page.keyboard.press("k")
    expect(page.locator("[data-detail] h2")).to_have_text("tool 47")
    assert time.perf_counter() - started < 1.0
    shot(page, "big-trace")

    # Find in the trace: the first match opens, collapsed ancestors and all; Enter goes on.
    page.get_by_role("button", name="Collapse").click()
    find = page.get_by_label("Find in trace")
    find.fill("step 3.2")
    expect(page.locator("[data-detail] h2")).to_have_text("step 3.2")
    expect(page.locator("[data-find-count]")).to_have_text(re.compile(r"^1 of \d+$"))
    find.press("Enter")
    expect(page.locator("[data-find-count]")).to_have_text(re.compile(r"^2 of \d+$"))
    find.fill("no such span anywhere")
    expect(page.locator("[data-find-count]")).to_have_text("no match")


def test_sessions_group_turns_with_their_messages(page: Any, server: Server) -> None:
    page.goto(server.url + "/sessions")
    row = page.locator("[data-list=sessions] tbody tr", has_text=SESSION)
    expect(row).to_contain_text("3")
    shot(page, "sessions")
    row.click()
    expect(page).to_have_url(re.compile(rf"/sessions/{SESSION}$"))
    turns = page.locator("[data-turn]")
    expect(turns).to_have_count(3)
    expect(turns.nth(2)).to_contain_text("(turn 3)")
    expect(turns.nth(2)).to_contain_text("Answer 3: it ships in 2 days.")
    shot(page, "session")
    turns.nth(0).get_by_role("link", name="support agent").click()
    expect(page).to_have_url(re.compile(r"/traces/[0-9a-f]{32}"))


def test_dashboard_charts_and_breakdown(page: Any, server: Server) -> None:
    page.goto(server.url + "/dashboard")
    charts = page.locator("[data-chart]")
    expect(charts).to_have_count(6)
    expect(page.locator(".kpi").first).to_contain_text(re.compile(r"\d"))
    assert page.locator("[data-chart=Requests] svg rect[fill^='#']").count() > 10
    assert page.locator("[data-chart=Latency] svg path").count() == 2
    shot(page, "dashboard")
    page.get_by_label("Break down by").select_option("model")
    expect(page).to_have_url(re.compile(r"group=model"))
    legend = page.locator("[data-chart=Requests] .legend")
    for model in ("gpt-4o", "gpt-4o-mini", "claude-sonnet"):
        expect(legend).to_contain_text(model)
    page.locator("[data-chart=Requests] svg rect[fill=transparent]").last.hover()
    expect(page.locator(".tip")).to_be_visible()
    # The seeded traces came over OTLP (apps' calls); the seeded eval runs went through the
    # gateway. Each call counts once: the two sources add up to all calls.
    counts = {}
    for source in ("all", "app", "gateway"):
        page.get_by_label("Calls").select_option(source)
        expect(page).to_have_url(re.compile(rf"source={source}"))
        requests = page.locator(".kpi .v").first
        expect(requests).to_have_text(re.compile(r"^\d+$"))
        counts[source] = int(requests.inner_text())
    assert counts["all"] == counts["app"] + counts["gateway"]
    assert counts["app"] > 0 and counts["gateway"] > 0


def test_prompts_versions_diff_render_labels_and_traces(page: Any, server: Server) -> None:
    page.goto(server.url + "/prompts")
    row = page.locator("[data-list=prompts] tbody tr", has_text="support/greeter")
    expect(row).to_contain_text("production → v2")
    row.click()
    expect(page).to_have_url(re.compile(r"/prompts/support/greeter"))
    versions = page.locator("[data-list=versions] .version")
    expect(versions).to_have_count(3)
    expect(page.locator("[data-template]")).to_contain_text("Sign as Spyglass.")
    shot(page, "prompt")

    page.get_by_role("tab", name="Compare").click()
    diff = page.locator("[data-diff]").first
    # v2 -> v3: two lines changed, one added.
    expect(diff.locator(".ln.del")).to_have_count(2)
    expect(diff.locator(".ln.add")).to_have_count(3)
    expect(diff.locator(".ln.add").nth(1)).to_contain_text("precise")
    shot(page, "prompt-diff")

    page.get_by_role("tab", name="Render preview").click()
    page.locator("[data-variable=name]").fill("Ada")
    page.locator("[data-variable=topic]").fill("refunds")
    page.get_by_role("button", name="Render").click()
    expect(page.locator("[data-rendered]")).to_contain_text("Hi Ada!\nYou asked about refunds.")

    page.get_by_role("tab", name="Labels").click()
    page.get_by_label("Label", exact=True).fill("staging")
    page.get_by_label("Target version").select_option("3")
    page.get_by_role("button", name="Move label").click()
    expect(versions.nth(0)).to_contain_text("staging")
    expect(page.locator("[data-history]")).to_contain_text("v1 → v3")
    assert httpx.get(server.url + "/api/prompts/support/greeter@staging").json()["version"] == 3

    versions.nth(1).click()
    page.get_by_role("tab", name="Version").click()
    page.locator("[data-traces-link]").click()
    expect(page).to_have_url(re.compile(r"/traces\?prompt=support%2Fgreeter%2F2"))
    expect(page.locator("[data-list=traces] tbody tr")).to_have_count(3)


def test_papercuts_a_404_page_no_unset_badge_and_a_narrow_trace_list(
    page: Any, server: Server
) -> None:
    # A mistyped address is a page, not FastAPI's JSON; API paths keep their JSON 404.
    page.watch.missing_pages.add(server.url + "/tracse")
    response = page.goto(server.url + "/tracse")
    assert response is not None and response.status == 404
    expect(page.locator("[data-empty=not-found]")).to_contain_text("Page not found")
    page.get_by_role("link", name="Traces").first.click()
    expect(page).to_have_url(re.compile(r"/traces$"))
    api = httpx.get(server.url + "/api/nope", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}

    # An ok span (status unset, as OpenTelemetry leaves it) shows no "unset" badge.
    page.goto(f"{server.url}/traces/{tid(AGENT)}?span=0000000000000002")
    title = page.locator("[data-detail] .detail-title")
    expect(title).to_contain_text("retrieve docs")
    expect(title).not_to_contain_text("unset")

    # At 760 px the trace list keeps its name column (the link), scrolling sideways.
    page.set_viewport_size({"width": 760, "height": 900})
    page.goto(server.url + "/traces")
    link = page.locator("[data-list=traces] tbody tr").first.locator("td.name a")
    expect(link).to_be_visible()
    assert link.bounding_box()["width"] > 40


# Answers to a trace list that has no end yet ("From" set, "To" not) arrive 1.5 s late.
LATE_OPEN_RANGE = """
const realFetch = window.fetch;
window.fetch = async (input, init) => {
  const url = String(input);
  const response = await realFetch(input, init);
  if (url.startsWith("/api/traces?") && url.includes("start=") && !url.includes("end=")) {
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  return response;
};
"""


def test_an_answer_for_an_earlier_range_arriving_late_is_dropped(page: Any, server: Server) -> None:
    zone = ZoneInfo(VIEWER_TIMEZONE)
    now = datetime.now(zone)
    start, end = now - timedelta(hours=6), now - timedelta(hours=2)
    local = "%Y-%m-%dT%H:%M"
    page.add_init_script(LATE_OPEN_RANGE)
    page.goto(server.url + "/traces")
    page.get_by_label("Time range").select_option("custom")
    page.get_by_label("From").fill(start.strftime(local))
    page.get_by_label("From").dispatch_event("change")  # its answer is the late one
    page.get_by_label("To").fill(end.strftime(local))
    page.get_by_label("To").dispatch_event("change")
    expected = httpx.get(
        server.url + "/api/traces",
        params={
            "start": start.replace(second=0, microsecond=0).isoformat(),
            "end": end.replace(second=0, microsecond=0).isoformat(),
            "limit": 50,
        },
    ).json()["data"]
    rows_ = page.locator("[data-list=traces] tbody tr")
    expect(rows_).to_have_count(len(expected))
    page.wait_for_timeout(2000)  # past the late answer: it must not have been appended
    expect(rows_).to_have_count(len(expected))
    assert rows_.evaluate_all("rows => rows.map(r => r.dataset.href)") == [
        f"/traces/{t['trace_id']}" for t in expected
    ]


def test_a_custom_time_range_and_facets_by_count(page: Any, server: Server) -> None:
    zone = ZoneInfo(VIEWER_TIMEZONE)
    now = datetime.now(zone)
    start, end = now - timedelta(hours=6), now - timedelta(hours=2)
    local = "%Y-%m-%dT%H:%M"
    page.goto(server.url + "/traces")
    page.get_by_label("Time range").select_option("custom")
    page.get_by_label("From").fill(start.strftime(local))
    page.get_by_label("From").dispatch_event("change")
    page.get_by_label("To").fill(end.strftime(local))
    page.get_by_label("To").dispatch_event("change")
    expect(page).to_have_url(re.compile(r"range=custom&.*to="))
    expected = httpx.get(
        server.url + "/api/traces",
        params={
            "start": start.replace(second=0, microsecond=0).isoformat(),
            "end": end.replace(second=0, microsecond=0).isoformat(),
            "limit": 50,
        },
    ).json()["data"]
    assert 0 < len(expected) < 50
    rows_ = page.locator("[data-list=traces] tbody tr")
    expect(rows_).to_have_count(len(expected))
    expect(rows_.first).to_contain_text(expected[0]["name"])
    # The same view after a reload: the range is in the address.
    page.reload()
    expect(page.get_by_label("From")).to_have_value(start.strftime(local))
    expect(rows_).to_have_count(len(expected))

    # Facets list their most frequent values first, the rest behind "more".
    for facet in page.locator("[data-facet]").all():
        counts = [
            int(c.replace(",", "")) for c in facet.locator(".facet-item .c").all_inner_texts() if c
        ]
        assert counts == sorted(counts, reverse=True), counts
        more = facet.locator(".facet-more")
        if more.count():
            hidden = facet.locator(".facet-item[hidden]").count()
            assert more.inner_text() == f"{hidden} more"
            more.click()
            expect(facet.locator(".facet-item[hidden]")).to_have_count(0)


def test_keyboard_shortcuts_and_help(page: Any, server: Server) -> None:
    page.goto(server.url + "/traces")
    expect(page.locator("[data-list=traces]")).to_be_visible()
    page.keyboard.press("g")
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(r"/prompts$"))
    page.keyboard.press("/")
    expect(page.get_by_label("Search prompts")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)


@pytest.mark.parametrize("page", ["dark"], indirect=True)
def test_dark_mode_follows_the_system_and_the_toggle(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/traces/{tid(AGENT)}?span=0000000000000005")
    expect(page.locator("[data-detail] [data-chat]")).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)"
    shot(page, "trace-detail-dark")
    page.goto(server.url + "/traces")
    expect(page.locator("[data-list=traces]")).to_be_visible()
    shot(page, "traces-dark")
    page.goto(server.url + "/dashboard")
    expect(page.locator("[data-chart]")).to_have_count(6)
    shot(page, "dashboard-dark")
    toggle = page.locator("#theme-button")
    toggle.click()  # auto -> dark
    toggle.click()  # dark -> light
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 248, 250)"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"


def test_empty_states_tell_a_new_user_what_to_do(page: Any, empty_server: Server) -> None:
    page.goto(empty_server.url + "/traces")
    guide = page.locator("[data-empty=traces]")
    expect(guide).to_contain_text("No traces yet")
    expect(guide).to_contain_text(f"{empty_server.url}/v1/chat/completions")
    expect(guide).to_contain_text(f'base_url="{empty_server.url}/v1"')
    shot(page, "empty-traces")
    for path, marker in (
        ("/sessions", "sessions"),
        ("/prompts", "prompts"),
        ("/evals", "evals"),
        ("/dashboard", "traces"),
    ):
        page.goto(empty_server.url + path)
        expect(page.locator(f"[data-empty={marker}]")).to_be_visible()
    page.goto(empty_server.url + "/traces/" + "f" * 32)
    expect(page.get_by_text("Trace not found")).to_be_visible()

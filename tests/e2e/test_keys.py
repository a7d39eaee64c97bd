"""The Keys page on a server with a master key: an admin lists, creates (the key shown once,
then gone from the page) and revokes keys, sees the API's errors beside the field they name and
the usage per key and model; a viewer is told the page is for admins; stored names and metadata
are text."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import Server

from .conftest import MASTER_KEY, shot
from .seed import XSS_IMG, XSS_SCRIPT

pytestmark = pytest.mark.slow


def _admin(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )


def _sign_in(page: Any, server: Server, key: str, path: str) -> None:
    page.goto(server.url + path)
    form = page.locator("[data-signin]")
    form.get_by_label("Key").fill(key)
    form.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_creates_sees_and_revokes_a_key(page: Any, auth_server: Server) -> None:
    with _admin(auth_server) as admin:
        hostile = admin.post(
            "/api/keys",
            json={"name": XSS_SCRIPT, "team": XSS_IMG, "metadata": {"note": XSS_IMG}},
        )
        assert hostile.status_code == 201, hostile.text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _sign_in(page, auth_server, MASTER_KEY, "/keys")
    expect(page.locator("[data-nav=keys]")).to_be_visible()
    rows = page.locator("[data-list=keys] tbody tr")
    hostile_row = page.locator(f"[data-list=keys] tr[data-key-id={hostile.json()['id']}]")
    expect(hostile_row.locator("td.name")).to_contain_text(XSS_SCRIPT)
    expect(hostile_row.locator("td.name .sub")).to_have_text(f"note={XSS_IMG}")
    hostile_row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("dialog", name="Revoke key")).to_contain_text(XSS_SCRIPT)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Revoke key")).to_have_count(0)

    # The API's validation error is shown beside the field it names.
    page.locator("[data-open-create]").click()
    form = page.locator("[data-create-key]")
    form.get_by_label("Name").fill("e2e-billing")
    form.get_by_label("Team").fill("payments")
    form.get_by_label("Models").fill("echo")
    form.get_by_label("Requests / min").fill("0")
    form.get_by_role("button", name="Create key").click()
    rpm_error = form.locator("[data-field-error=rpm]")
    expect(rpm_error).to_contain_text("1")
    expect(form.get_by_label("Requests / min")).to_have_attribute("aria-invalid", "true")
    expect(form.locator("[data-field-error]:not(:empty)")).to_have_count(1)
    shot(page, "keys-field-error")

    form.get_by_label("Requests / min").fill("600")
    form.get_by_label("Tokens / min").fill("200000")
    form.get_by_label("Budget (USD)").fill("5")
    form.get_by_label("Expires").fill("90d")
    form.get_by_label("Metadata").fill("env=e2e")
    form.get_by_role("button", name="Create key").click()

    # Shown once, with a warning and a copy button; the key works.
    revealed = page.locator("[data-new-key]")
    expect(revealed).to_contain_text("will not be shown again")
    key = revealed.locator("[data-secret]").inner_text().strip()
    assert key.startswith("sk-sg-")
    revealed.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    shot(page, "keys-reveal")
    assert httpx.get(auth_server.url + "/v1/models", headers=_bearer(key)).status_code == 200
    chat = httpx.post(
        auth_server.url + "/v1/chat/completions",
        headers=_bearer(key),
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert chat.status_code == 200, chat.text

    created = rows.filter(has_text="e2e-billing")
    expect(created).to_have_count(1)
    expect(created).to_contain_text("600 rpm")
    expect(created).to_contain_text("$5.00 / 30d")
    expect(created).to_contain_text("payments")
    expect(created).to_contain_text("in 89 d")
    expect(created).to_have_attribute("data-state", "active")
    key_id = created.get_attribute("data-key-id")

    # Dismissed, the key is gone: not in the page, its storage or its URL.
    revealed.get_by_role("button", name=re.compile("Done")).click()
    expect(revealed).to_have_count(0)
    assert key not in page.content()
    assert key not in page.url
    assert key not in page.evaluate("JSON.stringify([sessionStorage, localStorage])")

    # Usage per key and per model (the call's span is written by the server's writer process).
    usage = page.locator("[data-usage=Key]")
    deadline = time.monotonic() + 10
    while not usage.filter(has_text="e2e-billing").count() and time.monotonic() < deadline:
        page.locator("[data-refresh-usage]").click()
        page.wait_for_timeout(300)
    expect(usage.locator("tbody tr", has_text="e2e-billing")).to_contain_text("1")
    expect(page.locator("[data-usage=Model] tbody tr", has_text="echo")).to_be_visible()
    page.get_by_label("Usage range").select_option("7")
    expect(page).to_have_url(re.compile(r"days=7"))
    expect(usage.locator("tbody tr", has_text="e2e-billing")).to_be_visible()
    shot(page, "keys")

    # Revoked after a confirmation: marked in the list, and refused at once.
    created.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke key")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert httpx.get(auth_server.url + "/v1/models", headers=_bearer(key)).status_code == 200
    created.get_by_role("button", name="Revoke").click()
    dialog.get_by_role("button", name="Revoke key").click()
    revoked = page.locator(f"[data-list=keys] tr[data-key-id={key_id}]")
    expect(revoked).to_have_attribute("data-state", "revoked")
    expect(revoked.get_by_role("button", name="Revoke")).to_have_count(0)
    refused = httpx.get(auth_server.url + "/v1/models", headers=_bearer(key))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "revoked_api_key"
    page.locator("label", has_text="Show revoked").click()
    expect(revoked).to_have_count(0)
    expect(page).to_have_url(re.compile(r"revoked=hide"))
    page.locator("label", has_text="Show revoked").click()

    page.emulate_media(color_scheme="dark")
    shot(page, "keys-dark")
    page.locator("[data-open-create]").click()
    shot(page, "keys-form-dark")


def test_a_viewer_is_told_keys_are_for_admins(page: Any, auth_server: Server) -> None:
    with _admin(auth_server) as admin:
        viewer = admin.post("/api/keys", json={"name": "read-only", "role": "viewer"}).json()
    _sign_in(page, auth_server, viewer["key"], "/keys")
    expect(page.locator("[data-admins-only]")).to_contain_text("admins only")
    expect(page.locator("[data-admins-only]")).to_contain_text("viewer")
    expect(page.locator("[data-nav=keys]")).to_be_hidden()
    expect(page.locator("[data-list=keys]")).to_have_count(0)
    shot(page, "keys-viewer")


def test_without_a_master_key_anyone_on_loopback_manages_keys(
    page: Any, empty_server: Server
) -> None:
    page.goto(empty_server.url + "/traces")
    page.keyboard.press("g")
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(r"/keys$"))
    expect(page.locator("[data-nav=keys]")).to_have_class(re.compile("active"))
    expect(page.locator("[data-empty=keys]")).to_contain_text("No keys yet")
    expect(page.locator("[data-usage-empty]")).to_be_visible()
    shot(page, "keys-empty")

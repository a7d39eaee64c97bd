"""Sign-in when the server has a master key: signed out, a page asks for a key; a wrong key
gets a clear error; a right one opens the page asked for and shows its role; a viewer sees no
write controls; signing out forgets the key."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import Server

from .conftest import MASTER_KEY, shot

pytestmark = pytest.mark.slow


def _admin(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )


def test_sign_in_with_a_key_roles_and_sign_out(page: Any, auth_server: Server) -> None:
    with _admin(auth_server) as admin:
        created = admin.post(
            "/api/prompts/support/greeter/versions",
            json={"template": "Hello {{name}}", "labels": ["production"]},
        )
        assert created.status_code == 201, created.text
        viewer = admin.post("/api/keys", json={"name": "read-only", "role": "viewer"}).json()
    # The pages are public; the data behind them is not.
    assert httpx.get(auth_server.url + "/prompts").status_code == 200
    assert httpx.get(auth_server.url + "/api/prompts").status_code == 401

    # A 401 from the API's first call leads to the sign-in page, remembering where to go.
    page.goto(auth_server.url + "/prompts/support/greeter?tab=labels")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    form = page.locator("[data-signin]")
    expect(form).to_be_visible()
    expect(page.locator("#signout-button")).to_be_hidden()
    form.get_by_label("Key").fill("sk-sg-not-a-real-key")
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-signin-error]")).to_contain_text("not accepted")
    shot(page, "signin-error")
    assert page.evaluate("sessionStorage.length") == 0

    # The viewer's key opens the page asked for; the label can be read, not moved.
    form.get_by_label("Key").fill(viewer["key"])
    form.get_by_role("button", name="Sign in").click()
    # The page asked for (the prompt page then names the version it shows: ?v=1&tab=labels).
    expect(page).to_have_url(re.compile(r"/prompts/support/greeter\?(v=\d+&)?tab=labels$"))
    expect(page.locator("#who [data-role]")).to_have_text("viewer")
    expect(page.locator("#who")).to_contain_text("read-only")
    expect(page.locator("[data-read-only]")).to_contain_text("viewer")
    expect(page.locator("[data-move-label]")).to_have_count(0)
    # The key is in this tab's sessionStorage, never in the URL or a cookie.
    assert viewer["key"] not in page.url
    assert page.context.cookies() == []
    shot(page, "signin-viewer")
    # A write the role does not allow is refused with the server's reason.
    page.locator("[data-tab-name=render], .tabs button", has_text="Render preview").click()
    page.get_by_label("name").fill("Ada")
    page.get_by_role("button", name="Render", exact=True).click()
    expect(page.locator("[data-rendered] .error-box")).to_contain_text("viewer key may not")

    # Sign out: the key is forgotten and the pages ask again.
    page.locator("#signout-button").click()
    expect(page).to_have_url(re.compile(r"/signin"))
    assert page.evaluate("sessionStorage.length") == 0
    page.goto(auth_server.url + "/traces")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Ftraces"))

    # The master key is an admin: the label moves.
    page.locator("[data-signin]").get_by_label("Key").fill(MASTER_KEY)
    page.locator("[data-signin]").get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/traces$"))
    expect(page.locator("#who [data-role]")).to_have_text("admin")
    # The traces page loads (the store is shared with test_keys.py, which makes a call).
    expect(page.locator("[data-empty=traces], [data-list=traces]").first).to_be_visible()
    page.goto(auth_server.url + "/prompts/support/greeter?tab=labels")
    expect(page.locator("#who [data-role]")).to_have_text("admin")
    expect(page.locator("[data-move-label]")).to_be_visible()
    shot(page, "signin-admin")

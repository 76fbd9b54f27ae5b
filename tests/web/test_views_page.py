"""Team > Views in Chromium: an admin sees the team's views and previews, for a project, which
releases the filter keeps and hides and why; a member cannot reach the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clients import uv_publish
from factories import make_wheel, wheel_name

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


def sign_in_ui(page, base: str, email: str, *, next_path: str) -> None:
    page.goto(f"{base}{next_path}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{base}{next_path}")


def test_admin_previews_what_a_view_keeps_and_hides(stack, accounts, page, tmp_path):
    from bale.tenancy.service import Tenancy
    from bale.views.service import Views

    wheels = [make_wheel(tmp_path, "demo", v) for v in ("1.0", "2.0")]
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *wheels)
    assert r.returncode == 0, r.stderr
    Tenancy(stack.stores).create_index("acme", "staging")
    Views(stack.stores).create("acme", "capped", ["staging", "main"], 'release.version < "2"')

    accounts.sign_up("alice@example.com", PASSWORD)
    path = "/teams/acme/admin/views"
    sign_in_ui(page, stack.url, "alice@example.com", next_path=path)
    expect(page.get_by_role("heading", name="Views of acme")).to_be_visible()
    expect(page.locator("#views tbody tr")).to_have_count(1)
    expect(page.locator("#views tbody tr")).to_contain_text("staging, main")

    page.fill("#preview-project", "Demo")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-source")).to_contain_text("comes from main: 1 of 2 files kept")
    kept = page.locator("#preview-rows tr[data-kept=yes]")
    hidden = page.locator("#preview-rows tr[data-kept=no]")
    expect(kept).to_have_count(1)
    expect(kept).to_contain_text(wheel_name("demo", "1.0"))
    expect(hidden).to_have_count(1)
    expect(hidden).to_contain_text(wheel_name("demo", "2.0"))
    expect(hidden).to_contain_text('release.version < "2" is false')

    page.fill("#preview-project", "nothing-here")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".flash-error")).to_contain_text(
        "No project 'nothing-here' in any source of acme/capped"
    )


def test_a_member_cannot_open_the_views_page(stack, accounts, page):
    from bale.tenancy.service import Tenancy

    Tenancy(stack.stores).set_member("acme", "bob@example.com", "member")
    accounts.sign_up("bob@example.com", PASSWORD)
    sign_in_ui(page, stack.url, "bob@example.com", next_path="/teams/acme/")
    expect(page.get_by_role("link", name="Views")).to_have_count(0)
    resp = page.goto(f"{stack.url}/teams/acme/admin/views")
    assert resp is not None and resp.status == 403

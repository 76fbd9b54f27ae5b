"""Team > Trusted Access in Chromium: an admin enrolls a trusted accessor, the exchange honours
it and real uv installs through the token, then the admin removes it and the exchange refuses.
A member cannot reach the page; a form without its CSRF token is refused."""

from __future__ import annotations

import sys

import pytest
import requests
from playwright.sync_api import expect

from clients import BIN, run, uv_publish
from factories import make_wheel

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


def sign_in_ui(page, base: str, email: str, *, next_path: str) -> None:
    page.goto(f"{base}{next_path}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{base}{next_path}")


def test_admin_enrolls_lists_and_removes_a_trusted_accessor(
    stack, accounts, page, oidc_issuers, tmp_path, client_env
):
    from bale.tenancy.service import Tenancy

    Tenancy(stack.stores).create_index("acme", "staging")
    r = uv_publish(
        f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(tmp_path, "secretlib", "1.0")
    )
    assert r.returncode == 0, r.stderr
    accounts.sign_up("alice@example.com", PASSWORD)
    path = "/teams/acme/admin/trusted-access"
    sign_in_ui(page, stack.url, "alice@example.com", next_path=path)
    expect(page.get_by_role("heading", name="Trusted Access for acme")).to_be_visible()

    # A pattern matching every repository is refused, with the reason on the page.
    page.select_option("#reader-provider", "github")
    assert page.locator("#oidc-issuer").is_hidden()
    page.fill("#github-repository", "*/*")
    page.check("#reader-indexes input[value=main]")
    page.get_by_role("button", name="Add trusted accessor").click()
    expect(page.locator(".flash-error")).to_contain_text("would match everything")

    page.fill("#github-repository", "octo-org/*")
    page.check("#reader-indexes input[value=main]")
    page.get_by_role("button", name="Add trusted accessor").click()
    expect(page.locator(".flash-ok")).to_contain_text("Added trusted accessor github:octo-org/*")
    expect(page.locator("#readers tbody tr")).to_have_count(1)
    expect(page.locator("#readers tbody tr")).to_contain_text("main")

    # The exchange honours it: main only, and uv installs with the token.
    resp = requests.post(
        f"{stack.url}/_/oidc/read-token", json={"token": oidc_issuers.github.sign()}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    host = stack.url.split("://", 1)[1]
    venv = tmp_path / "venv"
    assert run([BIN / "uv", "venv", "--python", sys.executable, venv], env=client_env).returncode == 0
    r = run(
        [
            BIN / "uv",
            "pip",
            "install",
            "--no-cache",
            "--python",
            venv / "bin" / "python",
            "--index-url",
            f"http://__token__:{token}@{host}/simple/acme/main/",
            "secretlib",
        ],
        env=client_env,
    )
    assert r.returncode == 0, r.stderr
    staging = requests.get(f"{stack.url}/simple/acme/staging/", auth=("__token__", token), timeout=30)
    assert staging.status_code == 403

    # The team's tokens page shows the read token for what it is.
    page.goto(f"{stack.url}/teams/acme/admin/tokens")
    row = page.locator("tr", has_text="Trusted Access (github:octo-org/*)")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("read on main")
    expect(row).not_to_contain_text("trusted publisher")

    # The team's audit log tells of the enrollment and the exchange.
    page.goto(f"{stack.url}/teams/acme/")
    assert page.locator("table.audit").get_by_text("add-reader").count() == 1
    assert page.locator("table.audit").get_by_text("read-token").count() == 1

    page.goto(f"{stack.url}{path}")
    page.get_by_role("button", name="Remove github:octo-org/*").click()
    expect(page.locator(".flash-ok")).to_contain_text("Removed trusted accessor")
    expect(page.locator("#readers")).to_have_count(0)
    resp = requests.post(
        f"{stack.url}/_/oidc/read-token", json={"token": oidc_issuers.github.sign()}, timeout=30
    )
    assert resp.status_code == 422 and "No trusted accessor" in resp.text

    # Without the form's CSRF token, the session cookie alone changes nothing.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = requests.post(
        f"{stack.url}{path}",
        data={"provider": "github", "github-repository": "octo-org/*", "index": "main"},
        cookies=cookies,
        timeout=30,
        allow_redirects=False,
    )
    assert r.status_code == 400
    page.goto(f"{stack.url}{path}")
    expect(page.locator("#readers")).to_have_count(0)


def test_a_member_cannot_open_trusted_access(stack, accounts, page, tenancy):
    tenancy.set_member("acme", "bob@example.com", "member")
    accounts.sign_up("bob@example.com", PASSWORD)
    sign_in_ui(page, stack.url, "bob@example.com", next_path="/teams/acme/")
    expect(page.get_by_role("link", name="Trusted Access")).to_have_count(0)
    resp = page.goto(f"{stack.url}/teams/acme/admin/trusted-access")
    assert resp.status == 403

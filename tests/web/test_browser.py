"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Signs in through the Firebase Auth emulator from the page's own JavaScript, and with Google
against a fake of its OAuth endpoints; creates a token in the UI and installs with it using
the real ``uv pip install``, and enrolls a trusted publisher in the UI that the Trusted
Publishing flow then accepts. Screenshots of the main pages go to ``artifacts/screenshots/``
for review.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clients import BIN, run, uv_publish
from factories import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
README = """# Widgets

Widgets for **every** occasion.

```python
import widgets
widgets.make()
```

| size | price |
| ---- | ----- |
| S    | 1     |
"""


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in_ui(page, base: str, email: str, *, next_path: str) -> None:
    page.goto(f"{base}{next_path}")  # signed out: redirected to the sign-in page
    assert page.url == f"{base}/signin?next={next_path}"
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{base}{next_path}")


def test_sign_in_create_token_and_install_with_uv(stack, accounts, page, tmp_path):
    accounts.sign_up("alice@example.com", PASSWORD)
    dist = tmp_path / "dist"
    dist.mkdir()
    wheels = [
        make_wheel(dist, "widgets", "1.0", description=README, summary="Widgets for every occasion"),
        make_wheel(dist, "widgets", "1.1", description=README, summary="Widgets for every occasion"),
        make_wheel(dist, "gadgets", "0.3"),
    ]
    assert (
        uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(created_by="cli"), *wheels).returncode
        == 0
    )

    # Signed out: a team page sends us to sign in; a wrong password is said so, on the page.
    page.goto(f"{stack.url}/teams/acme/")
    assert "/signin?next=/teams/acme/" in page.url
    page.fill("#email", "alice@example.com")
    page.fill("#password", "wrong password")
    page.click("button[data-action=signInWithPassword]")
    expect(page.locator("#signin-error")).to_have_text("Wrong email or password.")
    shot(page, "01-sign-in")

    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{stack.url}/teams/acme/")
    assert page.get_by_role("heading", name="Team acme").is_visible()
    shot(page, "02-team")

    # The index, filtered as one types.
    page.get_by_role("link", name="acme/main").click()
    rows = page.locator("#projects tbody tr")
    assert rows.count() == 2
    page.fill("#q", "wid")
    expect(page.locator("#projects tbody tr:visible")).to_have_count(1)
    shot(page, "03-index")

    page.get_by_role("link", name="widgets").click()
    page.wait_for_url(f"{stack.url}/teams/acme/indexes/main/projects/widgets/")
    assert page.locator(".readme h1").inner_text().strip() == "Widgets"
    assert page.locator(".readme table").count() == 1
    assert page.locator("#login-snippet").inner_text() == f"bale login {stack.url}"
    assert page.locator("#install-snippet").inner_text().endswith('/simple/acme/main/" widgets')
    page.get_by_text("Without bale login").click()
    snippet = page.locator("#install-token-snippet").inner_text()
    assert snippet.endswith('/simple/acme/main/" widgets')
    shot(page, "04-project")

    # A read token for widgets, made in the UI and shown once.
    page.get_by_role("link", name="API tokens").click()
    page.select_option("#token-index", "main")
    page.check("input[name=permission][value=read]")
    page.fill("#token-projects", "widgets")
    page.select_option("#token-expires", "7d")
    page.fill("#token-description", "laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-secret")).to_contain_text("bale_")
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("bale_")
    shot(page, "05-token-created")

    # The real uv installs with it, from the URL the project page showed.
    index_url = snippet.split('"')[1].replace("$BALE_TOKEN", secret)
    target = tmp_path / "target"
    r = run(
        [
            BIN / "uv",
            "pip",
            "install",
            "--no-cache",
            "--python",
            sys.executable,
            "--target",
            target,
            "--index-url",
            index_url,
            "widgets",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert (target / "widgets" / "__init__.py").read_text().startswith('__version__ = "1.1"')
    # The token may read widgets only.
    r = run(
        [
            BIN / "uv",
            "pip",
            "install",
            "--no-cache",
            "--python",
            sys.executable,
            "--target",
            tmp_path / "t2",
            "--index-url",
            index_url,
            "gadgets",
        ]
    )
    assert r.returncode != 0

    page.reload()
    token_id = secret.split("_")[1]
    assert page.locator(f"tr[data-token='{token_id}'] td.last-used time").count() == 1
    assert secret not in page.content()


def test_enroll_trusted_publisher_that_the_flow_accepts(stack, accounts, page, oidc_issuers, tmp_path):
    from bale.packages.service import Packages
    from bale.publishing.providers import PROVIDERS
    from bale.publishing.publishers import Publishers

    accounts.sign_up("alice@example.com", PASSWORD)
    sign_in_ui(page, stack.url, "alice@example.com", next_path="/teams/acme/admin/publishers")
    page.select_option("#pub-index", "main")
    page.fill("#pub-projects", "gizmo")
    page.select_option("#pub-provider", "github")
    assert page.locator("#gitlab-repository").is_hidden()
    page.fill("#github-repository", "octo-org/widgets")
    page.fill("#github-workflow", "publish.yml")
    page.get_by_role("button", name="Create publisher").click()
    expect(page.locator(".flash-ok")).to_contain_text(
        "Added trusted publisher github:octo-org/widgets:publish.yml"
    )
    assert page.locator("#publishers tbody tr").count() == 1
    shot(page, "06-publishers")

    # The mint-time lookup finds it …
    issuer = oidc_issuers.github
    [pub] = Publishers(stack.stores).candidates(PROVIDERS["github"], issuer.claims())
    assert (pub.team, pub.index, pub.projects, pub.created_by) == (
        "acme",
        "main",
        ["gizmo"],
        "alice@example.com",
    )
    # … and the Trusted Publishing flow accepts its workflow's token: mint, then publish.
    req = urllib.request.Request(
        f"{stack.url}/_/oidc/mint-token",
        data=json.dumps({"token": issuer.sign()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        minted = json.load(resp)["token"]
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", minted, whl)
    assert r.returncode == 0, r.stderr
    [f] = Packages(stack.stores).files("acme", "main", "gizmo")
    assert f.uploaded_by == "trusted publisher github:octo-org/widgets:publish.yml"

    # The team page's audit log shows the enrollment; members page for review.
    page.goto(f"{stack.url}/teams/acme/")
    assert page.locator("table.audit").get_by_text("add-publisher").count() == 1
    shot(page, "07-team-audit")
    page.get_by_role("link", name="Members", exact=True).click()
    expect(page.get_by_role("heading", name="Members of acme")).to_be_visible()
    shot(page, "08-members")


def test_unverified_address_is_sent_a_link_before_it_can_sign_in(dash_settings, auth_emulator, page, acme):
    """As in production: Bale trusts an address only once its owner proved it."""
    from bale_tools.devserver import Server
    from dashboard import create_app

    server = Server(create_app(dash_settings, config={"REQUIRE_VERIFIED_EMAIL": True})).start()
    try:
        page.goto(f"{server.url}/signin?next=/teams/acme/")
        page.fill("#email", "alice@example.com")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("#signin-status")).to_contain_text("We sent a link to alice@example.com")
        assert page.url.startswith(f"{server.url}/signin")  # not signed in

        # The emulator keeps the mail it would have sent; following the link verifies the address.
        url = f"http://{auth_emulator.host}/emulator/v1/projects/{auth_emulator.project}/oobCodes"
        with urllib.request.urlopen(url, timeout=30) as resp:
            [code] = [c for c in json.load(resp)["oobCodes"] if c["email"] == "alice@example.com"]
        assert code["requestType"] == "VERIFY_EMAIL"
        urllib.request.urlopen(code["oobLink"], timeout=30).close()

        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/teams/acme/")

        # A forgotten password: Firebase mails a reset link.
        page.context.clear_cookies()
        page.goto(f"{server.url}/signin")
        page.fill("#email", "alice@example.com")
        page.get_by_role("button", name="Forgot password?").click()
        expect(page.locator("#signin-status")).to_contain_text("we sent it a link to choose a new password")
        with urllib.request.urlopen(url, timeout=30) as resp:
            kinds = [c["requestType"] for c in json.load(resp)["oobCodes"]]
        assert "PASSWORD_RESET" in kinds
    finally:
        server.stop()


def test_sign_in_with_google(google_settings, google, tenancy, page, acme):
    """The Google button is a plain link; the browser goes to (fake) Google and back, signed in."""
    from bale_tools.devserver import Server
    from dashboard import create_app

    tenancy.set_member("acme", "gina@example.com", "member")
    server = Server(create_app(google_settings, config={"REQUIRE_VERIFIED_EMAIL": True})).start()
    try:
        page.goto(f"{server.url}/teams/acme/")
        assert page.url == f"{server.url}/signin?next=/teams/acme/"
        shot(page, "signin-with-google")
        page.get_by_role("link", name="Sign in with Google").click()
        page.wait_for_url(f"{server.url}/teams/acme/")
        expect(page.locator("body")).to_contain_text("gina@example.com")
        assert len(google.token_requests) == 1

        # An address Google has not verified does not get in.
        page.context.clear_cookies()
        google.person = {**google.person, "sub": "1002", "email": "gus@example.com", "email_verified": False}
        page.goto(f"{server.url}/signin")
        page.get_by_role("link", name="Sign in with Google").click()
        expect(page.get_by_role("alert")).to_contain_text("Google has not verified gus@example.com")
    finally:
        server.stop()

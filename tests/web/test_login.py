"""``bale login`` end to end in Chromium, and the Simple API opened in the browser.

The CLI prints a code, the signed-in person approves it on the dashboard, and then, with no
token anywhere on a command line, ``uv auth token``, ``uv pip install`` and ``uv publish`` use
it; the browser reads the Simple API with its session; removing the person stops both at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_browser import PASSWORD, shot

from clients import BIN, run
from factories import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BOB = "bob@example.com"


def isolated(tmp_path) -> dict:
    """uv's credential store, caches and netrc in tmp_path: nothing from the machine."""
    (tmp_path / "home").mkdir(exist_ok=True)
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "NETRC": str(tmp_path / "netrc"),
    }


def test_bale_login_in_the_browser_then_uv_needs_no_token(stack, tenancy, accounts, page, tmp_path):
    tenancy.set_member("acme", BOB, "admin")
    accounts.sign_up(BOB, PASSWORD)
    dist = tmp_path / "dist"
    dist.mkdir()
    r = run(
        [BIN / "uv", "publish", "--publish-url", f"{stack.url}/v1/upload/acme/main/", "-u", "__token__",
         "-p", stack.token(), make_wheel(dist, "widgets", "1.0")]
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    env = isolated(tmp_path)

    # The CLI prints the URL and the code, and waits.
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "BALE_"))}
    cli_env.update(env, PYTHONPATH=os.pathsep.join(str(ROOT / p) for p in ("functions", "web", "tools")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bale_tools.cli", "login", stack.url, "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
    )
    try:
        first, second = proc.stdout.readline(), proc.stdout.readline()
        user_code = first.split()[-1]
        complete = second.split("open ", 1)[1].rstrip(")\n")
        assert complete == f"{stack.url}/device?code={user_code}"

        # Signed out: the approval page sends the person to sign in, and back.
        page.goto(complete)
        assert page.url.startswith(f"{stack.url}/signin?next=")
        page.fill("#email", BOB)
        page.fill("#password", PASSWORD)
        page.click("button[data-action=signInWithPassword]")
        page.wait_for_url(complete)
        expect(page.locator("#device-code")).to_have_text(user_code)
        expect(page.locator("#device-host")).to_have_text(stack.url)
        expect(page.locator("#device-rights tr[data-team=acme]")).to_contain_text("main")
        # Where and when the code came from; read only and 30 days picked until Bob changes them.
        expect(page.locator("#device-from")).to_have_text("127.0.0.1")
        expect(page.locator("#device-from-note")).to_have_text("(the address you are using now)")
        assert page.locator("#device-created time").count() == 1
        expect(page.locator("#perm-read")).to_be_checked()
        expect(page.locator("#days")).to_have_value("30")
        page.check("#perm-upload")
        page.select_option("#days", "7")
        shot(page, "09-device-approve")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#device-done")).to_contain_text("Approved (read and upload, 7 days)")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "read and upload, for 7 days" in out, out

    # uv has it, for this host: no token on any command line from here on.
    r = run([BIN / "uv", "auth", "token", stack.url], env=env)
    token = r.stdout.strip()
    assert r.returncode == 0 and token.startswith("bale_p"), r.stderr
    assert token not in first + second + out + err

    r = run(
        [BIN / "uv", "pip", "install", "--python", sys.executable, "--target", tmp_path / "t",
         "--index-url", f"{stack.url}/simple/acme/main/", "widgets"],
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t" / "widgets" / "__init__.py").exists()
    r = run(
        [BIN / "uv", "publish", "--publish-url", f"{stack.url}/v1/upload/acme/main/",
         make_wheel(dist, "gadgets", "0.1")],
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    # curl with the Bearer token uv prints, as scripts do.
    r = subprocess.run(
        ["curl", "-sS", "-H", f"Authorization: Bearer {token}", f"{stack.url}/simple/acme/main/gadgets/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "gadgets-0.1-py3-none-any.whl" in r.stdout, r.stderr

    # The token is listed under My tokens, as a bale login of every team.
    page.goto(f"{stack.url}/teams/acme/tokens/")
    expect(page.locator("#tokens")).to_contain_text("your rights in every team (bale login)")

    # The same browser reads the Simple API with its session, and downloads a file.
    page.goto(f"{stack.url}/simple/acme/main/")
    expect(page.locator("a", has_text="gadgets")).to_have_count(1)
    page.goto(f"{stack.url}/simple/acme/main/widgets/")
    link = page.locator("a", has_text="widgets-1.0-py3-none-any.whl")
    href = link.get_attribute("href")
    shot(page, "10-simple-in-browser")
    got = page.context.request.get(
        f"{stack.url}/simple/acme/main/widgets/{href.split('#')[0].rsplit('/', 1)[-1]}"
    )
    assert got.status == 200 and got.body()[:2] == b"PK"

    # Another browser, signed out, is sent to sign in (and back).
    other = page.context.browser.new_context()
    try:
        p2 = other.new_page()
        p2.goto(f"{stack.url}/simple/acme/main/widgets/")
        assert p2.url == f"{stack.url}/signin?next=/simple/acme/main/widgets/"
    finally:
        other.close()

    # Removed from acme: the login token and the browser session stop at once.
    tenancy.remove_member("acme", BOB)
    r = run(
        [BIN / "uv", "pip", "install", "--no-cache", "--python", sys.executable, "--target", tmp_path / "t2",
         "--index-url", f"{stack.url}/simple/acme/main/", "widgets"],
        env=env,
    )  # fmt: skip
    assert r.returncode != 0 and "403" in r.stderr
    resp = page.goto(f"{stack.url}/simple/acme/main/")
    assert resp.status == 403 and "no longer a member of acme" in page.content()

    # Signing out revokes the browser token: back to sign-in.
    page.goto(f"{stack.url}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{stack.url}/signin")
    page.goto(f"{stack.url}/simple/acme/main/")
    assert page.url == f"{stack.url}/signin?next=/simple/acme/main/"


def test_approving_someone_elses_code_in_the_browser_gives_a_read_only_token(stack, tenancy, accounts, page):
    """The attacker starts a login from 198.51.100.66 (behind the load balancer, with a
    spoofed left-most X-Forwarded-For) asking for a year, and sends Bob the link. The page
    Bob opens names the attacker's address as not his, and Approve as it stands yields a
    read-only 30-day token that cannot publish."""
    import requests

    from factories import wheel_bytes, wheel_name
    from uploads import form_for, post

    tenancy.set_member("acme", BOB, "admin")
    accounts.sign_up(BOB, PASSWORD)
    start = requests.post(
        f"{stack.url}/device/code",
        data={"client_name": "Bob laptop", "expires_in": "365d"},
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.66, 35.191.0.1"},
        timeout=30,
    ).json()
    page.goto(start["verification_uri_complete"])
    page.fill("#email", BOB)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(start["verification_uri_complete"])
    expect(page.locator("#device-from")).to_have_text("198.51.100.66")
    expect(page.locator("#device-from-note")).to_contain_text("not the address you are using now")
    expect(page.locator("#device-client")).to_have_text("Bob laptop")
    expect(page.locator("main")).to_contain_text("claimed by the requester")
    assert "6.6.6.6" not in page.content()
    expect(page.locator("#perm-read")).to_be_checked()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#device-done")).to_contain_text("Approved (read only, 30 days)")

    answer = requests.post(
        f"{stack.url}/device/token", data={"device_code": start["device_code"]}, timeout=30
    )
    body = answer.json()
    assert body["permission"] == "read" and body["expires_in"] <= 30 * 86400
    form, files = form_for(wheel_name("phished", "6.6.6"), wheel_bytes("phished", "6.6.6"))
    r = post(stack, form, files, token=body["access_token"], path="/v1/upload/acme/main/")
    assert r.status_code == 403 and "can only read" in r.text


def test_a_signed_in_browser_without_its_cookie_gets_a_fresh_one_by_post(stack, tenancy, accounts, page):
    """The Simple API sends a signed-in browser whose cookie is gone to /signin: the GET there
    renders a form, continue.js posts it (with its CSRF token) and the browser lands back on
    the page it asked for, with a fresh cookie."""
    tenancy.set_member("acme", BOB, "member")
    accounts.sign_up(BOB, PASSWORD)
    page.goto(f"{stack.url}/signin")
    page.fill("#email", BOB)
    page.fill("#password", PASSWORD)
    page.click("button[data-action=signInWithPassword]")
    page.wait_for_url(f"{stack.url}/")
    first = next(c["value"] for c in page.context.cookies() if c["name"] == "bale_browser")
    page.context.clear_cookies(name="bale_browser")
    methods: list[str] = []
    page.on(
        "request", lambda req: methods.append(f"{req.method} {req.url}") if "/signin" in req.url else None
    )
    page.goto(f"{stack.url}/simple/acme/main/")
    page.wait_for_url(f"{stack.url}/simple/acme/main/")
    assert page.locator("h1").count() >= 1 and "Sign in" not in page.title()
    fresh = next(c["value"] for c in page.context.cookies() if c["name"] == "bale_browser")
    assert fresh != first
    assert methods == [
        f"GET {stack.url}/signin?next=/simple/acme/main/",
        f"POST {stack.url}/signin",
    ], methods

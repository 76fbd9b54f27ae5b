"""A hostile look at the dashboard's side of sign-in (issue 13): guessing other people's
``bale login`` codes, the sign-in page's ``next=``, what the approval page claims, and the
browser token outliving its session (Flask test client over the real emulators)."""

from __future__ import annotations

import html
import re
import secrets
import time
from urllib.parse import urljoin, urlsplit

import jwt

from conftest import csrf_of

BOB = "bob@example.com"
MALLORY = "mallory@example.com"


def start(app, **data):
    r = app.test_client().post("/device/code", data={"client_name": "laptop", **data})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def status(stores):
    return [s.get("status") for s in stores.db.collection("device_codes").stream()]


def random_code() -> str:
    return "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(8))


def test_guessing_user_codes_is_bounded_per_person(app, sign_in, tenancy, stores, acme):
    from bale.tokens.device import MAX_FAILED_LOOKUPS

    victim = start(app)
    mallory = sign_in(MALLORY)
    for _ in range(MAX_FAILED_LOOKUPS):
        assert mallory.get(f"/device?code={random_code()}").status_code == 404
    # The limit is reached: even the right code is refused, on the page and on approval.
    r = mallory.get(f"/device?code={victim['user_code']}")
    assert r.status_code == 429 and "Too many codes" in r.get_data(as_text=True)
    assert "laptop" not in r.get_data(as_text=True)
    html = mallory.get("/device").get_data(as_text=True)
    r = mallory.client.post(
        "/device", data={"code": victim["user_code"], "decision": "deny", "csrf_token": csrf_of(html)}
    )
    assert r.status_code == 429 and status(stores) == ["pending"]
    # A new session does not reset it (the bound is the person's), and others are not affected.
    assert sign_in(MALLORY).get(f"/device?code={victim['user_code']}").status_code == 429
    bob = sign_in(BOB)
    assert bob.get(f"/device?code={victim['user_code']}").status_code == 200


def test_the_approval_page_says_the_machine_name_is_unchecked(app, sign_in, acme):
    code = start(app, client_name="Your laptop (verified by Bale)")
    page = sign_in(BOB).get(f"/device?code={code['user_code']}")
    # No framing: a page of the attacker's cannot overlay the Approve button (clickjacking).
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    assert "Your laptop (verified by Bale)" in html and "not checked" in html
    assert f'<code id="device-code">{code["user_code"]}</code>' in html
    assert '<dd id="device-host">http' in html


EVIL = (
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "https:evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "//%65vil.example",
    "/.//evil.example",
    "///evil.example",
)


def lands_home(location: str) -> bool:
    """Where a browser goes: it drops tabs and newlines and reads a backslash as a slash."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/").strip()
    return urlsplit(urljoin("https://dash.example/signin", cleaned)).netloc == "dash.example"


def test_next_is_never_an_open_redirect(app, browser, sign_in, accounts, acme):
    bob = sign_in(BOB)
    for evil in EVIL:
        # Signed in: the page's form carries only a local next on to POST /signin, and that
        # POST sends nowhere else whatever next it is given.
        page = bob.get("/signin", query_string={"next": evil}).get_data(as_text=True)
        kept = html.unescape(re.search(r'name="next" value="([^"]*)"', page).group(1))
        assert lands_home(kept), (evil, kept)
        r = bob.post("/signin", {"next": evil})
        assert r.status_code == 303 and lands_home(r.headers["Location"]), (evil, r.headers["Location"])
        r = browser.sign_in(accounts.id_token(BOB), next=evil)
        assert r.status_code == 303 and lands_home(r.headers["Location"]), (evil, r.headers["Location"])
        # Signed out: the sign-in form carries only a local next on to POST /session.
        page = app.test_client().get("/signin", query_string={"next": evil}).get_data(as_text=True)
        kept = html.unescape(re.search(r'name="next" value="([^"]*)"', page).group(1))
        assert lands_home(kept), (evil, kept)


def test_a_browser_token_never_outlives_its_session(app, sign_in, stores, acme):
    bob = sign_in(BOB)
    time.sleep(2)  # the session's expiry is in whole seconds
    assert bob.post("/signin", {"next": "/"}).status_code == 303  # signed in: a fresh browser token
    held = app.session_interface.get_signing_serializer(app).loads(bob.client.get_cookie("__session").value)
    session_ends = jwt.decode(held["firebase"], options={"verify_signature": False})["exp"]
    token = stores.db.collection("tokens").document(held["browser_token"][1]).get().to_dict()
    assert token["kind"] == "browser" and token["expires_at"].timestamp() <= session_ends
    assert bob.client.get_cookie("bale_browser").expires.timestamp() <= session_ends + 1


def test_sign_out_ends_every_browsers_token(app, sign_in, stores, acme):
    """Sign-out ends all of the person's Firebase sessions; their browser tokens end with them,
    not only when each browser next loads a dashboard page."""
    laptop, phone = sign_in(BOB), sign_in(BOB)
    phone_token = phone.client.get_cookie("bale_browser").value.split("_")[1]
    assert laptop.post("/signout").status_code == 303
    browser_tokens = [
        s.to_dict() for s in stores.db.collection("tokens").stream() if s.get("kind") == "browser"
    ]
    assert len(browser_tokens) == 2 and all(t["revoked_at"] is not None for t in browser_tokens)
    assert stores.db.collection("tokens").document(phone_token).get().get("revoked_at") is not None


def browser_tokens(stores) -> list[dict]:
    return [s.to_dict() for s in stores.db.collection("tokens").stream() if s.get("kind") == "browser"]


def test_get_signin_mints_nothing_and_the_post_needs_csrf(app, sign_in, stores, acme):
    """Signed in, GET /signin only renders the form that asks for a fresh browser token: an
    image or prefetch of the URL from another site mints nothing. The POST needs the form's
    CSRF token; with it, one token is minted (the one it replaces revoked) and the cookie set."""
    bob = sign_in(BOB)
    before = browser_tokens(stores)
    assert len(before) == 1  # the sign-in's own
    cookie = bob.client.get_cookie("bale_browser").value
    for _ in range(3):
        r = bob.client.get("/signin", query_string={"next": "/simple/acme/main/"})
        assert r.status_code == 200 and 'action="/signin"' in r.get_data(as_text=True)
        assert "bale_browser" not in r.headers.get("Set-Cookie", "")
    assert browser_tokens(stores) == before and bob.client.get_cookie("bale_browser").value == cookie

    r = bob.post("/signin", {"next": "/simple/acme/main/"}, csrf=False)
    assert r.status_code == 400 and browser_tokens(stores) == before
    r = bob.post("/signin", {"next": "/simple/acme/main/"})
    assert r.status_code == 303 and r.headers["Location"] == "/simple/acme/main/"
    after = browser_tokens(stores)
    assert len(after) == 2 and sum(t["revoked_at"] is None for t in after) == 1
    assert bob.client.get_cookie("bale_browser").value != cookie

"""Sign-in with Firebase Auth (the real emulator) and the dashboard session."""

from __future__ import annotations

import time

import jwt
import pytest


def test_signed_out_home_offers_sign_in(browser):
    r = browser.get("/")
    assert r.status_code == 200
    assert 'href="/signin"' in r.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/teams/acme/", "/teams/acme/indexes/main/", "/teams/acme/admin/tokens"])
def test_signed_out_pages_redirect_to_sign_in(browser, acme, url):
    r = browser.get(url)
    assert r.status_code == 302
    assert r.headers["Location"] == f"/signin?next={url}"


def test_sign_in_page_calls_the_emulator_and_loads_nothing_external(browser, auth_emulator):
    r = browser.get("/signin")
    html = r.get_data(as_text=True)
    assert f'data-toolkit="http://{auth_emulator.host}/identitytoolkit.googleapis.com"' in html
    assert 'name="csrf_token"' in html
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and f"connect-src 'self' http://{auth_emulator.host}" in csp
    # Every script and stylesheet comes from this app.
    assert "https://" not in html.split("<body")[0]
    for path in ("/static/signin.js", "/static/bale.js", "/static/bale.css"):
        assert path in html
        assert browser.get(path).status_code == 200


def test_sign_in_with_an_emulator_id_token(sign_in, acme):
    b = sign_in("alice@example.com")
    r = b.get("/")
    html = r.get_data(as_text=True)
    assert "alice@example.com" in html
    assert 'href="/teams/acme/"' in html
    cookie = b.client.get_cookie("__session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_sign_in_returns_to_next_but_never_off_site(browser, accounts, acme):
    r = browser.sign_in(accounts.id_token("alice@example.com"), next="/teams/acme/")
    assert r.status_code == 303 and r.headers["Location"] == "/teams/acme/"
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        r = browser.sign_in(accounts.id_token("alice@example.com"), next=evil)
        assert r.headers["Location"] == "/", evil


def test_bad_id_token_is_refused(browser, acme):
    r = browser.sign_in("not-a-token")
    assert r.status_code == 401
    assert "Sign-in failed" in r.get_data(as_text=True)
    assert browser.get("/teams/acme/").status_code == 302


def test_session_post_needs_csrf(browser, accounts, acme):
    browser.get("/signin")
    r = browser.post("/session", {"id_token": accounts.id_token("alice@example.com")}, csrf=False)
    assert r.status_code == 400
    assert browser.get("/teams/acme/").status_code == 302


def test_stale_id_token_is_not_turned_into_a_session(browser, accounts, acme):
    # The emulator's tokens are unsigned, so an old sign-in can be written by hand.
    fresh = jwt.decode(accounts.id_token("alice@example.com"), options={"verify_signature": False})
    old = {**fresh, "auth_time": int(time.time()) - 3600}
    r = browser.sign_in(jwt.encode(old, key="", algorithm="none"))
    assert r.status_code == 401
    assert "too old" in r.get_data(as_text=True)


def test_sign_out_ends_the_session(sign_in, acme):
    b = sign_in("alice@example.com")
    assert b.get("/teams/acme/").status_code == 200
    b.get("/teams/acme/")
    r = b.post("/signout")
    assert r.status_code == 303
    assert b.get("/teams/acme/").status_code == 302


def _replay(app, cookie: str):
    """A different client (the attacker's) presenting a copied session cookie."""
    other = app.test_client()
    other.set_cookie("__session", cookie)
    return other


def _at_a_second_boundary() -> None:
    """Sleep to just after the clock's next whole second.

    Firebase's revocation check compares whole seconds: a cookie issued (iat) in the same
    second as revoke_refresh_tokens is not refused by it. Starting right after a boundary
    makes the sign-in and the sign-out below fall in one second (each takes a few
    milliseconds against the emulator), the case the server must handle itself.
    """
    time.sleep(1.02 - time.time() % 1)


def test_sign_out_revokes_a_copied_session_cookie(app, sign_in, acme):
    _at_a_second_boundary()
    b = sign_in("alice@example.com")
    copied = b.client.get_cookie("__session").value
    assert _replay(app, copied).get("/teams/acme/").status_code == 200  # the copy works...
    b.get("/")
    assert b.post("/signout").status_code == 303
    r = _replay(app, copied).get("/teams/acme/")  # ...until its owner signs out
    assert r.status_code == 302
    assert r.headers["Location"] == "/signin?next=/teams/acme/"


def test_sign_out_signs_out_every_browser_and_sign_in_works_again(app, sign_in, acme):
    """Firebase revokes per account, not per cookie: signing out ends every session."""
    _at_a_second_boundary()
    laptop, phone = sign_in("alice@example.com"), sign_in("alice@example.com")
    laptop.get("/")
    assert laptop.post("/signout").status_code == 303
    assert phone.get("/teams/acme/").status_code == 302
    again = sign_in("alice@example.com")  # a fresh sign-in right after is not caught by it
    assert again.get("/teams/acme/").status_code == 200


def test_deleted_account_loses_its_session(sign_in, auth_emulator, acme):
    b = sign_in("alice@example.com")
    assert b.get("/teams/acme/").status_code == 200
    auth_emulator.clear()  # the account is gone: the session cookie's revocation check fails
    assert b.get("/teams/acme/").status_code == 302


def test_unverified_email_is_refused_when_required(app, browser, accounts, acme):
    """Production requires a verified address; here the check is switched on by hand."""
    from firebase_admin import auth

    app.extensions["bale"].identity.require_verified_email = True
    b = browser
    signed_up = accounts.sign_up("alice@example.com")
    r = b.sign_in(signed_up["idToken"])
    assert r.status_code == 401 and "Verify alice@example.com" in r.get_data(as_text=True)

    auth.update_user(signed_up["localId"], email_verified=True, app=app.extensions["bale"].identity.app)
    r = b.sign_in(accounts.id_token("alice@example.com"))
    assert r.status_code == 303
    assert b.get("/teams/acme/").status_code == 200

"""Sign in with Google: the server-side OAuth code flow, end to end.

A small local stand-in for Google's two OAuth endpoints (``tests/fakes/google_oauth.py``, over real HTTP)
sends the browser back with a code at once, and redeems it, checking the client secret, the
redirect URI and the PKCE verifier, for an unsigned Google ID token, which the real Firebase
Auth emulator accepts in ``accounts:signInWithIdp``. The dashboard then makes a real Firebase
session. The fixtures ``google`` and ``google_settings`` are in conftest.py.
"""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from fakes.google_oauth import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def gapp(google_settings, stores):
    from dashboard import create_app

    app = create_app(google_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def gbrowser(gapp, browser):
    """A signed-out visitor of the dashboard with Google sign-in (a Browser, see conftest)."""
    return type(browser)(gapp.test_client())


def _to_google(b, next="/"):
    """Click "Sign in with Google": the dashboard's redirect to the authorization endpoint."""
    r = b.get("/auth/google?" + urlencode({"next": next}))
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def _at_google(location: str) -> str:
    """Google sends the browser back: the callback URL (path and query) it redirects to."""
    r = requests.get(location, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["Location"])
    assert back.path == "/auth/google/callback"
    return f"{back.path}?{back.query}"


def _sign_in_with_google(b, next="/"):
    return b.get(_at_google(_to_google(b, next)))


def _text(r) -> str:
    return r.get_data(as_text=True)


# --- the happy path ---------------------------------------------------------------


def test_sign_in_page_offers_google_only_when_configured(browser, gbrowser):
    assert "Sign in with Google" not in _text(browser.get("/signin"))
    assert browser.get("/auth/google").status_code == 404
    assert browser.get("/auth/google/callback?state=x&code=y").status_code == 404

    html = _text(gbrowser.get("/signin?next=/teams/acme/"))
    assert 'href="/auth/google?next=/teams/acme/"' in html and "Sign in with Google" in html
    # Still nothing from another site: the button is a plain link to this app.
    assert "https://" not in html.split("<body")[0]


def test_authorization_request(gbrowser, google):
    location = _to_google(gbrowser, next="/teams/acme/")
    url = urlsplit(location)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{google.url}/authorize"
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert q["client_id"] == CLIENT_ID
    assert q["redirect_uri"] == "http://localhost/auth/google/callback"
    assert q["response_type"] == "code" and q["scope"] == "openid email profile"
    assert q["code_challenge_method"] == "S256"
    assert len(q["state"]) >= 32 and len(q["nonce"]) >= 32 and q["state"] != q["nonce"]
    # A new flow each time.
    q2 = parse_qs(urlsplit(_to_google(gbrowser)).query)
    assert q2["state"][0] != q["state"] and q2["code_challenge"][0] != q["code_challenge"]


def test_sign_in_with_google(gbrowser, google, tenancy, acme):
    tenancy.set_member("acme", "gina@example.com", "member")
    r = _sign_in_with_google(gbrowser, next="/teams/acme/")
    assert r.status_code == 303, _text(r)
    assert r.headers["Location"] == "/teams/acme/"
    # The token endpoint got the code with the client secret and a PKCE verifier.
    (req,) = google.token_requests
    assert req["client_secret"] == CLIENT_SECRET and len(req["code_verifier"]) >= 43
    assert req["redirect_uri"] == "http://localhost/auth/google/callback"

    home = _text(gbrowser.get("/"))
    assert "gina@example.com" in home and 'href="/teams/acme/"' in home
    assert gbrowser.get("/teams/acme/").status_code == 200
    cookie = gbrowser.client.get_cookie("__session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"

    # Signing out ends it like any other session.
    gbrowser.get("/")
    assert gbrowser.post("/signout").status_code == 303
    assert gbrowser.get("/teams/acme/").status_code == 302


def test_google_account_is_a_verified_firebase_account(gapp, gbrowser, google):
    from firebase_admin import auth

    assert _sign_in_with_google(gbrowser).status_code == 303
    user = auth.get_user_by_email("gina@example.com", app=gapp.extensions["bale"].identity.app)
    assert user.email_verified
    assert [p.provider_id for p in user.provider_data] == ["google.com"]
    # The second sign-in finds the same account.
    b2 = type(gbrowser)(gapp.test_client())
    assert _sign_in_with_google(b2).status_code == 303
    assert (
        auth.get_user_by_email("gina@example.com", app=gapp.extensions["bale"].identity.app).uid == user.uid
    )


def test_next_is_never_off_site(gbrowser, google):
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = _sign_in_with_google(gbrowser, next=evil)
        assert r.status_code == 303 and r.headers["Location"] == "/", evil


def test_sign_in_with_google_over_http(google_settings, google, tenancy, acme):
    """The same flow through a real HTTP server and a real cookie jar, following every redirect."""
    from bale_tools.devserver import Server
    from dashboard import create_app

    tenancy.set_member("acme", "gina@example.com", "member")
    server = Server(create_app(google_settings)).start()
    try:
        s = requests.Session()
        page = s.get(f"{server.url}/teams/acme/", timeout=10)  # signed out: to the sign-in page
        assert urlsplit(page.url).path == "/signin" and "Sign in with Google" in page.text
        r = s.get(f"{server.url}/auth/google", params={"next": "/teams/acme/"}, timeout=30)
        assert [h.status_code for h in r.history] == [302, 302, 303]
        assert r.status_code == 200 and r.url == f"{server.url}/teams/acme/"
        assert "gina@example.com" in r.text
        (req,) = google.token_requests
        assert req["redirect_uri"] == f"{server.url}/auth/google/callback"
    finally:
        server.stop()


# --- refusals -----------------------------------------------------------------


def _signed_out(b) -> bool:
    return b.get("/teams/acme/").status_code == 302


def test_bad_state_is_refused(gbrowser, google, acme):
    callback = _at_google(_to_google(gbrowser))
    forged = callback.replace("state=", "state=x")
    r = gbrowser.get(forged)
    assert r.status_code == 400 and "does not belong to a sign-in started here" in _text(r)
    assert google.token_requests == []  # the code was never redeemed
    # The flow is used up: the genuine answer does not work afterwards either.
    r = gbrowser.get(callback)
    assert r.status_code == 400 and "no sign-in was started" in _text(r)
    assert _signed_out(gbrowser)


def test_callback_without_a_started_flow_is_refused(gbrowser, google, gapp, acme):
    # Login CSRF: someone else's genuine answer, delivered to this browser.
    other = type(gbrowser)(gapp.test_client())
    callback = _at_google(_to_google(other))
    r = gbrowser.get(callback)
    assert r.status_code == 400 and "no sign-in was started" in _text(r)
    assert google.token_requests == [] and _signed_out(gbrowser)


def test_missing_code_is_refused(gbrowser, google, acme):
    callback = _at_google(_to_google(gbrowser))
    q = parse_qs(urlsplit(callback).query)
    r = gbrowser.get("/auth/google/callback?" + urlencode({"state": q["state"][0]}))
    assert r.status_code == 400 and "no authorization code" in _text(r)
    assert _signed_out(gbrowser)


def test_cancelled_at_google(gbrowser, google, acme):
    q = parse_qs(urlsplit(_to_google(gbrowser)).query)
    r = gbrowser.get("/auth/google/callback?" + urlencode({"state": q["state"][0], "error": "access_denied"}))
    assert r.status_code == 400 and "you cancelled it" in _text(r)
    assert _signed_out(gbrowser)


def test_token_endpoint_error_is_explained(gbrowser, google, acme):
    google.token_error = (400, {"error": "invalid_grant", "error_description": "Bad Request"})
    r = _sign_in_with_google(gbrowser, next="/teams/acme/")
    assert r.status_code == 401
    html = _text(r)
    assert "Google refused the sign-in (invalid_grant: Bad Request)" in html
    assert 'href="/auth/google?next=/teams/acme/"' in html  # try again, to the same place
    assert _signed_out(gbrowser)


def test_token_endpoint_unreachable(gapp, gbrowser, google, acme):
    from bale_tools.emulators import free_port

    settings = gapp.extensions["bale"].settings
    gapp.extensions["bale"].settings = dataclasses.replace(
        settings, google_oauth_token_url=f"http://127.0.0.1:{free_port()}/token"
    )
    r = _sign_in_with_google(gbrowser)
    assert r.status_code == 503 and "Cannot reach Google" in _text(r)
    assert _signed_out(gbrowser)


def test_a_code_works_once(gbrowser, google, gapp, acme):
    callback = _at_google(_to_google(gbrowser))
    assert gbrowser.get(callback).status_code == 303
    # Replayed in a fresh browser that started its own flow: its state differs, refused;
    # and Google would not redeem the code twice anyway.
    other = type(gbrowser)(gapp.test_client())
    _to_google(other)
    assert other.get(callback).status_code == 400


def test_unverified_google_email_is_refused(gapp, gbrowser, google, tenancy, acme):
    from firebase_admin import auth

    tenancy.set_member("acme", "gina@example.com", "member")
    google.person["email_verified"] = False
    r = _sign_in_with_google(gbrowser)
    assert r.status_code == 401 and "Google has not verified gina@example.com" in _text(r)
    assert _signed_out(gbrowser)
    # Refused before Firebase Auth heard of it: no account was made.
    with pytest.raises(auth.UserNotFoundError):
        auth.get_user_by_email("gina@example.com", app=gapp.extensions["bale"].identity.app)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"nonce": "another-sign-in"}, "belongs to another sign-in"),
        ({"aud": "someone-else.apps.googleusercontent.com"}, "issued to another application"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"exp": int(time.time()) - 3600}, "has expired"),
        ({"email": None}, "did not share an email address"),
    ],
)
def test_google_id_token_is_checked(gbrowser, google, acme, override, message):
    google.overrides = override
    r = _sign_in_with_google(gbrowser)
    assert r.status_code == 401 and message in _text(r), _text(r)
    assert _signed_out(gbrowser)


def test_firebase_refusal_is_explained(gapp, gbrowser, google, acme):
    # The emulator only accepts ID tokens with a subject; Firebase's error is passed on.
    google.overrides = {"sub": None}
    r = _sign_in_with_google(gbrowser)
    assert r.status_code == 401 and "Firebase Auth did not accept Google" in _text(r), _text(r)
    assert _signed_out(gbrowser)

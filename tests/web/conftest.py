"""Dashboard fixtures: the real Firebase Auth emulator, signed-in test clients, a browser.

The Auth emulator (npm's firebase-tools) starts once per session and its accounts are
cleared after each test. People sign up through the emulator's REST API, exactly as the
sign-in page does, and sign in to the dashboard with the ID token they get.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory, base_settings):
    from bale_tools.emulators import AuthEmulator

    work = tmp_path_factory.mktemp("auth-emulator")
    emu = AuthEmulator(project=base_settings.project, workdir=work, log_dir=work / "logs")
    try:
        emu.start()
    except Exception as exc:  # fail loudly: skipped dashboard tests would look green
        emu.stop(grace=2)
        pytest.exit(f"cannot start the Firebase Auth emulator: {exc}", returncode=3)
    os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emu.host
    yield emu
    emu.stop(grace=5)


@pytest.fixture(autouse=True)
def _clear_accounts(request):
    yield
    if "auth_emulator" in request.fixturenames:
        request.getfixturevalue("auth_emulator").clear()


@pytest.fixture(scope="session")
def dash_settings(base_settings, auth_emulator):
    return dataclasses.replace(base_settings, auth_emulator_host=auth_emulator.host)


@pytest.fixture
def app(dash_settings, stores):
    from dashboard import create_app

    app = create_app(dash_settings)
    app.config["TESTING"] = True
    return app


class Accounts:
    """Firebase Auth accounts in the emulator, made the way the sign-in page makes them."""

    def __init__(self, emulator):
        self.emulator = emulator

    def _call(self, method: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"http://{self.emulator.host}/identitytoolkit.googleapis.com/v1/accounts:{method}?key=any",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def sign_up(self, email: str, password: str = "correct horse battery") -> dict:
        return self._call("signUp", {"email": email, "password": password, "returnSecureToken": True})

    def id_token(self, email: str, password: str = "correct horse battery") -> str:
        """A fresh ID token, signing the person up first if needed."""
        try:
            return self._call(
                "signInWithPassword", {"email": email, "password": password, "returnSecureToken": True}
            )["idToken"]
        except urllib.error.HTTPError:
            return self.sign_up(email, password)["idToken"]


@pytest.fixture
def accounts(auth_emulator):
    return Accounts(auth_emulator)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class Browser:
    """A Flask test client that keeps cookies, with a helper to post forms like a browser."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def get(self, url, **kw):
        r = self.client.get(url, **kw)
        if r.mimetype == "text/html":
            m = _CSRF.search(r.get_data(as_text=True))
            if m:
                self.csrf = m.group(1)
        return r

    def post(self, url, data=None, *, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.csrf is None:
                self.get("/")  # signed in: the sign-out form has one
            if self.csrf is None:
                self.get("/signin")
            data.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=data, **kw)

    def sign_in(self, id_token: str, next: str = "/"):
        r = self.post("/session", {"id_token": id_token, "next": next})
        self.csrf = None  # the session was renewed, and its CSRF secret with it
        return r


@pytest.fixture
def browser(app):
    """A signed-out visitor."""
    return Browser(app.test_client())


@pytest.fixture
def sign_in(app, accounts):
    """sign_in(email) -> a Browser signed in as that person (signed up on first use)."""

    def _sign_in(email: str) -> Browser:
        b = Browser(app.test_client())
        r = b.sign_in(accounts.id_token(email))
        assert r.status_code == 303, r.get_data(as_text=True)
        return b

    return _sign_in


@pytest.fixture(scope="session")
def _server(dash_settings):
    """The stack over HTTP with the dashboard signing in through the Auth emulator.

    Overrides the root ``_server`` for tests/web, so ``stack`` serves this one.
    """
    from bale import settings as settings_mod
    from bale_tools.devserver import Server, build_app

    server = Server(build_app(dash_settings)).start()
    previous = os.environ.get("BALE_BASE_URL")
    # The functions read settings from the environment (cached): point them at this server.
    os.environ["BALE_BASE_URL"] = server.url
    settings_mod.get_settings.cache_clear()
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("BALE_BASE_URL", None)
    else:
        os.environ["BALE_BASE_URL"] = previous
    settings_mod.get_settings.cache_clear()


@pytest.fixture(scope="session")
def _fake_google_server():
    """Google's OAuth endpoints, faked over HTTP for the session (see tests/fakes/google_oauth.py)."""
    from fakes.google_oauth import FakeGoogle
    from fakes.server import Server

    fake = FakeGoogle()
    with Server(fake.wsgi) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def google(_fake_google_server):
    _fake_google_server.reset()
    return _fake_google_server


@pytest.fixture
def google_settings(dash_settings, google):
    """Dashboard settings with Google sign-in, against the fake Google."""
    from fakes.google_oauth import CLIENT_ID, CLIENT_SECRET

    return dataclasses.replace(
        dash_settings,
        google_oauth_client_id=CLIENT_ID,
        google_oauth_client_secret=CLIENT_SECRET,
        google_oauth_auth_url=f"{google.url}/authorize",
        google_oauth_token_url=f"{google.url}/token",
    )


# -- a real browser ---------------------------------------------------------------------------
# One Chromium for the whole session, shared by every browser test module: Playwright's sync API
# runs one event loop per thread, so a second sync_playwright() in the same session fails.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (listed in .ci/apt-packages)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"

"""``bale login``'s device flow, person-wide tokens and the Simple API's browser cookie, over HTTP.

The device endpoints are the dashboard's (served by the same dispatcher as the functions, as
in production); the approval, which needs a signed-in person, is made here through the service
the approval page calls (the page itself is driven in Chromium in tests/web/test_login.py).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from test_token_rights import RoundTrips, server_db

from factories import make_wheel, wheel_bytes, wheel_name
from uploads import form_for, post

ROOT = Path(__file__).resolve().parents[2]
BOB = "bob@example.com"
WHEEL = wheel_name("widgets", "1.0")


def code(stack, **data):
    r = requests.post(f"{stack.url}/device/code", data=data, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def poll(stack, device_code):
    return requests.post(f"{stack.url}/device/token", data={"device_code": device_code}, timeout=30)


def devices(stack):
    from bale.tokens.device import Devices

    return Devices(stack.stores)


@pytest.fixture
def published(stack, tenancy):
    tenancy.set_member("acme", BOB, "member")
    form, files = form_for(WHEEL, wheel_bytes("widgets", "1.0"))
    assert post(stack, form, files, token=stack.token(), path="/v1/upload/acme/main/").status_code == 200


def login_token(stack, email=BOB, permission="read", **data):
    from bale.tokens.service import Permission

    start = code(stack, client_name="laptop", **data)
    devices(stack).decide(start["user_code"], email, approve=True, permission=Permission(permission))
    r = poll(stack, start["device_code"])
    assert r.status_code == 200, r.text
    return r.json()


# -- the device flow ----------------------------------------------------------------------------
def test_code_poll_approve_redeem_once(stack, tenancy):
    tenancy.set_member("acme", BOB, "member")
    start = code(stack, client_name="laptop")
    assert start["verification_uri"] == f"{stack.url}/device"
    assert start["verification_uri_complete"] == f"{stack.url}/device?code={start['user_code']}"
    assert (start["expires_in"], start["interval"]) == (600, 5)
    assert len(start["user_code"]) == 9 and start["user_code"][4] == "-"
    # Nothing readable is stored: only hashes of both codes.
    [doc] = [s.to_dict() for s in stack.stores.db.collection("device_codes").stream()]
    assert start["device_code"] not in str(doc) and start["user_code"].replace("-", "") not in str(doc)

    r = poll(stack, start["device_code"])
    assert (r.status_code, r.json()["error"]) == (400, "authorization_pending")
    r = poll(stack, start["device_code"])  # again at once: too fast
    assert (r.status_code, r.json()["error"]) == (400, "slow_down")

    devices(stack).decide(start["user_code"].lower(), BOB, approve=True)  # as typed: any case
    r = poll(stack, start["device_code"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("bale_p")
    assert 29 * 86400 < body["expires_in"] <= 30 * 86400
    token = stack.stores.db.collection("tokens").document(body["token_id"]).get().to_dict()
    assert (token["team"], token["index"], token["kind"], token["owner"]) == ("*", "*", "login", BOB)
    assert token["description"] == "bale login on 'laptop' (as the requester named it) from 127.0.0.1"
    assert token["permission"] == "read"  # the approver chose nothing: read only

    # Single use: the code pair is spent, for the CLI and for the page.
    r = poll(stack, start["device_code"])
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    from bale.errors import BadRequest

    with pytest.raises(BadRequest, match="used already"):
        devices(stack).decide(start["user_code"], BOB, approve=True)


def test_denied_expired_unknown_and_bad_requests(stack):
    from google.cloud.firestore_v1.base_query import FieldFilter

    from bale.errors import BadRequest, NotFound

    start = code(stack)
    devices(stack).decide(start["user_code"], BOB, approve=False)
    assert poll(stack, start["device_code"]).json()["error"] == "access_denied"

    start = code(stack)
    # Ten minutes later (the record's expiry moved back: the clock is the emulator's data).
    ref = next(
        iter(
            stack.stores.db.collection("device_codes")
            .where(filter=FieldFilter("status", "==", "pending"))
            .stream()
        )
    ).reference
    ref.update({"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    assert poll(stack, start["device_code"]).json()["error"] == "expired_token"
    with pytest.raises(BadRequest, match="expired"):
        devices(stack).decide(start["user_code"], BOB, approve=True)

    assert poll(stack, "nonsense").json()["error"] == "invalid_grant"
    assert poll(stack, "").json()["error"] == "invalid_request"
    with pytest.raises(NotFound):
        devices(stack).decide("BCDF-GHJK", BOB, approve=True)
    with pytest.raises(BadRequest, match="not a login code"):
        devices(stack).decide("1234", BOB, approve=True)
    assert stack.stores.db.collection("device_codes").count().get()[0][0].value == 2


# -- what a login token may do ------------------------------------------------------------------
def test_a_login_token_carries_its_owners_rights_in_every_team(stack, tenancy, published):
    secret = login_token(stack, permission="upload")["access_token"]
    auth = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{stack.url}/simple/acme/main/widgets/", headers=auth, timeout=30).status_code == 200
    form, files = form_for(wheel_name("widgets", "2.0"), wheel_bytes("widgets", "2.0"))
    r = post(stack, form, files, token=secret, path="/v1/upload/acme/main/")
    assert r.status_code == 403 and "no longer has write access" in r.text  # a plain member
    tenancy.set_writer("acme", "main", BOB, True)
    assert post(stack, form, files, token=secret, path="/v1/upload/acme/main/").status_code == 200
    # Another team: Bob joins globex later, and the same token reads there too.
    tenancy.create_team("globex", "gina@example.com")
    r = requests.get(f"{stack.url}/simple/globex/main/", headers=auth, timeout=30)
    assert r.status_code == 403 and "no longer a member of globex" in r.text
    tenancy.set_member("globex", BOB, "member")
    assert requests.get(f"{stack.url}/simple/globex/main/", headers=auth, timeout=30).status_code == 200
    # Removed from acme: refused there at once, for reads and uploads.
    tenancy.remove_member("acme", BOB)
    r = requests.get(f"{stack.url}/simple/acme/main/widgets/", headers=auth, timeout=30)
    assert r.status_code == 403 and "no longer a member of acme" in r.text
    # The audit log of each of Bob's teams recorded the login.
    assert any(e["action"] == "create-token" and "login" in e["detail"] for e in tenancy.audit_log("acme"))


def test_person_wide_tokens_cost_no_extra_round_trip(stack, tenancy, published):
    from bale.tokens.service import Permission, TokenKind, Tokens

    person = login_token(stack)["access_token"]
    browser, _ = Tokens(stack.stores).create_personal(
        BOB, TokenKind.BROWSER, Permission.READ, expires_in=dt.timedelta(hours=1)
    )
    team = stack.token("read")
    for t in (person, team):
        requests.get(
            f"{stack.url}/simple/acme/main/widgets/", headers={"Authorization": f"Bearer {t}"}, timeout=30
        )
    requests.get(f"{stack.url}/simple/acme/main/widgets/", cookies={"bale_browser": browser}, timeout=30)
    with RoundTrips(server_db()) as trips:
        counts = {}
        for who, kw in (
            ("login", {"headers": {"Authorization": f"Bearer {person}"}}),
            ("browser", {"cookies": {"bale_browser": browser}}),
            ("team", {"headers": {"Authorization": f"Bearer {team}"}}),
        ):
            trips.reset()
            assert requests.get(f"{stack.url}/simple/acme/main/widgets/", timeout=30, **kw).status_code == 200
            counts[who] = trips.reset()
    assert counts == {"login": 1, "browser": 1, "team": 1}, counts


# -- the Simple API in a browser ------------------------------------------------------------------
def test_browser_cookie_reads_only_and_navigations_go_to_sign_in(stack, tenancy, published):
    from bale.tokens.service import Permission, TokenKind, Tokens

    browser, rec = Tokens(stack.stores).create_personal(
        BOB, TokenKind.BROWSER, Permission.READ, expires_in=dt.timedelta(hours=1)
    )
    jar = {"bale_browser": browser}
    for path in ("/simple/acme/main/", "/simple/acme/main/widgets/", f"/simple/acme/main/widgets/{WHEEL}"):
        r = requests.get(stack.url + path, cookies=jar, timeout=30)
        assert r.status_code == 200, (path, r.text)
        assert "Cookie" in r.headers["Vary"] and r.headers["Cache-Control"].startswith("private")
        assert requests.head(stack.url + path, cookies=jar, timeout=30).status_code == 200
    # Never an upload, never a POST.
    form, files = form_for(wheel_name("widgets", "3.0"), wheel_bytes("widgets", "3.0"))
    r = requests.post(f"{stack.url}/v1/upload/acme/main/", data=form, files=files, cookies=jar, timeout=30)
    assert r.status_code == 401
    assert requests.post(f"{stack.url}/simple/acme/main/", cookies=jar, timeout=30).status_code == 405
    # Only a browser token counts in the cookie (a login token belongs in Authorization).
    login = login_token(stack)["access_token"]
    r = requests.get(f"{stack.url}/simple/acme/main/", cookies={"bale_browser": login}, timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="bale"'

    # Anonymous: installers get 401 with the challenge; a browser's navigation goes to sign-in.
    r = requests.get(f"{stack.url}/simple/acme/main/widgets/", timeout=30, allow_redirects=False)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="bale"'
    nav = {"Sec-Fetch-Mode": "navigate"}
    r = requests.get(f"{stack.url}/simple/acme/main/widgets/", headers=nav, timeout=30, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/signin?next=/simple/acme/main/widgets/"
    # Removed from the team: the cookie stops at once; revoked (signed out): back to sign-in.
    tenancy.remove_member("acme", BOB)
    assert requests.get(f"{stack.url}/simple/acme/main/", cookies=jar, timeout=30).status_code == 403
    Tokens(stack.stores).revoke_personal(BOB, rec.id)
    r = requests.get(
        f"{stack.url}/simple/acme/main/", cookies=jar, headers=nav, timeout=30, allow_redirects=False
    )
    assert r.status_code == 302
    assert requests.get(f"{stack.url}/simple/acme/main/", cookies=jar, timeout=30).status_code == 401


# -- bale login / bale logout, the CLI ------------------------------------------------------------
def cli_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "BALE_"))}
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "NETRC": str(tmp_path / "netrc"),
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("functions", "web", "tools")),
            "NO_COLOR": "1",
        }
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def uv(env, *args):
    return subprocess.run(
        [str(Path(sys.executable).parent / "uv"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_bale_login_stores_the_token_for_uv_and_netrc_and_logout_revokes_it(
    stack, tenancy, published, tmp_path
):
    env = cli_env(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bale_tools.cli",
            "login",
            f"{stack.url}/simple/acme/main/",
            "--netrc",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = proc.stdout.readline()
    assert first.startswith(f"Open {stack.url}/device and enter the code "), first
    user_code = first.split()[-1]
    threading.Timer(1, lambda: devices(stack).decide(user_code, BOB, approve=True)).start()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    r = uv(env, "auth", "token", stack.url)
    token = r.stdout.strip()
    assert r.returncode == 0 and token.startswith("bale_p"), r.stderr
    assert token not in out + err + first  # never shown
    netrc = tmp_path / "netrc"
    assert (netrc.stat().st_mode & 0o777) == 0o600
    assert netrc.read_text() == f"machine 127.0.0.1 login __token__ password {token}\n"
    assert requests.get(f"{stack.url}/simple/acme/main/widgets/", auth=("__token__", token), timeout=30).ok

    r = subprocess.run(
        [sys.executable, "-m", "bale_tools.cli", "logout", stack.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0 and "Revoked token p" in r.stdout, r.stderr
    assert uv(env, "auth", "token", stack.url).returncode != 0
    assert netrc.read_text() == ""
    r = requests.get(f"{stack.url}/simple/acme/main/widgets/", auth=("__token__", token), timeout=30)
    assert r.status_code == 401


def test_bale_login_without_uv_says_how_to_install_it(stack, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bale_tools import login as login_mod
    from bale_tools.cli import cli

    monkeypatch.setattr(login_mod, "find_uv", lambda: None)
    r = CliRunner().invoke(cli, ["login", stack.url, "--no-browser"])
    assert r.exit_code == 1 and "uv is not installed" in r.output and "--netrc" in r.output
    assert stack.stores.db.collection("device_codes").count().get()[0][0].value == 0  # nothing started


def test_login_polling_is_bounded(stack, tmp_path, monkeypatch):
    """A code nobody approves: the CLI stops with expired_token at the code's expiry."""
    from click.testing import CliRunner

    from bale_tools import login as login_mod
    from bale_tools.cli import cli

    monkeypatch.setattr(login_mod, "MAX_WAIT", 2)
    monkeypatch.setattr(login_mod, "find_uv", lambda: None)
    start = time.monotonic()
    r = CliRunner().invoke(
        cli, ["login", stack.url, "--netrc", "--no-browser"], env={"NETRC": str(tmp_path / "n")}
    )
    assert r.exit_code == 1 and "expired_token" in r.output, r.output
    assert time.monotonic() - start < 30
    assert not (tmp_path / "n").exists()


# -- packages marked for pyx publish unchanged --------------------------------------------------
@pytest.fixture
def pyx_namespaces(stack):
    from bale import settings as settings_mod

    os.environ["BALE_PRIVATE_NAMESPACES"] = "bale,pyx"
    settings_mod.get_settings.cache_clear()
    yield
    os.environ.pop("BALE_PRIVATE_NAMESPACES")
    settings_mod.get_settings.cache_clear()


def test_pyx_documentation_example_publishes_to_acme_and_not_to_other(
    stack, tenancy, pyx_namespaces, tmp_path
):
    """pyx's docs: a project `top-secret` marked `Private :: pyx :: acme`."""
    from clients import uv_publish

    tenancy.create_team("other", "olga@example.com")
    whl = make_wheel(tmp_path, "top-secret", "0.1.0", classifiers=["Private :: pyx :: acme"])
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), whl)
    assert r.returncode == 0, r.stderr
    r = uv_publish(f"{stack.url}/v1/upload/other/main/", stack.token(team="other"), whl)
    assert r.returncode != 0 and "keeps this package inside team 'acme'" in r.stderr
    assert not stack.stores.db.collection("teams/other/indexes/main/projects").get()

"""A hostile look at sign-in (issue 13), over HTTP against the real stack: what a person-wide
token tells a stranger about other teams, where the browser cookie must never count, racing
redemptions of one approved code, a CLI that polls too fast, and ``bale logout`` offline."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from test_device_login import BOB, WHEEL, cli_env, code, devices, login_token, poll, uv

from factories import wheel_bytes, wheel_name
from uploads import form_for, post


@pytest.fixture
def published(stack, tenancy):
    tenancy.set_member("acme", BOB, "member")
    form, files = form_for(WHEEL, wheel_bytes("widgets", "1.0"))
    assert post(stack, form, files, token=stack.token(), path="/v1/upload/acme/main/").status_code == 200


def browser_token(stack) -> str:
    from bale.tokens.service import Permission, TokenKind, Tokens

    secret, _ = Tokens(stack.stores).create_personal(
        BOB, TokenKind.BROWSER, Permission.READ, expires_in=dt.timedelta(hours=1)
    )
    return secret


def test_a_person_wide_token_tells_a_non_member_nothing_about_another_team(stack, tenancy, published):
    """Bob (acme) with his login token and his browser cookie, probing team `other`: every URL,
    existing or not, gets the same 403, so neither its indexes nor its projects show."""
    tenancy.create_team("other", "olga@example.com")
    olga = stack.token(team="other")
    form, files = form_for(WHEEL, wheel_bytes("widgets", "1.0"))
    assert post(stack, form, files, token=olga, path="/v1/upload/other/main/").status_code == 200
    login = login_token(stack, permission="upload")["access_token"]
    refusal = "This token belongs to bob@example.com, who is no longer a member of other."

    for creds in (
        {"headers": {"Authorization": f"Bearer {login}"}},
        {"cookies": {"bale_browser": browser_token(stack)}},
    ):
        for path in (
            "/simple/other/main/",
            "/simple/other/nope/",
            "/simple/other/main/widgets/",
            "/simple/other/main/nothing-here/",
            f"/simple/other/main/widgets/{WHEEL}",
            f"/simple/other/main/nothing-here/{WHEEL}",
            f"/files/other/main/widgets/{WHEEL}",
        ):
            r = requests.get(stack.url + path, timeout=30, allow_redirects=False, **creds)
            assert (r.status_code, r.text.strip()) == (403, refusal), (path, creds.keys(), r.text)
        r = requests.get(stack.url + "/simple/nosuchteam/main/", timeout=30, **creds)
        assert r.status_code == 403 and "no longer a member of nosuchteam" in r.text

    # Uploads: an existing index and a missing one are refused alike, and nothing is stored.
    answers = set()
    for index in ("main", "nope"):
        form, files = form_for(wheel_name("widgets", "9.0"), wheel_bytes("widgets", "9.0"))
        r = post(stack, form, files, token=login, path=f"/v1/upload/other/{index}/")
        answers.add((r.status_code, r.text.strip()))
    assert answers == {(403, refusal)}, answers
    assert stack.stores.db.document("teams/other/indexes/main/projects/widgets").get().get("file_count") == 1


def test_the_browser_cookie_never_counts_beside_a_header_or_outside_the_simple_api(stack, tenancy, published):
    jar = {"bale_browser": browser_token(stack)}
    page = f"{stack.url}/simple/acme/main/widgets/"
    assert requests.get(page, cookies=jar, timeout=30).status_code == 200
    # Another credential in Authorization is the one judged, whatever the cookie holds.
    tenancy.create_team("globex", "gina@example.com")
    for header, status in (
        (f"Bearer {stack.token('read', team='globex')}", 403),  # valid, for another team
        ("Bearer bale_nonsense", 401),
        ("Basic Ym9iOnB3", 401),  # bob:pw
        ("Negotiate abc", 401),
        ("Bearer ", 401),  # an empty credential is still a header: no fallback to the cookie
    ):
        r = requests.get(page, cookies=jar, headers={"Authorization": header}, timeout=30)
        assert r.status_code == status, (header, r.status_code, r.text)
    # Never for an upload, Trusted Publishing or bale logout's revocation.
    form, files = form_for(wheel_name("widgets", "3.0"), wheel_bytes("widgets", "3.0"))
    r = requests.post(f"{stack.url}/v1/upload/acme/main/", data=form, files=files, cookies=jar, timeout=30)
    assert r.status_code == 401
    r = requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": "x"}, cookies=jar, timeout=30)
    assert r.status_code in (404, 422) and "bale_" not in r.text, r.text
    r = requests.post(f"{stack.url}/device/revoke", cookies=jar, timeout=30)
    assert r.status_code == 401
    for method in ("post", "put", "delete", "patch"):
        assert getattr(requests, method)(page, cookies=jar, timeout=30).status_code == 405, method
    assert (
        stack.stores.db.collection("teams/acme/indexes/main/projects/widgets/files").count().get()[0][0].value
        == 1
    )


def test_two_racing_polls_of_an_approved_code_get_one_token(stack, tenancy):
    tenancy.set_member("acme", BOB, "member")
    start = code(stack, client_name="laptop")
    devices(stack).decide(start["user_code"], BOB, approve=True)
    barrier = threading.Barrier(6)
    answers: list[int] = []

    def race():
        barrier.wait()
        answers.append(poll(stack, start["device_code"]).status_code)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 400, 400, 400, 400, 400], answers
    minted = [s for s in stack.stores.db.collection("tokens").stream() if s.get("kind") == "login"]
    assert len(minted) == 1


def test_a_cli_polling_too_fast_has_its_login_cancelled(stack, tenancy):
    from bale.errors import BadRequest
    from bale.tokens.device import MAX_SLOW_DOWNS

    start = code(stack)
    errors = [poll(stack, start["device_code"]).json()["error"] for _ in range(MAX_SLOW_DOWNS + 3)]
    assert errors[0] == "authorization_pending"
    assert errors[1:MAX_SLOW_DOWNS] == ["slow_down"] * (MAX_SLOW_DOWNS - 1)
    assert errors[MAX_SLOW_DOWNS:] == ["access_denied"] * 3, errors

    with pytest.raises(BadRequest):  # nobody can approve it any more
        devices(stack).decide(start["user_code"], BOB, approve=True)
    assert not [s for s in stack.stores.db.collection("tokens").stream() if s.get("kind") == "login"]


def test_bale_logout_with_the_registry_unreachable_still_forgets_the_token(stack, tenancy, tmp_path):
    env = cli_env(tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    secret = "bale_p123456789abcdef_" + "A" * 43
    r = subprocess.run(
        [str(Path(sys.executable).parent / "uv"), "auth", "login", dead, "--token", "-"],
        input=secret,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    (tmp_path / "netrc").write_text(
        f"machine example.org login a password b\nmachine 127.0.0.1 login __token__ password {secret}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "bale_tools.cli", "logout", dead],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"Cannot reach {dead}" in r.stderr and "still valid on the server" in r.stderr
    assert "p123456789abcdef" in r.stderr and secret not in r.stdout + r.stderr
    assert uv(env, "auth", "token", dead).returncode != 0  # gone from uv's store
    assert (tmp_path / "netrc").read_text() == "machine example.org login a password b\n"


def test_the_token_never_reaches_a_command_line(stack, tenancy, tmp_path, monkeypatch):
    """bale login and bale logout run uv with the token on stdin only: a stand-in uv records
    every argv it is given (what /proc/PID/cmdline would show) and what it read."""
    from bale_tools import login as login_mod

    log, held = tmp_path / "argv.log", tmp_path / "stdin"
    shim = tmp_path / "uv"
    shim.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'case "$1 $2" in\n'
        f'  "auth login") cat > "{held}" ;;\n'
        f'  "auth token") cat "{held}" ;;\n'
        f'  "auth logout") rm -f "{held}" ;;\n'
        "esac\n"
    )
    shim.chmod(0o755)
    monkeypatch.setattr(login_mod, "find_uv", lambda: str(shim))
    tenancy.set_member("acme", BOB, "member")
    said: list[str] = []

    def approve_then_wait(seconds: float) -> None:
        if not any(s.startswith("Approved") for s in said):
            devices(stack).decide(said[0].split()[-1], BOB, approve=True)
            said.append("Approved")

    answer = login_mod.login(
        stack.url, netrc=False, open_browser=False, echo=said.append, sleep=approve_then_wait
    )
    token = answer["access_token"]
    assert held.read_text() == token  # uv got it on stdin
    login_mod.logout(stack.url, echo=said.append)
    argv = log.read_text()
    assert argv.splitlines() == [
        f"auth login {stack.url} --token -",
        f"auth token {stack.url}",
        f"auth logout {stack.url}",
    ]
    assert token not in argv and token not in "\n".join(said)
    assert any(s.startswith("Revoked token p") for s in said)

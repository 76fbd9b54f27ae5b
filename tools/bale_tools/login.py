"""``bale login`` and ``bale logout``: a personal token from the browser, stored where uv looks.

``bale login`` asks the registry's dashboard for a device code (``POST /device/code``), shows
the person the approval URL and code (and opens the browser when run in a terminal), where the
approver picks the token's permission and lifetime (nothing this command sends can), polls
``POST /device/token`` as RFC 8628 says until the code is approved, denied or expired, and
hands the token to ``uv auth login HOST --token -`` on stdin: never in argv, a log or the
screen. uv then sends it to that host by itself (``uv auth token HOST``, ``uv pip install``,
``uv sync``, ``uv publish``). ``--netrc`` also writes it to ``~/.netrc`` (``$NETRC``), mode 0600,
for pip. ``bale logout`` revokes the token on the server and removes it from both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

HTTP_TIMEOUT = 30
#: Hosts bale login may reach over plain http (the local stack), as uv allows.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
#: Polls stop at the code's expiry, and never run longer than this whatever the server says.
MAX_WAIT = 15 * 60

UV_MISSING = """\
uv is not installed, and bale login stores the token in uv's credential store.
Install uv (https://docs.astral.sh/uv/getting-started/installation/):
    curl -LsSf https://astral.sh/uv/install.sh | sh      (or: pipx install uv)
or run bale login --netrc to keep the token in ~/.netrc for pip instead."""


def origin_of(url: str) -> str:
    """'https://pypi.example.com/simple/acme/main/' -> 'https://pypi.example.com': uv keeps one
    credential per host, and every index on this registry lives on it."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise click.UsageError(f"Not a registry URL: {url!r} (e.g. https://pypi.example.com).")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        # The device code and then the token itself would cross the network in clear text
        # (uv refuses to store plain-http credentials for such a host too).
        raise click.UsageError(f"Use https:// for {parts.hostname}: plain http only for the local stack.")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def find_uv() -> str | None:
    """uv beside this Python (a venv with uv installed), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def _post(
    url: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(data).encode(),
        headers={"Accept": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
        except ValueError:
            body = {"error": "http_error", "error_description": f"{exc.code} {exc.reason}"}
        return exc.code, body
    except urllib.error.URLError as exc:
        raise click.ClickException(f"Cannot reach {url}: {exc.reason}") from None


def _netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def _netrc_without(text: str, host: str) -> str:
    """``text`` without the one-line ``machine host …`` entries bale wrote before."""
    return "".join(line for line in text.splitlines(keepends=True) if line.split()[:2] != ["machine", host])


def write_netrc(origin: str, token: str) -> Path:
    """Replace ``origin``'s entry in the netrc file, created or kept at mode 0600."""
    host = urllib.parse.urlsplit(origin).hostname or ""
    path = _netrc_path()
    old = path.read_text() if path.exists() else ""
    kept = _netrc_without(old, host)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{kept}machine {host} login __token__ password {token}\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def netrc_token(origin: str) -> str | None:
    host = urllib.parse.urlsplit(origin).hostname or ""
    path = _netrc_path()
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:2] == ["machine", host] and "password" in words[:-1]:
            return words[words.index("password") + 1]
    return None


def remove_netrc(origin: str) -> bool:
    host = urllib.parse.urlsplit(origin).hostname or ""
    path = _netrc_path()
    if not path.exists():
        return False
    old = path.read_text()
    new = _netrc_without(old, host)
    if new != old:
        path.write_text(new)
    return new != old


def login(
    url: str,
    *,
    netrc: bool,
    open_browser: bool,
    echo: Callable[[str], None] = click.echo,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The whole flow; returns the token endpoint's answer (without printing the token)."""
    origin = origin_of(url)
    uv = find_uv()
    if uv is None and not netrc:
        raise click.ClickException(UV_MISSING)
    status, start = _post(f"{origin}/device/code", {"client_name": socket.gethostname()})
    if status != 200:
        raise click.ClickException(
            f"{origin} refused to start a login: {start.get('error_description') or start}"
        )
    echo(f"Open {start['verification_uri']} and enter the code {start['user_code']}")
    echo(f"  (or open {start['verification_uri_complete']})")
    echo(
        "On that page you choose what the token may do (read only, or read and upload) and how long "
        "it lives (up to 90 days)."
    )
    echo(f"The code expires in {start['expires_in'] // 60} minutes. Waiting for approval...")
    if open_browser:
        try:
            webbrowser.open(start["verification_uri_complete"])
        except webbrowser.Error:
            pass
    interval = float(start.get("interval") or 5)
    deadline = time.monotonic() + min(float(start["expires_in"]), MAX_WAIT)
    while True:
        sleep(interval)
        status, answer = _post(f"{origin}/device/token", {"device_code": start["device_code"]})
        if status == 200 and answer.get("access_token"):
            break
        error = answer.get("error")
        if error == "authorization_pending" and time.monotonic() < deadline:
            continue
        if error == "slow_down" and time.monotonic() < deadline:
            interval += 5
            continue
        if error == "authorization_pending":
            error, answer = "expired_token", {"error_description": "The code expired before it was approved."}
        raise click.ClickException(f"Login failed ({error}): {answer.get('error_description', '')}")
    token = answer["access_token"]
    if uv is not None:
        r = subprocess.run(
            [uv, "auth", "login", origin, "--token", "-"],
            input=token,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if r.returncode != 0:
            if netrc:
                write_netrc(origin, token)
            raise click.ClickException(f"uv auth login failed: {r.stderr.strip()}")
        echo(f"Stored in uv's credential store for {origin}: uv pip install, uv sync and uv publish use it.")
        echo(f"  Scripts: export BALE_TOKEN=$(uv auth token {origin})")
    if netrc:
        echo(f"Stored in {write_netrc(origin, token)} for pip.")
    days = round(int(answer.get("expires_in") or 0) / 86400)
    what = "read and upload" if answer.get("permission") == "upload" else "read only"
    echo(f"Logged in: token {answer.get('token_id')}, {what}, for {days} days (revoke it with bale logout).")
    return answer


def logout(url: str, *, echo: Callable[[str], None] = click.echo) -> None:
    """Revoke the stored token on the server, then forget it in uv's store and the netrc file."""
    origin = origin_of(url)
    uv = find_uv()
    token = None
    if uv is not None:
        r = subprocess.run([uv, "auth", "token", origin], capture_output=True, text=True, timeout=60)
        token = r.stdout.strip() if r.returncode == 0 else None
    token = token or netrc_token(origin)
    if not token:
        raise click.ClickException(f"Not logged in to {origin} (no token in uv's store or the netrc file).")
    # Whatever the server says (or if it cannot be reached), this machine forgets the token:
    # the person asked to log out here. A token still live on the server is said so, loudly.
    problem = None
    try:
        status, answer = _post(f"{origin}/device/revoke", {}, {"Authorization": f"Bearer {token}"})
    except click.ClickException as exc:
        problem = exc.message
    else:
        if status == 200:
            echo(f"Revoked token {answer.get('revoked')} on {origin}.")
        elif status == 401:
            echo(f"The token was already revoked or expired on {origin}.")
        else:
            problem = f"{origin} did not revoke the token: {answer.get('error_description') or status}"
    if uv is not None:
        subprocess.run([uv, "auth", "logout", origin], capture_output=True, text=True, timeout=60)
    if remove_netrc(origin):
        echo(f"Removed it from {_netrc_path()}.")
    if problem:
        token_id = token.split("_")[1] if token.count("_") >= 2 else "?"  # the ID, never the secret
        raise click.ClickException(
            f"{problem}\nRemoved the token from this machine, but token {token_id} is still valid on "
            'the server until it expires: revoke it under "My tokens" on the dashboard.'
        )
    echo(f"Logged out of {origin}.")

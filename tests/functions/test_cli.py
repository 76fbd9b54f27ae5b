"""`bale admin` and `bale dev` as users run them: as subprocesses."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from clients import uv_publish
from factories import make_wheel

BALE = str(Path(sys.executable).parent / "bale")


def bale(*args, env=None):
    return subprocess.run([BALE, *args], capture_output=True, text=True, env=env or os.environ.copy(), timeout=120)


def test_admin_flow(emulators, stores):
    r = bale("admin", "create-team", "acme", "--admin", "alice@example.com")
    assert r.returncode == 0, r.stderr
    r = bale("admin", "create-team", "Bad_Name", "--admin", "alice@example.com")
    assert r.returncode == 1 and "Invalid team name 'Bad_Name'" in r.stderr
    assert bale("admin", "create-index", "acme", "staging").returncode == 0
    r = bale("admin", "create-token", "acme", "--index", "staging", "--permission", "upload",
             "--project", "Foo", "--expires-in", "30d")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"bale_[a-z0-9]{16}_[A-Za-z0-9_-]{43}", token)
    token_id = token.split("_")[1]
    listing = bale("admin", "list-tokens", "acme").stdout
    assert token_id in listing and "foo" in listing and "active" in listing
    assert bale("admin", "revoke-token", "acme", token_id).returncode == 0
    assert "revoked" in bale("admin", "list-tokens", "acme").stdout
    r = bale("admin", "create-token", "acme", "--index", "nope", "--permission", "read")
    assert r.returncode == 1 and "No index acme/nope" in r.stderr


def _start_dev(tmp_path, *extra):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    proc = subprocess.Popen(
        [BALE, "dev", "--port", str(port), "--no-auth", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(lines)))
            return proc, port, exports, lines
    proc.kill()
    pytest.fail("bale dev did not start:\n" + "".join(lines))


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_gone(exports):
    for key in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        hostport = exports[key].split("://")[-1]
        try:
            urllib.request.urlopen(f"http://{hostport}/", timeout=2)
            return False
        except urllib.error.HTTPError:
            return False
        except OSError:
            pass
    return True


@pytest.mark.e2e
def test_bale_dev_serves_persists_and_stops(tmp_path):
    data = tmp_path / "data"
    proc, port, exports, _ = _start_dev(tmp_path, "--data-dir", str(data))
    try:
        env = dict(os.environ, **exports)
        assert bale("admin", "create-team", "acme", "--admin", "a@example.com", env=env).returncode == 0
        token = bale("admin", "create-token", "acme", "--index", "main", "--permission", "upload", env=env).stdout.split()[-1]
        whl = make_wheel(tmp_path, "persisted", "1.0")
        r = uv_publish(f"http://127.0.0.1:{port}/v1/upload/acme/main/", token, whl)
        assert r.returncode == 0, r.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as page:
            assert b"Bale" in page.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert _children_gone(exports)

    # Same data dir: the team, the token and the file are still there.
    proc, port, exports, _ = _start_dev(tmp_path, "--data-dir", str(data))
    try:
        env = dict(os.environ, **exports)
        listing = bale("admin", "list-tokens", "acme", env=env)
        assert token.split("_")[1] in listing.stdout, listing.stderr
        r = uv_publish(f"http://127.0.0.1:{port}/v1/upload/acme/main/", token, whl)
        assert r.returncode == 0, r.stderr  # identical re-upload: found, not duplicated
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert _children_gone(exports)


def test_dev_explains_missing_gcloud(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    r = subprocess.run([BALE, "dev", "--no-auth", "--port", str(_free_port())], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "Google Cloud CLI" in r.stdout


def test_dev_says_when_its_port_is_taken_before_starting_anything(tmp_path):
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run([BALE, "dev", "--no-auth", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in r.stdout
    assert "Starting" not in r.stdout  # no emulator was started for nothing

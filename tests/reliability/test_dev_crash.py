"""``bale dev --data-dir`` loses no upload answered 200, whatever dies, and supervises its parts.

One real ``bale dev`` (its own emulators, gunicorn) in a subprocess, started four times on one
port and one data directory:

1. set up a team and a token; SIGTERM: it stops within seconds and the port is free at once;
2. concurrent uploads, then ``kill -9`` of bale dev and of every process it started, mid-upload;
3. every upload that was answered 200 is there after the restart, byte-identical;
4. the Firestore emulator is killed under it: bale dev says so and exits non-zero.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for

BALE = str(Path(sys.executable).parent / "bale")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _children(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


class Dev:
    """A ``bale dev`` subprocess; its output is kept in ``lines``."""

    def __init__(self, port: int, data: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BALE_", "FIRESTORE_", "STORAGE_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [BALE, "dev", "--port", str(port), "--data-dir", str(data), "--no-auth"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(120):
            self.kill()
            pytest.fail("bale dev did not start:\n" + "".join(self.lines))
        self.env = dict(re.findall(r"export (\w+)=(\S+)", "".join(self.lines)))
        self.url = f"http://127.0.0.1:{port}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Press Ctrl-C" in line:
                self.ready.set()
        self.ready.set()

    def admin(self, *args: str) -> str:
        env = {**os.environ, **self.env}
        done = subprocess.run([BALE, "admin", *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def kill(self) -> None:
        """kill -9 of bale dev and of every process it started (each in its own group)."""
        groups = {os.getpgid(c) for c in _children(self.proc.pid) if _alive(c)}
        os.kill(self.proc.pid, signal.SIGKILL)
        for g in groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        # SIGKILL is delivered at once but a process is gone only when the kernel reaps it.
        deadline = time.monotonic() + 10
        while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # Zombies (killed, not yet reaped by their parent) still count for killpg: look at /proc.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _auth(token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def test_bale_dev_keeps_every_acknowledged_upload_and_supervises_its_parts(tmp_path):
    port = _free_port()
    data = tmp_path / "data"

    # 1. Set up, then a clean stop by SIGTERM: quick, and the port is free at once.
    dev = Dev(port, data)
    try:
        dev.admin("create-team", "acme", "--admin", "alice@example.com")
        token = (
            dev.admin("create-token", "acme", "--index", "main", "--permission", "upload").strip().split()[-1]
        )
        t0 = time.monotonic()
        dev.proc.send_signal(signal.SIGTERM)
        code = dev.proc.wait(30)
        stopped_in = time.monotonic() - t0
    finally:
        if dev.proc.poll() is None:
            dev.kill()
    assert code == 0, "".join(dev.lines)
    assert stopped_in < 10, stopped_in
    assert _port_is_free(port)

    # 2. Uploads from four clients; kill -9 of everything while they run.
    dev = Dev(port, data)
    acked: dict[str, bytes] = {}
    refused: list[str] = []
    stop = threading.Event()

    def client(c: int) -> None:
        s = requests.Session()
        for i in range(1000):
            if stop.is_set():
                return
            name, body = wheel_name("crashy", f"{c}.{i}"), wheel_bytes("crashy", f"{c}.{i}")
            try:
                form, files = form_for(name, body)
                r = s.post(
                    f"{dev.url}/v1/upload/acme/main/",
                    data=form,
                    files=files,
                    headers=_auth(token),
                    timeout=30,
                )
            except requests.RequestException:
                return  # the server died mid-request: not acknowledged
            if r.status_code == 200:
                acked[name] = body
            else:
                refused.append(f"{r.status_code} {r.text[:200]}")

    try:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        dev.kill()
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        if dev.proc.poll() is None:
            dev.kill()
    assert len(acked) >= 30, refused[:3]

    # 3. Restart on the same port: every acknowledged upload is listed and byte-identical.
    assert _port_is_free(port)
    dev = Dev(port, data)
    try:
        page = requests.get(
            f"{dev.url}/simple/acme/main/crashy/",
            headers={**_auth(token), "Accept": "application/vnd.pypi.simple.v1+json"},
            timeout=30,
        )
        assert page.status_code == 200, page.text
        listed = {f["filename"]: f["hashes"]["sha256"] for f in page.json()["files"]}
        missing = sorted(set(acked) - set(listed))
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged uploads lost: {missing[:5]}"
        for name, body in acked.items():
            assert listed[name] == hashlib.sha256(body).hexdigest(), name
        for name in list(acked)[:: max(1, len(acked) // 10)]:
            got = requests.get(f"{dev.url}/files/acme/main/crashy/{name}", headers=_auth(token), timeout=30)
            assert got.status_code == 200 and got.content == acked[name], name

        # 4. The Firestore emulator dies under it: said loudly, and bale dev exits non-zero.
        firestore = [c for c in _children(dev.proc.pid) if "gcloud" in Path(f"/proc/{c}/cmdline").read_text()]
        assert firestore, "no Firestore emulator among bale dev's children"
        os.killpg(os.getpgid(firestore[0]), signal.SIGKILL)
        code = dev.proc.wait(30)
        out = "".join(dev.lines)
        assert code != 0, out
        assert "the Firestore emulator exited" in out, out
    finally:
        if dev.proc.poll() is None:
            dev.kill()
        else:
            for c in _children(dev.proc.pid):
                try:
                    os.killpg(os.getpgid(c), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert _port_is_free(port)

"""Outages of Firestore and Cloud Storage under concurrent uploads and reads.

The registry is served as ``bale dev`` serves it (gunicorn, one worker of 8 threads, the
upload journal on) over emulators of its own, with short deadlines (settings, not code).
Clients upload new files, read pages, download files and ask for the OIDC audience the whole
time, while each backend is paused (SIGSTOP) and then killed and started again on its port.

Every request must end within its bound with its normal answer or a 503; the audience must
keep answering; and once the backends are back, every upload that was answered 200 must be
listed and download byte-identical. The figures (statuses and worst latency per phase) are
printed for docs/performance.md.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import os
import signal
import threading
import time

import pytest
import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for

PROJECT = "demo-bale"
BUCKET = "bale-faults"
READ, WRITE, STORAGE_READ, STORAGE_WRITE = 1.5, 3.0, 2.0, 3
#: The longest any request may take: an upload's reads, blob writes, commit and clean-up, each
#: at its deadline, plus retry sleeps and a busy 2-core machine.
UPLOAD_BOUND = READ * 3 + STORAGE_WRITE + WRITE + 3.0
READ_BOUND = READ * 2 + STORAGE_READ + 2.0
AUDIENCE_BOUND = 1.5


@pytest.fixture
def faulty_stack(tmp_path, monkeypatch):
    from bale.settings import Settings
    from bale.store.backends import Stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale_tools.devserver import GunicornServer
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    fs = FirestoreEmulator(log_dir=tmp_path / "logs", data_dir=tmp_path / "firestore")
    gcs = GCSEmulator(log_dir=tmp_path / "logs", data_dir=tmp_path / "gcs")
    fs.start()
    gcs.start()
    # The Firestore client of this process finds its emulator in the environment.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", fs.host)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALE_")},
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "FIRESTORE_EMULATOR_HOST": fs.host,
        "STORAGE_EMULATOR_HOST": gcs.host,
        "BALE_BUCKET": BUCKET,
        "BALE_TOKEN_CACHE_SECONDS": "0",
        "BALE_FIRESTORE_READ_DEADLINE": str(READ),
        "BALE_FIRESTORE_WRITE_DEADLINE": str(WRITE),
        "BALE_STORAGE_READ_DEADLINE": str(STORAGE_READ),
        "BALE_STORAGE_TIMEOUT": str(STORAGE_WRITE),
        "BALE_BREAKER_COOLDOWN": "1",
        "BALE_DEV_JOURNAL": str(tmp_path / "uploads.journal"),
    }
    settings = Settings(
        project=PROJECT, bucket=BUCKET, firestore_emulator_host=fs.host, storage_emulator_host=gcs.host
    )
    stores = Stores(settings)
    stores.blobs.ensure_bucket()
    Tenancy(stores).create_team("acme", "alice@example.com")
    token, _ = Tokens(stores).create("acme", "main", "upload")
    server = GunicornServer(env, log=tmp_path / "logs" / "gunicorn.log")
    server.start()
    try:
        yield server, fs, gcs, stores, token, tmp_path / "uploads.journal"
    finally:
        server.stop()
        fs.stop(grace=2)
        gcs.stop(grace=2)


def _auth(token):
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


class Load:
    """Clients that run until stopped, recording (phase, kind, status, seconds) per request."""

    def __init__(self, url: str, token: str, seed: dict[str, bytes]) -> None:
        self.url, self.token = url, token
        self.phase = "healthy"
        self.results: list[tuple[str, str, int, float]] = []
        self.refusals: list[tuple[str, str, int, str]] = []
        self.acked: dict[str, bytes] = dict(seed)
        self._seed = list(seed)
        self._stop = threading.Event()
        self._threads = (
            [threading.Thread(target=self._uploader, args=(c,)) for c in range(3)]
            + [threading.Thread(target=self._reader, args=(c,)) for c in range(3)]
            + [threading.Thread(target=self._audience)]
        )

    def _record(self, kind: str, fn) -> requests.Response | None:
        phase, t0 = self.phase, time.monotonic()
        try:
            r = fn()
            status = r.status_code
        except requests.RequestException:
            r, status = None, -1  # no answer within the client's 30 s: a hang
        self.results.append((phase, kind, status, time.monotonic() - t0))
        if r is not None and status >= 400:
            self.refusals.append((phase, kind, status, r.text[:160]))
        return r

    def _uploader(self, c: int) -> None:
        s = requests.Session()
        body_of: dict[str, bytes] = {}
        i = 0
        body = b""
        while not self._stop.is_set():
            name = wheel_name("busy", f"{c + 1}.{i}")
            # A retry sends the same bytes, as clients do (an answer lost after the commit then
            # finds them stored: 200).
            body = body_of.get(name) or wheel_bytes("busy", f"{c + 1}.{i}")
            body_of[name] = body
            form, files = form_for(name, body)
            r = self._record(
                "upload",
                lambda form=form, files=files: s.post(
                    f"{self.url}/v1/upload/acme/main/",
                    data=form,
                    files=files,
                    headers=_auth(self.token),
                    timeout=30,
                ),
            )
            if r is not None and r.status_code == 200:
                self.acked[name] = body
                i += 1
            elif r is not None and r.status_code == 503:
                time.sleep(0.2)  # as a client honouring Retry-After would, in short
            # else: the same file again (a retry of the same bytes must succeed later)

    def _reader(self, c: int) -> None:
        s = requests.Session()
        n = 0
        while not self._stop.is_set():
            n += 1
            if n % 2:
                self._record(
                    "page",
                    lambda: s.get(
                        f"{self.url}/simple/acme/main/busy/", headers=_auth(self.token), timeout=30
                    ),
                )
            else:
                name = self._seed[n % len(self._seed)]
                self._record(
                    "file",
                    lambda name=name: s.get(
                        f"{self.url}/files/acme/main/busy/{name}", headers=_auth(self.token), timeout=30
                    ),
                )

    def _audience(self) -> None:
        s = requests.Session()
        while not self._stop.is_set():
            self._record("audience", lambda: s.get(f"{self.url}/_/oidc/audience", timeout=30))
            time.sleep(0.1)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def _stop(part) -> int:
    pgid = os.getpgid(part.proc.pid)
    os.killpg(pgid, signal.SIGSTOP)
    return pgid


def _kill(part) -> None:
    os.killpg(os.getpgid(part.proc.pid), signal.SIGKILL)
    part.proc.wait(10)
    part.proc = None


def test_outages_end_every_request_within_its_bound_and_lose_nothing(faulty_stack):
    from bale.packages.journal import replay
    from bale.packages.service import Packages

    server, fs, gcs, stores, token, journal = faulty_stack
    seed = {}
    for v in ("0.1", "0.2"):
        name, body = wheel_name("busy", v), wheel_bytes("busy", v)
        form, files = form_for(name, body)
        r = requests.post(
            f"{server.url}/v1/upload/acme/main/", data=form, files=files, headers=_auth(token), timeout=30
        )
        assert r.status_code == 200, r.text
        seed[name] = body

    with Load(server.url, token, seed) as load:
        time.sleep(1.5)
        load.phase = "firestore paused"
        pgid = _stop(fs)
        time.sleep(3)
        os.killpg(pgid, signal.SIGCONT)
        load.phase = "recovering"
        time.sleep(2)
        load.phase = "storage paused"
        pgid = _stop(gcs)
        time.sleep(3)
        os.killpg(pgid, signal.SIGCONT)
        load.phase = "recovering"
        time.sleep(2)
        load.phase = "storage killed"
        _kill(gcs)
        time.sleep(3)
        gcs.start()  # same port, same files (filesystem backend)
        load.phase = "recovering"
        time.sleep(2)
        load.phase = "firestore killed"
        fs.export()  # what bale dev saves every few seconds
        _kill(fs)
        time.sleep(3)
        fs.start()  # same port, its last save
        # What bale dev does at start (in a new process: here this process's channel may need
        # a few seconds to reconnect): the uploads answered since that save.
        deadline = time.monotonic() + 30
        while True:
            try:
                replay(stores, journal)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        load.phase = "recovered"
        time.sleep(3)

    summary: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    worst: dict[str, float] = collections.defaultdict(float)
    for phase, kind, status, took in load.results:
        summary[f"{phase:>16} {kind:>8}"][status] += 1
        worst[f"{phase:>16} {kind:>8}"] = max(worst[f"{phase:>16} {kind:>8}"], took)
    for phase, kind, status, text in load.refusals:
        if phase in ("healthy", "recovered"):
            print("refused:", phase, kind, status, text.strip())
    print("\nphase, kind: statuses, worst seconds")
    for key in sorted(summary):
        print(f"{key}: {dict(summary[key])}, {worst[key]:.2f}")

    bounds = {"upload": UPLOAD_BOUND, "page": READ_BOUND, "file": READ_BOUND, "audience": AUDIENCE_BOUND}
    normal = {"upload": {200}, "page": {200}, "file": {200}, "audience": {200}}
    for phase, kind, status, took in load.results:
        assert status in normal[kind] | {503}, (phase, kind, status, took)
        assert took <= bounds[kind], (phase, kind, status, took)
        if kind == "audience":
            assert status == 200, (phase, status)
    # Each outage was felt (or the test did not test it), and the last phase is healthy again.
    felt = {phase for phase, kind, status, _ in load.results if status == 503}
    assert {"firestore paused", "storage paused", "firestore killed"} <= felt, felt
    last = [s for phase, kind, s, _ in load.results if phase == "recovered" and kind != "audience"]
    assert last and last[-5:] == [200] * 5, last[-20:]

    # Everything acknowledged is there and byte-identical.
    page = Packages(stores).page("acme", "main", "busy")
    listed = {e["f"]: e["h"] for e in page.files}
    assert len(load.acked) > len(seed)
    for name, body in load.acked.items():
        assert listed.get(name) == hashlib.sha256(body).hexdigest(), name
        rec = Packages(stores).file("acme", "main", "busy", name)
        assert stores.blobs.read(rec.blob_path) == body, name

"""firestore.rules denies every client request; the server's (admin) path still works.

Each test module run starts two Firestore emulators of its own:

* one with the project's firestore.rules, to show that a signed-in Firebase user
  (and an anonymous caller) can neither read nor write any collection Bale uses;
* one with a control rule, `allow ... if request.auth != null`, to show that the
  unsigned ID token these tests send really is taken as signed in, so the denials
  above come from the rules and not from a token the emulator threw away.

Requests go to the emulator's Firestore REST API, as a browser or a script holding an
ID token would send them. `Authorization: Bearer owner` is how the emulator marks
admin requests; the server SDKs send it when FIRESTORE_EMULATOR_HOST is set, and in
production their IAM-authorised requests skip rules the same way.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "firestore.rules"
PROJECT = "demo-bale"

# Every collection (and sub-collection) the app stores documents in.
COLLECTIONS = [
    "teams",
    "teams/acme/members",
    "teams/acme/indexes",
    "teams/acme/indexes/main/projects",
    "teams/acme/indexes/main/projects/foo/files",
    "teams/acme/indexes/main/projects/foo/pages",
    "teams/acme/indexes/main/projects/foo/status",
    "teams/acme/indexes/main/catalog",
    "teams/acme/indexes/main/advisories",
    "teams/acme/advisory_ids",
    "advisories",
    "tokens",
    "publishers",
    "oidc_jti",
    "device_codes",
    "device_attempts",
    "device_user_codes",
    "device_starts",
    "audit",
]

CONTROL_RULES = """\
rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /{document=**} {
      allow read, write: if request.auth != null;
    }
  }
}
"""

OWNER = {"Authorization": "Bearer owner"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _id_token(uid: str = "alice", email: str = "alice@example.com") -> str:
    """A Firebase ID token as the emulators accept it: unsigned (alg none)."""
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": uid,
        "user_id": uid,
        "email": email,
        "email_verified": True,
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "firebase": {"sign_in_provider": "password", "identities": {"email": [email]}},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


USER = {"Authorization": f"Bearer {_id_token()}"}
ANONYMOUS: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A Firestore emulator process started with a rules file, in its own process group."""

    def __init__(self, rules: Path, log: Path) -> None:
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port={self.host}",
                f"--rules={rules.resolve()}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )
        self.session = requests.Session()
        self.session.trust_env = False  # never send loopback traffic through a proxy

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited:\n{self.log.read_text()}")
            try:
                if self.session.get(f"http://{self.host}/", timeout=1).text.strip() == "Ok":
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"emulator not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)  # gcloud, its shell wrapper and the JVM
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        self._log_file.close()

    def url(self, path: str = "") -> str:
        base = f"http://{self.host}/v1/projects/{PROJECT}/databases/(default)/documents"
        return f"{base}/{path}" if path else base

    def request(self, method: str, path: str, headers: dict, **kwargs) -> requests.Response:
        return self.session.request(method, self.url(path), headers=headers, timeout=10, **kwargs)


@contextmanager
def _emulators(*specs: tuple[Path, Path]) -> Iterator[list[Emulator]]:
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud (with the Firestore emulator) is not installed")
    with ExitStack() as stack:
        started = []
        for rules, log in specs:  # start all first: they boot in parallel
            emulator = Emulator(rules, log)
            stack.callback(emulator.stop)
            started.append(emulator)
        for emulator in started:
            emulator.wait_ready()
        yield started


@pytest.fixture(scope="module")
def rules_emulators(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Emulator, Emulator]]:
    tmp = tmp_path_factory.mktemp("firestore-rules")
    control = tmp / "control.rules"
    control.write_text(CONTROL_RULES)
    with _emulators((RULES, tmp / "rules.log"), (control, tmp / "control.log")) as started:
        yield started[0], started[1]


@pytest.fixture(scope="module")
def locked(rules_emulators: tuple[Emulator, Emulator]) -> Emulator:
    """The emulator running firestore.rules, with one document in every collection."""
    emulator = rules_emulators[0]
    for collection in COLLECTIONS:
        r = emulator.request("PATCH", f"{collection}/doc1", OWNER, json=_fields("seeded"))
        assert r.status_code == 200, r.text
    return emulator


@pytest.fixture(scope="module")
def control(rules_emulators: tuple[Emulator, Emulator]) -> Emulator:
    return rules_emulators[1]


def _fields(value: str) -> dict:
    return {"fields": {"value": {"stringValue": value}}}


def _assert_denied(response: requests.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["status"] == "PERMISSION_DENIED", response.text


def _run_query(emulator: Emulator, collection: str, headers: dict) -> requests.Response:
    parent, _, collection_id = collection.rpartition("/")
    query = {"structuredQuery": {"from": [{"collectionId": collection_id}], "limit": 10}}
    path = f"{parent}:runQuery" if parent else ""
    url = emulator.url(path) if parent else f"{emulator.url()}:runQuery"
    return emulator.session.post(url, headers=headers, json=query, timeout=10)


# --- the control: an unsigned emulator token is a signed-in user ----------------


def test_emulator_treats_the_unsigned_id_token_as_signed_in(control: Emulator) -> None:
    allowed = control.request("POST", "teams?documentId=acme", USER, json=_fields("acme"))
    assert allowed.status_code == 200, allowed.text
    assert control.request("GET", "teams/acme", USER).status_code == 200
    _assert_denied(control.request("GET", "teams/acme", ANONYMOUS))


# --- firestore.rules: no client gets in ------------------------------------------


@pytest.mark.parametrize("who", [USER, ANONYMOUS], ids=["signed-in", "anonymous"])
@pytest.mark.parametrize("collection", COLLECTIONS)
def test_client_cannot_read(locked: Emulator, collection: str, who: dict) -> None:
    _assert_denied(locked.request("GET", f"{collection}/doc1", who))
    _assert_denied(locked.request("GET", collection, who))
    _assert_denied(_run_query(locked, collection, who))


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_signed_in_client_cannot_write(locked: Emulator, collection: str) -> None:
    create = locked.request("POST", f"{collection}?documentId=new", USER, json=_fields("x"))
    _assert_denied(create)
    _assert_denied(locked.request("PATCH", f"{collection}/doc1", USER, json=_fields("x")))
    _assert_denied(locked.request("PATCH", f"{collection}/other", USER, json=_fields("x")))
    _assert_denied(locked.request("DELETE", f"{collection}/doc1", USER))
    # Nothing changed: the seeded document is intact and no new one appeared.
    seeded = locked.request("GET", f"{collection}/doc1", OWNER).json()
    assert seeded["fields"]["value"]["stringValue"] == "seeded"
    assert locked.request("GET", f"{collection}/new", OWNER).status_code == 404


def test_signed_in_client_cannot_commit_a_batch(locked: Emulator) -> None:
    name = f"projects/{PROJECT}/databases/(default)/documents/tokens/batch"
    body = {"writes": [{"update": {"name": name, **_fields("x")}}]}
    _assert_denied(locked.session.post(f"{locked.url()}:commit", headers=USER, json=body))


# --- the server's path is untouched ------------------------------------------------


def test_owner_requests_bypass_the_rules(locked: Emulator) -> None:
    written = locked.request("PATCH", "tokens/admin-write", OWNER, json=_fields("ok"))
    assert written.status_code == 200, written.text
    read = locked.request("GET", "tokens/admin-write", OWNER)
    assert read.status_code == 200
    assert read.json()["fields"]["value"]["stringValue"] == "ok"
    listed = locked.request("GET", "teams/acme/indexes/main/projects/foo/files", OWNER)
    assert [d["name"].rsplit("/", 1)[1] for d in listed.json()["documents"]] == ["doc1"]


def test_python_server_client_bypasses_the_rules(locked: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import firestore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", locked.host)
    client = firestore.Client(project=PROJECT)
    try:
        doc = client.collection("teams").document("acme").collection("members").document("bob")
        doc.set({"role": "admin"})
        assert doc.get().to_dict() == {"role": "admin"}
        seeded = client.document("teams/acme/indexes/main/projects/foo/pages/doc1").get()
        assert seeded.to_dict() == {"value": "seeded"}
    finally:
        client.close()
    _assert_denied(locked.request("GET", "teams/acme/members/bob", USER))

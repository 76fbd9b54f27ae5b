"""Reliability: load, races, a storage fault mid-upload, and a fuzzed upload API.

Bounded in time and on loopback only; each would fail if the property it guards broke.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from factories import wheel_bytes, wheel_name
from uploads import form_for, post


def _auth(token):
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def test_ten_clients_fifty_uploads_each_all_listed(stack):
    """10 clients x 50 concurrent distinct uploads to one project -> all 500 listed."""
    from bale.packages.service import Packages

    token = stack.token()
    bodies = {}
    for c in range(10):
        for i in range(50):
            v = f"{c}.{i}"
            bodies[v] = wheel_bytes("loaded", v)

    def client(c):
        s = requests.Session()
        codes = []
        for i in range(50):
            v = f"{c}.{i}"
            form, files = form_for(wheel_name("loaded", v), bodies[v])
            codes.append(
                s.post(
                    f"{stack.url}/v1/upload/acme/main/",
                    data=form,
                    files=files,
                    headers=_auth(token),
                    timeout=120,
                ).status_code
            )
        return codes

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = [c for cs in pool.map(client, range(10)) for c in cs]
    assert codes == [200] * 500
    page = Packages(stack.stores).page("acme", "main", "loaded")
    assert len(page.files) == 500
    assert {e["v"] for e in page.files} == set(bodies)
    assert page.serial == 500
    assert len(Packages(stack.stores).files("acme", "main", "loaded")) == 500


def test_twenty_racing_uploads_of_one_filename(stack):
    """20 concurrent uploads of one filename with different content -> exactly one stored, no orphan."""
    from bale.packages.service import Packages

    token = stack.token()
    contents = [wheel_bytes("contested", "2.0", payload=f"# {i}\n".encode()) for i in range(20)]
    barrier = threading.Barrier(20)

    def upload(data):
        barrier.wait()
        return post(stack, *form_for(wheel_name("contested", "2.0"), data), token=token)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(upload, contents))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 1 and codes.count(400) == 19, codes
    rec = Packages(stack.stores).file("acme", "main", "contested", wheel_name("contested", "2.0"))
    assert rec.sha256 == hashlib.sha256(contents[codes.index(200)]).hexdigest()
    assert sorted(stack.stores.blobs.list()) == sorted([rec.blob_path, rec.metadata_path])


class FlakyProxy:
    """A TCP proxy in front of fake-gcs-server that can cut connections mid-stream."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.cut_after: int | None = None  # bytes client->server before cutting, None = healthy
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        budget = self.cut_after

        def pump(src, dst, limited):
            nonlocal budget
            try:
                while data := src.recv(65536):
                    if limited and budget is not None:
                        if len(data) >= budget:
                            self.cuts += 1
                            dst.sendall(data[: max(budget, 0)])
                            raise OSError("cut")
                        budget -= len(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)

    def close(self):
        self.sock.close()


@pytest.fixture
def flaky_storage(stack, emulators, monkeypatch):
    """Point the running stack's storage at a proxy the test can break."""
    from bale.settings import get_settings

    _, gcs = emulators
    proxy = FlakyProxy("127.0.0.1", gcs.port)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("BALE_STORAGE_TIMEOUT", "3")
    get_settings.cache_clear()
    yield proxy
    proxy.close()
    monkeypatch.undo()
    get_settings.cache_clear()


def test_storage_fault_mid_upload_is_clean_5xx_then_retry_succeeds(stack, flaky_storage):
    from bale.packages.service import Packages

    token = stack.token()
    data = wheel_bytes("faulty", "1.0", payload=os.urandom(600_000))
    flaky_storage.cut_after = 200_000  # every connection to storage dies a third of the way in
    r = post(stack, *form_for(wheel_name("faulty", "1.0"), data), token=token)
    assert flaky_storage.cuts >= 1
    assert 500 <= r.status_code < 600 and r.status_code == 503, r.text
    assert "Storage is unavailable" in r.text
    assert Packages(stack.stores).projects("acme", "main") == []
    assert Packages(stack.stores).file("acme", "main", "faulty", wheel_name("faulty", "1.0")) is None

    flaky_storage.cut_after = None  # storage is back
    r = post(stack, *form_for(wheel_name("faulty", "1.0"), data), token=token)
    assert r.status_code == 200, r.text
    rec = Packages(stack.stores).file("acme", "main", "faulty", wheel_name("faulty", "1.0"))
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert stack.stores.blobs.read(rec.blob_path) == data


_FIELD_NAMES = st.sampled_from(
    [
        ":action",
        "protocol_version",
        "name",
        "version",
        "metadata_version",
        "filetype",
        "pyversion",
        "md5_digest",
        "sha256_digest",
        "blake2_256_digest",
        "classifiers",
        "requires_python",
        "summary",
        "x",
    ]
)
_TEXT = st.text(min_size=0, max_size=40)


@pytest.fixture(scope="module")
def fuzz_token_holder():
    return {}


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fields=st.dictionaries(_FIELD_NAMES, _TEXT, max_size=8),
    action=st.sampled_from(["file_upload", "", "submit", None]),
    filename=st.one_of(
        st.text(min_size=0, max_size=60),
        st.sampled_from([wheel_name("fz", "1.0"), "fz-1.0.tar.gz", "fz-1.0.zip", "../x.whl"]),
    ),
    content=st.one_of(st.binary(max_size=2048), st.just(wheel_bytes("fz", "1.0"))),
)
def test_fuzzed_upload_form_never_5xx(stack, fields, action, filename, content):
    token = stack.token()
    form = dict(fields)
    if action is not None:
        form[":action"] = action
    try:
        r = requests.post(
            f"{stack.url}/v1/upload/acme/main/",
            data=form,
            files={"content": (filename, content, "application/octet-stream")},
            headers=_auth(token),
            timeout=60,
        )
    except (UnicodeEncodeError, ValueError):
        return  # the client could not even encode this request
    assert r.status_code < 500, (r.status_code, r.text)


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=4096),
    boundary=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=0, max_size=30),
    prefix=st.sampled_from(
        [b"", b"--B\r\n", b'--B\r\nContent-Disposition: form-data; name="content"; filename="a.whl"\r\n\r\n']
    ),
)
def test_fuzzed_multipart_body_never_5xx(stack, body, boundary, prefix):
    token = stack.token()
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        data=prefix.replace(b"B", boundary.encode()) + body,
        headers={**_auth(token), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert r.status_code < 500, (r.status_code, r.text)

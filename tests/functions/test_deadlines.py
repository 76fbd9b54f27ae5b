"""Every Firestore and Cloud Storage call has a deadline: a hung backend is a 503 with
Retry-After within it, never a 500 or a hang; requests that need no backend keep answering;
an upload whose commit met a hung Firestore can be retried with the same bytes.

The backends are the session's real emulators, stopped with SIGSTOP (tests/faults.py): the
kernel still accepts connections, nothing answers, as in a real outage.
"""

from __future__ import annotations

import hashlib
import time

import pytest
import requests

from factories import wheel_bytes, wheel_name
from faults import PausesAfterBlobs, paused
from uploads import form_for, post

READ, WRITE, STORAGE_READ, STORAGE_WRITE = 1.0, 2.0, 1.0, 2
#: What a request may take beyond its deadlines (retry sleeps, the test machine's load).
SLACK = 1.5


@pytest.fixture
def short(monkeypatch):
    """The served registry's deadlines made short (it reads its settings per request)."""
    from bale.settings import get_settings

    for key, value in {
        "BALE_FIRESTORE_READ_DEADLINE": READ,
        "BALE_FIRESTORE_WRITE_DEADLINE": WRITE,
        "BALE_STORAGE_READ_DEADLINE": STORAGE_READ,
        "BALE_STORAGE_TIMEOUT": STORAGE_WRITE,
        "BALE_BREAKER_COOLDOWN": "0.5",
    }.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.undo()
    get_settings.cache_clear()


def _get(stack, path, token, timeout=30):
    import base64

    auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    t0 = time.monotonic()
    r = requests.get(stack.url + path, headers={"Authorization": auth}, timeout=timeout)
    return r, time.monotonic() - t0


def _timed_post(stack, form, files, token):
    t0 = time.monotonic()
    r = post(stack, form, files, token=token)
    return r, time.monotonic() - t0


def _audience(stack):
    t0 = time.monotonic()
    r = requests.get(stack.url + "/_/oidc/audience", timeout=10)
    return r.status_code, time.monotonic() - t0


def _until(fn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_every_firestore_method_has_its_deadline_and_a_transient_only_retry(stores, settings):
    from google.api_core import exceptions

    from bale.store import deadlines

    transport = stores.db._firestore_api._transport
    for name in (*deadlines.READS, *deadlines.WRITES):
        guarded = transport._wrapped_methods[getattr(transport, name)]
        assert isinstance(guarded, deadlines._Guarded), name
        want = (
            settings.firestore_read_deadline if name in deadlines.READS else settings.firestore_write_deadline
        )
        assert guarded._wrapped._timeout == want, name
        retry = guarded._wrapped._retry
        assert retry._timeout == want, name
        assert retry._predicate(exceptions.ServiceUnavailable("x"))
        assert not retry._predicate(exceptions.NotFound("x"))
        assert not retry._predicate(exceptions.PermissionDenied("x"))
    # Every method the client calls is one of them (a new one would keep the library's wait).
    assert set(deadlines.READS) | set(deadlines.WRITES) >= {
        "get_document",
        "batch_get_documents",
        "commit",
        "begin_transaction",
        "rollback",
        "run_query",
    }


def test_hung_firestore_is_a_quick_503_and_the_audience_still_answers(stack, emulators, short):
    fs, _ = emulators
    token = stack.token()
    data = wheel_bytes("steady", "1.0")
    assert post(stack, *form_for(wheel_name("steady", "1.0"), data), token=token).status_code == 200
    assert _get(stack, "/simple/acme/main/steady/", token)[0].status_code == 200

    with paused(fs):
        for _ in range(3):
            r, took = _get(stack, "/simple/acme/main/steady/", token)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"].isdigit()
            assert "retry" in r.text.lower()
            assert took < READ + SLACK, took
        code, took = _audience(stack)
        assert code == 200 and took < 1.0, took
        r, took = _timed_post(
            stack, *form_for(wheel_name("steady", "2.0"), wheel_bytes("steady", "2.0")), token
        )
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert took < READ + SLACK, took

    # Back: the breaker lets a trial through after its cooldown, and reads answer again.
    assert _until(lambda: _get(stack, "/simple/acme/main/steady/", token)[0].status_code == 200)
    r, _ = _get(stack, f"/files/acme/main/steady/{wheel_name('steady', '1.0')}", token)
    assert r.status_code == 200 and r.content == data


def test_upload_whose_commit_meets_a_hung_firestore_is_503_and_a_retry_succeeds(
    stack, emulators, short, monkeypatch
):
    from bale.packages.service import Packages
    from bale.store.backends import get_stores

    fs, _ = emulators
    token = stack.token()
    served = get_stores(short)
    fault = PausesAfterBlobs(served.blobs, fs)
    monkeypatch.setattr(served, "blobs", fault)
    name = wheel_name("late", "1.0")
    data = wheel_bytes("late", "1.0")
    try:
        r, took = _timed_post(stack, *form_for(name, data), token)
    finally:
        fault.resume()
    assert fault.stopped is False
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"]
    # The commit's deadline, then the bounded clean-up's read (the breaker may cut it short).
    assert took < WRITE + READ + SLACK, took
    # Either the record is complete, or its blobs wait for the sweeper; never a record without
    # its bytes.
    rec = Packages(stack.stores).file("acme", "main", "late", name)
    blobs = set(stack.stores.blobs.list())
    if rec is not None:
        assert {rec.blob_path, rec.metadata_path} <= blobs
    monkeypatch.setattr(served, "blobs", fault._blobs)

    def retried():
        r = post(stack, *form_for(name, data), token=token)
        return r if r.status_code == 200 else None

    r = _until(retried)
    assert r is not None
    rec = Packages(stack.stores).file("acme", "main", "late", name)
    assert rec is not None and rec.sha256 == hashlib.sha256(data).hexdigest()
    got, _ = _get(stack, f"/files/acme/main/late/{name}", token)
    assert got.status_code == 200 and got.content == data
    assert sorted(stack.stores.blobs.list()) == sorted([rec.blob_path, rec.metadata_path])
    page = Packages(stack.stores).page("acme", "main", "late")
    assert [e["f"] for e in page.files] == [name]


def test_hung_storage_is_a_quick_503_for_downloads_and_uploads(stack, emulators, short):
    from bale.packages.service import Packages

    _, gcs = emulators
    token = stack.token()
    data = wheel_bytes("stored", "1.0")
    assert post(stack, *form_for(wheel_name("stored", "1.0"), data), token=token).status_code == 200
    later = wheel_bytes("stored", "2.0")
    with paused(gcs):
        r, took = _get(stack, f"/files/acme/main/stored/{wheel_name('stored', '1.0')}", token)
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert took < STORAGE_READ + SLACK, took
        r, took = _timed_post(stack, *form_for(wheel_name("stored", "2.0"), later), token)
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert took < STORAGE_WRITE + SLACK, took
        code, took = _audience(stack)
        assert code == 200 and took < 1.0, took
        # Pages come from Firestore alone: they keep answering.
        r, took = _get(stack, "/simple/acme/main/stored/", token)
        assert r.status_code == 200, r.text
    assert Packages(stack.stores).file("acme", "main", "stored", wheel_name("stored", "2.0")) is None

    def download():
        r, _ = _get(stack, f"/files/acme/main/stored/{wheel_name('stored', '1.0')}", token)
        return r.status_code == 200 and r.content == data

    assert _until(download)
    assert _until(
        lambda: post(stack, *form_for(wheel_name("stored", "2.0"), later), token=token).status_code == 200
    )
    got, _ = _get(stack, f"/files/acme/main/stored/{wheel_name('stored', '2.0')}", token)
    assert got.content == later

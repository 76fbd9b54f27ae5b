"""Deleting files for good: `bale admin delete`, then what uploaders and installers see."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from clients import twine_upload, uv_publish
from factories import make_sdist, make_wheel

BALE = str(Path(sys.executable).parent / "bale")
JSON = "application/vnd.pypi.simple.v1+json"


def bale(*args, stdin=None):
    return subprocess.run(
        [BALE, "admin", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        stdin=stdin,
    )


def get(stack, path, token, accept=JSON):
    req = urllib.request.Request(
        stack.url + path, headers={"Authorization": f"Bearer {token}", "Accept": accept}
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def published(stack, tmp_path):
    files = [
        make_wheel(tmp_path, "Widgets", "1.0"),
        make_sdist(tmp_path, "Widgets", "1.0"),
        make_wheel(tmp_path, "Widgets", "2.0"),
    ]
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files)
    assert r.returncode == 0, r.stderr
    return {f.name: f for f in files}


def page(stack, token) -> dict:
    status, body = get(stack, "/simple/acme/main/widgets/", token)
    assert status == 200
    return json.loads(body)


def test_delete_a_version_for_good(stack, published):
    read = stack.token("read")
    before = page(stack, read)
    assert before["versions"] == ["1.0", "2.0"]
    urls = {f["filename"]: f["url"] for f in before["files"]}
    blobs_before = set(stack.stores.blobs.list("acme/main/widgets/"))
    assert len(blobs_before) == 6  # three files, three METADATA

    # Without --yes and without a terminal, nothing happens.
    r = bale("delete", "acme", "main", "widgets", "1.0", stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "pass --yes to confirm" in r.stderr
    assert page(stack, read) == before

    r = bale("delete", "acme", "main", "Widgets", "1.0", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Deleted 2 files of Widgets 1.0 from acme/main" in r.stdout
    assert "Deleted widgets-1.0.tar.gz" in r.stdout
    from bale.tenancy.service import Tenancy

    log = [(e["actor"], e["action"], e["detail"]) for e in Tenancy(stack.stores).audit_log("acme")]
    assert ("cli", "delete", "main/widgets 1.0: widgets-1.0-py3-none-any.whl, widgets-1.0.tar.gz") in log

    after = page(stack, read)
    assert after["versions"] == ["2.0"]
    assert [f["filename"] for f in after["files"]] == ["widgets-2.0-py3-none-any.whl"]
    # The bytes are gone from storage, and their URLs answer 404.
    left = set(stack.stores.blobs.list("acme/main/widgets/"))
    assert len(left) == 2 and all("/widgets-2.0-py3-none-any.whl" in p for p in left)
    for name in ("widgets-1.0-py3-none-any.whl", "widgets-1.0.tar.gz"):
        assert get(stack, urllib.parse.urlsplit(urls[name]).path, read)[0] == 404
        assert get(stack, urllib.parse.urlsplit(urls[name]).path + ".metadata", read)[0] == 404
    # The records stay as tombstones that say who deleted them.
    from bale.packages.service import Packages

    recs = {r.filename: r for r in Packages(stack.stores).files("acme", "main", "widgets")}
    assert recs["widgets-1.0.tar.gz"].deleted_by == "cli" and recs["widgets-1.0.tar.gz"].deleted_at
    assert recs["widgets-2.0-py3-none-any.whl"].deleted_at is None
    assert Packages(stack.stores).project_doc("acme", "main", "widgets")["file_count"] == 1

    # The same bytes cannot come back under the same name, with either client.
    r = twine_upload(f"{stack.url}/v1/upload/acme/main/", stack.token(), published["widgets-1.0.tar.gz"])
    assert r.returncode != 0
    assert "was used by a deleted file and cannot be reused" in " ".join((r.stdout + r.stderr).split())
    r = uv_publish(
        f"{stack.url}/v1/upload/acme/main/", stack.token(), published["widgets-1.0-py3-none-any.whl"]
    )
    assert r.returncode != 0 and "was used by a deleted file" in r.stderr
    assert page(stack, read) == after
    assert set(stack.stores.blobs.list("acme/main/widgets/")) == left  # the refused uploads left nothing


def test_delete_one_file_of_a_version(stack, published):
    read = stack.token("read")
    r = bale("delete", "acme", "main", "widgets", "1.0", "--filename", "widgets-1.0.tar.gz", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Deleted 1 file of widgets 1.0" in r.stdout
    names = sorted(f["filename"] for f in page(stack, read)["files"])
    assert names == ["widgets-1.0-py3-none-any.whl", "widgets-2.0-py3-none-any.whl"]
    assert page(stack, read)["versions"] == ["1.0", "2.0"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["acme", "main", "widgets", "9.9"], "No files for widgets 9.9 in acme/main"),
        (["acme", "main", "widgets", "1.0", "--filename", "nope.whl"], "No file 'nope.whl' of widgets 1.0"),
        (["acme", "main", "gadgets", "1.0"], "No project 'gadgets' in acme/main"),
        (["acme", "main", "widgets", "not a version"], "Invalid version 'not a version'"),
        (["acme", "nope", "widgets", "1.0"], "No index acme/nope"),
    ],
)
def test_delete_refuses_what_is_not_there(stack, published, args, message):
    read = stack.token("read")
    before = page(stack, read)
    r = bale("delete", *args, "--yes")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert page(stack, read) == before
    assert len(stack.stores.blobs.list("acme/main/widgets/")) == 6


def test_deletion_racing_a_reupload_leaves_no_blob(stack, published, monkeypatch):
    """The upload's early check passes, then an admin deletes the file before the upload commits:
    the commit meets the tombstone, the upload is refused, and the bytes it wrote are removed."""
    from bale.packages.service import Packages

    real_precheck = Packages.precheck

    def precheck_then_delete(self, team, index, rec):
        outcome = real_precheck(self, team, index, rec)
        if rec.filename == "widgets-1.0.tar.gz":
            Packages(stack.stores).delete(team, index, "widgets", "1.0", filename=rec.filename, actor="racer")
            return None  # what the check saw: the live file, with other bytes
        return outcome

    monkeypatch.setattr(Packages, "precheck", precheck_then_delete)
    r = twine_upload(f"{stack.url}/v1/upload/acme/main/", stack.token(), published["widgets-1.0.tar.gz"])
    assert r.returncode != 0 and "was used by a deleted file" in " ".join((r.stdout + r.stderr).split())
    left = stack.stores.blobs.list("acme/main/widgets/")
    assert not [p for p in left if "widgets-1.0.tar.gz" in p], left


def test_rebuild_catalog_relists_every_project(stack, published, tmp_path):
    """`bale admin rebuild-catalog` re-lists what a catalog lost (say, a project created by an
    older upload function during a rolling deploy); running it on a complete one changes nothing."""
    from bale.packages.service import CATALOG_CHUNKS, Packages

    read = stack.token("read")
    assert (
        uv_publish(
            f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(tmp_path, "Gadgets", "0.1")
        ).returncode
        == 0
    )
    packages = Packages(stack.stores)
    for k in range(CATALOG_CHUNKS):
        packages.catalog_ref("acme", "main", k).delete()
    _, body = get(stack, "/simple/acme/main/", read)
    assert json.loads(body)["projects"] == []  # the catalog lost them
    for _ in range(2):
        r = bale("rebuild-catalog", "acme", "main")
        assert r.returncode == 0, r.stderr
        assert "The catalog of acme/main lists its 2 projects." in r.stdout
        _status, body = get(stack, "/simple/acme/main/", read)
        assert [p["name"] for p in json.loads(body)["projects"]] == ["Gadgets", "Widgets"]
    assert bale("rebuild-catalog", "acme", "nope").returncode == 1


def test_list_projects_and_files_show_what_is_there(stack, published):
    r = bale("list-projects", "acme", "main")
    assert r.returncode == 0, r.stderr
    (row,) = [line.split() for line in r.stdout.splitlines()[1:]]
    assert row[:2] == ["Widgets", "3"]

    assert bale("yank", "acme", "main", "widgets", "2.0", "--reason", "bad build").returncode == 0
    assert (
        bale(
            "delete", "acme", "main", "widgets", "1.0", "--filename", "widgets-1.0.tar.gz", "--yes"
        ).returncode
        == 0
    )
    r = bale("list-files", "acme", "main", "Widgets")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines()[1:]}
    assert list(rows) == [
        "widgets-1.0-py3-none-any.whl",
        "widgets-1.0.tar.gz",
        "widgets-2.0-py3-none-any.whl",
    ]
    assert rows["widgets-1.0-py3-none-any.whl"].endswith("available")
    assert rows["widgets-1.0.tar.gz"].endswith("deleted")
    assert rows["widgets-2.0-py3-none-any.whl"].endswith("yanked: bad build")
    assert bale("list-projects", "acme", "main").stdout.splitlines()[1].split()[1] == "2"  # live files

    r = bale("list-files", "acme", "main", "gadgets")
    assert r.returncode == 1 and "No project 'gadgets' in acme/main" in r.stderr

"""Project status markers (PEP 792) over real HTTP on the real emulators: set with `bale admin
project status`, audited, served in HTML and JSON at api-version 1.4, enforced on uploads and
downloads, and read by the real uv and pip."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse

import pytest
import test_upstream
from click.testing import CliRunner
from test_simple_api import JSON_V1, Links, get

from clients import BIN, run, uv_publish
from factories import make_wheel, metadata_text, wheel_bytes, wheel_name
from uploads import form_for, post

# test_upstream's fake upstream, as fixtures here too.
_upstream_server, upstream, bale_env = (
    test_upstream._upstream_server,
    test_upstream.upstream,
    test_upstream.bale_env,
)

STATES = ["active", "archived", "quarantined", "deprecated"]


@pytest.fixture
def bale(stores):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    def run_cli(*args):
        settings_mod.get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["admin", *args], catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return run_cli


@pytest.fixture
def lib(stack):
    """acme/main holding lib 1.0 (a wheel)."""
    data = wheel_bytes("lib", "1.0")
    r = post(stack, *form_for(wheel_name("lib", "1.0"), data), token=stack.token())
    assert r.status_code == 200, r.text
    stack.wheel = data  # the bytes as uploaded (a rebuilt wheel differs in its timestamps)
    return stack


def pages(stack, token):
    js = get(stack, "/simple/acme/main/lib/", token, JSON_V1)
    ht = get(stack, "/simple/acme/main/lib/", token, "text/html")
    assert js.status_code == ht.status_code == 200, (js.text, ht.text)
    links = Links()
    links.feed(ht.text)
    return js.json(), links


# -- the command, the audit log, the page -----------------------------------------------------------
def test_status_is_set_shown_audited_and_served(bale, lib):
    from bale.tenancy.service import Tenancy

    token = lib.token("read")
    doc, links = pages(lib, token)
    assert "project-status" not in doc and doc["meta"]["api-version"] == "1.4"
    assert "pypi:project-status" not in links.meta
    serial = doc["meta"]["_last-serial"]

    r = bale("project", "status", "acme", "main", "Lib", "deprecated", "--reason", "use <gadgets> & co")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "lib in acme/main is now deprecated (use <gadgets> & co)\n"
    assert (
        bale("project", "status", "acme", "main", "lib").stdout
        == "lib in acme/main: deprecated (use <gadgets> & co)\n"
    )
    # The cached page is not served again: the serial moved with the status.
    doc, links = pages(lib, token)
    assert doc["project-status"] == {"status": "deprecated", "reason": "use <gadgets> & co"}
    assert doc["meta"]["_last-serial"] == serial + 1
    assert [f["filename"] for f in doc["files"]] == [wheel_name("lib", "1.0")]
    assert links.meta["pypi:project-status"] == "deprecated"
    assert links.meta["pypi:project-status-reason"] == "use <gadgets> & co"
    assert links.meta["pypi:repository-version"] == "1.4"

    # The flat name; back to active drops the marker and the reason.
    r = bale("set-project-status", "acme", "main", "lib", "active", "--reason", "ignored")
    assert r.exit_code == 0 and r.stdout == "lib in acme/main is now active\n"
    doc, links = pages(lib, token)
    assert "project-status" not in doc and "pypi:project-status-reason" not in links.meta

    log = [(e["actor"], e["action"], e["detail"]) for e in Tenancy(lib.stores).audit_log("acme")]
    assert ("cli", "project-status", "main/lib deprecated: use <gadgets> & co") in log
    assert ("cli", "project-status", "main/lib active") in log


def test_bad_statuses_and_missing_projects_are_refused(bale, lib):
    r = bale("project", "status", "acme", "main", "lib", "retired")
    assert r.exit_code == 2 and "'retired' is not one of" in r.stderr
    r = bale("project", "status", "acme", "main", "nothing-here", "archived")
    assert r.exit_code == 1 and "No project 'nothing-here' in acme/main." in r.stderr
    r = bale("project", "status", "acme", "nowhere", "lib", "archived")
    assert r.exit_code == 1
    from bale.packages.service import Packages

    assert "status" not in Packages(lib.stores).project_doc("acme", "main", "lib")


# -- enforcement --------------------------------------------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_each_status_served_and_enforced(bale, lib, state):
    """Uploads: refused for archived and quarantined, naming the status, nothing stored.
    Files: listed and served except for quarantined (page, file and .metadata alike)."""
    from bale.packages.service import Packages

    read = lib.token("read")
    wheel = wheel_name("lib", "1.0")
    base = f"/simple/acme/main/lib/{wheel}"
    assert get(lib, base + ".metadata", read).status_code == 200  # warm this instance's page cache
    assert bale("project", "status", "acme", "main", "lib", state, "--reason", "why not").exit_code == 0

    doc, links = pages(lib, read)
    if state == "active":
        assert "project-status" not in doc and "pypi:project-status" not in links.meta
    else:
        assert doc["project-status"] == {"status": state, "reason": "why not"}
        assert (links.meta["pypi:project-status"], links.meta["pypi:project-status-reason"]) == (
            state,
            "why not",
        )
    quarantined = state == "quarantined"
    assert [f["filename"] for f in doc["files"]] == ([] if quarantined else [wheel])
    assert doc["versions"] == ([] if quarantined else ["1.0"])
    assert [a["text"] for a in links.anchors] == ([] if quarantined else [wheel])

    # Downloads, warm (this instance's page) and cold (a fresh instance reads the records).
    from bale.api.simple import download
    from bale.api.simple import pages as page_cache

    for cold in (False, True):
        if cold:
            page_cache.PAGES.clear()
            download.clear_caches()
        for path in (base, base + ".metadata"):
            r = get(lib, path, read)
            if quarantined:
                assert r.status_code == 404, (cold, path)
            else:
                assert r.status_code == 200, (cold, path, r.text)
        if quarantined:
            assert "quarantined" in get(lib, base, read).text or not cold

    new = wheel_name("lib", "2.0")
    r = post(lib, *form_for(new, wheel_bytes("lib", "2.0")), token=lib.token())
    if state in ("archived", "quarantined"):
        assert r.status_code == 400
        assert f"'lib' is {state} (why not) and accepts no new uploads" in r.text
        assert f"is {state}" in r.reason
        # Even a retry of a file it holds: PEP 792 allows no uploads at all.
        again = post(lib, *form_for(wheel, lib.wheel), token=lib.token())
        assert again.status_code == 400 and "accepts no new uploads" in again.text
    else:
        assert r.status_code == 200, r.text
    stored = {f.filename for f in Packages(lib.stores).files("acme", "main", "lib")}
    assert (new in stored) == (state not in ("archived", "quarantined"))
    # Refused before a byte was stored.
    stored_blobs = [p for p in lib.stores.blobs.list("acme/main/lib/") if new in p]
    assert (stored_blobs == []) == (state in ("archived", "quarantined"))


def test_lifting_a_quarantine_serves_the_files_again(bale, lib):
    read = lib.token("read")
    wheel = wheel_name("lib", "1.0")
    assert bale("project", "status", "acme", "main", "lib", "quarantined").exit_code == 0
    assert get(lib, f"/simple/acme/main/lib/{wheel}", read).status_code == 404
    assert bale("project", "status", "acme", "main", "lib", "active").exit_code == 0
    r = get(lib, f"/simple/acme/main/lib/{wheel}", read)
    assert r.status_code == 200 and r.content == lib.wheel
    r = get(lib, f"/simple/acme/main/lib/{wheel}.metadata", read)
    assert r.status_code == 200 and r.text == metadata_text("lib", "1.0")


class _StatusMidUpload:
    """Wraps the served BlobStore: once an upload's blobs are written (its METADATA, the second
    create), the project's status is set, so it changes after the upload's precheck and
    before its commit. Every call goes to fake-gcs-server."""

    def __init__(self, blobs, set_status):
        self._blobs = blobs
        self._set_status = set_status
        self.done = False

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def create(self, path, fileobj, *, size, content_type):
        gen = self._blobs.create(path, fileobj, size=size, content_type=content_type)
        if path.endswith(".metadata") and not self.done:
            self.done = True
            self._set_status()
        return gen


@pytest.mark.parametrize("state", ["archived", "quarantined", "deprecated"])
def test_a_status_set_while_an_upload_is_under_way_decides_its_commit(lib, monkeypatch, state):
    """The commit reads the status again: an upload that passed the early check when the
    project was active is refused if the status changed before its commit, and leaves no
    record, no page entry, no audit entry and no blob. (deprecated takes uploads: it lands.)"""
    from bale.packages.service import Packages
    from bale.settings import get_settings
    from bale.store.backends import get_stores
    from bale.tenancy.service import Tenancy

    served = get_stores(get_settings())
    packages = Packages(lib.stores)
    hook = _StatusMidUpload(
        served.blobs, lambda: packages.set_status("acme", "main", "lib", state, "mid-upload", actor="test")
    )
    monkeypatch.setattr(served, "blobs", hook)
    new = wheel_name("lib", "2.0")
    r = post(lib, *form_for(new, wheel_bytes("lib", "2.0")), token=lib.token())
    monkeypatch.undo()
    assert hook.done
    doc = packages.project_doc("acme", "main", "lib")
    assert doc["status"] == state
    uploads = [e["detail"] for e in Tenancy(lib.stores).audit_log("acme") if e["action"] == "upload"]
    if state == "deprecated":
        assert r.status_code == 200, r.text
        assert packages.file("acme", "main", "lib", new) is not None
        assert doc["file_count"] == 2 and f"main/lib {new}" in uploads
        return
    assert r.status_code == 400, r.text
    assert f"'lib' is {state} (mid-upload) and accepts no new uploads" in r.text
    assert f"is {state}" in r.reason
    assert packages.file("acme", "main", "lib", new) is None
    assert doc["file_count"] == 1 and doc["serial"] == 2  # the first upload, then the status
    assert uploads == [f"main/lib {wheel_name('lib', '1.0')}"]
    chunks = packages.db.collection("teams/acme/indexes/main/projects/lib/pages").stream()
    assert [e["f"] for c in chunks for e in (c.to_dict() or {}).get("files", [])] == [
        wheel_name("lib", "1.0")
    ]
    # The blobs it wrote were removed again (the emulator's account may delete; production's
    # may not, and there `bale admin sweep` removes them).
    assert [p for p in lib.stores.blobs.list("acme/main/lib/") if new in p] == []


def test_the_provenance_of_a_quarantined_project_is_not_served(bale, lib):
    """The Integrity API (PEP 740) answers like a download: 404 while quarantined, naming the
    status and its reason; served again when the quarantine is lifted."""
    from bale.store import paths

    wheel = wheel_name("lib", "1.0")
    body = '{"version": 1, "attestation_bundles": []}'
    lib.stores.db.document(paths.provenance("acme", "main", "lib", wheel)).set(
        {"json": body, "created_at": None}
    )
    read = lib.token("read")
    url = f"/integrity/acme/main/lib/1.0/{wheel}/provenance"
    r = get(lib, url, read)
    assert r.status_code == 200 and r.text == body
    for state in ("archived", "deprecated"):  # these still offer their files, and so this
        assert bale("project", "status", "acme", "main", "lib", state).exit_code == 0
        assert get(lib, url, read).status_code == 200
    assert (
        bale("project", "status", "acme", "main", "lib", "quarantined", "--reason", "malware").exit_code == 0
    )
    for method in ("GET", "HEAD"):
        r = get(lib, url, read, method=method)
        assert r.status_code == 404, (method, r.text)
    r = get(lib, url, read)
    assert r.text == "Project 'lib' in acme/main is quarantined (malware): none of its files is served.\n"
    assert bale("project", "status", "acme", "main", "lib", "active").exit_code == 0
    assert get(lib, url, read).text == body


def test_downloads_of_a_quarantined_project_name_the_status_and_reason(bale, lib):
    read = lib.token("read")
    wheel = wheel_name("lib", "1.0")
    from bale.api.simple import download
    from bale.api.simple import pages as page_cache

    assert (
        bale("project", "status", "acme", "main", "lib", "quarantined", "--reason", "malware").exit_code == 0
    )
    want = "Project 'lib' in acme/main is quarantined (malware): none of its files is served.\n"
    for warm in (False, True):  # the record's read, then this instance's page of it
        if not warm:
            page_cache.PAGES.clear()
            download.clear_caches()
        else:
            assert get(lib, "/simple/acme/main/lib/", read).status_code == 200
        for path in (f"/simple/acme/main/lib/{wheel}", f"/files/acme/main/lib/{wheel}.metadata"):
            r = get(lib, path, read)
            assert (r.status_code, r.text) == (404, want), (warm, path)


# -- the project list ---------------------------------------------------------------------------------
def _listed(stack, path, token):
    js = get(stack, path, token, JSON_V1)
    ht = get(stack, path, token, "text/html")
    assert js.status_code == ht.status_code == 200, (js.text, ht.text)
    links = Links()
    links.feed(ht.text)
    names = [p["name"] for p in js.json()["projects"]]
    assert [a["text"] for a in links.anchors] == names
    return names, js.headers["ETag"]


def test_the_project_list_leaves_out_quarantined_projects(bale, lib):
    """As PyPI does (PEP 792 changes no root response, and a quarantined project offers nothing
    to install): left out of the list in HTML and JSON, for every token, while its own page
    still answers with the marker. Archived and deprecated projects stay listed."""
    r = post(lib, *form_for(wheel_name("app", "1.0"), wheel_bytes("app", "1.0")), token=lib.token())
    assert r.status_code == 200, r.text
    every, some = lib.token("read"), lib.token("read", projects=["lib", "app"])
    for token in (every, some):
        assert _listed(lib, "/simple/acme/main/", token)[0] == ["app", "lib"]
    _, etag = _listed(lib, "/simple/acme/main/", every)
    for state in ("archived", "deprecated"):
        assert bale("project", "status", "acme", "main", "lib", state).exit_code == 0
        assert _listed(lib, "/simple/acme/main/", every) == (["app", "lib"], etag)

    assert bale("project", "status", "acme", "main", "lib", "quarantined").exit_code == 0
    for token in (every, some):
        names, now = _listed(lib, "/simple/acme/main/", token)
        assert names == ["app"] and now != etag  # the list's serial moved: no stale copy
    doc, links = pages(lib, every)
    assert doc["project-status"] == {"status": "quarantined"} and doc["files"] == []
    assert links.meta["pypi:project-status"] == "quarantined" and links.anchors == []
    # Setting it again leaves it out still, and puts back a name the index's list lost (as one
    # set before the list kept them); lifting it brings the project back.
    from google.cloud import firestore

    from bale.tenancy.service import Tenancy

    Tenancy(lib.stores).index_ref("acme", "main").update({"quarantined": firestore.DELETE_FIELD})
    assert _listed(lib, "/simple/acme/main/", every)[0] == ["app", "lib"]
    assert bale("project", "status", "acme", "main", "lib", "quarantined", "--reason", "x").exit_code == 0
    assert _listed(lib, "/simple/acme/main/", every)[0] == ["app"]
    assert bale("project", "status", "acme", "main", "lib", "deprecated").exit_code == 0
    assert _listed(lib, "/simple/acme/main/", every)[0] == ["app", "lib"]


# -- views over a project's status ---------------------------------------------------------------------
def test_views_hide_quarantined_projects_and_filter_on_package_status(bale, lib):
    """A view shows a source's page as it is: a quarantined project is left out of the view's
    list, its page lists nothing and its files are 404 naming the status. A filter on
    ``package.status`` hides the files of projects in other states, pages and downloads alike."""
    wheel = wheel_name("lib", "1.0")
    r = bale("create-view", "acme", "current", "--source", "main", "--filter", 'package.status == "active"')
    assert r.exit_code == 0, r.stderr
    r = bale("create-view", "acme", "safe", "--source", "main", "--filter", 'package.status != "quarantined"')
    assert r.exit_code == 0, r.stderr

    read = {name: lib.token("read", index=name) for name in ("current", "safe")}

    def view(name):
        js = get(lib, f"/simple/acme/{name}/lib/", read[name], JSON_V1).json()
        files = [f["filename"] for f in js["files"]]
        codes = [
            get(lib, f"/simple/acme/{name}/lib/{wheel}{m}", read[name]).status_code for m in ("", ".metadata")
        ]
        return js.get("project-status"), files, codes, _listed(lib, f"/simple/acme/{name}/", read[name])[0]

    assert view("current") == (None, [wheel], [200, 200], ["lib"])
    assert bale("project", "status", "acme", "main", "lib", "deprecated", "--reason", "old").exit_code == 0
    marker = {"status": "deprecated", "reason": "old"}
    assert view("current") == (marker, [], [404, 404], ["lib"])
    assert view("safe") == (marker, [wheel], [200, 200], ["lib"])

    assert bale("project", "status", "acme", "main", "lib", "quarantined", "--reason", "bad").exit_code == 0
    marker = {"status": "quarantined", "reason": "bad"}
    for name in ("current", "safe"):
        assert view(name) == (marker, [], [404, 404], [])
        r = get(lib, f"/simple/acme/{name}/lib/{wheel}", read[name])
        assert (
            "Project 'lib' in acme/" + name + " is quarantined (bad): none of its files is served." in r.text
        )


# -- an upstream's statuses pass through ---------------------------------------------------------------
@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
@pytest.mark.parametrize("state", ["archived", "quarantined", "deprecated"])
def test_an_upstream_status_passes_through(stack, upstream, bale_env, state, html_only):
    from bale.upstream.service import Upstreams
    from bale.views.service import Views

    bale_env(BALE_UPSTREAM_PAGE_TTL=0)
    Upstreams(stack.stores, stack.settings).set_upstream("acme", "main", url=upstream.index_url)
    if html_only:
        upstream.faults["pubdep"].add("html_only")
    f = upstream.add("pubdep", "1.0")
    read = stack.token("read")
    wheel = f"/simple/acme/main/pubdep/{f['filename']}"
    assert get(stack, wheel, read).status_code == 200  # a copy Bale keeps
    upstream.status["pubdep"] = (state, "upstream says <so>")

    doc = get(stack, "/simple/acme/main/pubdep/", read, JSON_V1).json()
    assert doc["project-status"] == {"status": state, "reason": "upstream says <so>"}
    links = Links()
    links.feed(get(stack, "/simple/acme/main/pubdep/", read, "text/html").text)
    assert links.meta["pypi:project-status"] == state
    assert links.meta["pypi:project-status-reason"] == "upstream says <so>"
    quarantined = state == "quarantined"
    assert [x["filename"] for x in doc["files"]] == ([] if quarantined else [f["filename"]])
    # Not even the copy Bale made is served for a quarantined project.
    for path in (wheel, wheel + ".metadata"):
        r = get(stack, path, read)
        assert r.status_code == (404 if quarantined else 200)
        if quarantined:
            assert "'pubdep' in acme/main (its upstream) is quarantined (upstream says <so>)" in r.text
    # Through a view of the index, the same: the upstream's marker, and no file of a quarantine.
    Views(stack.stores).create("acme", "mirror", ["main"], None)
    vread = stack.token("read", index="mirror")
    vdoc = get(stack, "/simple/acme/mirror/pubdep/", vread, JSON_V1).json()
    assert vdoc["project-status"] == doc["project-status"]
    assert [x["filename"] for x in vdoc["files"]] == [x["filename"] for x in doc["files"]]
    r = get(stack, f"/simple/acme/mirror/pubdep/{f['filename']}", vread)
    assert r.status_code == (404 if quarantined else 200)
    if quarantined:
        assert "'pubdep' in acme/mirror is quarantined (upstream says <so>)" in r.text

    del upstream.status["pubdep"]  # lifted upstream: served again
    doc = get(stack, "/simple/acme/main/pubdep/", read, JSON_V1).json()
    assert "project-status" not in doc and [x["filename"] for x in doc["files"]] == [f["filename"]]
    assert get(stack, wheel, read).status_code == 200


# -- real clients -------------------------------------------------------------------------------------
@pytest.fixture
def published(stack, tmp_path):
    """lib 1.0 and app 1.0 (needing lib), published with uv."""
    dist = tmp_path / "dist"
    dist.mkdir()
    files = [make_wheel(dist, "lib", "1.0"), make_wheel(dist, "app", "1.0", requires=["lib"])]
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files)
    assert r.returncode == 0, r.stderr
    return dist


def index_url(stack, token) -> str:
    host = urllib.parse.urlsplit(stack.url).netloc
    return f"http://__token__:{token}@{host}/simple/acme/main/"


@pytest.mark.e2e
@pytest.mark.parametrize("state", STATES)
def test_uv_and_pip_install_unless_quarantined(bale, stack, published, tmp_path, client_env, state):
    assert bale("project", "status", "acme", "main", "lib", state, "--reason", "see docs").exit_code == 0
    url = index_url(stack, stack.token("read"))
    venv = tmp_path / "venv"
    r = run([BIN / "uv", "venv", "--no-config", "--python", sys.executable, venv], env=client_env)
    assert r.returncode == 0, r.stderr
    uv = run(
        [
            BIN / "uv",
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            venv / "bin" / "python",
            "--index-url",
            url,
            "app",
        ],
        env=client_env,
    )
    pip = run(
        [
            BIN / "pip",
            "install",
            "--no-cache-dir",
            "--isolated",
            "--disable-pip-version-check",
            "--target",
            tmp_path / "target",
            "--index-url",
            url,
            "app",
        ],
        env=client_env,
    )
    if state == "quarantined":
        # Nothing of lib is listed, so neither client can satisfy app's dependency.
        assert uv.returncode != 0 and "lib" in uv.stderr, uv.stderr
        assert pip.returncode != 0 and "lib" in pip.stdout + pip.stderr
        return
    assert uv.returncode == 0, uv.stderr
    assert pip.returncode == 0, pip.stdout + pip.stderr
    code = "import lib, app; print(lib.__version__, app.__version__)"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["1.0", "1.0"], out.stderr
    assert (tmp_path / "target" / "lib" / "__init__.py").read_text() == '__version__ = "1.0"\n'


@pytest.mark.e2e
@pytest.mark.parametrize("state", ["archived", "quarantined"])
def test_uv_publish_is_refused_naming_the_status(bale, stack, published, tmp_path, state):
    assert bale("project", "status", "acme", "main", "lib", state).exit_code == 0
    dist = tmp_path / "new"
    dist.mkdir()
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(dist, "lib", "1.1"))
    assert r.returncode != 0
    assert f"is {state}" in r.stderr and "accepts no new uploads" in r.stderr, r.stderr
    from bale.packages.service import Packages

    assert {f.version for f in Packages(stack.stores).files("acme", "main", "lib")} == {"1.0"}


@pytest.mark.e2e
def test_uv_installs_through_a_status_filtered_view_only_active_projects(
    bale, stack, published, tmp_path, client_env
):
    """A view with ``package.status == "active"``: while lib is deprecated the view offers none
    of its files, so the real uv cannot satisfy app's dependency on it (the plain index still
    can); once lib is active again the same view installs both."""
    r = bale("create-view", "acme", "current", "--source", "main", "--filter", 'package.status == "active"')
    assert r.exit_code == 0, r.stderr
    assert (
        bale("project", "status", "acme", "main", "lib", "deprecated", "--reason", "see docs").exit_code == 0
    )
    host = urllib.parse.urlsplit(stack.url).netloc
    view_url = f"http://__token__:{stack.token('read', index='current')}@{host}/simple/acme/current/"

    def uv_install(url, venv):
        r = run([BIN / "uv", "venv", "--no-config", "--python", sys.executable, venv], env=client_env)
        assert r.returncode == 0, r.stderr
        argv = [
            BIN / "uv",
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            venv / "bin" / "python",
        ]
        return run([*argv, "--index-url", url, "app"], env=client_env)

    refused = uv_install(view_url, tmp_path / "v1")
    assert refused.returncode != 0 and "lib" in refused.stderr, refused.stderr
    assert uv_install(index_url(stack, stack.token("read")), tmp_path / "v2").returncode == 0
    assert bale("project", "status", "acme", "main", "lib", "active").exit_code == 0
    ok = uv_install(view_url, tmp_path / "v3")
    assert ok.returncode == 0, ok.stderr
    code = "import lib, app; print(lib.__version__, app.__version__)"
    out = subprocess.run(
        [str(tmp_path / "v3" / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["1.0", "1.0"], out.stderr

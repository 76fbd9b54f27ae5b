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


# -- an upstream's statuses pass through ---------------------------------------------------------------
@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
@pytest.mark.parametrize("state", ["archived", "quarantined", "deprecated"])
def test_an_upstream_status_passes_through(stack, upstream, bale_env, state, html_only):
    from bale.upstream.service import Upstreams

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
        assert get(stack, path, read).status_code == (404 if quarantined else 200)

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

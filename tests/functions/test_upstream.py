"""Upstream indexes end to end: the real stack over the emulators, a local upstream
(tests/fakes/upstream.py, and pypiserver as a real third-party one), real uv and pip."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import html as htmllib
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from bale.store import paths
from clients import BIN, run, uv_publish
from factories import make_wheel, wheel_name
from fakes.upstream import Upstream

UV = BIN / "uv"
PIP = BIN / "pip"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="session")
def _upstream_server():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def upstream(_upstream_server):
    _upstream_server.reset()
    return _upstream_server


@pytest.fixture
def bale_env():
    """Set BALE_* variables for the running stack (it reads its settings per process, cached)."""
    from bale import settings as settings_mod

    saved: dict[str, str | None] = {}

    def set_env(**values):
        for k, v in values.items():
            saved.setdefault(k, os.environ.get(k))
            os.environ[k] = str(v)
        settings_mod.get_settings.cache_clear()

    yield set_env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    settings_mod.get_settings.cache_clear()


def upstreams(stack):
    from bale.upstream.service import Upstreams

    return Upstreams(stack.stores, stack.settings)


@pytest.fixture
def proxied(stack, upstream):
    """acme/main with the fake upstream."""
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url)
    return stack


def auth(token):
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


def get(stack, path, token, **headers):
    return requests.get(stack.url + path, headers={**auth(token), **headers}, timeout=60)


def index_url(stack, token, index="main") -> str:
    host = urllib.parse.urlsplit(stack.url).netloc
    return f"http://__token__:{token}@{host}/simple/acme/{index}/"


def new_venv(tmp_path, client_env, name="venv"):
    path = tmp_path / name
    r = run([UV, "venv", "--no-config", "--python", sys.executable, path], env=client_env)
    assert r.returncode == 0, r.stderr
    return path / "bin" / "python"


def uv_install(python, url, *reqs, env):
    return run([UV, "pip", "install", "--python", python, "--index-url", url, *reqs], env=env)


def installed(python, env) -> dict[str, str]:
    r = run([UV, "pip", "list", "--python", python, "--format", "json"], env=env)
    assert r.returncode == 0, r.stderr
    import json

    return {p["name"].lower(): p["version"] for p in json.loads(r.stdout)}


def publish(stack, tmp_path, *wheels_spec, token=None):
    dist = tmp_path / "dist"
    dist.mkdir(exist_ok=True)
    files = [make_wheel(dist, name, version, **kw) for name, version, kw in wheels_spec]
    return uv_publish(f"{stack.url}/v1/upload/acme/main/", token or stack.token(), *files)


# -- installs through one URL ---------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("token_cache", ["0", "30"], ids=["token-read-each-time", "token-cached"])
def test_uv_installs_a_graph_of_private_and_upstream_packages_through_one_url(
    proxied, upstream, tmp_path, client_env, bale_env, token_cache
):
    # With the token cached, pages and downloads take the warm path (a probe of the project's
    # version): private and upstream projects must still be told apart the same way.
    bale_env(BALE_TOKEN_CACHE_SECONDS=token_cache)
    upstream.add("pubdep", "1.0", requires=["publeaf>=2"])
    upstream.add("publeaf", "1.0")
    upstream.add("publeaf", "2.0")
    r = publish(
        proxied,
        tmp_path,
        ("acme-lib", "1.0", {}),
        ("acme-app", "1.0", {"requires": ["acme-lib", "pubdep"]}),
    )
    assert r.returncode == 0, r.stderr
    python = new_venv(tmp_path, client_env)
    r = uv_install(python, index_url(proxied, proxied.token("read")), "acme-app", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {
        "acme-app": "1.0",
        "acme-lib": "1.0",
        "pubdep": "1.0",
        "publeaf": "2.0",
    }
    # Private projects never reached the upstream (the two first uploads each asked once).
    assert upstream.page_hits("acme-app") == 1 and upstream.page_hits("acme-lib") == 1
    # The upstream files were copied once, verified, into the files bucket.
    copies = proxied.stores.blobs.list(paths.upstream_files_prefix())
    assert sorted(p.rsplit("/", 1)[-1] for p in copies if not p.endswith(".metadata")) == [
        wheel_name("pubdep", "1.0"),
        wheel_name("publeaf", "2.0"),
    ]


@pytest.mark.e2e
def test_dependency_confusion_private_version_wins_for_uv_and_pip(proxied, upstream, tmp_path, client_env):
    """acme-internal 1.0 in Bale, 99.0 upstream: 1.0 is what uv and pip install."""
    upstream.add("acme-internal", "99.0", payload=b"raise SystemExit('pwned')\n")
    r = publish(proxied, tmp_path, ("acme-internal", "1.0", {}))
    assert r.returncode != 0
    assert "allow-shadow acme main acme-internal" in r.stderr
    assert proxied.stores.blobs.list("acme/") == []  # nothing left behind
    upstreams(proxied).set_listed("acme", "main", "allow-shadow", "acme-internal")
    r = publish(proxied, tmp_path, ("acme-internal", "1.0", {}))
    assert r.returncode == 0, r.stderr
    asked = upstream.page_hits("acme-internal")

    token = proxied.token("read")
    page = get(proxied, "/simple/acme/main/acme-internal/", token, Accept=JSON_V1).json()
    assert page["versions"] == ["1.0"]
    python = new_venv(tmp_path, client_env)
    r = uv_install(python, index_url(proxied, token), "acme-internal", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env)["acme-internal"] == "1.0"

    python = new_venv(tmp_path, client_env, "pipvenv")
    r = run([python, "-m", "ensurepip", "--default-pip"], env=client_env)
    r = run(
        [python, "-m", "pip", "install", "--index-url", index_url(proxied, token), "acme-internal"]
        if r.returncode == 0
        else [PIP, "--python", python, "install", "--index-url", index_url(proxied, token), "acme-internal"],
        env=client_env,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert installed(python, client_env)["acme-internal"] == "1.0"
    # Not even a direct link to the upstream's file gets through.
    evil = wheel_name("acme-internal", "99.0")
    assert get(proxied, f"/simple/acme/main/acme-internal/{evil}", token).status_code == 404
    assert get(proxied, f"/files/acme/main/acme-internal/{evil}.metadata", token).status_code == 404
    assert upstream.file_hits(evil) == 0
    # Once the name is private, the upstream is never asked about it again.
    assert upstream.page_hits("acme-internal") == asked


def test_project_list_shows_private_projects_only(proxied, upstream, tmp_path):
    upstream.add("pubdep", "1.0")
    assert publish(proxied, tmp_path, ("acme-lib", "1.0", {})).returncode == 0
    token = proxied.token("read")
    assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 200
    listing = get(proxied, "/simple/acme/main/", token, Accept=JSON_V1).json()
    assert [p["name"] for p in listing["projects"]] == ["acme-lib"]


def test_a_reserved_name_never_consults_the_upstream(proxied, upstream):
    upstream.add("acme-secret", "5.0")
    upstreams(proxied).set_listed("acme", "main", "reserve", "Acme_Secret")
    r = get(proxied, "/simple/acme/main/acme-secret/", proxied.token("read"))
    assert r.status_code == 404
    assert upstream.page_hits("acme-secret") == 0
    r = get(
        proxied, f"/simple/acme/main/acme-secret/{wheel_name('acme-secret', '5.0')}", proxied.token("read")
    )
    assert r.status_code == 404
    assert upstream.hits[f"/files/{wheel_name('acme-secret', '5.0')}"] == 0


def test_without_an_upstream_unknown_names_are_404_and_nothing_is_asked(stack, upstream):
    upstream.add("pubdep", "1.0")
    assert get(stack, "/simple/acme/main/pubdep/", stack.token("read")).status_code == 404
    assert sum(upstream.hits.values()) == 0


def test_upload_of_a_name_the_upstream_lacks_needs_no_permission(proxied, upstream, tmp_path):
    r = publish(proxied, tmp_path, ("acme-new", "1.0", {}))
    assert r.returncode == 0, r.stderr
    assert upstream.page_hits("acme-new") == 1


# -- pages as good as Bale's own -----------------------------------------------------------------


@pytest.mark.parametrize("html_only", [False, True])
def test_proxied_page_carries_yanks_requires_python_metadata_and_hashes(proxied, upstream, html_only):
    if html_only:
        upstream.faults["pubdep"].add("html_only")
    a = upstream.add("pubdep", "1.0", yanked="broken build")
    b = upstream.add("pubdep", "2.0", requires_python=">=3.9")
    token = proxied.token("read")
    page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1)
    assert page.status_code == 200 and page.headers["Content-Type"] == JSON_V1
    files = {f["filename"]: f for f in page.json()["files"]}
    assert files[a["filename"]]["yanked"] == "broken build"
    assert files[b["filename"]]["requires-python"] == ">=3.9"
    assert files[b["filename"]]["hashes"] == {"sha256": b["sha256"]}
    assert files[b["filename"]]["core-metadata"] == {"sha256": b["metadata_sha256"]}
    assert files[b["filename"]]["url"].endswith(f"/simple/acme/main/pubdep/{b['filename']}")
    if not html_only:
        assert files[b["filename"]]["size"] == len(b["data"])
        assert "upload-time" in files[b["filename"]]
    html = get(proxied, "/simple/acme/main/pubdep/", token, Accept="text/html").text
    assert 'data-yanked="broken build"' in html and 'data-requires-python="&gt;=3.9"' in html
    assert f"#sha256={b['sha256']}" in html
    meta = get(proxied, f"/simple/acme/main/pubdep/{b['filename']}.metadata", token)
    assert meta.status_code == 200 and meta.content == b["metadata"]
    wheel = get(proxied, f"/simple/acme/main/pubdep/{b['filename']}", token)
    assert wheel.status_code == 200 and wheel.content == b["data"]
    assert wheel.headers["ETag"] == f'"{b["sha256"]}"'


def test_proxied_pages_follow_the_token_rules(proxied, upstream, tenancy):
    upstream.add("pubdep", "1.0")
    r = requests.get(proxied.url + "/simple/acme/main/pubdep/", timeout=30)
    assert r.status_code == 401
    filename = wheel_name("pubdep", "1.0")
    r = requests.get(proxied.url + f"/simple/acme/main/pubdep/{filename}", timeout=30)
    assert r.status_code == 401
    tenancy.create_index("acme", "other")
    other = proxied.token("read", index="other")
    assert get(proxied, "/simple/acme/main/pubdep/", other).status_code == 403
    scoped = proxied.token("read", projects=["acme-lib"])
    assert get(proxied, "/simple/acme/main/pubdep/", scoped).status_code == 403
    assert sum(upstream.hits.values()) == 0  # nobody without the rights made Bale ask


# -- cooldown -----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_cooldown_hides_a_fresh_release_until_the_project_is_exempted(
    proxied, upstream, tmp_path, client_env
):
    upstream.add("pubdep", "1.0", age=dt.timedelta(days=30))
    fresh = upstream.add("pubdep", "2.0", age=dt.timedelta(hours=2))
    upstreams(proxied).set_upstream("acme", "main", url=upstream.index_url, min_age=3 * 86400)
    token = proxied.token("read")
    page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).json()
    assert page["versions"] == ["1.0"]
    r = get(proxied, f"/simple/acme/main/pubdep/{fresh['filename']}", token)
    assert r.status_code == 404 and "cooldown" in r.text
    assert upstream.file_hits(fresh["filename"]) == 0
    python = new_venv(tmp_path, client_env)
    r = uv_install(python, index_url(proxied, token), "pubdep", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env)["pubdep"] == "1.0"

    upstreams(proxied).set_listed("acme", "main", "exempt", "pubdep")
    page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).json()
    assert page["versions"] == ["1.0", "2.0"]
    r = uv_install(python, index_url(proxied, token), "--upgrade", "pubdep", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env)["pubdep"] == "2.0"


def test_cooldown_hides_files_without_an_upload_time(proxied, upstream):
    upstream.faults["pubdep"].add("html_only")  # PEP 503 HTML has no upload-time
    upstream.add("pubdep", "1.0")
    upstreams(proxied).set_upstream("acme", "main", url=upstream.index_url, min_age=86400)
    page = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"), Accept=JSON_V1).json()
    assert page["files"] == []


def test_a_page_emptied_by_the_cooldown_says_why_in_json_html_and_the_log(proxied, upstream, caplog):
    upstream.faults["pubdep"].add("html_only")  # PEP 503 HTML has no upload-time
    upstream.add("pubdep", "1.0")
    upstream.add("pubdep", "1.1")
    upstreams(proxied).set_upstream("acme", "main", url=upstream.index_url, min_age=86400)
    token = proxied.token("read")
    with caplog.at_level("WARNING", logger="bale.simple"):
        page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).json()
    assert page["files"] == []
    # PEP 691: keys with a leading underscore are the server's own.
    note = page["meta"]["_note"]
    assert "cooldown (1d) hides all 2 files of pubdep" in note and "without an upload time" in note
    assert any(note in r.getMessage() and "acme/main" in r.getMessage() for r in caplog.records)
    html = get(proxied, "/simple/acme/main/pubdep/", token, Accept="text/html").text
    assert f'<p class="bale-note">{htmllib.escape(note)}</p>' in html
    # Exempted, the page is whole and says nothing.
    upstreams(proxied).set_listed("acme", "main", "exempt", "pubdep")
    page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).json()
    assert len(page["files"]) == 2 and "_note" not in page["meta"]


def test_a_partly_hidden_page_counts_what_the_cooldown_hides(proxied, upstream):
    upstream.add("pubdep", "1.0", age=dt.timedelta(days=30))
    upstream.add("pubdep", "2.0", age=dt.timedelta(hours=2))
    upstreams(proxied).set_upstream("acme", "main", url=upstream.index_url, min_age=3 * 86400)
    page = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"), Accept=JSON_V1).json()
    assert page["versions"] == ["1.0"]
    assert "hides 1 of 2 files of pubdep" in page["meta"]["_note"]
    assert "1 uploaded less than 3d ago" in page["meta"]["_note"]


def test_probe_says_whether_the_upstream_answers_serves_json_and_upload_times(stack, upstream):
    ups = upstreams(stack)
    upstream.add("pip", "24.0")
    ups.set_upstream("acme", "main", url=upstream.index_url, min_age=3 * 86400)
    found = ups.probe("acme", "main")
    assert (found.answers, found.found, found.json, found.upload_times) == (True, True, True, True)
    assert found.warning(3 * 86400) is None
    # PEP 503 HTML only: no upload times, so the cooldown would hide everything.
    upstream.faults["pip"].add("html_only")
    found = ups.probe("acme", "main")
    assert (found.json, found.upload_times) == (False, False)
    assert "PEP 691 JSON: no, PEP 503 HTML only" in found.lines()
    assert "hides every one of its files" in found.warning(3 * 86400)
    assert found.warning(0) is None
    # A project it does not hold: it answers, the rest is unknown.
    found = ups.probe("acme", "main", "no-such-thing")
    assert found.answers and not found.found and found.upload_times is None
    # Down: said so, with the upstream's answer.
    upstream.down = True
    found = ups.probe("acme", "main")
    assert not found.answers and "503" in found.problem


# -- surviving the upstream ----------------------------------------------------------------------


@pytest.mark.e2e
def test_installs_keep_working_when_the_upstream_stops(stack, tmp_path, client_env, bale_env):
    up = Upstream().start()
    try:
        up.add("pubdep", "1.0", requires=["publeaf"])
        up.add("publeaf", "1.0")
        upstreams(stack).set_upstream("acme", "main", url=up.index_url)
        bale_env(BALE_UPSTREAM_PAGE_TTL=0)  # every request revalidates: the upstream is needed
        token = stack.token("read")
        python = new_venv(tmp_path, client_env)
        r = uv_install(python, index_url(stack, token), "pubdep", env=client_env)
        assert r.returncode == 0, r.stderr
    finally:
        up.stop()
    from bale.api.simple import views

    views.clear_caches()  # a new instance: only Cloud Storage remembers
    python = new_venv(tmp_path, client_env, "again")
    r = uv_install(python, index_url(stack, token), "pubdep", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"pubdep": "1.0", "publeaf": "1.0"}
    # A project never fetched: a clear 502, no stack trace.
    r = get(stack, "/simple/acme/main/never-seen/", token)
    assert r.status_code == 502
    assert "upstream is unreachable" in r.text and "Traceback" not in r.text


def test_a_file_the_upstream_deletes_is_still_served_from_the_copy(proxied, upstream, bale_env):
    bale_env(BALE_UPSTREAM_PAGE_TTL=0)
    f = upstream.add("pubdep", "1.0")
    upstream.add("pubdep", "1.1")
    token = proxied.token("read")
    assert get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token).status_code == 200
    upstream.remove(f["filename"])
    page = get(proxied, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).json()
    assert page["versions"] == ["1.1"]
    r = get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token)
    assert r.status_code == 200 and r.content == f["data"]


def test_pages_are_revalidated_with_the_etag(proxied, upstream, bale_env):
    bale_env(BALE_UPSTREAM_PAGE_TTL=0)
    upstream.add("pubdep", "1.0")
    token = proxied.token("read")
    for _ in range(3):
        assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 200
    assert upstream.page_hits("pubdep") == 3
    assert upstream.not_modified == 2


def test_within_the_ttl_the_upstream_is_not_asked_again(proxied, upstream):
    upstream.add("pubdep", "1.0")
    token = proxied.token("read")
    for _ in range(5):
        assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 200
    assert upstream.page_hits("pubdep") == 1


# -- an upstream sending garbage -----------------------------------------------------------------


def test_a_hash_mismatch_is_refused_and_nothing_is_stored(proxied, upstream, tmp_path, client_env):
    f = upstream.add("pubdep", "1.0")
    upstream.faults["pubdep"].add("wrong_hash")
    token = proxied.token("read")
    r = get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token)
    assert r.status_code == 502 and "does not match the sha256" in r.text
    assert proxied.stores.blobs.list(paths.upstream_files_prefix()) == []
    python = new_venv(tmp_path, client_env)
    r = uv_install(python, index_url(proxied, token), "pubdep", env=client_env)
    assert r.returncode != 0


def test_a_large_copy_whose_bytes_do_not_match_leaves_no_blob(proxied, upstream):
    """A copy streams into Cloud Storage a chunk (1 MiB) at a time, so chunks of this 3 MiB
    file were sent before its last byte showed the mismatch: still no object is made."""
    f = upstream.add("pubdep", "1.0", payload=os.urandom(3 * 1024 * 1024))
    upstream.faults["pubdep"].add("wrong_hash")
    r = get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", proxied.token("read"))
    assert r.status_code == 502 and "does not match the sha256" in r.text
    assert [p for p in proxied.stores.blobs.list() if "/files/" in p] == []


def _apart(proxied, files: list[dict], n: int) -> list[dict]:
    """``n`` of ``files`` whose first copies take different striped locks of this instance
    (two on one stripe would wait for each other instead of being counted)."""
    from bale.upstream import cache, policy

    index = proxied.stores.db.document(paths.index("acme", "main")).get().to_dict()
    key = policy.config_of(index).key("acme")
    out, locks = [], set()
    for f in files:
        lock = id(cache._file_locks(paths.upstream_file(key, f["sha256"], f["filename"])))
        if lock not in locks:
            locks.add(lock)
            out.append(f)
    assert len(out) >= n
    return out[:n]


def test_copies_beyond_the_instances_cap_are_503_with_retry_after(proxied, upstream, bale_env):
    files = _apart(proxied, [upstream.add("pubdep", f"1.{i}") for i in range(12)], 5)
    token = proxied.token("read")
    assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 200
    bale_env(BALE_UPSTREAM_MAX_COPIES="2")
    upstream.gate.clear()  # the upstream holds every file back: copies stay in progress

    def fetch(f, suffix=""):
        return get(proxied, f"/simple/acme/main/pubdep/{f['filename']}{suffix}", token)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pending = [pool.submit(fetch, f) for f in files[:4]]
        # Two copies wait on the upstream; the other two are refused at once.
        deadline = time.monotonic() + 30
        while sum(p.done() for p in pending) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [p.result() for p in pending if p.done()]
        upstream.gate.set()
        answers = [p.result() for p in pending]
    assert [r.status_code for r in refused] == [503, 503], [r.text for r in refused]
    for r in refused:
        assert r.headers["Retry-After"] == "5" and "try again" in r.text
    assert sorted(r.status_code for r in answers) == [200, 200, 503, 503]
    assert all(fetch(f).content == f["data"] for f in files[:4])  # the refused ones, on retry

    # METADATA (at most 4 MiB) is not counted: with no file copies allowed, it is still served.
    bale_env(BALE_UPSTREAM_MAX_COPIES="0")
    assert fetch(files[4]).status_code == 503
    r = fetch(files[4], ".metadata")
    assert r.status_code == 200 and r.content == files[4]["metadata"]


def test_bad_json_is_a_502(proxied, upstream):
    upstream.faults["pubdep"].add("bad_json")
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"), Accept=JSON_V1)
    assert r.status_code == 502 and "unreadable JSON" in r.text


def test_a_huge_page_is_cut_off(proxied, upstream, bale_env):
    bale_env(BALE_UPSTREAM_MAX_PAGE_BYTES=100_000)
    upstream.faults["pubdep"].add("huge")
    upstream.huge = 1_000_000
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 502 and "too large" in r.text


def test_a_slow_drip_is_cut_off_in_time(proxied, upstream, bale_env):
    bale_env(BALE_UPSTREAM_PAGE_TIMEOUT=2)
    upstream.faults["pubdep"].add("drip")
    t0 = time.monotonic()
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 504
    assert time.monotonic() - t0 < 5


def test_an_upstream_answering_503_with_nothing_cached_is_a_502(proxied, upstream):
    upstream.add("pubdep", "1.0")
    upstream.down = True
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 502 and "answered 503" in r.text


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_first_requests_fetch_once(proxied, upstream):
    f = upstream.add("pubdep", "1.0")
    upstream.delay = 0.3
    token = proxied.token("read")

    def fetch(path):
        return get(proxied, path, token)

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        pages = list(pool.map(fetch, ["/simple/acme/main/pubdep/"] * 12))
        files = list(pool.map(fetch, [f"/simple/acme/main/pubdep/{f['filename']}"] * 12))
    assert all(r.status_code == 200 for r in pages + files)
    assert all(r.content == f["data"] for r in files)
    assert upstream.page_hits("pubdep") == 1
    assert upstream.file_hits(f["filename"]) == 1


# -- a real third-party upstream: pypiserver -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_pypiserver_as_the_upstream(stack, tmp_path, client_env):
    packages = tmp_path / "pypiserver"
    packages.mkdir()
    make_wheel(packages, "pubdep", "1.0", requires=["publeaf"])
    make_wheel(packages, "publeaf", "1.0")
    port = _free_port()
    argv = [BIN / "pypi-server", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "--disable-fallback", str(packages)]  # fmt: skip
    server = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/simple/", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        upstreams(stack).set_upstream("acme", "main", url=f"http://127.0.0.1:{port}/simple/")
        token = stack.token("read")
        python = new_venv(tmp_path, client_env)
        r = uv_install(python, index_url(stack, token), "pubdep", env=client_env)
        assert r.returncode == 0, r.stderr
        assert installed(python, client_env) == {"pubdep": "1.0", "publeaf": "1.0"}
    finally:
        server.terminate()
        server.wait(10)


# -- credentials ---------------------------------------------------------------------------------


def test_an_upstream_with_credentials(stack, upstream, bale_env):
    f = upstream.add("pubdep", "1.0")
    upstream.require_auth = "Basic " + base64.b64encode(b"svc:s3cret").decode()
    bale_env(BALE_UPSTREAM_AUTH_ACME_CORP="svc:s3cret")
    token = stack.token("read")
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url)
    r = get(stack, "/simple/acme/main/pubdep/", token)
    assert r.status_code == 502 and "answered 401" in r.text  # no credentials named: refused
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url, credentials="corp")
    assert get(stack, "/simple/acme/main/pubdep/", token).status_code == 200
    r = get(stack, f"/simple/acme/main/pubdep/{f['filename']}", token)
    assert r.status_code == 200 and r.content == f["data"]


def test_another_teams_credentials_are_out_of_reach(stack, upstream, bale_env, tenancy):
    upstream.add("pubdep", "1.0")
    upstream.require_auth = "Basic " + base64.b64encode(b"svc:s3cret").decode()
    bale_env(BALE_UPSTREAM_AUTH_BETA_CORP="svc:s3cret")  # beta's, not acme's
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url, credentials="corp")
    assert get(stack, "/simple/acme/main/pubdep/", stack.token("read")).status_code == 502
    assert set(upstream.auth_seen) == {None}


@pytest.fixture(scope="session")
def _elsewhere_server():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def elsewhere(_elsewhere_server):
    """Another host (another port): it records the headers it gets, and serves the same bytes."""
    _elsewhere_server.reset()
    return _elsewhere_server


#: Spellings of a file link (or a redirect's Location) that URL parsers disagree on (the WHATWG
#: URL Standard, RFC 3986, urllib.parse, urllib3), with ``{up}`` the upstream that holds the
#: credentials and ``{other}`` another host, and where Bale may fetch the file from: "refused"
#: (nowhere), "up" (with the credentials) or "other" (without them). The unit test of the same
#: parsing is tests/unit/test_upstream_logic.py::URL_SPELLINGS.
LINK_SPELLINGS = [
    ("issue-21", "http://{other}\\@{up}/files/", "refused"),  # urlsplit read {up}, urllib3 {other}
    ("backslash-reversed", "http://{up}\\@{other}/files/", "refused"),
    ("backslashes-for-slashes", "http:\\\\{other}/files/", "refused"),
    ("backslash-relative", "\\\\{other}/files/", "refused"),
    ("slash-backslash", "/\\{other}/files/", "refused"),
    ("userinfo", "http://{other}@{up}/files/", "refused"),
    ("userinfo-password", "http://svc:s3cret@{other}/files/", "refused"),
    ("empty-userinfo", "http://@{other}/files/", "refused"),
    ("at-escaped", "http://{other}%40{up}/files/", "refused"),
    ("slash-escaped", "http://{other}%2F@{up}/files/", "refused"),
    ("backslash-escaped", "http://{other}%5C@{up}/files/", "refused"),
    ("colon-escaped", "http://127.0.0.1%3A{other_port}/files/", "refused"),
    ("tab", "http://{other}\t@{up}/files/", "refused"),
    ("newline", "http://{other}\n@{up}/files/", "refused"),
    ("crlf", "http://{other}\r\n@{up}/files/", "refused"),
    ("nul", "http://{other}\x00@{up}/files/", "refused"),
    ("space", "http://{other} @{up}/files/", "refused"),
    ("ideographic-dots", "http://127\u30020\u30020\u30021:{other_port}/files/", "refused"),
    ("fullwidth-dots", "http://127\uff0e0\uff0e0\uff0e1:{other_port}/files/", "refused"),
    (
        "fullwidth-name",
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:{other_port}/files/",
        "refused",
    ),
    ("port-wraps", "http://127.0.0.1:{other_port_wrapped}/files/", "refused"),
    ("port-leading-zero", "http://127.0.0.1:0{other_port}/files/", "refused"),
    ("port-twice", "http://{up}:{other_port}/files/", "refused"),
    ("ipv6-zone", "http://[::1%25lo]:{other_port}/files/", "refused"),
    ("ipv4-mapped", "http://[::ffff:127.0.0.1]:{other_port}/files/", "refused"),
    ("ipv4-short", "http://127.1:{other_port}/files/", "refused"),
    ("ipv4-decimal", "http://2130706433:{other_port}/files/", "refused"),
    ("trailing-dot", "http://localhost.:{other_port}/files/", "refused"),
    ("plain", "http://{up}/files/", "up"),
    ("scheme-case", "HtTp://{up}/files/", "up"),
    ("at-in-path", "http://{up}/files/@{other}/files/", "up"),
    ("at-in-path-elsewhere", "http://{other}/files/@{up}/files/", "other"),
    ("scheme-relative", "//{other}/files/", "other"),
    ("another-name", "http://localhost:{other_port}/files/", "other"),
]


@pytest.mark.parametrize("how", ["link", "redirect"])
@pytest.mark.parametrize(
    ("spelling", "expected"), [p[1:] for p in LINK_SPELLINGS], ids=[p[0] for p in LINK_SPELLINGS]
)
def test_credentials_reach_only_the_upstream_whatever_the_spelling(
    stack, upstream, elsewhere, bale_env, spelling, expected, how
):
    """Issue 21: a link urlsplit read as the upstream's own, that urllib3 connected elsewhere,
    took the team's upstream password along. Whatever the spelling, the credentials reach only
    the upstream, and a file comes from the origin they were decided for, or not at all."""
    from urllib.parse import urlsplit

    up, other = urlsplit(upstream.url).netloc, urlsplit(elsewhere.url).netloc
    other_port = urlsplit(elsewhere.url).port
    prefix = spelling.format(up=up, other=other, other_port=other_port, other_port_wrapped=other_port + 65536)
    if how == "redirect" and any(c in prefix for c in "\r\n\x00"):
        pytest.skip("a header can't carry it")
    secret = "Basic " + base64.b64encode(b"svc:s3cret").decode()
    f = upstream.add("pubdep", "1.0")
    elsewhere.add_wheel("pubdep", f["filename"], f["data"])
    upstream.require_auth = secret
    bale_env(BALE_UPSTREAM_AUTH_ACME_CORP="svc:s3cret")
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url, credentials="corp")
    if how == "link":
        upstream.file_prefix = prefix
    else:
        upstream.file_prefix = "../../redirect/"
        # As a WSGI server sends it: a header's text is Latin-1.
        upstream.redirects[f"/redirect/{f['filename']}"] = (prefix + f["filename"]).encode().decode("latin-1")
    token = stack.token("read")
    assert get(stack, "/simple/acme/main/pubdep/", token, Accept=JSON_V1).status_code == 200

    r = get(stack, f"/simple/acme/main/pubdep/{f['filename']}", token)

    assert secret not in elsewhere.auth_seen  # the credentials never left their upstream
    assert set(elsewhere.auth_seen) <= {None}
    if expected == "refused":
        assert r.status_code in (404, 502), r.text
        assert elsewhere.files_served == 0 and sum(elsewhere.hits.values()) == 0
        assert "Traceback" not in r.text
    else:
        assert r.status_code == 200, r.text
        assert r.content == f["data"]
        served_by = upstream if expected == "up" else elsewhere
        assert served_by.files_served == 1
        assert (upstream if expected == "other" else elsewhere).files_served == 0


# -- audit ---------------------------------------------------------------------------------------


def test_changes_are_audited(proxied, tenancy):
    upstreams(proxied).set_listed("acme", "main", "exempt", "pubdep")
    upstreams(proxied).set_upstream("acme", "main", off=True)
    actions = [e["action"] for e in tenancy.audit_log("acme")]
    assert actions[:3] == ["upstream-off", "upstream-exempt", "set-upstream"]


def test_two_teams_naming_the_same_credentials_never_share_a_cache(stack, upstream, bale_env, tenancy):
    """beta's secret fetched beta's page; acme names 'corp' too (it has no such secret): acme
    must get what its own (missing) credentials get, not beta's cached page or copies."""
    f = upstream.add("secretdep", "1.0")
    upstream.require_auth = "Basic " + base64.b64encode(b"svc:s3cret").decode()
    bale_env(BALE_UPSTREAM_AUTH_BETA_CORP="svc:s3cret")
    tenancy.create_team("beta", "bob@example.com")
    upstreams(stack).set_upstream("beta", "main", url=upstream.index_url, credentials="corp")
    beta = stack.token("read", team="beta")
    assert get(stack, "/simple/beta/main/secretdep/", beta).status_code == 200
    r = get(stack, f"/simple/beta/main/secretdep/{f['filename']}", beta)
    assert r.status_code == 200 and r.content == f["data"]

    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url, credentials="corp")
    acme = stack.token("read")
    r = get(stack, "/simple/acme/main/secretdep/", acme)
    assert r.status_code == 502 and "answered 401" in r.text
    r = get(stack, f"/simple/acme/main/secretdep/{f['filename']}", acme)
    assert r.status_code == 502 and f["data"] not in r.content


# -- where Bale connects (SSRF) ---------------------------------------------------------------------


def test_without_the_loopback_setting_a_local_upstream_is_refused(stack, upstream, bale_env, tenancy):
    """Production's side: loopback (the instance itself) is no upstream, set or fetched."""
    from bale.errors import BadRequest

    upstream.add("pubdep", "1.0")
    upstreams(stack).set_upstream("acme", "main", url=upstream.index_url)  # set while allowed
    bale_env(BALE_UPSTREAM_ALLOW_LOOPBACK="0")
    r = get(stack, "/simple/acme/main/pubdep/", stack.token("read"))
    assert r.status_code == 502 and "not https" in r.text
    https_url = upstream.index_url.replace("http://", "https://")
    tenancy.create_index("acme", "other")
    import dataclasses

    from bale.upstream.service import Upstreams

    prod = Upstreams(stack.stores, dataclasses.replace(stack.settings, upstream_allow_loopback=False))
    with pytest.raises(BadRequest):
        prod.set_upstream("acme", "other", url=upstream.index_url)
    with pytest.raises(BadRequest):
        prod.set_upstream("acme", "other", url=https_url)
    assert sum(upstream.hits.values()) == 0


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
        "https://169.254.169.254/computeMetadata/v1/",
        "http://2852039166/computeMetadata/v1/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        "https://10.0.0.1/simple/pubdep/",
        "https://[fd00::1]/simple/pubdep/",
    ],
)
def test_redirects_to_internal_addresses_are_refused(proxied, upstream, location):
    """Even on the local stack (loopback allowed), a redirect can't reach anything else internal."""
    upstream.add("pubdep", "1.0")
    upstream.redirects["/simple/pubdep/"] = location
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 502, r.text
    # Refused before connecting, not merely unreachable (from a VPC, 10.0.0.1 might answer).
    assert "unreachable" not in r.text and "Traceback" not in r.text
    assert f"Bale followed the upstream's redirect: {upstream.index_url}pubdep/ -> {location}" in r.text


def test_an_upstream_failing_after_a_redirect_names_the_redirect(proxied, upstream):
    """pypiserver sends names it does not hold to pypi.org: the admin set a local URL, so an
    error naming only the redirect's target would not say where it came from."""
    upstream.add("pubdep", "1.0")
    upstream.redirects["/simple/pubdep/"] = "http://127.0.0.1:1/simple/pubdep/"
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 502, r.text
    assert r.text.startswith("The upstream is unreachable (http://127.0.0.1:1/simple/pubdep/)")
    assert (
        f"(Bale followed the upstream's redirect: {upstream.index_url}pubdep/ -> http://127.0.0.1:1/simple/pubdep/.)"
        in r.text
    )
    upstream.redirects.pop("/simple/pubdep/")
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 200 and "redirect" not in r.text


def test_file_links_to_internal_addresses_are_never_fetched(proxied, upstream):
    f = upstream.add("pubdep", "1.0")
    upstream.file_prefix = "https://169.254.169.254/files/"
    token = proxied.token("read")
    assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 200
    r = get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token)
    assert r.status_code == 502 and "not a public address" in r.text


def test_a_page_listing_too_many_files_is_a_502(proxied, upstream, bale_env):
    for i in range(5):
        upstream.add("pubdep", f"1.{i}")
    bale_env(BALE_UPSTREAM_MAX_FILES="4")
    r = get(proxied, "/simple/acme/main/pubdep/", proxied.token("read"))
    assert r.status_code == 502 and "too many files" in r.text


# -- private first, whatever became of the private files ---------------------------------------------


def test_a_private_name_stays_private_when_its_files_are_yanked_or_deleted(proxied, upstream, tmp_path):
    """Deleting files leaves the project record (a tombstone): the name never falls through to
    the upstream, which may have registered it since with a higher version."""
    from bale.packages.service import Packages

    assert publish(proxied, tmp_path, ("acme-lib", "1.0", {}), ("acme-lib", "2.0", {})).returncode == 0
    evil = upstream.add("acme-lib", "99.0", payload=b"raise SystemExit('pwned')\n")
    asked = sum(upstream.hits.values())
    packages = Packages(proxied.stores)
    packages.set_yanked("acme", "main", "acme-lib", "2.0", yanked=True, reason="bad", actor="test")
    packages.delete("acme", "main", "acme-lib", "1.0", actor="test")
    token = proxied.token("read")
    page = get(proxied, "/simple/acme/main/acme-lib/", token, Accept=JSON_V1)
    assert page.status_code == 200
    assert [f["filename"] for f in page.json()["files"]] == [wheel_name("acme-lib", "2.0")]
    packages.delete("acme", "main", "acme-lib", "2.0", actor="test")
    page = get(proxied, "/simple/acme/main/acme-lib/", token, Accept=JSON_V1)
    assert page.status_code == 200 and page.json()["files"] == []
    for name in (evil["filename"], evil["filename"] + ".metadata", wheel_name("acme-lib", "1.0")):
        assert get(proxied, f"/simple/acme/main/acme-lib/{name}", token).status_code == 404
    assert sum(upstream.hits.values()) == asked  # never asked about the name again


def test_turning_the_upstream_off_stops_all_upstream_traffic(proxied, upstream, tmp_path):
    f = upstream.add("pubdep", "1.0")
    token = proxied.token("read")
    assert get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token).status_code == 200
    upstreams(proxied).set_upstream("acme", "main", off=True)
    before = sum(upstream.hits.values())
    assert get(proxied, "/simple/acme/main/pubdep/", token).status_code == 404
    assert get(proxied, "/simple/acme/main/otherdep/", token).status_code == 404
    # Not even Bale's verified copy of a file fetched while it was on.
    assert get(proxied, f"/simple/acme/main/pubdep/{f['filename']}", token).status_code == 404
    assert get(proxied, f"/files/acme/main/pubdep/{f['filename']}.metadata", token).status_code == 404
    # Uploads no longer ask whether the upstream has the name (nothing to shadow).
    assert publish(proxied, tmp_path, ("pubdep", "5.0", {})).returncode == 0
    assert sum(upstream.hits.values()) == before

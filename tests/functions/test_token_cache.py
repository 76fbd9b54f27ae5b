"""Reads that trust a token checked moments ago (BALE_TOKEN_CACHE_SECONDS), through HTTP.

The rest of the suite runs with the cache off (revocations are checked as immediate there);
these tests turn it on for the registry under test and check what it promises: a warm page,
``.metadata`` or download costs one small Firestore read and no token read; every change to
the project (upload, yank, delete) shows on the next request; a revoked token, a removed
member or a narrowed scope stops reading within the TTL; uploads never trust the cache.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from clients import BIN, run
from factories import wheel_bytes, wheel_name
from uploads import form_for, post

BOB = "bob@example.com"
TTL = 2
WHEEL = wheel_name("widgets", "1.0")
PAGE = "/simple/acme/main/widgets/"
JSON = "application/vnd.pypi.simple.v1+json"


def get(stack, path, token, **headers):
    return requests.get(
        stack.url + path,
        headers={"Authorization": f"Bearer {token}", **headers},
        allow_redirects=False,
        timeout=30,
    )


def upload(stack, token, version, project="widgets"):
    form, files = form_for(wheel_name(project, version), wheel_bytes(project, version))
    return post(stack, form, files, token=token)


@pytest.fixture
def cached(stack, monkeypatch):
    """The registry under test with a TTL-second token cache for reads."""
    from bale import settings as settings_mod
    from bale.api.simple import views

    monkeypatch.setenv("BALE_TOKEN_CACHE_SECONDS", str(TTL))
    settings_mod.get_settings.cache_clear()
    views.clear_caches()
    assert upload(stack, stack.token(), "1.0").status_code == 200
    yield stack
    monkeypatch.delenv("BALE_TOKEN_CACHE_SECONDS")
    settings_mod.get_settings.cache_clear()
    views.clear_caches()


def long_ttl(monkeypatch):
    """A TTL no slow machine outlasts mid-test, for tests that count what warm requests cost."""
    from bale import settings as settings_mod

    monkeypatch.setenv("BALE_TOKEN_CACHE_SECONDS", "60")
    settings_mod.get_settings.cache_clear()


class Calls:
    """Firestore calls the registry's simple function makes: streaming document reads (the
    token and documents, batched) and the unary version probes, counted apart."""

    def __init__(self):
        from bale.api.simple import routing

        self.stores = routing.services()[1]
        self.api = self.stores.db._firestore_api
        self.batched = 0
        self.probes = 0
        self._lock = threading.Lock()

    def __enter__(self):
        orig_batch, orig_probe = self.api.batch_get_documents, self.stores.probe.get

        def batch(*a, **kw):
            with self._lock:
                self.batched += 1
            return orig_batch(*a, **kw)

        def probe(*a, **kw):
            with self._lock:
                self.probes += 1
            return orig_probe(*a, **kw)

        self.api.batch_get_documents = batch
        self.stores.probe.get = probe
        return self

    def take(self) -> tuple[int, int]:
        with self._lock:
            out = (self.batched, self.probes)
            self.batched = self.probes = 0
            return out

    def __exit__(self, *exc):
        vars(self.api).pop("batch_get_documents", None)
        vars(self.stores.probe).pop("get", None)


def test_warm_reads_make_one_small_read_and_no_token_read(cached, monkeypatch):
    long_ttl(monkeypatch)
    token = cached.token(permission="read")
    routes = [PAGE, f"{PAGE}{WHEEL}.metadata", f"{PAGE}{WHEEL}", f"/files/acme/main/widgets/{WHEEL}"]
    with Calls() as calls:
        first = get(cached, PAGE, token, Accept=JSON)
        assert first.status_code == 200, first.text
        assert calls.take() == (2, 0)  # the token with the project, then the page's chunks
        for path in routes:
            resp = get(cached, path, token)
            assert resp.status_code == 200, (path, resp.text)
            assert calls.take() == (0, 1), path  # one unary read of the project's version
    # The bytes the page's hash names.
    import hashlib

    (listed,) = first.json()["files"]
    assert (
        hashlib.sha256(get(cached, f"{PAGE}{WHEEL}", token).content).hexdigest() == listed["hashes"]["sha256"]
    )
    assert get(cached, PAGE, token, Accept=JSON).json() == first.json()


def test_every_change_to_the_project_shows_on_the_next_request(cached):
    from bale.packages.service import Packages

    token = cached.token(permission="read")
    assert get(cached, PAGE, token).status_code == 200  # the token is cached now
    packages = Packages(cached.stores)

    assert upload(cached, cached.token(), "2.0").status_code == 200
    files = {f["filename"]: f for f in get(cached, PAGE, token, Accept=JSON).json()["files"]}
    assert wheel_name("widgets", "2.0") in files
    assert get(cached, f"{PAGE}{wheel_name('widgets', '2.0')}", token).status_code == 200

    packages.set_yanked("acme", "main", "widgets", "2.0", True, "broken")
    files = {f["filename"]: f for f in get(cached, PAGE, token, Accept=JSON).json()["files"]}
    assert files[wheel_name("widgets", "2.0")]["yanked"] == "broken"
    # A yanked file stays downloadable (PEP 592).
    assert get(cached, f"{PAGE}{wheel_name('widgets', '2.0')}", token).status_code == 200

    packages.delete("acme", "main", "widgets", "1.0", actor="admin@example.com")
    files = {f["filename"] for f in get(cached, PAGE, token, Accept=JSON).json()["files"]}
    assert files == {wheel_name("widgets", "2.0")}
    for suffix in ("", ".metadata"):
        assert get(cached, f"{PAGE}{WHEEL}{suffix}", token).status_code == 404
        assert get(cached, f"/files/acme/main/widgets/{WHEEL}{suffix}", token).status_code == 404


def test_a_file_the_page_does_not_list_is_not_served(cached):
    token = cached.token(permission="read")
    assert get(cached, PAGE, token).status_code == 200
    missing = wheel_name("widgets", "9.9")
    assert get(cached, f"{PAGE}{missing}", token).status_code == 404
    assert get(cached, f"{PAGE}{missing}.metadata", token).status_code == 404
    assert get(cached, "/simple/acme/main/nothing-here/", token).status_code == 404


def _stops_within_ttl(stack, token, path=PAGE) -> float:
    """Seconds until ``token`` is refused at ``path``, polling; fails after 3 x TTL."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3 * TTL:
        if get(stack, path, token).status_code in (401, 403):
            return time.monotonic() - t0
        time.sleep(0.1)
    pytest.fail(f"{path} still answered 200 {3 * TTL} s after the change")


def test_a_revoked_token_stops_reading_within_the_ttl(cached):
    from bale.tokens.service import Tokens

    token = cached.token(permission="read")
    for path in (PAGE, f"{PAGE}{WHEEL}", f"{PAGE}{WHEEL}.metadata"):
        assert get(cached, path, token).status_code == 200
    Tokens(cached.stores).revoke("acme", token.split("_")[1], actor="admin@example.com")
    lag = _stops_within_ttl(cached, token)
    assert lag <= TTL + 1.0, lag
    for path in (PAGE, f"{PAGE}{WHEEL}", f"{PAGE}{WHEEL}.metadata"):
        assert get(cached, path, token).status_code == 401


def test_a_removed_member_stops_reading_within_the_ttl(cached, tenancy, tokens):
    tenancy.set_member("acme", BOB, "member")
    token, _ = tokens.create("acme", "main", "read", owner=BOB)
    assert get(cached, f"{PAGE}{WHEEL}", token).status_code == 200
    tenancy.remove_member("acme", BOB)
    lag = _stops_within_ttl(cached, token, f"{PAGE}{WHEEL}")
    assert lag <= TTL + 1.0, lag
    resp = get(cached, PAGE, token)
    assert resp.status_code == 403 and "no longer a member" in resp.text


def test_the_cache_never_widens_a_token(cached, tokens):
    """A cached token is still checked for each request's team, index and project."""
    only_widgets, _ = tokens.create("acme", "main", "read", projects=["widgets"])
    assert upload(cached, cached.token(), "1.0", project="gadgets").status_code == 200
    assert get(cached, PAGE, only_widgets).status_code == 200  # cached now
    assert get(cached, "/simple/acme/main/gadgets/", only_widgets).status_code == 403
    assert (
        get(cached, f"/simple/acme/main/gadgets/{wheel_name('gadgets', '1.0')}", only_widgets).status_code
        == 403
    )
    # Another team's URL: the token is not looked up in another team's entry.
    assert get(cached, "/simple/other/main/widgets/", only_widgets).status_code == 403
    # A wrong secret for the same token ID never matches the cached entry.
    forged = only_widgets[:-4] + ("AAAA" if not only_widgets.endswith("AAAA") else "BBBB")
    assert get(cached, PAGE, forged).status_code == 401


def test_uploads_never_trust_the_cache(cached):
    from bale.tokens.service import Tokens

    token = cached.token(permission="upload")
    assert get(cached, PAGE, token).status_code == 200  # an upload token reads too: cached now
    Tokens(cached.stores).revoke("acme", token.split("_")[1], actor="admin@example.com")
    resp = upload(cached, token, "3.0")
    assert resp.status_code == 401, resp.text


def test_uv_installs_through_the_warm_path(cached, tmp_path, client_env, monkeypatch):
    """uv reads the page, then each .metadata and wheel under the same token: with the cache
    on, all but the first request take the warm path; what gets installed is the same."""
    long_ttl(monkeypatch)
    token = cached.token(permission="read")
    assert upload(cached, cached.token(), "2.0").status_code == 200
    host = cached.url.split("://", 1)[1]
    with Calls() as calls:
        out = run(
            [
                BIN / "uv",
                "pip",
                "install",
                "--python",
                BIN / "python",
                "--target",
                tmp_path / "t",
                "--index-url",
                f"http://__token__:{token}@{host}/simple/acme/main/",
                "widgets==2.0",
            ],
            env=client_env,
        )
        batched, probes = calls.take()
    assert out.returncode == 0, out.stderr
    assert any((tmp_path / "t").glob("widgets-2.0.dist-info")), list((tmp_path / "t").iterdir())
    # uv asks for the page, then the wheel's .metadata and the wheel: one request reads the
    # token (with the project, then the page's chunks), the other two only probe the version.
    assert probes >= 2 and batched <= 2, (batched, probes)

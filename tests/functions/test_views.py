"""Views (issue 26): their records and `bale admin view …`, over the real emulators, and what
the HTTP API does with them (uploads refused, pages served from the sources under the filter)."""

from __future__ import annotations

import hashlib
import html.parser

import pytest
from click.testing import CliRunner

from factories import wheel_bytes, wheel_name
from uploads import form_for, post


@pytest.fixture
def bale(stores):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    runner = CliRunner()

    def run(*args):
        settings_mod.get_settings.cache_clear()
        try:
            return runner.invoke(cli, ["admin", *args], catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return run


@pytest.fixture
def staging(tenancy, acme):
    tenancy.create_index("acme", "staging")
    return "staging"


def test_create_show_update_delete_a_view_audited(bale, tenancy, staging):
    r = bale(
        "create-view",
        "acme",
        "dev",
        "--source",
        "staging",
        "--source",
        "main",
        "--filter",
        "release.age_days >= 7",
    )
    assert r.exit_code == 0, r.stderr
    assert "sources (first holding a project wins): staging, main" in r.stdout
    r = bale("view", "show", "acme", "dev")
    assert r.exit_code == 0 and "filter: release.age_days >= 7" in r.stdout
    r = bale("update-view", "acme", "dev", "--source", "main")
    assert r.exit_code == 0 and "wins): main\n" in r.stdout and "release.age_days >= 7" in r.stdout
    r = bale("update-view", "acme", "dev", "--no-filter")
    assert r.exit_code == 0 and "filter: (none" in r.stdout
    r = bale("update-view", "acme", "dev")  # nothing to change: refused, and nothing audited
    assert r.exit_code == 2 and "Nothing to change" in r.stderr
    r = bale("list-views", "acme")
    assert r.stdout.splitlines()[0].split() == ["VIEW", "SOURCES", "(IN", "ORDER)", "FILTER"]
    assert r.stdout.splitlines()[1].split() == ["dev", "main", "-"]
    r = bale("delete-view", "acme", "dev")
    assert r.exit_code == 0 and "Deleted view acme/dev" in r.stdout
    r = bale("list-views", "acme")
    assert r.exit_code == 0 and r.stdout.startswith("No views in acme: bale admin view create acme VIEW")
    assert bale("show-view", "acme", "dev").exit_code == 1
    actions = [e["action"] for e in tenancy.audit_log("acme")]
    assert actions[:4] == ["delete-view", "update-view", "update-view", "create-view"]


def test_deleting_a_view_revokes_what_was_scoped_to_it(bale, stores, tenancy, staging):
    """A grant names the view by name: after a delete, an index or view taking the name must
    not open to the old view's tokens or accessors."""
    from bale.publishing.publishers import Publishers
    from bale.publishing.readers import Readers
    from bale.store import paths
    from bale.tokens.service import Tokens

    assert bale("create-view", "acme", "dev", "--source", "main").exit_code == 0
    assert bale("create-token", "acme", "--index", "dev", "--permission", "read").exit_code == 0
    assert bale("create-token", "acme", "--index", "main", "--permission", "read").exit_code == 0
    only_view = Readers(stores).add("acme", "github", repository="acme/*", indexes=["dev"])
    both = Readers(stores).add("acme", "github", repository="acme/app", indexes=["dev", "staging"])
    # A trusted publisher on a view, as could be added before views refused them.
    stores.db.collection(paths.publishers()).document("0123456789abcdef").set(
        {
            "team": "acme",
            "index": "dev",
            "provider": "github",
            "repository": "acme/app",
            "workflow": "publish.yml",
            "projects": ["app"],
            "lookup": "x",
        }
    )

    r = bale("delete-view", "acme", "dev")
    assert r.exit_code == 0, r.stderr
    assert f"trusted accessor {both.id} now reads: staging" in r.stdout
    live = {t.id: t.index for t in Tokens(stores).list("acme", include_revoked=False)}
    assert sorted(live.values()) == ["main"]
    readers = {x.id: x.indexes for x in Readers(stores).list("acme")}
    assert readers == {both.id: ["staging"]} and only_view.id not in readers
    assert Publishers(stores).list("acme") == []
    actions = [e["action"] for e in tenancy.audit_log("acme")][:5]
    assert sorted(actions) == [
        "delete-view",
        "remove-publisher",
        "remove-reader",
        "revoke-token",
        "update-reader",
    ]

    # The name taken again: nothing from before reaches it.
    tenancy.create_index("acme", "dev")
    assert [t.index for t in Tokens(stores).list("acme", include_revoked=False)] == ["main"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "main", "--filter", "release.agedays >= 7"],
            "filter, column 1: unknown field release.agedays; allowed: package.name",
        ),
        (
            ["--source", "main", "--filter", "release.version < 'x'"],
            "column 19: 'x' is not a PEP 440 version",
        ),
        (["--source", "nope"], "No index acme/nope to use as a source."),
        (["--source", "main", "--source", "main"], "A source is named twice"),
    ],
)
def test_a_refused_view_says_why_and_leaves_nothing(bale, tenancy, acme, args, message):
    r = bale("create-view", "acme", "dev", *args)
    assert r.exit_code == 1
    assert message in r.stderr
    assert not tenancy.index_exists("acme", "dev")


def test_one_namespace_for_indexes_and_views(bale, tenancy, staging):
    r = bale("create-view", "acme", "staging", "--source", "main")
    assert r.exit_code == 1 and "already exists (an index or a view)" in r.stderr
    assert bale("create-view", "acme", "dev", "--source", "main").exit_code == 0
    r = bale("create-index", "acme", "dev")
    assert r.exit_code == 1 and "acme/dev already exists (an index or a view)" in r.stderr
    r = bale("create-view", "acme", "dev2", "--source", "dev")
    assert r.exit_code == 1 and "acme/dev is a view; a view's sources are indexes" in r.stderr
    r = bale("show-view", "acme", "main")
    assert r.exit_code == 1 and "No view acme/main (it is an index)." in r.stderr
    # Tokens scope to a view by its name, as to an index; only to read it.
    r = bale("create-token", "acme", "--index", "dev", "--permission", "read")
    assert r.exit_code == 0, r.stderr
    for permission in ("upload", "publish"):
        r = bale("create-token", "acme", "--index", "dev", "--permission", permission)
        assert r.exit_code == 1 and "acme/dev is a view, read-only: a token for it can only read" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["grant-write", "acme", "dev", "you@example.com"],
        ["set-upstream", "acme", "dev", "--url", "http://127.0.0.1:9/simple/"],
        ["exempt", "acme", "dev", "requests"],
        ["reserve", "acme", "dev", "acme-app"],
        [
            "add-publisher",
            "acme",
            "--index",
            "dev",
            "--provider",
            "github",
            "--repository",
            "acme/app",
            "--workflow",
            "publish.yml",
            "--project",
            "acme-app",
        ],
        ["list-projects", "acme", "dev"],
        ["list-files", "acme", "dev", "acme-app"],
        ["rebuild-catalog", "acme", "dev"],
        ["yank", "acme", "dev", "acme-app", "1.0"],
        ["project", "status", "acme", "dev", "acme-app", "archived"],
    ],
)
def test_what_belongs_to_an_index_is_refused_on_a_view(bale, tenancy, acme, args):
    """Writers, upstreams, publishers, projects and their catalog live on a view's sources:
    naming a view gets a clear refusal (not a traceback, not a setting the view ignores)."""
    assert bale("create-view", "acme", "dev", "--source", "main").exit_code == 0
    before = tenancy.index_ref("acme", "dev").get().to_dict()
    r = bale(*args)
    assert r.exit_code == 1, r.output
    assert "acme/dev is a view (read-only, over main); this applies to an index" in r.stderr
    assert tenancy.index_ref("acme", "dev").get().to_dict() == before
    assert tenancy.audit_log("acme", limit=1)[0]["action"] == "create-view"


def test_rebuilding_the_catalog_of_an_empty_index(bale, staging):
    r = bale("rebuild-catalog", "acme", "staging")
    assert r.exit_code == 0 and "lists its 0 projects" in r.stdout, r.output
    assert bale("list-projects", "acme", "staging").exit_code == 0


def test_an_upload_to_a_view_is_refused_naming_its_sources(stack, bale, staging):
    assert bale("create-view", "acme", "dev", "--source", "staging", "--source", "main").exit_code == 0
    # No upload token is made for a view now; one from before that rule (or a person's token,
    # good in every index) still meets the refusal at the upload itself.
    token = stack.token("upload", index="dev", check_index=False)
    wheel = wheel_bytes("demo", "1.0")
    form, files = form_for(wheel_name("demo", "1.0"), wheel)
    r = post(stack, form, files, token, path="/v1/upload/acme/dev/")
    assert r.status_code == 400
    assert (
        "acme/dev is a view (read-only) over staging, main; upload to one of those indexes instead." in r.text
    )


# -- serving --------------------------------------------------------------------------------

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _upload(stack, index, name, version):
    token = stack.token("upload", index=index)
    data = wheel_bytes(name, version)
    form, files = form_for(wheel_name(name, version), data)
    r = post(stack, form, files, token, path=f"/v1/upload/acme/{index}/")
    assert r.status_code == 200, r.text


def _get(stack, path, token, **kw):
    import requests

    return requests.get(stack.url + path, auth=("__token__", token), timeout=30, **kw)


def test_a_view_serves_the_first_source_under_its_filter(stack, bale, staging):
    for v in ("1.0", "2.0"):
        _upload(stack, "main", "demo", v)
    _upload(stack, "main", "other", "1.0")
    _upload(stack, "staging", "other", "5.0")
    r = bale(
        "create-view",
        "acme",
        "dev",
        "--source",
        "staging",
        "--source",
        "main",
        "--filter",
        'release.version < "2"',
    )
    assert r.exit_code == 0, r.stderr
    token = stack.token("read", index="dev")

    page = _get(stack, "/simple/acme/dev/demo/", token, headers=JSON)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["versions"] == ["1.0"]
    (f,) = body["files"]
    assert f["filename"] == wheel_name("demo", "1.0")
    assert f["url"].endswith("/simple/acme/dev/demo/" + f["filename"])
    assert f["core-metadata"] and f["upload-time"]
    html = _get(stack, "/simple/acme/dev/demo/", token).text
    assert wheel_name("demo", "1.0") in html and wheel_name("demo", "2.0") not in html

    # Files: what the page shows is served; what the filter hides is 404, .metadata too.
    got = _get(stack, "/simple/acme/dev/demo/" + wheel_name("demo", "1.0"), token).content
    assert hashlib.sha256(got).hexdigest() == f["hashes"]["sha256"]
    assert (
        _get(stack, "/simple/acme/dev/demo/" + wheel_name("demo", "1.0") + ".metadata", token).status_code
        == 200
    )
    for suffix in ("", ".metadata"):
        assert (
            _get(stack, "/simple/acme/dev/demo/" + wheel_name("demo", "2.0") + suffix, token).status_code
            == 404
        )

    # Private first, never merged: staging's "other" wins over main's, and its 5.0 is filtered out.
    other = _get(stack, "/simple/acme/dev/other/", token, headers=JSON).json()
    assert other["files"] == [] and other["versions"] == []
    r = bale("update-view", "acme", "dev", "--no-filter")
    other = _get(stack, "/simple/acme/dev/other/", token, headers=JSON).json()
    assert other["versions"] == ["5.0"]
    # A second, warm request reads the same page (and a change of the view shows at once).
    assert _get(stack, "/simple/acme/dev/other/", token, headers=JSON).json()["versions"] == ["5.0"]
    assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["1.0", "2.0"]

    listing = _get(stack, "/simple/acme/dev/", token, headers=JSON).json()
    assert [p["name"] for p in listing["projects"]] == ["demo", "other"]
    assert _get(stack, "/simple/acme/dev/nope/", token).status_code == 404
    # A token for the view reads the view, not its sources.
    assert _get(stack, "/simple/acme/main/demo/", token).status_code == 403


def test_warm_view_pages_follow_uploads_and_view_changes(stack, bale, staging, monkeypatch):
    """With a token cache, a view page is served on the warm path (no token or view read):
    a new upload to a source shows at once, a change of the view within the token cache's TTL."""
    from bale import settings as settings_mod
    from bale.api.simple import views

    monkeypatch.setenv("BALE_TOKEN_CACHE_SECONDS", "60")
    settings_mod.get_settings.cache_clear()
    views.clear_caches()
    try:
        _upload(stack, "main", "demo", "1.0")
        assert (
            bale(
                "create-view",
                "acme",
                "dev",
                "--source",
                "staging",
                "--source",
                "main",
                "--filter",
                'release.version != "2.0"',
            ).exit_code
            == 0
        )
        token = stack.token("read", index="dev")
        for _ in range(3):
            assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["1.0"]
        _upload(stack, "main", "demo", "2.0")
        _upload(stack, "main", "demo", "3.0")
        assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["1.0", "3.0"]
        assert _get(stack, "/simple/acme/dev/demo/" + wheel_name("demo", "2.0"), token).status_code == 404
        for suffix in ("", ".metadata"):
            assert (
                _get(stack, "/simple/acme/dev/demo/" + wheel_name("demo", "3.0") + suffix, token).status_code
                == 200
            )
        # Private first: staging now holds demo, so it wins outright.
        _upload(stack, "staging", "demo", "0.1")
        assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["0.1"]
        # The view's definition is trusted for the token cache's TTL, then read again.
        assert bale("update-view", "acme", "dev", "--source", "main").exit_code == 0
        views.clear_caches()
        assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["1.0", "3.0"]
    finally:
        monkeypatch.delenv("BALE_TOKEN_CACHE_SECONDS")
        settings_mod.get_settings.cache_clear()
        views.clear_caches()


def test_a_warm_view_page_reads_its_sources_in_one_round_trip(stack, bale, tenancy, staging, monkeypatch):
    """Every source up to the winner is read on every warm request (nothing remembers that a
    source lacks the project), all in one round trip; where the first source wins, one read."""
    from bale import settings as settings_mod
    from bale.api.simple import routing as simple_routing
    from bale.api.simple import views
    from bulk import FirestoreReads

    monkeypatch.setenv("BALE_TOKEN_CACHE_SECONDS", "60")
    settings_mod.get_settings.cache_clear()
    views.clear_caches()
    try:
        # The sources: staging (empty at first), main (holds demo), third (holds other).
        tenancy.create_index("acme", "third")
        _upload(stack, "main", "demo", "1.0")
        _upload(stack, "third", "other", "1.0")
        args = ["create-view", "acme", "dev", "--source", "staging", "--source", "main"]
        assert bale(*args, "--source", "third").exit_code == 0
        token = stack.token("read", index="dev")
        served = simple_routing.services()[1]
        for path in ("/simple/acme/dev/demo/", "/simple/acme/dev/other/"):
            assert _get(stack, path, token, headers=JSON).status_code == 200  # cold, then warm

        def versions(project):
            return _get(stack, f"/simple/acme/dev/{project}/", token, headers=JSON).json()["versions"]

        with FirestoreReads(served.db, served.probe) as reads:
            for _ in range(3):
                assert versions("demo") == ["1.0"]
                # staging and main, in one round trip (third is not read: main wins).
                assert reads.take() == (1, 2)
            assert versions("other") == ["1.0"]
            assert reads.take() == (1, 3)
            _upload(stack, "staging", "demo", "0.1")  # private first: staging wins at once
            reads.take()
            assert versions("demo") == ["0.1"]
            reads.take()
            assert versions("demo") == ["0.1"]
            assert reads.take() == (1, 1)  # now the first source wins: one unary probe
            # Files through the view take the same path.
            got = _get(stack, "/simple/acme/dev/other/" + wheel_name("other", "1.0"), token)
            assert got.status_code == 200 and reads.take() == (1, 3)
    finally:
        monkeypatch.delenv("BALE_TOKEN_CACHE_SECONDS")
        settings_mod.get_settings.cache_clear()
        views.clear_caches()


def test_yanks_pass_through_a_view(stack, bale):
    _upload(stack, "main", "demo", "1.0")
    assert bale("yank", "acme", "main", "demo", "1.0", "--reason", "broken").exit_code == 0
    assert (
        bale("create-view", "acme", "dev", "--source", "main", "--filter", 'package.name != "x"').exit_code
        == 0
    )
    token = stack.token("read", index="dev")
    (f,) = _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["files"]
    assert f["yanked"] == "broken"
    assert 'data-yanked="broken"' in _get(stack, "/simple/acme/dev/demo/", token).text


def test_an_upstream_file_without_upload_time_is_hidden_by_an_age_floor(stack, bale, tenancy):
    """The documented rule for unknown upload times, through a view over an upstream: an age
    floor or a snapshot hides the file; a filter that does not read its time keeps it."""
    import datetime as dt

    from test_upstream import upstreams

    from fakes.upstream import Upstream

    up = Upstream().start()
    try:
        up.add("pubdep", "1.0", age=dt.timedelta(days=30))
        up.add("pubdep", "2.0", age=None)  # the upstream says nothing of when
        upstreams(stack).set_upstream("acme", "main", url=up.index_url)
        assert bale("create-view", "acme", "dev", "--source", "main").exit_code == 0
        token = stack.token("read", index="dev")
        for expr, versions in [
            ("release.age_days >= 7", ["1.0"]),
            ('release.upload_time <= "2100-01-01"', ["1.0"]),
            ('not (release.upload_time > "2100-01-01")', ["1.0"]),
            ('package.name != "x"', ["1.0", "2.0"]),
        ]:
            assert bale("update-view", "acme", "dev", "--filter", expr).exit_code == 0
            page = _get(stack, "/simple/acme/dev/pubdep/", token, headers=JSON)
            assert page.status_code == 200, page.text
            assert page.json()["versions"] == versions, expr
        hidden = wheel_name("pubdep", "2.0")
        bale("update-view", "acme", "dev", "--filter", "release.age_days >= 7")
        assert _get(stack, "/simple/acme/dev/pubdep/" + hidden, token).status_code == 404
        assert _get(stack, "/simple/acme/dev/pubdep/" + wheel_name("pubdep", "1.0"), token).status_code == 200
    finally:
        up.stop()


@pytest.mark.e2e
def test_a_trusted_accessor_scoped_to_a_view_reads_the_view_only(stack, bale, oidc_issuers):
    from test_trusted_access import enroll, index_status, read_token

    _upload(stack, "main", "demo", "1.0")
    _upload(stack, "main", "demo", "2.0")
    assert (
        bale("create-view", "acme", "dev", "--source", "main", "--filter", 'release.version < "2"').exit_code
        == 0
    )
    enroll(stack, indexes=["dev"])
    resp = read_token(stack, oidc_issuers.github.sign())
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    assert _get(stack, "/simple/acme/dev/demo/", token, headers=JSON).json()["versions"] == ["1.0"]
    assert index_status(stack, token, index="dev") == 200
    assert index_status(stack, token, index="main") == 403


class _Links(html.parser.HTMLParser):
    """Every URL an HTML page links: hrefs and the PEP 740 provenance attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.metadata: list[str] = []
        self.provenance: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            href = a["href"].split("#", 1)[0]
            self.hrefs.append(href)
            if a.get("data-core-metadata"):
                self.metadata.append(href + ".metadata")
        if a.get("data-provenance"):
            self.provenance.append(a["data-provenance"])


def test_a_token_scoped_to_a_view_follows_every_link_of_its_pages(
    stack, bale, staging, oidc_issuers, test_sigstore
):
    """Files, .metadata and provenance (PEP 740) are all linked under the view's own path, so
    a token for the view alone reads every one of them (not 403 at the source's URL), and what
    the filter hides is 404 there too. The project is in the view's second source."""
    import json
    import urllib.parse

    from test_provenance_hostile import mint

    publish = mint(stack, oidc_issuers)  # Trusted Publishing for gizmo in acme/main
    for v in ("1.0", "2.0"):
        data = wheel_bytes("gizmo", v)
        name = wheel_name("gizmo", v)
        att = json.dumps([test_sigstore.attest(name, hashlib.sha256(data).hexdigest())])
        form, files = form_for(name, data, attestations=att)
        r = post(stack, form, files, publish)
        assert r.status_code == 200, r.text
    args = ["create-view", "acme", "dev", "--source", "staging", "--source", "main"]
    assert bale(*args, "--filter", 'release.version < "2"').exit_code == 0
    token = stack.token("read", index="dev")
    shown, hidden = wheel_name("gizmo", "1.0"), wheel_name("gizmo", "2.0")

    def follow(url):
        r = _get(stack, urllib.parse.urlsplit(url).path, token, allow_redirects=False)
        return r.status_code

    listing = _get(stack, "/simple/acme/dev/", token)
    links = _Links()
    links.feed(listing.text)
    assert links.hrefs == ["gizmo/"]
    page_url = urllib.parse.urljoin(stack.url + "/simple/acme/dev/", links.hrefs[0])
    html_page = _get(stack, urllib.parse.urlsplit(page_url).path, token)
    assert html_page.status_code == 200
    links = _Links()
    links.feed(html_page.text)
    json_page = _get(stack, "/simple/acme/dev/gizmo/", token, headers=JSON).json()
    (f,) = json_page["files"]
    assert f["filename"] == shown and f["provenance"]
    html_urls = [urllib.parse.urljoin(page_url, u) for u in links.hrefs + links.metadata + links.provenance]
    json_urls = [f["url"], f["url"] + ".metadata", f["provenance"]]
    assert len(html_urls) == 3 and sorted(html_urls) == sorted(json_urls)
    for url in json_urls:
        assert "/acme/dev/" in url, url
        assert follow(url) in (200, 302), url
    prov = _get(stack, urllib.parse.urlsplit(f["provenance"]).path, token).json()
    assert prov["attestation_bundles"][0]["publisher"]["kind"] == "GitHub"
    # The same provenance as the source serves it.
    source = _get(
        stack, f"/integrity/acme/main/gizmo/1.0/{shown}/provenance", stack.token("read", index="main")
    )
    assert source.json() == prov
    # The source's own URLs stay closed to the view's token.
    assert _get(stack, f"/integrity/acme/main/gizmo/1.0/{shown}/provenance", token).status_code == 403

    # What the filter hides: 404 at every URL the view would have given it.
    for path in (
        f"/simple/acme/dev/gizmo/{hidden}",
        f"/simple/acme/dev/gizmo/{hidden}.metadata",
        f"/integrity/acme/dev/gizmo/2.0/{hidden}/provenance",
    ):
        r = _get(stack, path, token)
        assert r.status_code == 404, (path, r.status_code, r.text)
    # A file of a source that does not win the project is not the view's either.
    _upload(stack, "staging", "gizmo", "0.5")
    assert _get(stack, f"/integrity/acme/dev/gizmo/1.0/{shown}/provenance", token).status_code == 404
    assert _get(stack, f"/simple/acme/dev/gizmo/{shown}", token).status_code == 404

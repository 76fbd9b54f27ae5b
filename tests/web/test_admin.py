"""Team admins' pages: each change is made through the form, lands, and is audited."""

from __future__ import annotations

import re

import pytest

from bale import access
from clients import uv_publish
from factories import make_sdist, make_wheel

ADMIN = "alice@example.com"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def alice(sign_in, acme):
    return sign_in(ADMIN)


def audit(tenancy) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["detail"]) for e in tenancy.audit_log("acme")]


def follow(b, r):
    assert r.status_code == 303, text(r)
    return b.get(r.headers["Location"])


# -- members --------------------------------------------------------------------------------


def test_add_member_change_role_and_remove(alice, tenancy):
    page = follow(
        alice, alice.post("/teams/acme/admin/members", {"email": "Bob@Example.com", "role": "member"})
    )
    assert "bob@example.com is now a member of acme." in text(page)
    assert tenancy.role_of("acme", "bob@example.com") == "member"

    follow(alice, alice.post("/teams/acme/admin/members", {"email": "bob@example.com", "role": "admin"}))
    assert tenancy.role_of("acme", "bob@example.com") == "admin"

    page = follow(alice, alice.post("/teams/acme/admin/members/remove", {"email": "bob@example.com"}))
    assert "Removed bob@example.com" in text(page)
    assert tenancy.role_of("acme", "bob@example.com") is None

    log = audit(tenancy)
    assert (ADMIN, "set-member", "bob@example.com as member") in log
    assert (ADMIN, "set-member", "bob@example.com as admin") in log
    assert (ADMIN, "remove-member", "bob@example.com") in log
    # … and the team page shows who did it.
    team_page = text(alice.get("/teams/acme/")).split('id="audit-h"')[1]
    assert "remove-member" in team_page and ADMIN in team_page


def test_last_admin_can_be_neither_removed_nor_demoted(alice, tenancy):
    page = follow(alice, alice.post("/teams/acme/admin/members/remove", {"email": ADMIN}))
    assert "last admin" in text(page)
    page = follow(alice, alice.post("/teams/acme/admin/members", {"email": ADMIN, "role": "member"}))
    assert "last admin" in text(page)
    assert tenancy.role_of("acme", ADMIN) == "admin"


def test_invalid_member_email_is_reported(alice, tenancy):
    page = follow(alice, alice.post("/teams/acme/admin/members", {"email": "not-an-email", "role": "member"}))
    assert "Invalid email address" in text(page)
    assert [m.email for m in tenancy.members("acme")] == [ADMIN]


# -- indexes and write access ---------------------------------------------------------------------


def test_create_index(alice, tenancy):
    page = follow(alice, alice.post("/teams/acme/admin/indexes", {"index": "staging"}))
    assert "Created index acme/staging." in text(page)
    assert tenancy.index_exists("acme", "staging")
    assert (ADMIN, "create-index", "staging") in audit(tenancy)
    page = follow(alice, alice.post("/teams/acme/admin/indexes", {"index": "staging"}))
    assert "already exists" in text(page)
    page = follow(alice, alice.post("/teams/acme/admin/indexes", {"index": "Bad Name"}))
    assert "Invalid index name" in text(page)


def test_write_access_only_for_a_member(alice, tenancy):
    """Only a member of the team may be made a writer (bale.access.writer_refusal); the refusal
    is said on the page and grants nothing."""
    page = follow(
        alice,
        alice.post(
            "/teams/acme/admin/access", {"index": "main", "email": "dave@example.com", "allowed": "yes"}
        ),
    )
    assert "dave@example.com is not a member of acme; add them as a member first." in text(page)
    assert "dave@example.com" not in (tenancy.require_index("acme", "main").get("writers") or [])
    assert not [e for e in audit(tenancy) if e[1] == "grant-write"]


def test_grant_and_revoke_write_access(alice, tenancy):
    tenancy.set_member("acme", "bob@example.com", "member")
    page = text(alice.get("/teams/acme/admin/access"))
    assert '<option value="bob@example.com">' in page

    follow(
        alice,
        alice.post(
            "/teams/acme/admin/access", {"index": "main", "email": "bob@example.com", "allowed": "yes"}
        ),
    )
    assert access.may_upload(tenancy.stores, "acme", "main", "bob@example.com")
    follow(
        alice,
        alice.post(
            "/teams/acme/admin/access", {"index": "main", "email": "bob@example.com", "allowed": "no"}
        ),
    )
    assert not access.may_upload(tenancy.stores, "acme", "main", "bob@example.com")
    log = audit(tenancy)
    assert (ADMIN, "grant-write", "main: bob@example.com") in log
    assert (ADMIN, "revoke-write", "main: bob@example.com") in log


def test_write_access_only_for_members(alice, tenancy):
    page = follow(
        alice,
        alice.post(
            "/teams/acme/admin/access", {"index": "main", "email": "eve@example.com", "allowed": "yes"}
        ),
    )
    assert "not a member" in text(page)
    assert tenancy.require_index("acme", "main")["writers"] == []


# -- tokens ------------------------------------------------------------------------------------


def test_create_token_shows_it_once_and_it_works(alice, tokens, tenancy):
    r = alice.post(
        "/teams/acme/admin/tokens",
        {
            "index": "main",
            "permission": "upload",
            "projects": "Widgets, gizmo",
            "expires": "7d",
            "description": "CI",
        },
    )
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code id="token-secret">(bale_[^<]+)</code>', text(r)).group(1)
    token = tokens.authenticate(secret)
    assert (token.team, token.index, token.permission) == ("acme", "main", "upload")
    assert token.projects == ["gizmo", "widgets"]
    assert token.created_by == ADMIN and token.description == "CI"
    assert 6.9 * 86400 < (token.expires_at - token.created_at).total_seconds() <= 7 * 86400

    # Listed with its last use, and never shown again.
    page = text(alice.get("/teams/acme/admin/tokens"))
    assert secret not in page
    row = page.split(f'data-token="{token.id}"')[1].split("</tr>")[0]
    assert "upload on main" in row and "gizmo, widgets" in row
    assert 'class="last-used"><time' in row
    # Recorded once, by the token service (the dashboard writes no entry of its own).
    created = [e for e in audit(tenancy) if e[1] == "create-token"]
    assert created == [
        (ADMIN, "create-token", f"{token.id} upload on main (gizmo, widgets), expires in 7 days, for {ADMIN}")
    ]
    assert token.owner == ADMIN


def test_token_without_expiry_and_scope(alice, tokens):
    r = alice.post("/teams/acme/admin/tokens", {"index": "main", "permission": "read", "expires": "never"})
    secret = re.search(r'<code id="token-secret">(bale_[^<]+)</code>', text(r)).group(1)
    token = tokens.authenticate(secret)
    assert token.expires_at is None and token.projects is None and token.permission == "read"


@pytest.mark.parametrize(
    "form, message",
    [
        ({"index": "nope", "permission": "read", "expires": "7d"}, "No index acme/nope"),
        ({"index": "main", "permission": "admin", "expires": "7d"}, "Unknown permission"),
        ({"index": "main", "permission": "read", "expires": "99y"}, "Unknown expiry"),
        (
            {"index": "main", "permission": "read", "expires": "7d", "projects": "not a/name"},
            "Invalid project name",
        ),
    ],
)
def test_bad_token_requests_are_refused(alice, tokens, form, message):
    r = alice.post("/teams/acme/admin/tokens", form)
    assert r.status_code in (400, 404)
    assert message in text(r)
    assert 'id="token-secret"' not in text(r)
    assert tokens.list("acme") == []


def test_revoke_token(alice, tokens, tenancy):
    _secret, token = tokens.create("acme", "main", "read", created_by="cli")
    page = follow(alice, alice.post(f"/teams/acme/admin/tokens/{token.id}/revoke"))
    assert f"Revoked token {token.id}" in text(page)
    assert tokens.get(token.id).revoked_at is not None
    assert [e for e in audit(tenancy) if e[1] == "revoke-token"] == [(ADMIN, "revoke-token", token.id)]
    row = text(page).split(f'data-token="{token.id}"')[1].split("</tr>")[0]
    assert "revoked" in row


def test_another_teams_token_cannot_be_revoked(alice, tokens, tenancy):
    tenancy.create_team("globex", "gina@example.com")
    _, token = tokens.create("globex", "main", "read")
    page = follow(alice, alice.post(f"/teams/acme/admin/tokens/{token.id}/revoke"))
    assert "No token" in text(page)
    assert tokens.get(token.id).revoked_at is None


# -- trusted publishers --------------------------------------------------------------------------


def test_add_and_delete_github_publisher(alice, stores, tenancy):
    from bale.publishing.providers import PROVIDERS
    from bale.publishing.publishers import Publishers

    form = {
        "index": "main",
        "projects": "widgets gizmo",
        "provider": "github",
        "github-repository": "octo-org/widgets",
        "github-workflow": "publish.yml",
        "github-environment": "release",
    }
    page = follow(alice, alice.post("/teams/acme/admin/publishers", form))
    assert "Added trusted publisher github:octo-org/widgets:publish.yml (environment release)" in text(page)
    [pub] = Publishers(stores).list("acme")
    assert (pub.index, pub.projects, pub.repository, pub.workflow, pub.environment, pub.created_by) == (
        "main",
        ["gizmo", "widgets"],
        "octo-org/widgets",
        "publish.yml",
        "release",
        ADMIN,
    )
    claims = {"repository": "octo-org/widgets"}
    assert [p.id for p in Publishers(stores).candidates(PROVIDERS["github"], claims)] == [pub.id]
    assert f'data-publisher="{pub.id}"' in text(page)

    page = follow(alice, alice.post(f"/teams/acme/admin/publishers/{pub.id}/delete"))
    assert Publishers(stores).list("acme") == []
    actions = [a[1] for a in audit(tenancy) if a[0] == ADMIN]
    assert "add-publisher" in actions and "remove-publisher" in actions


def test_invalid_publisher_is_reported(alice, stores):
    from bale.publishing.publishers import Publishers

    form = {
        "index": "main",
        "projects": "widgets",
        "provider": "github",
        "github-repository": "octo-org/widgets",
        "github-workflow": ".github/workflows/publish.yml",
    }
    page = follow(alice, alice.post("/teams/acme/admin/publishers", form))
    assert "Invalid workflow" in text(page)
    assert Publishers(stores).list("acme") == []


# -- yanking -----------------------------------------------------------------------------------


def test_yank_and_unyank_from_the_project_page(alice, stack, tenancy, tmp_path):
    from bale.packages.service import Packages

    files = [make_wheel(tmp_path, "widgets", "1.0"), make_sdist(tmp_path, "widgets", "1.0")]
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files).returncode == 0
    project = "/teams/acme/indexes/main/projects/widgets/"
    page = text(alice.get(project))
    assert 'action="/teams/acme/admin/yank"' in page and "Yank 1.0" in page

    form = {"index": "main", "project": "widgets", "version": "1.0", "action": "yank", "reason": "broken"}
    page = follow(alice, alice.post("/teams/acme/admin/yank", form))
    assert "Yanked widgets 1.0." in text(page) and "Unyank 1.0" in text(page)
    assert all(
        f.yanked and f.yanked_reason == "broken"
        for f in Packages(stack.stores).files("acme", "main", "widgets")
    )
    assert [e for e in audit(tenancy) if e[1] == "yank"] == [
        (ADMIN, "yank", "main/widgets 1.0 (2 files): broken")
    ]

    page = follow(alice, alice.post("/teams/acme/admin/yank", {**form, "action": "unyank"}))
    assert not any(f.yanked for f in Packages(stack.stores).files("acme", "main", "widgets"))
    assert [e for e in audit(tenancy) if e[1] == "unyank"] == [
        (ADMIN, "unyank", "main/widgets 1.0 (2 files)")
    ]

    page = follow(alice, alice.post("/teams/acme/admin/yank", {**form, "version": "9.9"}))
    assert "No files for widgets 9.9" in text(page)


def test_delete_from_the_project_page_needs_the_version_typed(alice, stack, tenancy, tmp_path):
    from bale.packages.service import Packages

    files = [
        make_wheel(tmp_path, "widgets", "1.0"),
        make_sdist(tmp_path, "widgets", "1.0"),
        make_wheel(tmp_path, "widgets", "2.0"),
    ]
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files).returncode == 0
    project = "/teams/acme/indexes/main/projects/widgets/"
    page = text(alice.get(project))
    assert 'action="/teams/acme/admin/delete"' in page and "Delete 1.0" in page

    def live():
        return sorted(
            f.filename
            for f in Packages(stack.stores).files("acme", "main", "widgets")
            if f.deleted_at is None
        )

    assert len(live()) == 3

    form = {"index": "main", "project": "widgets", "version": "1.0", "filename": "", "confirm": "2.0"}
    page = text(follow(alice, alice.post("/teams/acme/admin/delete", form)))
    assert "Nothing deleted: type the version (1.0) to confirm." in page
    assert len(live()) == 3

    page = text(
        follow(
            alice,
            alice.post(
                "/teams/acme/admin/delete", {**form, "confirm": "1.0", "filename": "widgets-1.0.tar.gz"}
            ),
        )
    )
    assert "Deleted 1 file of widgets 1.0." in page
    assert live() == ["widgets-1.0-py3-none-any.whl", "widgets-2.0-py3-none-any.whl"]
    assert [e for e in audit(tenancy) if e[1] == "delete"] == [
        (ADMIN, "delete", "main/widgets 1.0: widgets-1.0.tar.gz")
    ]

    page = text(follow(alice, alice.post("/teams/acme/admin/delete", {**form, "confirm": "1.0"})))
    assert "Deleted 1 file of widgets 1.0." in page and "Delete 1.0" not in page and "Delete 2.0" in page
    assert live() == ["widgets-2.0-py3-none-any.whl"]
    gone = Packages(stack.stores).file("acme", "main", "widgets", "widgets-1.0-py3-none-any.whl")
    assert gone.deleted_by == ADMIN
    assert not stack.stores.blobs.exists(gone.blob_path)


def test_a_delete_that_leaves_bytes_in_storage_says_so(
    alice, stack, tenancy, tmp_path, dash_settings, monkeypatch
):
    """Storage refusing the delete (a fault injected at the GCS client, see DeletesFail): the
    files are still deleted, and the admin is told which stored objects remain."""
    from bale.store.backends import get_stores
    from faults import DeletesFail

    files = [make_wheel(tmp_path, "widgets", "1.0")]
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files).returncode == 0
    dash_stores = get_stores(dash_settings)
    monkeypatch.setattr(dash_stores, "blobs", DeletesFail(dash_stores.blobs))
    form = {"index": "main", "project": "widgets", "version": "1.0", "filename": "", "confirm": "1.0"}
    page = text(follow(alice, alice.post("/teams/acme/admin/delete", form)))
    assert "Deleted 1 file of widgets 1.0." in page
    assert "2 of their stored objects could not be removed from storage" in page
    assert "widgets-1.0-py3-none-any.whl.metadata" in page
    (entry,) = [e for e in audit(tenancy) if e[1] == "delete"]
    assert "could not remove from storage" in entry[2]


# -- upstream ---------------------------------------------------------------------------------


def test_upstream_form_sets_lists_and_turns_off(alice, tenancy, stores):
    from bale.upstream.policy import config_of

    page = text(alice.get("/teams/acme/admin/upstream"))
    assert "acme/main" in page and "No upstream." in page
    page = follow(
        alice,
        alice.post(
            "/teams/acme/admin/upstream",
            {"index": "main", "url": "https://mirror.example/simple", "min_age": "3d", "action": "set"},
        ),
    )
    assert "Upstream of acme/main saved." in text(page)
    assert 'value="3d"' in text(page)
    page = follow(
        alice,
        alice.post(
            "/teams/acme/admin/upstream/names", {"index": "main", "list": "exempt", "name": "Urllib3"}
        ),
    )
    assert "urllib3: added to exempt" in text(page)
    cfg = config_of(tenancy.require_index("acme", "main"))
    assert cfg is not None and (cfg.url, cfg.min_age, cfg.exempt) == (
        "https://mirror.example/simple/",
        3 * 86400,
        frozenset({"urllib3"}),
    )
    page = follow(
        alice,
        alice.post(
            "/teams/acme/admin/upstream", {"index": "main", "url": "http://evil.example/", "action": "set"}
        ),
    )
    assert "use https" in text(page)
    follow(alice, alice.post("/teams/acme/admin/upstream", {"index": "main", "action": "off"}))
    assert config_of(tenancy.require_index("acme", "main")) is None
    log = audit(tenancy)
    assert (ADMIN, "set-upstream", "main: https://mirror.example/simple/, min-age 259200s") in log
    assert (ADMIN, "upstream-exempt", "main: urllib3") in log
    assert (ADMIN, "upstream-off", "main") in log


def test_upstream_form_is_for_admins_only(sign_in, acme, tenancy):
    tenancy.set_member("acme", "bob@example.com", "member")
    bob = sign_in("bob@example.com")
    assert bob.get("/teams/acme/admin/upstream").status_code == 403
    r = bob.post(
        "/teams/acme/admin/upstream", {"index": "main", "url": "https://x.example/simple/", "action": "set"}
    )
    assert r.status_code == 403
    assert "upstream" not in tenancy.require_index("acme", "main")


def test_a_view_is_no_index_on_the_admin_pages(sign_in, acme, stores, tenancy):
    """A view holds no files: the pages for writers, upstreams and publishers leave it out,
    the team page links it to the Views tab, and its would-be project list says what it is
    (and writes nothing on the view's record)."""
    from bale.views.service import Views

    Views(stores).create("acme", "snap", ["main"], None)
    before = tenancy.index_ref("acme", "snap").get().to_dict()
    alice = sign_in("alice@example.com")
    for path in ("/teams/acme/admin/upstream", "/teams/acme/admin/access", "/teams/acme/admin/publishers"):
        r = alice.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert 'value="snap"' not in r.get_data(as_text=True), path
    page = alice.get("/teams/acme/").get_data(as_text=True)
    assert 'href="/teams/acme/admin/views?view=snap"' in page and "view of main" in page
    assert 'href="/teams/acme/indexes/snap/"' not in page
    r = alice.get("/teams/acme/indexes/snap/")
    assert r.status_code == 404
    assert "acme/snap is a view over main: its projects are in those indexes." in r.get_data(as_text=True)
    assert tenancy.index_ref("acme", "snap").get().to_dict() == before
    # Tokens still scope to a view.
    assert 'value="snap"' in alice.get("/teams/acme/admin/tokens").get_data(as_text=True)

"""Every admin route, every method, refused to everyone but the team's admins, changing nothing.

The routes come from the app's URL map, so a new admin route fails this test until it is
listed here. Each POST carries a valid CSRF token and data an admin would succeed with (the
last test proves it), so a refusal can only come from the access check.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bale.tokens.service import Permission, TokenKind
from clients import uv_publish
from factories import make_wheel

#: Valid form data for each admin POST (as an admin would send it).
POSTS = {
    "admin.create_index": {"index": "evil"},
    "admin.set_member": {"email": "mallory@example.com", "role": "admin"},
    "admin.remove_member": {"email": "carol@example.com"},
    "admin.set_access": {"index": "main", "email": "bob@example.com", "allowed": "yes"},
    "admin.create_token": {"index": "main", "permission": "upload", "expires": "7d"},
    "admin.revoke_token": {},
    "admin.add_publisher": {
        "index": "main",
        "projects": "widgets",
        "provider": "github",
        "github-repository": "evil-org/widgets",
        "github-workflow": "steal.yml",
    },
    "admin.remove_publisher": {},
    "admin.revoke_member_login": {},
    "admin.yank": {"index": "main", "project": "widgets", "version": "1.0", "action": "yank", "reason": "x"},
    "admin.delete": {"index": "main", "project": "widgets", "version": "1.0", "confirm": "1.0"},
    "admin.project_status": {"index": "main", "project": "widgets", "status": "quarantined", "reason": "x"},
    "admin.advisory_add": {
        "index": "main",
        "project": "widgets",
        "id": "EVIL-1",
        "affected": ">=0",
        "summary": "x",
    },
    "admin.advisory_withdraw": {"index": "main", "project": "widgets", "id": "ACME-1"},
    "admin.set_upstream": {"index": "main", "url": "https://upstream.example/simple/", "min_age": "3d"},
    "admin.set_upstream_name": {"index": "main", "list": "reserve", "name": "internal-tool"},
}
GETS = {
    "admin.overview",
    "admin.members",
    "admin.access",
    "admin.tokens",
    "admin.publishers",
    "admin.upstream",
}


def snapshot(db) -> dict:
    """Every document in Firestore, by path."""
    out = {}

    def walk(collection):
        for ref in collection.list_documents():
            snap = ref.get()
            if snap.exists:
                out[ref.path] = snap.to_dict()
            for sub in ref.collections():
                walk(sub)

    for col in db.collections():
        walk(col)
    return out


@pytest.fixture
def world(stack, tenancy, tokens, stores, tmp_path):
    """acme: alice and carol admins, bob a member, a token, a publisher, a published wheel.
    globex: eve's team (she is an admin, elsewhere)."""
    from bale.publishing.publishers import Publishers

    tenancy.set_member("acme", "carol@example.com", "admin")
    tenancy.set_member("acme", "bob@example.com", "member")
    tenancy.create_team("globex", "eve@example.com")
    _, token = tokens.create("acme", "main", "read")
    pub = Publishers(stores).add(
        "acme", "main", "github", ["widgets"], repository="octo-org/widgets", workflow="publish.yml"
    )
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(tmp_path, "widgets", "1.0"))
    assert r.returncode == 0, r.stderr
    from bale.advisories.private import PrivateAdvisories

    PrivateAdvisories(stores).add(
        "acme", "main", "widgets", "ACME-1", summary="s", affected="<2", actor="test"
    )
    login, _ = tokens.create_personal(
        "bob@example.com", TokenKind.LOGIN, Permission.READ, expires_in=dt.timedelta(days=1)
    )
    return {"team": "acme", "token_id": token.id, "publisher_id": pub.id, "login_id": login.split("_")[1]}


def routes(app, values):
    """(endpoint, method, url) for every admin route."""
    adapter = app.url_map.bind("localhost")
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        url = adapter.build(rule.endpoint, {k: values[k] for k in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_admin_route_is_listed(app):
    listed = {(e, "POST") for e in POSTS} | {(e, "GET") for e in GETS}
    found = {
        (e, m)
        for e, m, _ in routes(app, {"team": "t", "token_id": "x", "publisher_id": "y", "login_id": "z"})
    }
    assert found == listed


def _request(b, endpoint, method, url):
    if method == "GET":
        return b.get(url)
    return b.post(url, POSTS[endpoint])


@pytest.mark.parametrize("who", ["bob@example.com", "eve@example.com"])
def test_members_and_outsiders_get_403_and_change_nothing(app, sign_in, stores, world, who):
    b = sign_in(who)
    b.get("/")  # a valid CSRF token for their own session
    assert b.csrf
    for endpoint, method, url in routes(app, world):
        before = snapshot(stores.db)
        r = _request(b, endpoint, method, url)
        assert r.status_code == 403, (who, method, url, r.status_code)
        assert snapshot(stores.db) == before, (who, method, url)


def test_signed_out_visitors_are_sent_to_sign_in_and_change_nothing(app, browser, stores, world):
    browser.get("/signin")
    assert browser.csrf
    for endpoint, method, url in routes(app, world):
        before = snapshot(stores.db)
        r = _request(browser, endpoint, method, url)
        assert r.status_code == 302, (method, url, r.status_code)
        assert r.headers["Location"].startswith("/signin?next="), (method, url)
        assert snapshot(stores.db) == before, (method, url)


def test_posts_without_csrf_token_are_refused_even_for_admins(app, sign_in, stores, world):
    b = sign_in("alice@example.com")
    for endpoint, method, url in routes(app, world):
        if method != "POST":
            continue
        before = snapshot(stores.db)
        r = b.post(url, POSTS[endpoint], csrf=False)
        assert r.status_code == 400, (url, r.status_code)
        assert snapshot(stores.db) == before, url


def test_the_same_requests_succeed_for_an_admin(app, sign_in, stores, world):
    """The control: the data above is valid, so the refusals are the access checks'."""
    b = sign_in("alice@example.com")
    for endpoint, method, url in routes(app, world):
        before = snapshot(stores.db)
        r = _request(b, endpoint, method, url)
        if method == "GET":
            assert r.status_code == 200, (url, r.status_code)
            continue
        assert r.status_code in (200, 303), (url, r.status_code)
        page = b.get(r.headers["Location"]) if r.status_code == 303 else r
        assert "flash-error" not in page.get_data(as_text=True), (url, page.get_data(as_text=True))
        assert snapshot(stores.db) != before, url

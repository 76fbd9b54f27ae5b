"""A person's token carries the person's current rights; services audit their own changes.

Everything goes through the HTTP API the way pip, uv and twine reach it; team membership
changes go through Tenancy, as the dashboard and the CLI make them.
"""

from __future__ import annotations

import re
import threading

import pytest
import requests

from factories import wheel_bytes, wheel_name
from faults import DeletesFail
from uploads import form_for, post

BOB = "bob@example.com"
CAROL = "carol@example.com"
WHEEL = wheel_name("widgets", "1.0")


def get(stack, path, token):
    return requests.get(
        stack.url + path, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False, timeout=30
    )


def upload(stack, token, version, index="main"):
    form, files = form_for(wheel_name("widgets", version), wheel_bytes("widgets", version))
    return post(stack, form, files, token=token, path=f"/v1/upload/acme/{index}/")


READS = [
    "/simple/acme/main/",
    "/simple/acme/main/widgets/",
    f"/simple/acme/main/widgets/{WHEEL}",
    f"/simple/acme/main/widgets/{WHEEL}.metadata",
    f"/files/acme/main/widgets/{WHEEL}",
]


@pytest.fixture
def published(stack):
    assert upload(stack, stack.token(), "1.0").status_code == 200


def legacy_copy(stack, secret: str) -> str:
    """The same token stored as tokens made before ``owner`` (and ID prefixes) were: a hex ID,
    its creator's email in ``created_by`` and no ``owner`` field."""
    _, token_id, rest = secret.split("_", 2)
    db = stack.stores.db
    data = db.collection("tokens").document(token_id).get().to_dict()
    data.pop("owner")
    legacy_id = "0123456789abcdef"
    db.collection("tokens").document(legacy_id).set(data)
    return f"bale_{legacy_id}_{rest}"


# -- reads follow membership -------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["owned", "legacy"])
def test_a_removed_members_tokens_stop_reading(stack, tenancy, tokens, published, legacy):
    tenancy.set_member("acme", BOB, "member")
    secret, record = tokens.create("acme", "main", "read", created_by=BOB, owner=BOB, actor=BOB)
    assert record.owner == BOB and record.id.startswith("p")
    if legacy:
        secret = legacy_copy(stack, secret)
    for path in READS:
        assert get(stack, path, secret).status_code == 200, path

    tenancy.remove_member("acme", BOB, actor="alice@example.com")
    for path in READS:
        r = get(stack, path, secret)
        assert r.status_code == 403, (path, r.status_code)
        assert "This token belongs to bob@example.com, who is no longer a member of acme." in r.text
    # Not a credential problem (401 would make pip and uv ask for another password): a refusal.
    assert "WWW-Authenticate" not in r.headers

    # Back in the team: reading works again (membership is all a read needs).
    tenancy.set_member("acme", BOB, "member")
    assert get(stack, "/simple/acme/main/widgets/", secret).status_code == 200


def test_a_team_from_before_the_roster_is_checked_and_backfilled(stack, tenancy, tokens, published):
    from google.cloud import firestore

    tenancy.set_member("acme", BOB, "member")
    secret, _ = tokens.create("acme", "main", "read", created_by=BOB, owner=BOB)
    team = tenancy.team_ref("acme")
    fields = dict.fromkeys(("roster", "members", "admins"), firestore.DELETE_FIELD)
    team.update(fields)  # as a team made before the roster
    assert get(stack, "/simple/acme/main/widgets/", secret).status_code == 200
    # Removing the member writes the roster (built from the members collection) in its transaction.
    tenancy.remove_member("acme", BOB)
    assert team.get().get("members") == ["alice@example.com"]
    assert get(stack, "/simple/acme/main/widgets/", secret).status_code == 403

    team.update(fields)
    assert tenancy.backfill_roster("acme") == {"alice@example.com": "admin"}
    assert team.get().get("admins") == ["alice@example.com"]


def test_tokens_that_are_no_persons_are_unaffected(stack, tenancy, tokens, published):
    team_token = stack.token("read")  # CLI: created_by "cli", no owner
    assert team_token.split("_")[1].startswith("t")
    tenancy.set_member("acme", BOB, "admin")
    tenancy.remove_member("acme", "alice@example.com")
    for path in READS:
        assert get(stack, path, team_token).status_code == 200, path


# -- uploads follow write access ---------------------------------------------------------------


def test_removing_a_member_clears_their_write_access_for_good(stack, tenancy, tokens):
    tenancy.create_index("acme", "staging")
    tenancy.set_member("acme", BOB, "member")
    tenancy.set_writer("acme", "main", BOB, True)
    tenancy.set_writer("acme", "staging", BOB, True)
    secret, _ = tokens.create("acme", "main", "upload", created_by=BOB, owner=BOB)
    assert upload(stack, secret, "1.0").status_code == 200

    tenancy.remove_member("acme", BOB)
    assert tenancy.require_index("acme", "main")["writers"] == []
    assert tenancy.require_index("acme", "staging")["writers"] == []
    r = upload(stack, secret, "1.1")
    assert r.status_code == 403 and "who is no longer a member of acme" in r.text

    # Re-added as a plain member: no write access comes back with them.
    tenancy.set_member("acme", BOB, "member")
    r = upload(stack, secret, "1.2")
    assert r.status_code == 403 and "bob@example.com, who no longer has write access to acme/main" in r.text
    assert get(stack, "/simple/acme/main/widgets/", secret).status_code == 200


def test_a_demoted_admin_loses_upload_on_the_next_request(stack, tenancy, tokens):
    tenancy.set_member("acme", CAROL, "admin")
    secret, _ = tokens.create("acme", "main", "upload", created_by=CAROL, owner=CAROL)
    assert upload(stack, secret, "1.0").status_code == 200
    tenancy.set_member("acme", CAROL, "member")
    r = upload(stack, secret, "1.1")
    assert r.status_code == 403 and "who no longer has write access to acme/main" in r.text
    assert get(stack, "/simple/acme/main/widgets/", secret).status_code == 200  # still a member
    tenancy.set_writer("acme", "main", CAROL, True)
    assert upload(stack, secret, "1.1").status_code == 200


def test_a_persons_token_is_for_a_member(tenancy, tokens, acme):
    from bale.errors import BadRequest

    with pytest.raises(BadRequest, match=re.escape("eve@example.com is not a member of acme")):
        tokens.create("acme", "main", "read", owner="eve@example.com")
    assert tokens.list("acme") == []


def test_a_token_for_another_team_learns_nothing_of_this_one(stack, tenancy, tokens, published):
    tenancy.create_team("globex", "gina@example.com")
    secret, _ = tokens.create("globex", "main", "read", owner="gina@example.com")
    r = get(stack, "/simple/acme/main/widgets/", secret)
    assert r.status_code == 403 and "member" not in r.text and "gina" not in r.text


# -- no extra round trip -----------------------------------------------------------------------


class RoundTrips:
    """Count Firestore RPCs (document gets and queries) made through one client while active."""

    def __init__(self, db):
        self.api = db._firestore_api
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self):
        for name in ("batch_get_documents", "run_query"):
            orig = getattr(self.api, name)

            def counted(*a, _orig=orig, _name=name, **kw):
                with self._lock:
                    self.calls.append(_name)
                return _orig(*a, **kw)

            setattr(self.api, name, counted)
        return self

    def reset(self) -> int:
        with self._lock:
            n, self.calls = len(self.calls), []
            return n

    def __exit__(self, *exc):
        for name in ("batch_get_documents", "run_query"):
            delattr(self.api, name)


def server_db():
    from bale.api.simple import routing as simple_routing

    return simple_routing.services()[1].db


def test_a_persons_rights_cost_no_extra_round_trip(stack, tenancy, tokens, published):
    """A person's token is checked against the roster fetched with the token: a page, a
    download and an upload make as many Firestore round trips as with a team token."""
    tenancy.set_member("acme", BOB, "member")
    tenancy.set_writer("acme", "main", BOB, True)
    person_read, _ = tokens.create("acme", "main", "read", owner=BOB)
    person_upload, _ = tokens.create("acme", "main", "upload", owner=BOB)
    team_read, team_upload = stack.token("read"), stack.token("upload")
    for t in (person_read, team_read):  # warm the page cache and last_used_at
        get(stack, "/simple/acme/main/widgets/", t)
    with RoundTrips(server_db()) as trips:
        pages, downloads = {}, {}
        for who, t in (("person", person_read), ("team", team_read)):
            trips.reset()
            assert get(stack, "/simple/acme/main/widgets/", t).status_code == 200
            pages[who] = trips.reset()
            assert get(stack, f"/simple/acme/main/widgets/{WHEEL}.metadata", t).status_code == 200
            downloads[who] = trips.reset()
        uploads = {}
        for n, (who, t) in enumerate((("person", person_upload), ("team", team_upload))):
            trips.reset()
            assert upload(stack, t, f"2.{n}").status_code == 200
            uploads[who] = trips.reset()
    assert pages == {"person": 1, "team": 1}, pages
    assert downloads == {"person": 1, "team": 1}, downloads
    assert uploads["person"] == uploads["team"], uploads


# -- one audit entry per change, whoever makes it ----------------------------------------------


def test_services_audit_each_change_once(stack, tenancy, tokens, published):
    from bale.packages.service import Packages

    def entries():
        return [(e["actor"], e["action"], e["detail"]) for e in tenancy.audit_log("acme", limit=200)]

    before = len(entries())
    tenancy.set_member("acme", BOB, "member", actor="ops")
    _secret, token = tokens.create("acme", "main", "read", owner=BOB, created_by=BOB, actor="ops")
    tokens.revoke("acme", token.id, actor="ops")
    tokens.revoke("acme", token.id, actor="ops")  # nothing left to change: no entry
    packages = Packages(stack.stores)
    packages.set_yanked("acme", "main", "widgets", "1.0", True, "broken", actor="ops")
    packages.set_yanked("acme", "main", "widgets", "1.0", False, actor="ops")
    packages.delete("acme", "main", "widgets", "1.0", actor="ops")
    log = entries()
    assert len(log) - before == 6, log
    assert [a for a, *_ in log[:6]] == ["ops"] * 6
    actions = [action for _, action, _ in log[:6]]
    assert actions == ["delete", "unyank", "yank", "revoke-token", "create-token", "set-member"]
    assert log[4][2] == f"{token.id} read on main (all projects), expires never, for {BOB}"
    assert log[0][2] == f"main/widgets 1.0: {WHEEL}"


# -- a failed blob delete is reported ----------------------------------------------------------


def test_a_failed_blob_delete_is_reported_and_audited(stack, tenancy, published, monkeypatch):
    from bale.packages.service import Packages

    stored = set(stack.stores.blobs.list("acme/main/widgets/"))
    monkeypatch.setattr(stack.stores, "blobs", DeletesFail(stack.stores.blobs))
    gone = Packages(stack.stores).delete("acme", "main", "widgets", "1.0", actor="ops")
    assert [r.filename for r in gone] == [WHEEL]
    assert set(gone.failed_blobs) == stored and len(stored) == 2
    entry = tenancy.audit_log("acme")[0]
    assert entry["action"] == "delete" and "could not remove from storage" in entry["detail"]
    assert all(p in entry["detail"] for p in stored)
    # The record is a tombstone: the bytes are never served.
    assert get(stack, f"/simple/acme/main/widgets/{WHEEL}", stack.token("read")).status_code == 404

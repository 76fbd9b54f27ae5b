"""Teams, indexes, members and API tokens on the Firestore emulator."""

import base64
import datetime as dt

import pytest

from bale import access
from bale.errors import BadRequest, Conflict, Unauthorized
from bale.tokens.credentials import token_from_header
from bale.tokens.service import parse_duration


def test_create_team_makes_main_index_and_admin(tenancy):
    tenancy.create_team("acme", "Alice@Example.com")
    assert [i["name"] for i in tenancy.list_indexes("acme")] == ["main"]
    assert tenancy.role_of("acme", "alice@example.com") == "admin"
    assert tenancy.teams_of("alice@example.com") == [("acme", "admin")]
    with pytest.raises(Conflict):
        tenancy.create_team("acme", "bob@example.com")


@pytest.mark.parametrize("bad", ["Acme", "-acme", "acme-", "a" * 40, "ac_me", "", "a.b", "über"])
def test_bad_team_and_index_names(tenancy, bad):
    with pytest.raises(BadRequest, match="Invalid team name"):
        tenancy.create_team(bad, "a@example.com")


def test_indexes_and_write_access(tenancy, acme):
    tenancy.create_index("acme", "staging")
    with pytest.raises(Conflict):
        tenancy.create_index("acme", "staging")
    with pytest.raises(BadRequest, match="Invalid index name"):
        tenancy.create_index("acme", "Staging")
    tenancy.set_member("acme", "bob@example.com", "member")
    assert not access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")
    tenancy.set_writer("acme", "staging", "bob@example.com", True)
    assert access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")
    assert not access.may_upload(tenancy.stores, "acme", "main", "bob@example.com")
    assert access.may_upload(tenancy.stores, "acme", "main", "alice@example.com")  # admins write everywhere
    assert not access.may_upload(tenancy.stores, "acme", "main", "mallory@example.com")
    tenancy.set_writer("acme", "staging", "bob@example.com", False)
    assert not access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")


def test_last_admin_cannot_leave(tenancy, acme):
    with pytest.raises(BadRequest, match="last admin"):
        tenancy.remove_member("acme", "alice@example.com")
    with pytest.raises(BadRequest, match="last admin"):
        tenancy.set_member("acme", "alice@example.com", "member")
    tenancy.set_member("acme", "bob@example.com", "admin")
    tenancy.set_member("acme", "alice@example.com", "member")
    assert tenancy.role_of("acme", "alice@example.com") == "member"
    actions = [e["action"] for e in tenancy.audit_log("acme")]
    assert actions[0] == "set-member" and "create-team" in actions


def test_token_roundtrip_and_scopes(tokens, acme, stores):
    secret, rec = tokens.create("acme", "main", "upload", projects=["My_Pkg"])
    assert secret.startswith("bale_") and rec.projects == ["my-pkg"]
    raw = stores.db.collection("tokens").document(rec.id).get().to_dict()
    assert secret.split("_")[-1] not in str(raw)  # only the hash is stored
    tok = tokens.authenticate(secret)
    assert tok.last_used_at is None
    assert tokens.get(rec.id).last_used_at is not None
    assert access.can(tok, "read", "acme", "main", "my-pkg")
    assert access.can(tok, "upload", "acme", "main", "MY.PKG")
    assert "limited to my-pkg" in access.scope_refusal(tok, "upload", "acme", "main", "other")
    assert "not acme/staging" in access.scope_refusal(tok, "read", "acme", "staging")
    read_secret, _ = tokens.create("acme", "main", "read")
    assert "only read" in access.scope_refusal(tokens.authenticate(read_secret), "upload", "acme", "main")


def test_token_rejections(tokens, acme):
    secret, rec = tokens.create("acme", "main", "read")
    with pytest.raises(Unauthorized):
        tokens.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    with pytest.raises(Unauthorized):
        tokens.authenticate("ghp_notours")
    with pytest.raises(Unauthorized):
        tokens.authenticate(None)
    tokens.revoke("acme", rec.id)
    with pytest.raises(Unauthorized, match="revoked"):
        tokens.authenticate(secret)
    expired, _ = tokens.create("acme", "main", "read", expires_in=dt.timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        tokens.authenticate(expired)
    with pytest.raises(BadRequest):
        tokens.create("acme", "main", "admin")
    assert {t.id for t in tokens.list("acme")} >= {rec.id}


def test_token_from_header():
    basic = "Basic " + base64.b64encode(b"__token__:bale_x").decode()
    assert token_from_header(basic) == "bale_x"
    assert token_from_header("Bearer bale_y") == "bale_y"
    assert token_from_header(None) is None
    with pytest.raises(Unauthorized, match="__token__"):
        token_from_header("Basic " + base64.b64encode(b"alice:pw").decode())
    with pytest.raises(Unauthorized):
        token_from_header("Basic !!!")
    with pytest.raises(Unauthorized):
        token_from_header("Digest abc")


@pytest.mark.parametrize(
    "text,expected",
    [("30d", dt.timedelta(days=30)), ("12h", dt.timedelta(hours=12)), ("15m", dt.timedelta(minutes=15))],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "-1d", "0d", "3y"])
def test_parse_duration_rejects(text):
    with pytest.raises(BadRequest):
        parse_duration(text)

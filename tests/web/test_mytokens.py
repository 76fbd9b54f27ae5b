"""Members make their own tokens: read anywhere in the team, upload where they have write access.

Write access is what admins grant per index on the "Write access" page; the upload API checks
it again on every upload, so taking it away disables the member's upload tokens.
"""

from __future__ import annotations

import re

import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for

BOB = "bob@example.com"


def text(r) -> str:
    return r.get_data(as_text=True)


def secret_of(r) -> str:
    return re.search(r'<code id="token-secret">(bale_[^<]+)</code>', text(r)).group(1)


def upload(stack, token, version):
    data = wheel_bytes("bobs-tool", version)
    form, files = form_for(wheel_name("bobs-tool", version), data)
    return requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        data=form,
        files=files,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_member_tokens_follow_write_access(stack, sign_in, tenancy, tokens):
    tenancy.set_member("acme", BOB, "member")
    bob = sign_in(BOB)
    page = bob.get("/teams/acme/tokens/")
    assert page.status_code == 200 and "no index yet" in text(page)

    r = bob.post("/teams/acme/tokens/", {"index": "main", "permission": "upload", "expires": "7d"})
    assert r.status_code == 403 and "ask a team admin for write access" in text(r)
    assert [t for t in tokens.list("acme") if t.created_by == BOB] == []

    r = bob.post("/teams/acme/tokens/", {"index": "main", "permission": "read", "expires": "7d"})
    assert r.status_code == 200
    read_token = secret_of(r)
    assert tokens.authenticate(read_token).permission == "read"

    tenancy.set_writer("acme", "main", BOB, True)
    assert "You may upload to: acme/main" in text(bob.get("/teams/acme/tokens/"))
    r = bob.post("/teams/acme/tokens/", {"index": "main", "permission": "upload", "expires": "7d"})
    assert r.status_code == 200, text(r)
    upload_token = secret_of(r)
    assert upload(stack, upload_token, "1.0").status_code == 200

    # The admin takes write access away: Bob's upload token stops working at once.
    tenancy.set_writer("acme", "main", BOB, False)
    r = upload(stack, upload_token, "1.1")
    assert r.status_code == 403 and "no longer has write access to acme/main" in r.text
    # Removed from the team: the same.
    tenancy.set_writer("acme", "main", BOB, True)
    assert upload(stack, upload_token, "1.2").status_code == 200
    tenancy.remove_member("acme", BOB)
    assert upload(stack, upload_token, "1.3").status_code == 403
    # The tokens are Bob's own: out of the team, he reads nothing with them either.
    assert tokens.authenticate(read_token).owner == BOB
    r = requests.get(
        f"{stack.url}/simple/acme/main/", headers={"Authorization": f"Bearer {read_token}"}, timeout=30
    )
    assert r.status_code == 403 and "belongs to bob@example.com, who is no longer a member of acme" in r.text
    log = [(e["actor"], e["action"]) for e in tenancy.audit_log("acme")]
    assert log.count((BOB, "create-token")) == 2  # read and upload, once each


def test_members_see_and_revoke_only_their_own_tokens(stack, sign_in, tenancy, tokens):
    tenancy.set_member("acme", BOB, "member")
    _alices, alice_rec = tokens.create("acme", "main", "read", created_by="alice@example.com")
    bob = sign_in(BOB)
    r = bob.post("/teams/acme/tokens/", {"index": "main", "permission": "read", "expires": "30d"})
    own = tokens.authenticate(secret_of(r))
    page = text(bob.get("/teams/acme/tokens/"))
    assert own.id in page and alice_rec.id not in page

    r = bob.post(f"/teams/acme/tokens/{alice_rec.id}/revoke", {})
    assert r.status_code == 303
    assert tokens.get(alice_rec.id).revoked_at is None
    assert f"You have no token {alice_rec.id}" in text(bob.get(r.headers["Location"]))

    r = bob.post(f"/teams/acme/tokens/{own.id}/revoke", {})
    assert r.status_code == 303 and tokens.get(own.id).revoked_at is not None


def test_outsiders_and_signed_out_get_nothing(stack, sign_in, browser, tenancy, tokens):
    outsider = sign_in("mallory@example.com")
    assert outsider.get("/teams/acme/tokens/").status_code == 404
    r = outsider.post("/teams/acme/tokens/", {"index": "main", "permission": "read", "expires": "7d"})
    assert r.status_code == 404
    r = browser.get("/teams/acme/tokens/")
    assert r.status_code in (302, 303) and "/signin" in r.headers["Location"]
    assert tokens.list("acme") == []

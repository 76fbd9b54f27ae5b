"""The approval page of ``bale login`` and the login tokens under "My tokens" (Flask test client
over the real emulators; the whole flow in Chromium is tests/web/test_login.py)."""

from __future__ import annotations

import datetime as dt
import re

from conftest import csrf_of

BOB = "bob@example.com"


def start(app):
    r = app.test_client().post("/device/code", data={"client_name": "laptop", "expires_in": "30d"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def status(stores):
    return [s.get("status") for s in stores.db.collection("device_codes").stream()]


def test_approval_is_csrf_protected_single_use_and_shows_the_rights(app, sign_in, tenancy, stores, acme):
    tenancy.set_member("acme", BOB, "member")
    tenancy.create_index("acme", "staging", actor="t")
    tenancy.set_writer("acme", "staging", BOB, True)
    code = start(app)
    bob = sign_in(BOB)
    page = bob.get(f"/device?code={code['user_code']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and code["user_code"] in html and "laptop" in html
    assert '<tr data-team="acme"><td>acme</td><td>member</td>' in html
    assert "<td>main, staging</td><td>staging</td>" in html  # reads both, publishes to staging

    # Without the form's CSRF token: refused, the code stays pending.
    r = bob.client.post("/device", data={"code": code["user_code"], "decision": "approve"})
    assert r.status_code == 400 and status(stores) == ["pending"]
    r = bob.client.post(
        "/device", data={"code": code["user_code"], "decision": "approve", "csrf_token": csrf_of(html)}
    )
    assert r.status_code == 200 and "Approved" in r.get_data(as_text=True)
    assert status(stores) == ["approved"]
    r = bob.client.post(
        "/device", data={"code": code["user_code"], "decision": "deny", "csrf_token": csrf_of(html)}
    )
    assert r.status_code == 400 and "used already" in r.get_data(as_text=True)
    assert status(stores) == ["approved"]

    # The CLI gets the token once; it is listed under My tokens and revocable there.
    r = app.test_client().post("/device/token", data={"device_code": code["device_code"]})
    token_id = r.get_json()["token_id"]
    mine = bob.get("/teams/acme/tokens/")
    assert f'data-token="{token_id}"' in mine.get_data(as_text=True)
    r = bob.post(f"/teams/acme/tokens/{token_id}/revoke")
    assert r.status_code in (200, 303)
    assert stores.db.collection("tokens").document(token_id).get().get("revoked_at") is not None
    # Revoked: it cannot revoke itself any more (bale logout says so), nor read.
    r = app.test_client().post("/device/revoke", headers={"Authorization": "Bearer bale_x"})
    assert r.status_code == 401


def test_expired_or_unknown_codes_are_refused_on_the_page(app, sign_in, stores, acme):
    code = start(app)
    ref = next(iter(stores.db.collection("device_codes").stream())).reference
    ref.update({"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    bob = sign_in(BOB)
    r = bob.get(f"/device?code={code['user_code']}")
    assert r.status_code == 400 and "has expired" in r.get_data(as_text=True)
    assert 'value="approve"' not in r.get_data(as_text=True)
    r = bob.post("/device", {"code": code["user_code"], "decision": "approve"})
    assert r.status_code == 400 and status(stores) == ["pending"]
    r = bob.get("/device?code=BCDF-GHJK")
    assert r.status_code == 404
    # Signed out, the page sends you to sign in and back.
    r = app.test_client().get(f"/device?code={code['user_code']}")
    assert r.status_code == 302 and "/signin?next=/device" in r.headers["Location"]


# -- issue 21: the approver decides, and sees where the code came from --------------------------
def test_the_page_shows_when_and_where_from_and_the_approver_chooses(app, sign_in, tenancy, stores, acme):
    """A code started behind the load balancer by 198.51.100.7, with left-most entries the
    requester wrote: the page names 198.51.100.7 (and says it is not the approver's address),
    the machine name as a claim, and the choices, read only and 30 days picked."""
    tenancy.set_member("acme", BOB, "admin")
    r = app.test_client().post(
        "/device/code",
        data={"client_name": "<b>Your laptop</b>", "expires_in": "365d"},
        headers={"X-Forwarded-For": "6.6.6.6, 127.0.0.1, 198.51.100.7, 35.191.0.1"},
    )
    code = r.get_json()
    bob = sign_in(BOB)
    page = bob.get(f"/device?code={code['user_code']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<code id="device-from">198.51.100.7</code>' in html and "6.6.6.6" not in html
    assert "not the address you are using now" in html
    assert '<span id="device-client">bYour laptopb</span>' in html and "claimed by the requester" in html
    assert 'id="device-created"' in html
    assert re.search(r'<input type="radio" name="permission" value="read" id="perm-read" checked>', html)
    assert not re.search(r'value="upload" id="perm-upload" checked', html)
    assert '<option value="30" selected>30 days</option>' in html and 'value="365"' not in html

    # A lifetime beyond the choices (a forged form) is refused and the code stays pending.
    r = bob.post("/device", {"code": code["user_code"], "decision": "approve", "days": "365"})
    assert r.status_code == 400 and "1 to 90 days" in r.get_data(as_text=True)
    r = bob.post("/device", {"code": code["user_code"], "decision": "approve", "permission": "publish"})
    assert r.status_code == 400 and status(stores) == ["pending"]
    r = bob.post(
        "/device", {"code": code["user_code"], "decision": "approve", "days": "7", "permission": "upload"}
    )
    assert r.status_code == 200 and "read and upload, 7 days" in r.get_data(as_text=True)
    answer = app.test_client().post("/device/token", data={"device_code": code["device_code"]}).get_json()
    assert answer["permission"] == "upload" and 6 * 86400 < answer["expires_in"] <= 7 * 86400


def test_the_page_says_when_the_code_came_from_the_approvers_own_address(app, sign_in, stores, acme):
    code = start(app)
    html = sign_in(BOB).get(f"/device?code={code['user_code']}").get_data(as_text=True)
    assert '<code id="device-from">127.0.0.1</code>' in html and "the address you are using now" in html
    assert "not the address" not in html


def test_a_team_admin_sees_and_revokes_a_members_sign_in_token_in_their_team_only(
    app, sign_in, tenancy, stores, stack
):
    """Alice (acme's admin) sees Bob's bale login token and revokes it: it stops reading acme
    at once, keeps reading globex (not Alice's to decide), and acme's audit log says who did it."""
    import requests

    from bale.tokens.device import Devices

    tenancy.set_member("acme", BOB, "member")
    tenancy.create_team("globex", "gina@example.com")
    tenancy.set_member("globex", BOB, "member")
    tenancy.create_team("initech", "eve@example.com")
    devices = Devices(stores)
    device_code, user_code, _ = devices.start(client_name="laptop", requested_from="198.51.100.7")
    devices.decide(user_code, BOB, approve=True)
    secret, token = devices.poll(device_code)
    auth = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{stack.url}/simple/acme/main/", headers=auth, timeout=30).status_code == 200

    alice = sign_in("alice@example.com")
    page = alice.get("/teams/acme/admin/tokens").get_data(as_text=True)
    assert f'<tr data-login="{token.id}">' in page and BOB in page and "198.51.100.7" in page
    assert "Revoke in acme" in page
    # Eve, admin of initech only, cannot revoke it: not a member of hers.
    eve = sign_in("eve@example.com")
    assert token.id not in eve.get("/teams/initech/admin/tokens").get_data(as_text=True)
    r = eve.post(f"/teams/initech/admin/logins/{token.id}/revoke")
    assert r.status_code == 303
    assert "flash-error" in eve.get(r.headers["Location"]).get_data(as_text=True)
    assert stores.db.collection("tokens").document(token.id).get().get("revoked_teams") is None

    r = alice.post(f"/teams/acme/admin/logins/{token.id}/revoke")
    assert r.status_code == 303
    r = requests.get(f"{stack.url}/simple/acme/main/", headers=auth, timeout=30)
    assert r.status_code == 403 and "revoked in acme by a team admin" in r.text
    assert requests.get(f"{stack.url}/simple/globex/main/", headers=auth, timeout=30).status_code == 200
    page = alice.get("/teams/acme/admin/tokens").get_data(as_text=True)
    row = page[page.index(f'<tr data-login="{token.id}">') :]
    assert row[: row.index("</tr>")].count("revoked") == 1
    [entry] = [e for e in tenancy.audit_log("acme") if e["action"] == "revoke-token"]
    assert entry["actor"] == "alice@example.com" and token.id in entry["detail"] and BOB in entry["detail"]
    assert not [e for e in tenancy.audit_log("globex") if e["action"] == "revoke-token"]

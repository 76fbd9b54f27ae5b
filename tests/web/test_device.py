"""The approval page of ``bale login`` and the login tokens under "My tokens" (Flask test client
over the real emulators; the whole flow in Chromium is tests/web/test_login.py)."""

from __future__ import annotations

import datetime as dt

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

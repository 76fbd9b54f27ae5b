"""Device sign-in phishing (issue 21, section 2), over HTTP against the real stack.

RFC 8628's known weakness: a person approves a code someone else started. What such a code
can yield is the approver's choice alone (read only and 30 days unless they pick otherwise);
a user code names one pending login only; starts are limited per address, and the address is
the one the trusted proxies appended to X-Forwarded-For, whatever the client wrote before it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
import requests
from test_device_login import BOB, code, devices, poll

from factories import wheel_bytes, wheel_name
from uploads import form_for, post

PHISHED = wheel_name("phished", "6.6.6")
# What the external load balancer appends: "<client>,<load balancer>" (Settings.forwarded_hops 2).
LB = "35.191.0.1"


def via_lb(client: str, spoofed: str = "") -> dict[str, str]:
    chain = ", ".join(x for x in (spoofed, client, LB) if x)
    return {"X-Forwarded-For": chain}


def test_an_attackers_code_approved_with_the_defaults_cannot_upload(stack, tenancy):
    """The attacker starts the login asking for a year and for upload, names the machine
    after the victim's laptop, and sends the victim the link. Bob, who may upload to
    acme/main, approves it without changing anything: the attacker's token reads only, lives
    30 days, and phished-6.6.6 is refused and leaves nothing behind."""
    tenancy.set_member("acme", BOB, "member")
    tenancy.set_writer("acme", "main", BOB, True)
    r = requests.post(
        f"{stack.url}/device/code",
        data={"client_name": "Bob's laptop", "expires_in": "365d", "permission": "upload", "scope": "upload"},
        headers=via_lb("198.51.100.66"),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    start = r.json()
    assert start["token_chosen_by"] == "approver"
    devices(stack).decide(start["user_code"], BOB, approve=True)  # the page's defaults

    r = poll(stack, start["device_code"])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["permission"] == "read"
    assert 29 * 86400 < answer["expires_in"] <= 30 * 86400
    stolen = answer["access_token"]
    form, files = form_for(PHISHED, wheel_bytes("phished", "6.6.6"))
    r = post(stack, form, files, token=stolen, path="/v1/upload/acme/main/")
    assert r.status_code == 403 and "can only read" in r.text, r.text
    assert not stack.stores.db.document("teams/acme/indexes/main/projects/phished").get().exists
    token = stack.stores.db.collection("tokens").document(answer["token_id"]).get().to_dict()
    assert token["permission"] == "read"
    # The name is the requester's claim (and loses what is not a name character).
    assert (
        token["description"] == "bale login on 'Bobs laptop' (as the requester named it) from 198.51.100.66"
    )


def test_the_approver_may_choose_upload_and_a_lifetime_up_to_90_days(stack, tenancy):
    from bale.errors import BadRequest
    from bale.tokens.service import Permission

    tenancy.set_member("acme", BOB, "admin")
    start = code(stack, client_name="laptop")
    with pytest.raises(BadRequest, match="1 to 90 days"):
        devices(stack).decide(start["user_code"], BOB, approve=True, ttl=dt.timedelta(days=91))
    with pytest.raises(BadRequest):
        devices(stack).decide(start["user_code"], BOB, approve=True, permission=Permission.PUBLISH)
    devices(stack).decide(
        start["user_code"], BOB, approve=True, ttl=dt.timedelta(days=90), permission=Permission.UPLOAD
    )
    answer = poll(stack, start["device_code"]).json()
    assert answer["permission"] == "upload" and 89 * 86400 < answer["expires_in"] <= 90 * 86400
    form, files = form_for(wheel_name("widgets", "1.0"), wheel_bytes("widgets", "1.0"))
    assert (
        post(stack, form, files, token=answer["access_token"], path="/v1/upload/acme/main/").status_code
        == 200
    )


@pytest.fixture
def drawn(monkeypatch):
    """User codes drawn from a list (then random ones), to make two logins draw the same."""
    from bale.tokens import device as device_mod

    queue: list[str] = []
    lock = threading.Lock()
    real = device_mod.new_user_code

    def draw() -> str:
        with lock:
            return queue.pop(0) if queue else real()

    monkeypatch.setattr(device_mod, "new_user_code", draw)
    return queue


def test_two_pending_logins_never_share_a_user_code(stack, tenancy, drawn):
    """The victim's login and then the attacker's draw the same code: the attacker's draws
    again, so approving the code the victim typed gives the token to the victim's CLI."""
    tenancy.set_member("acme", BOB, "member")
    drawn.extend(["BCDFGHJK", "BCDFGHJK", "ZZZZZZZZ"])
    victim_code, victim_user_code, _ = devices(stack).start(client_name="victim")
    attacker_code, attacker_user_code, _ = devices(stack).start(client_name="attacker")
    assert (victim_user_code, attacker_user_code) == ("BCDFGHJK", "ZZZZZZZZ")
    assert drawn == []

    devices(stack).decide("BCDF-GHJK", BOB, approve=True)
    assert poll(stack, victim_code).status_code == 200
    assert poll(stack, attacker_code).json()["error"] == "authorization_pending"


def test_racing_logins_drawing_one_code_all_get_different_codes(stack, drawn):
    drawn.extend(["BCDFGHJK"] * 6)
    barrier = threading.Barrier(6)
    got: list[str] = []

    def start() -> None:
        barrier.wait()
        got.append(devices(stack).start(client_name="race")[1])

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and len(set(got)) == 6 and got.count("BCDFGHJK") == 1, got


def test_an_expired_code_is_drawn_again(stack, drawn):
    drawn.extend(["BCDFGHJK", "BCDFGHJK"])
    _, _, old = devices(stack).start()
    stack.stores.db.document(f"device_user_codes/{old.user_code_sha256}").update(
        {"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
    )
    stack.stores.db.document(f"device_codes/{old.id}").update(
        {"expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
    )
    _, user_code, new = devices(stack).start()
    assert user_code == "BCDFGHJK" and devices(stack).find(user_code).id == new.id


def test_starts_are_limited_per_address_whatever_x_forwarded_for_says_first(stack):
    from bale.tokens.device import MAX_STARTS

    spoofs = (f"10.0.{i // 250}.{i % 250}" for i in itertools.count())
    for _ in range(MAX_STARTS):
        r = requests.post(f"{stack.url}/device/code", headers=via_lb("203.0.113.5", next(spoofs)), timeout=30)
        assert r.status_code == 200, r.text
    r = requests.post(f"{stack.url}/device/code", headers=via_lb("203.0.113.5", next(spoofs)), timeout=30)
    assert r.status_code == 429 and r.json()["error"] == "slow_down"
    assert 0 < int(r.headers["Retry-After"]) <= 601
    assert "Too many logins" in r.json()["error_description"]
    # The refused start left nothing behind.
    assert stack.stores.db.collection("device_codes").count().get()[0][0].value == MAX_STARTS
    # Another client is not affected; one IPv6 host's /64 counts as one address.
    assert requests.post(f"{stack.url}/device/code", headers=via_lb("203.0.113.6"), timeout=30).ok
    for i in range(MAX_STARTS):
        r = requests.post(f"{stack.url}/device/code", headers=via_lb(f"2001:db8:1:2::{i + 1:x}"), timeout=30)
        assert r.status_code == 200
    r = requests.post(f"{stack.url}/device/code", headers=via_lb("2001:db8:1:2:ffff::1"), timeout=30)
    assert r.status_code == 429
    assert requests.post(f"{stack.url}/device/code", headers=via_lb("2001:db8:1:3::1"), timeout=30).ok


def test_the_code_records_the_address_the_load_balancer_appended(stack):
    start = requests.post(
        f"{stack.url}/device/code", headers=via_lb("198.51.100.7", "1.2.3.4, 127.0.0.1"), timeout=30
    ).json()
    assert devices(stack).find(start["user_code"]).requested_from == "198.51.100.7"
    # No proxy in between (no header): the connection's own address.
    start = code(stack)
    assert devices(stack).find(start["user_code"]).requested_from == "127.0.0.1"


def test_a_body_nested_deeper_than_the_stack_is_not_a_server_error(stack):
    """Found by benchmarks/fuzz.py: JSON nested 5,000 deep raised RecursionError (500)."""
    deep = b"[" * 5000 + b"]" * 5000
    for path in ("/device/code", "/device/token"):
        r = requests.post(
            f"{stack.url}{path}", data=deep, headers={"Content-Type": "application/json"}, timeout=30
        )
        assert r.status_code < 500, (path, r.status_code, r.text[:200])

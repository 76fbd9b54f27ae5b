"""Advisories on the dashboard's project page (issue 27): per version, public ones linking to
OSV and the team's own to their entry on the page, with score, summary and fixed-in; and the
releases a view of the team hides because of them. Real records from pypa/advisory-database
(tests/assets/advisories, CC-BY 4.0; see NOTICE there) on the real emulators, in Flask's client
and in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for, post

ASSETS = Path(__file__).parents[1] / "assets" / "advisories"
ADMIN = "alice@example.com"
PAGE = "/teams/acme/indexes/main/projects/urllib3/"
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _release_block(page: str, version: str) -> str:
    start = page.index(f'id="v{version}"')
    end = page.find('<div class="release', start)
    return page[start : end if end > 0 else len(page)]


@pytest.fixture
def urllib3(stack, tenancy):
    """acme/main holding urllib3 1.26.17 and 2.0.5, PYSEC-2023-192 (8.1, fixed in 1.26.17 and
    2.0.6) and PYSEC-2023-212 (4.2) loaded, and acme's own ACME-2026-1 on 1.26.17."""
    from bale.advisories.osv import records
    from bale.advisories.private import PrivateAdvisories
    from bale.advisories.service import Advisories

    for v in ("1.26.17", "2.0.5"):
        r = post(stack, *form_for(wheel_name("urllib3", v), wheel_bytes("urllib3", v)), token=stack.token())
        assert r.status_code == 200, r.text
    # One load: each replaces a project's public summary whole.
    both = [r for name in ("PYSEC-2023-192.yaml", "PYSEC-2023-212.yaml") for r in records(ASSETS / name)]
    assert Advisories(stack.stores).load(both).refused == []
    PrivateAdvisories(stack.stores).add(
        "acme", "main", "urllib3", "ACME-2026-1", summary="Our proxy strips the auth header",
        versions=["1.26.17"], severity=CRITICAL, actor="test",
    )  # fmt: skip
    return stack


def _views(stack):
    from bale.views.service import Views

    return Views(stack.stores)


def test_each_version_lists_its_advisories_and_the_views_that_hide_it(sign_in, urllib3, tenancy):
    views = _views(urllib3)
    views.create("acme", "safe", ["main"], "release.cve_max_score < 7")
    views.create("acme", "nobad", ["main"], '"GHSA-v845-jxx5-vc9f" not in release.advisories')
    views.create("acme", "fresh", ["main"], "release.age_days >= 30")  # hides all, not for advisories
    tenancy.create_index("acme", "staging")
    r = post(urllib3, *form_for(wheel_name("urllib3", "2.0.5"), wheel_bytes("urllib3", "2.0.5")),
             token=urllib3.token(index="staging"), path="/v1/upload/acme/staging/")  # fmt: skip
    assert r.status_code == 200
    views.create("acme", "other", ["staging", "main"], "release.cve_max_score < 7")  # staging wins

    page = sign_in(ADMIN).get(PAGE).get_data(as_text=True)
    new = _release_block(page, "2.0.5")
    assert re.findall(r'class="advisory-id" href="([^"]+)"', new) == [
        "https://osv.dev/vulnerability/PYSEC-2023-192",
        "https://osv.dev/vulnerability/PYSEC-2023-212",
    ]
    assert "8.1 high" in new and "Fixed in 1.26.17, 2.0.6." in new and "4.2 medium" in new
    assert "remove the HTTP request body when an HTTP redirect" in new  # PYSEC-2023-212 details
    hidden = re.findall(
        r'<p class="hidden-in-view">Hidden in view <a href="[^"]*view=(\w+)&amp;project=urllib3"', new
    )
    assert hidden == ["nobad", "safe"]
    assert "filter <code>release.cve_max_score &lt; 7</code>" in new

    old = _release_block(page, "1.26.17")
    # Both the team's own (9.8, first) and the public 4.2 one; ACME-2026-1 links to its entry.
    assert re.findall(r'class="advisory-id" href="([^"]+)"', old) == [
        "#adv-ACME-2026-1",
        "https://osv.dev/vulnerability/PYSEC-2023-212",
    ]
    assert "Our proxy strips the auth header" in old and "acme's own" in old
    assert re.findall(r"Hidden in view <a[^>]*>(\w+)</a>", old) == ["safe"]
    assert 'id="adv-ACME-2026-1"' in page and "affects <code>==1.26.17</code>, score 9.8" in page

    # Withdrawn: it stops counting on the page (and in the view), and is listed as withdrawn.
    from bale.advisories.private import PrivateAdvisories

    PrivateAdvisories(urllib3.stores).withdraw("acme", "main", "urllib3", "ACME-2026-1", actor="test")
    page = sign_in(ADMIN).get(PAGE).get_data(as_text=True)
    old = _release_block(page, "1.26.17")
    assert "#adv-ACME-2026-1" not in old and "Hidden in view" not in old
    assert '<li id="adv-ACME-2026-1" class="withdrawn">' in page


def test_members_see_the_advisories_and_a_clean_project_says_nothing(sign_in, urllib3, tenancy):
    _views(urllib3).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    tenancy.set_member("acme", "bob@example.com", "member")
    bob = sign_in("bob@example.com")
    new = _release_block(bob.get(PAGE).get_data(as_text=True), "2.0.5")
    # Members see which view hides it, without the admin-only link to the Views tab.
    assert "PYSEC-2023-192" in new and "Hidden in view <strong>safe</strong>" in new

    r = post(
        urllib3, *form_for(wheel_name("clean", "1.0"), wheel_bytes("clean", "1.0")), token=urllib3.token()
    )
    assert r.status_code == 200
    page = bob.get("/teams/acme/indexes/main/projects/clean/").get_data(as_text=True)
    assert 'class="advisories' not in page and "Hidden in view" not in page and "badge-advisory" not in page


@pytest.mark.e2e
def test_the_advisories_in_chromium(stack, accounts, urllib3, page):
    from test_browser import PASSWORD, shot, sign_in_ui

    _views(urllib3).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    accounts.sign_up(ADMIN, PASSWORD)
    sign_in_ui(page, stack.url, ADMIN, next_path=PAGE)
    block = page.locator('[id="v2.0.5"]')
    links = block.locator("a.advisory-id")
    assert links.all_inner_texts() == ["PYSEC-2023-192", "PYSEC-2023-212"]
    assert links.first.get_attribute("href") == "https://osv.dev/vulnerability/PYSEC-2023-192"
    assert "Hidden in view safe because of its advisories" in block.locator(".hidden-in-view").inner_text()
    assert page.locator('[id="v1.26.17"] .hidden-in-view').inner_text().startswith("Hidden in view safe")
    # The team's own advisory links to its entry on the page, which the browser scrolls to.
    page.locator('[id="v1.26.17"] a.advisory-id', has_text="ACME-2026-1").click()
    page.wait_for_url("**#adv-ACME-2026-1")
    own = page.locator('[id="adv-ACME-2026-1"]')
    assert own.is_visible() and "Our proxy strips the auth header" in own.inner_text()
    shot(page, "project-advisories")

    # Withdrawn from the page: 1.26.17 is no longer hidden in the view, and the view serves it.
    own.get_by_role("button", name="Withdraw ACME-2026-1").click()
    page.wait_for_selector('[id="adv-ACME-2026-1"].withdrawn')
    assert page.locator('[id="v1.26.17"] .hidden-in-view').count() == 0
    assert page.locator('[id="v2.0.5"] .hidden-in-view').count() == 1
    r = requests.get(
        f"{stack.url}/simple/acme/safe/urllib3/",
        auth=("__token__", stack.token("read", index="safe")),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=30,
    )
    assert r.json()["versions"] == ["1.26.17"]

    # Added from the page's form: the view hides 1.26.17 again.
    page.click(".add-advisory summary")
    page.fill("#adv-id", "ACME-2026-3")
    page.fill("#adv-versions", "1.26.17")
    page.fill("#adv-severity", CRITICAL)
    page.fill("#adv-summary", "Second look: still strips it")
    page.click("#advisory-form button[type=submit]")
    page.wait_for_selector('[id="adv-ACME-2026-3"]')
    assert page.locator('[id="v1.26.17"] .hidden-in-view').inner_text().startswith("Hidden in view safe")


def test_an_admin_adds_and_withdraws_the_teams_own_from_the_page(sign_in, urllib3, tenancy, stores):
    alice = sign_in(ADMIN)
    form = {"index": "main", "project": "urllib3", "id": "ACME-2026-2", "affected": ">=2,<2.0.6",
            "versions": "", "severity": CRITICAL, "summary": "Breaks TLS pinning"}  # fmt: skip
    # Refusals come back as messages and store nothing.
    for bad, says in (
        ({"affected": "<<2"}, "is not a PEP 440 specifier set"),
        ({"severity": "CVSS:3.1/AV:Q"}, "--severity: invalid CVSS_V3 vector"),
        ({"id": "ACME-2026-1"}, "acme already has an advisory ACME-2026-1"),
    ):
        r = alice.post("/teams/acme/admin/advisory-add", {**form, **bad})
        assert r.status_code == 303 and r.headers["Location"].endswith(PAGE)
        assert says in alice.get(PAGE).get_data(as_text=True)
    assert [s.id for s in stores.db.collection("teams/acme/advisory_ids").stream()] == ["ACME-2026-1"]

    r = alice.post("/teams/acme/admin/advisory-add", form)
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert "Added advisory ACME-2026-2 to urllib3." in page
    assert "#adv-ACME-2026-2" in _release_block(page, "2.0.5")
    assert "affects <code>&lt;2.0.6,&gt;=2</code>, score 9.8: Breaks TLS pinning" in page

    r = alice.post(
        "/teams/acme/admin/advisory-withdraw", {"index": "main", "project": "urllib3", "id": "ACME-2026-2"}
    )
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert "Withdrew advisory ACME-2026-2; its id stays taken." in page
    assert "#adv-ACME-2026-2" not in _release_block(page, "2.0.5")
    log = [(e["actor"], e["action"], e["detail"]) for e in tenancy.audit_log("acme")]
    assert log[:2] == [
        (ADMIN, "advisory-withdraw", "main/urllib3 ACME-2026-2"),
        (ADMIN, "advisory-add", "main/urllib3 ACME-2026-2 (<2.0.6,>=2, score 9.8)"),
    ]

    # A member sees the team's advisories but no form, and the server refuses the post.
    tenancy.set_member("acme", "bob@example.com", "member")
    bob = sign_in("bob@example.com")
    page = bob.get(PAGE).get_data(as_text=True)
    assert 'id="adv-ACME-2026-1"' in page and "advisory-form" not in page and "Withdraw" not in page
    r = bob.post(
        "/teams/acme/admin/advisory-withdraw", {"index": "main", "project": "urllib3", "id": "ACME-2026-1"}
    )
    assert r.status_code == 403


@pytest.fixture(scope="module")
def _upstream_server():
    from fakes.upstream import Upstream

    up = Upstream().start()
    yield up
    up.stop()


def test_a_proxied_project_lists_its_advisories_and_the_views_that_hide_them(
    sign_in, acme, stack, _upstream_server
):
    import datetime as dt

    from bale.advisories.osv import records
    from bale.advisories.private import PrivateAdvisories
    from bale.advisories.service import Advisories
    from bale.upstream.service import Upstreams

    upstream = _upstream_server
    upstream.reset()
    for v in ("1.26.17", "2.0.5"):
        upstream.add("urllib3", v, age=dt.timedelta(days=30))
    Upstreams(stack.stores, stack.settings).set_upstream("acme", "main", url=upstream.index_url, min_age=0)
    assert Advisories(stack.stores).load(records(ASSETS / "PYSEC-2023-192.yaml")).refused == []
    PrivateAdvisories(stack.stores).add(
        "acme", "main", "urllib3", "ACME-2026-9", summary="Banned here", versions=["1.26.17"], actor="test"
    )
    _views(stack).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    token = stack.token("read", index="safe")
    r = requests.get(
        f"{stack.url}/simple/acme/safe/urllib3/",
        auth=("__token__", token),
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=30,
    )
    # The view serves neither: 2.0.5 for PYSEC-2023-192 (8.1), 1.26.17 for ACME-2026-9 (no score).
    assert r.status_code == 200 and r.json()["versions"] == []

    page = sign_in(ADMIN).get("/teams/acme/indexes/main/projects/urllib3/").get_data(as_text=True)
    assert 'id="proxied"' in page
    new, old = _release_block(page, "2.0.5"), _release_block(page, "1.26.17")
    assert 'href="https://osv.dev/vulnerability/PYSEC-2023-192"' in new and "8.1 high" in new
    assert 'href="#adv-ACME-2026-9"' in old and "score unknown" in old
    assert 'id="adv-ACME-2026-9"' in page
    for block in (new, old):
        assert re.findall(r"Hidden in view <a[^>]*>(\w+)</a>", block) == ["safe"]


def test_the_page_reads_the_same_round_trips_whatever_the_versions_and_views(sign_in, urllib3, app):
    """The advisory notes cost one query (the team's index documents) and one batched read,
    not one per version or per view."""
    from bulk import FirestoreReads

    alice = sign_in(ADMIN)
    db = app.extensions["bale"].stores.db
    _views(urllib3).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    alice.get(PAGE)
    with FirestoreReads(db) as reads:
        assert "Hidden in view" in alice.get(PAGE).get_data(as_text=True)
        before = reads.take()
        for v in ("2.0.6", "2.0.7", "2.1.0"):
            r = post(
                urllib3, *form_for(wheel_name("urllib3", v), wheel_bytes("urllib3", v)), token=urllib3.token()
            )
            assert r.status_code == 200
        for name, f in (
            ("ids", '"PYSEC-2023-192" not in release.advisories'),
            ("pkg", "package.cve_max_score < 9"),
        ):
            _views(urllib3).create("acme", name, ["main"], f)
        reads.take()
        page = alice.get(PAGE).get_data(as_text=True)
        hidden = re.findall(r"Hidden in view <a[^>]*>(\w+)</a>", _release_block(page, "2.0.5"))
        assert hidden == ["ids", "pkg", "safe"]
        assert reads.take()[0] == before[0]


def test_the_page_says_when_the_public_advisories_were_refreshed(sign_in, urllib3, stores):
    """The daily refresh's record (advisories_refresh/osv), read with the summaries; a warning
    once it is older than the daily job and its retries allow."""
    import datetime as dt

    from bale.clock import now

    admin = sign_in(ADMIN)
    # Loaded from the CLI only: no refresh recorded, nothing said.
    assert 'id="advisories-source"' not in admin.get(PAGE).get_data(as_text=True)

    record = stores.db.document("advisories_refresh/osv")
    record.set({"loaded_at": now() - dt.timedelta(hours=5), "status": "loaded"})
    page = admin.get(PAGE).get_data(as_text=True)
    line = re.search(r'<p class="([^"]*)" id="advisories-source">(.*?)</p>', page, re.S)
    assert line and "Public advisories from OSV, loaded" in line.group(2)
    assert "flash-error" not in line.group(1) and "not refreshed" not in line.group(2)

    record.set({"loaded_at": now() - dt.timedelta(days=5, hours=1), "status": "loaded"})
    page = admin.get(PAGE).get_data(as_text=True)
    line = re.search(r'<p class="([^"]*)" id="advisories-source">(.*?)</p>', page, re.S)
    assert "flash-error" in line.group(1) and "not refreshed for 5 days" in line.group(2)

"""Project status (PEP 792) on the dashboard: a team admin sets it from the project page (CSRF,
audited), the page shows it, and the Simple API serves it at once."""

from __future__ import annotations

import sys

import pytest
import requests

from clients import uv_publish
from factories import make_wheel

ADMIN = "alice@example.com"
PROJECT = "/teams/acme/indexes/main/projects/widgets/"


def test_an_admin_sets_the_status_from_the_project_page(sign_in, acme, stack, tenancy, tmp_path):
    assert (
        uv_publish(
            f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(tmp_path, "widgets", "1.0")
        ).returncode
        == 0
    )
    alice = sign_in(ADMIN)
    page = alice.get(PROJECT).get_data(as_text=True)
    assert 'action="/teams/acme/admin/project-status"' in page and 'id="project-status"' not in page

    form = {"index": "main", "project": "widgets", "status": "archived", "reason": "moved to gadgets"}
    r = alice.post("/teams/acme/admin/project-status", form)
    assert r.status_code == 303
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert "widgets is now archived (moved to gadgets)." in page
    assert 'id="project-status"' in page and "This project takes no new uploads." in page
    assert '<option value="archived" selected>' in page
    log = [(e["actor"], e["action"], e["detail"]) for e in tenancy.audit_log("acme")]
    assert (ADMIN, "project-status", "main/widgets archived: moved to gadgets") in log

    doc = requests.get(
        f"{stack.url}/simple/acme/main/widgets/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        auth=("__token__", stack.token("read")),
        timeout=30,
    ).json()
    assert doc["project-status"] == {"status": "archived", "reason": "moved to gadgets"}

    # A status PEP 792 does not define is refused and changes nothing.
    r = alice.post("/teams/acme/admin/project-status", {**form, "status": "retired"})
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert "Unknown project status &#39;retired&#39;" in page
    assert '<option value="archived" selected>' in page


def test_members_see_the_status_but_not_the_form(sign_in, acme, stack, tenancy, tmp_path):
    from bale.packages.service import Packages

    assert (
        uv_publish(
            f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(tmp_path, "widgets", "1.0")
        ).returncode
        == 0
    )
    Packages(stack.stores).set_status("acme", "main", "widgets", "quarantined", "malware", actor="test")
    tenancy.set_member("acme", "bob@example.com", "member")
    page = sign_in("bob@example.com").get(PROJECT).get_data(as_text=True)
    assert "none of its files is served" in page and "Reason: malware" in page
    assert "project-status" in page and 'action="/teams/acme/admin/project-status"' not in page


@pytest.mark.e2e
def test_setting_a_quarantine_in_chromium_stops_uv_installing(
    stack, accounts, acme, page, tmp_path, client_env
):
    """The form in a real browser (Chromium): the status lands, the page says so, and a real
    uv install from the index no longer finds the project's files."""
    from test_browser import PASSWORD, shot, sign_in_ui

    from clients import BIN, run

    accounts.sign_up(ADMIN, PASSWORD)
    wheel = make_wheel(tmp_path, "widgets", "1.0")
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), wheel).returncode == 0
    sign_in_ui(page, stack.url, ADMIN, next_path=PROJECT)
    page.select_option("#status-select", "quarantined")
    page.fill("#status-reason", "credential stealer in 1.0")
    page.click("#status-form button[type=submit]")
    page.wait_for_selector("#project-status")
    assert "none of its files is served" in page.inner_text("#project-status")
    assert page.input_value("#status-select") == "quarantined"
    shot(page, "project-status-quarantined")

    host = stack.url.split("://", 1)[1]
    url = f"http://__token__:{stack.token('read')}@{host}/simple/acme/main/"
    venv = tmp_path / "venv"
    assert (
        run([BIN / "uv", "venv", "--no-config", "--python", sys.executable, venv], env=client_env).returncode
        == 0
    )
    r = run(
        [
            BIN / "uv",
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            venv / "bin" / "python",
            "--index-url",
            url,
            "widgets",
        ],
        env=client_env,
    )
    assert r.returncode != 0 and "widgets" in r.stderr, r.stderr

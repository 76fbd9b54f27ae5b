"""A team's own advisories (issue 27) on the real emulators: `bale admin advisory add|list|
withdraw` (refusals, audit), `advisories check` counting them, and a view with
`release.cve_max_score < 7` that hides an affected release from a real `uv pip install` until
the advisory is withdrawn."""

from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner
from test_upstream import index_url, installed, new_venv, uv_install
from test_views_install import JSON_V1, _publish, _views

from factories import wheel_bytes, wheel_name
from uploads import form_for, post

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8


@pytest.fixture
def bale(stores):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    def run_cli(*args):
        settings_mod.get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["admin", *args], catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return run_cli


@pytest.fixture
def widgets(stack):
    """acme/main holding widgets 1.4.1 and 1.4.2 (wheels)."""
    for v in ("1.4.1", "1.4.2"):
        r = post(stack, *form_for(wheel_name("widgets", v), wheel_bytes("widgets", v)), token=stack.token())
        assert r.status_code == 200, r.text
    return stack


def _log(tenancy):
    return [(e["actor"], e["action"], e["detail"]) for e in tenancy.audit_log("acme")]


def test_add_list_withdraw_and_the_audit_log(bale, widgets, tenancy):
    r = bale(
        "advisory", "add", "acme", "main", "Widgets", "--id", "ACME-2026-1", "--affected", "<1.4.2",
        "--severity", CRITICAL, "--summary", "Remote code execution in the loader",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Added ACME-2026-1 to acme/main: affects <1.4.2, score 9.8\n"
    r = bale("add-advisory", "acme", "main", "widgets", "--id", "ACME-2026-2", "--version", "1.4.2",
             "--version", "1.4.1", "--summary", "Leaks the session cookie")  # fmt: skip
    assert r.exit_code == 0 and "affects ==1.4.2|==1.4.1, score -" in r.stdout, r.output

    r = bale("advisory", "list", "acme", "main")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "PROJECT", "AFFECTS", "SCORE", "STATE", "SUMMARY"]
    assert lines[1].split()[:5] == ["ACME-2026-1", "widgets", "<1.4.2", "9.8", "active"]
    assert lines[2].split()[:3] == ["ACME-2026-2", "widgets", "==1.4.2|==1.4.1"]

    r = bale("advisory", "withdraw", "acme", "main", "widgets", "acme-2026-1")
    assert r.exit_code == 0 and r.stdout.startswith("Withdrew ACME-2026-1"), r.output
    r = bale("advisory", "list", "acme", "main", "widgets")
    assert [line.split()[0] + " " + line.split()[4] for line in r.stdout.splitlines()[1:]] == [
        "ACME-2026-2 active",
        "ACME-2026-1 withdrawn",
    ]
    r = bale("withdraw-advisory", "acme", "main", "widgets", "ACME-2026-1")
    assert r.exit_code == 1 and r.stderr == "error: ACME-2026-1 is already withdrawn (acme/main/widgets).\n"

    # A withdrawn id stays taken, whatever its case.
    r = bale("advisory", "add", "acme", "main", "widgets", "--id", "acme-2026-1", "--affected", "<2",
             "--summary", "again")  # fmt: skip
    assert r.exit_code == 1
    assert "acme already has an advisory ACME-2026-1 (main/widgets, withdrawn)" in r.stderr

    assert [x for x in _log(tenancy) if x[1].startswith("advisory")] == [
        ("cli", "advisory-withdraw", "main/widgets ACME-2026-1"),
        ("cli", "advisory-add", "main/widgets ACME-2026-2 (==1.4.2,==1.4.1, no score)"),
        ("cli", "advisory-add", "main/widgets ACME-2026-1 (<1.4.2, score 9.8)"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--affected", "<<1.4"], "--affected '<<1.4' is not a PEP 440 specifier set"),
        (["--affected", " "], "--affected is empty"),
        (["--version", "one"], "--version 'one' is not a PEP 440 version."),
        ([], "Say which releases are affected"),
        (["--affected", "<2", "--severity", "CVSS:3.1/AV:N"], "--severity: invalid CVSS_V3 vector"),
        (["--affected", "<2", "--severity", "AV:N/AC:L"], "--severity 'AV:N/AC:L' is not a CVSS vector"),
        (["--affected", "<2", "--summary", "x" * 301], "--summary is 301 characters; at most 300."),
        (["--affected", "<2", "--id", "ACME/1"], "Advisory id 'ACME/1' is not usable"),
    ],
)
def test_bad_input_is_refused_and_leaves_nothing(bale, widgets, stores, tenancy, args, message):
    base = {"--id": "ACME-1", "--summary": "bad"}
    for k in ("--id", "--summary"):
        if k in args:
            base.pop(k)
    flat = [x for kv in base.items() for x in kv]
    r = bale("advisory", "add", "acme", "main", "widgets", *flat, *args)
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and message in r.stderr, r.output
    assert not list(stores.db.collection("teams/acme/indexes/main/advisories").stream())
    assert not list(stores.db.collection("teams/acme/advisory_ids").stream())
    assert not [x for x in _log(tenancy) if x[1].startswith("advisory")]


def test_refused_where_there_is_nothing_to_advise(bale, widgets):
    r = bale(
        "advisory", "add", "acme", "main", "gadgets", "--id", "A-1", "--affected", "<2", "--summary", "s"
    )
    assert r.exit_code == 1 and r.stderr == "error: No project 'gadgets' in acme/main.\n"
    _views(widgets).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    r = bale(
        "advisory", "add", "acme", "safe", "widgets", "--id", "A-1", "--affected", "<2", "--summary", "s"
    )
    assert r.exit_code == 1 and "acme/safe is a view; a team's advisories belong to the index" in r.stderr
    r = bale("advisory", "list", "acme", "safe")
    assert r.exit_code == 1 and "belong to the index that holds the project (main)" in r.stderr
    r = bale("advisory", "withdraw", "acme", "main", "widgets", "A-1")
    assert r.exit_code == 1 and r.stderr == "error: No advisory 'A-1' for widgets in acme/main.\n"


def test_check_counts_the_teams_own_advisories_of_that_index(bale, widgets, tenancy, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("widgets==1.4.1\n")
    assert bale("advisories", "check", "acme", "main", "-r", str(reqs)).exit_code == 0
    r = bale("advisory", "add", "acme", "main", "widgets", "--id", "ACME-2026-1", "--affected", "<1.4.2",
             "--severity", CRITICAL, "--summary", "Remote code execution")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = bale("advisories", "check", "acme", "main", "-r", str(reqs))
    assert r.exit_code == 1
    assert r.stdout.splitlines()[0].split()[:4] == ["widgets==1.4.1", "ACME-2026-1", "score", "9.8"]
    assert "(private)" in r.stdout
    # Another index of the team does not have it.
    tenancy.create_index("acme", "staging")
    assert bale("advisories", "check", "acme", "staging", "-r", str(reqs)).exit_code == 0
    # Through a view the pin may come from any source: main's own advisory counts there.
    assert bale("create-view", "acme", "safe", "--source", "staging", "--source", "main").exit_code == 0
    r = bale("advisories", "check", "acme", "safe", "-r", str(reqs))
    assert r.exit_code == 1 and "ACME-2026-1" in r.stdout, r.output
    assert "(checked against acme/safe, a view of staging, main)" in r.stdout
    assert bale("advisory", "withdraw", "acme", "main", "widgets", "ACME-2026-1").exit_code == 0
    assert bale("advisories", "check", "acme", "safe", "-r", str(reqs)).exit_code == 0
    assert bale("advisories", "check", "acme", "main", "-r", str(reqs)).exit_code == 0


def _versions(stack, view, token):
    r = requests.get(
        f"{stack.url}/simple/acme/{view}/widgets/",
        auth=("__token__", token),
        headers={"Accept": JSON_V1},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()["versions"]


def test_a_view_hides_what_a_private_advisory_affects_until_it_is_withdrawn(bale, widgets):
    views = _views(widgets)
    views.create("acme", "safe", ["main"], "release.cve_max_score < 7")
    views.create("acme", "byid", ["main"], '"ACME-2026-1" not in release.advisories')
    views.create("acme", "pkg", ["main"], "package.cve_max_score < 7")
    tokens = {v: widgets.token("read", index=v) for v in ("safe", "byid", "pkg")}
    assert {v: _versions(widgets, v, t) for v, t in tokens.items()} == {v: ["1.4.1", "1.4.2"] for v in tokens}

    r = bale("advisory", "add", "acme", "main", "widgets", "--id", "ACME-2026-1", "--affected", "<1.4.2",
             "--severity", CRITICAL, "--summary", "Remote code execution")  # fmt: skip
    assert r.exit_code == 0, r.output
    # The page cache is keyed on the advisory documents too: the next request sees it.
    assert _versions(widgets, "safe", tokens["safe"]) == ["1.4.2"]
    assert _versions(widgets, "byid", tokens["byid"]) == ["1.4.2"]
    assert _versions(widgets, "pkg", tokens["pkg"]) == []
    r = requests.get(
        f"{widgets.url}/simple/acme/safe/widgets/{wheel_name('widgets', '1.4.1')}",
        auth=("__token__", tokens["safe"]),
        timeout=30,
    )
    assert r.status_code == 404

    # A low score does not cross the floor; the view still hides by the highest one.
    r = bale("advisory", "add", "acme", "main", "widgets", "--id", "ACME-2026-2", "--version", "1.4.2",
             "--severity", LOW, "--summary", "Minor")  # fmt: skip
    assert r.exit_code == 0
    assert _versions(widgets, "safe", tokens["safe"]) == ["1.4.2"]

    assert bale("advisory", "withdraw", "acme", "main", "widgets", "ACME-2026-1").exit_code == 0
    assert _versions(widgets, "safe", tokens["safe"]) == ["1.4.1", "1.4.2"]
    assert _versions(widgets, "byid", tokens["byid"]) == ["1.4.1", "1.4.2"]
    assert _versions(widgets, "pkg", tokens["pkg"]) == ["1.4.1", "1.4.2"]


def test_a_view_counts_the_private_advisories_of_the_source_that_wins(bale, widgets, tenancy):
    tenancy.create_index("acme", "staging")
    _views(widgets).create("acme", "safe", ["main", "staging"], "release.cve_max_score < 7")
    token = widgets.token("read", index="safe")
    staging = widgets.token(index="staging")
    for name in ("widgets", "gizmo"):
        r = post(widgets, *form_for(wheel_name(name, "1.0"), wheel_bytes(name, "1.0")), token=staging,
                 path="/v1/upload/acme/staging/")  # fmt: skip
        assert r.status_code == 200, r.text
        r = bale("advisory", "add", "acme", "staging", name, "--id", f"STG-{name}", "--affected", ">=0",
                 "--severity", CRITICAL, "--summary", f"bad {name}")  # fmt: skip
        assert r.exit_code == 0, r.output
    # widgets is main's (it wins there): staging's advisory for the name does not count ...
    assert _versions(widgets, "safe", token) == ["1.4.1", "1.4.2"]
    # ... while for gizmo, which only staging holds, it does.
    r = requests.get(f"{widgets.url}/simple/acme/safe/gizmo/", auth=("__token__", token),
                     headers={"Accept": JSON_V1}, timeout=30)  # fmt: skip
    assert r.status_code == 200 and r.json()["versions"] == []


@pytest.mark.e2e
def test_uv_installs_around_a_private_advisory_and_back_once_withdrawn(bale, stack, tmp_path, client_env):
    _publish(stack, tmp_path, "main", "widgets", "1.4.1")
    _publish(stack, tmp_path, "main", "widgets", "1.5.0")
    _views(stack).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    r = bale("advisory", "add", "acme", "main", "widgets", "--id", "ACME-2026-1", "--affected", ">=1.5,<1.5.1",
             "--severity", CRITICAL, "--summary", "Remote code execution")  # fmt: skip
    assert r.exit_code == 0, r.output
    url = index_url(stack, stack.token("read", index="safe"), "safe")

    python = new_venv(tmp_path, client_env, "hidden")
    r = uv_install(python, url, "widgets", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"widgets": "1.4.1"}

    assert bale("advisory", "withdraw", "acme", "main", "widgets", "ACME-2026-1").exit_code == 0
    python = new_venv(tmp_path, client_env, "back")
    r = uv_install(python, url, "widgets", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"widgets": "1.5.0"}


def test_a_warm_advisory_view_page_reads_its_advisories_in_one_round_trip(
    bale, widgets, tenancy, monkeypatch
):
    """The public summary and the team's documents for the project in every source: one
    BatchGetDocuments beside the source probe, whatever the number of sources."""
    from bale import settings as settings_mod
    from bale.api.simple import routing as simple_routing
    from bale.api.simple import views
    from bulk import FirestoreReads

    monkeypatch.setenv("BALE_TOKEN_CACHE_SECONDS", "60")
    settings_mod.get_settings.cache_clear()
    views.clear_caches()
    try:
        tenancy.create_index("acme", "staging")
        _views(widgets).create("acme", "safe", ["main", "staging"], "release.cve_max_score < 7")
        _views(widgets).create("acme", "plain", ["main", "staging"], "release.age_days >= 0")
        r = bale("advisory", "add", "acme", "main", "widgets", "--id", "ACME-2026-1", "--affected", "<1.4.2",
                 "--severity", CRITICAL, "--summary", "Remote code execution")  # fmt: skip
        assert r.exit_code == 0, r.output
        tokens = {v: widgets.token("read", index=v) for v in ("safe", "plain")}
        served = simple_routing.services()[1]
        for v, t in tokens.items():
            _versions(widgets, v, t)  # cold
        with FirestoreReads(served.db, served.probe) as reads:
            assert _versions(widgets, "plain", tokens["plain"]) == ["1.4.1", "1.4.2"]
            plain = reads.take()
            assert _versions(widgets, "safe", tokens["safe"]) == ["1.4.2"]
            # One more round trip than a view without advisory fields: advisories/widgets and
            # acme's documents for widgets in main and staging.
            assert reads.take() == (plain[0] + 1, plain[1] + 3)
    finally:
        monkeypatch.delenv("BALE_TOKEN_CACHE_SECONDS")
        settings_mod.get_settings.cache_clear()
        views.clear_caches()

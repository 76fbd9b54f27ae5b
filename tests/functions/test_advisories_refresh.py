"""The scheduled refresh (``advisories_refresh`` of functions/main.py, through functions-framework)
on the real Firestore emulator, downloading a local copy of OSV's export built from the real
records in tests/assets/advisories (pypa/advisory-database, CC-BY 4.0; see NOTICE there).

Each run is a POST with a Google ID token of the scheduler's service account, signed by the
local Google-shaped issuer (tests/fakes/oidc_issuer.py), as Cloud Scheduler sends it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fakes.osv_export import PATH, Export, RawServer, trickle_body, trickle_headers, zip_of

ROOT = Path(__file__).parents[2]
ASSETS = ROOT / "tests" / "assets" / "advisories"
INVOKER = "bale-scheduler@demo-bale.iam.gserviceaccount.com"


def _records() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(ASSETS.glob("*.yaml"))}


@pytest.fixture
def export():
    from fakes.server import Server

    exp = Export()
    with Server(exp.wsgi) as server:
        exp.url = server.url + PATH
        yield exp


@pytest.fixture
def refresh(stores, export, oidc_issuers, monkeypatch, capsys):
    """POST to the entry point as Cloud Scheduler does; returns (status, JSON body, log lines)."""
    import functions_framework

    from bale import settings as settings_mod

    monkeypatch.setenv("BALE_ADVISORIES_URL", export.url)
    monkeypatch.setenv("BALE_ADVISORIES_INVOKER", INVOKER)
    settings_mod.get_settings.cache_clear()
    app = functions_framework.create_app(
        target="advisories_refresh", source=str(ROOT / "functions" / "main.py")
    )
    client = app.test_client()
    google = oidc_issuers.google

    def run(email: str | None = INVOKER, method: str = "POST"):
        headers = {}
        if email is not None:
            token = google.sign(google.claims(email=email, aud="https://bale-advisories-refresh.a.run.app"))
            headers["Authorization"] = f"Bearer {token}"
        capsys.readouterr()
        resp = client.open("/", method=method, headers=headers)
        logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return resp.status_code, resp.get_json(), logs

    yield run
    settings_mod.get_settings.cache_clear()


def _summary(stores, project: str) -> dict | None:
    snap = stores.db.document(f"advisories/{project}").get()
    return snap.to_dict() if snap.exists else None


def _ids(stores, project: str) -> list[str]:
    return [a["id"] for a in (_summary(stores, project) or {}).get("advisories", [])]


def _status(stores) -> dict:
    return stores.db.document("advisories_refresh/osv").get().to_dict()


def test_loads_then_skips_an_unchanged_export_by_etag(refresh, export, stores):
    export.publish(zip_of(list(_records().values())))
    status, body, logs = refresh()
    assert status == 200, body
    assert (body["status"], body["loaded"], body["projects"], body["removed"]) == ("loaded", 4, 2, 0)
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66"]
    rec = _status(stores)
    assert rec["etag"] == export.etag and rec["loaded"] == 4 and rec["source"] == export.url
    first_load = rec["loaded_at"]
    assert [entry["severity"] for entry in logs] == ["INFO"]
    assert logs[0]["advisories_refresh"]["loaded"] == 4

    status, body, _ = refresh()
    assert status == 200 and body["status"] == "unchanged", body
    # The second request asked with the ETag and got a 304: nothing was downloaded or written.
    assert export.requests[-1]["if-none-match"] == export.etag
    rec = _status(stores)
    assert rec["loaded_at"] == first_load and rec["checked_at"] > first_load


def test_an_export_without_etag_is_skipped_by_its_hash(refresh, export, stores):
    export.publish(zip_of(list(_records().values())), etag=False)
    assert refresh()[1]["status"] == "loaded"
    status, body, _ = refresh()
    assert status == 200 and body["status"] == "unchanged" and body["bytes"] > 0


def test_a_project_gone_from_the_export_loses_its_summary(refresh, export, stores):
    records = _records()
    export.publish(zip_of(list(records.values())))
    assert refresh()[0] == 200
    # A private advisory lives elsewhere (per team and index): the refresh leaves it alone.
    stores.db.document("teams/acme/indexes/main/advisories/ACME-2026-1").set({"project": "jinja2"})

    export.publish(zip_of([records["PYSEC-2023-192"], records["PYSEC-2023-212"]]))
    status, body, _ = refresh()
    assert status == 200 and body["removed"] == 1, body
    assert _summary(stores, "jinja2") is None
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]
    assert stores.db.document("teams/acme/indexes/main/advisories/ACME-2026-1").get().exists


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not a zip", "empty zip", "503"])
def test_a_damaged_export_answers_5xx_and_leaves_the_data(refresh, export, stores, damage):
    records = _records()
    good = zip_of(list(records.values()))
    export.publish(good)
    assert refresh()[0] == 200
    before = _status(stores)

    if damage == "truncated":
        export.publish(good[: len(good) // 2])
    elif damage == "corrupt":
        # One member's deflated bytes flipped: the central directory reads, that member fails.
        bad = bytearray(zip_of([records["PYSEC-2023-192"]]))
        bad[60] ^= 0xFF
        export.publish(bytes(bad))
    elif damage == "not a zip":
        export.publish(b"<html>Service Unavailable</html>")
    elif damage == "empty zip":
        export.publish(zip_of([]))
    else:
        export.status = 503
    status, body, logs = refresh()
    assert status >= 500, body
    assert body["status"] == "failed" and body["message"]
    assert logs and logs[-1]["severity"] == "ERROR"
    # Every summary as it was; the record still names the last good load.
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66"]
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]
    after = _status(stores)
    assert after["failure"] == body["message"] and after["failed_at"] > before["loaded_at"]
    assert {k: v for k, v in after.items() if k not in ("failure", "failed_at")} == {
        k: v for k, v in before.items() if k not in ("failure", "failed_at")
    }


def test_a_malformed_record_is_refused_and_reported_and_the_rest_load(refresh, export, stores):
    records = _records()
    export.publish(zip_of(list(records.values())))
    assert refresh()[0] == 200

    # Upstream breaks one record: its id and project are still readable, so the copy loaded
    # last time stays; a new record still loads.
    broken = dict(records["PYSEC-2023-212"], affected=[{**records["PYSEC-2023-212"]["affected"][0]}])
    broken["affected"][0]["ranges"] = [{"type": "ECOSYSTEM", "events": [{"fixed": "2.0.7"}]}]
    new = dict(records["PYSEC-2019-217"], id="PYSEC-2099-1")
    export.publish(
        zip_of([records["PYSEC-2023-192"], broken, records["PYSEC-2021-66"], records["PYSEC-2019-217"], new])
    )
    status, body, logs = refresh()
    assert status == 200, body
    assert (body["loaded"], body["refused_count"], body["kept_refused"]) == (4, 1, 1)
    assert body["refused"] == ["PYSEC-2023-212.json: fixed before any introduced"]
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2099-1"]
    assert logs[-1]["severity"] == "WARNING"
    assert logs[-1]["advisories_refresh"]["refused"] == body["refused"]


def test_an_unreadable_record_stops_removals_for_that_run(refresh, export, stores):
    records = _records()
    export.publish(zip_of(list(records.values())))
    assert refresh()[0] == 200
    # jinja2's records are gone, and one file does not parse: it might have been jinja2's.
    export.publish(
        zip_of([records["PYSEC-2023-192"], records["PYSEC-2023-212"]], extra={"PYSEC-2024-9.json": b"{"})
    )
    status, body, _ = refresh()
    assert status == 200 and body["refused_count"] == 1 and body["removed"] == 0, body
    assert body["not_removed"]
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66"]


def test_only_the_schedulers_service_account_may_run_it(refresh, export, stores):
    export.publish(zip_of(list(_records().values())))
    assert refresh(email=None)[0] == 401
    status, body, logs = refresh(email="someone@example.com")
    assert status == 403 and "may not run" in body["message"]
    assert [(entry["severity"], entry["advisories_refresh"]["status"]) for entry in logs] == [
        ("ERROR", "refused")
    ]
    assert refresh(method="GET")[0] == 405
    assert export.requests == [] and _summary(stores, "urllib3") is None
    assert refresh()[0] == 200


def test_a_token_cloud_run_verified_is_taken_by_its_claims(refresh, export, stores, oidc_issuers):
    """Cloud Run forwards a token it verified with the signature replaced: the claims decide."""
    from bale.access import SIGNATURE_REMOVED

    export.publish(zip_of(list(_records().values())))
    google = oidc_issuers.google

    def stripped(email: str) -> str:
        head, body, _ = google.sign(google.claims(email=email)).split(".")
        return f"{head}.{body}.{SIGNATURE_REMOVED}"

    import functions_framework

    app = functions_framework.create_app(
        target="advisories_refresh", source=str(ROOT / "functions" / "main.py")
    )
    client = app.test_client()
    assert (
        client.post("/", headers={"Authorization": f"Bearer {stripped('x@example.com')}"}).status_code == 403
    )
    # A forged signature is not Cloud Run's marker: it is checked, and fails.
    head, body, _ = google.sign(google.claims(email=INVOKER)).split(".")
    assert client.post("/", headers={"Authorization": f"Bearer {head}.{body}.AAAA"}).status_code == 401
    assert client.post("/", headers={"Authorization": f"Bearer {stripped(INVOKER)}"}).status_code == 200


def test_status_prints_the_last_refresh(refresh, export, stores):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    def status():
        settings_mod.get_settings.cache_clear()
        return CliRunner().invoke(cli, ["admin", "advisories", "status"], catch_exceptions=False)

    r = status()
    assert r.exit_code == 1 and "Never refreshed" in r.stdout
    export.publish(zip_of(list(_records().values())))
    assert refresh()[0] == 200
    r = status()
    assert r.exit_code == 0, r.output
    assert "Loaded:      4 advisories for 2 projects; removed 0; refused 0" in r.stdout
    assert export.etag in r.stdout and "h ago)" in r.stdout


def test_an_export_over_the_size_cap_is_refused_unread(refresh, export, stores, monkeypatch):
    from bale import settings as settings_mod

    good = zip_of(list(_records().values()))
    export.publish(good)
    monkeypatch.setenv("BALE_ADVISORIES_MAX_BYTES", str(len(good) - 1))
    settings_mod.get_settings.cache_clear()
    status, body, _ = refresh()
    assert status == 502 and "over the limit" in body["message"], body
    assert _summary(stores, "urllib3") is None


def _big(i: int, project: str, *, ranges: bool) -> dict:
    rec = {
        "id": f"BIG-{project}-{i}",
        "summary": "a project with hundreds of advisories, each listing every affected version",
        "severity": [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:" + "HLN"[i % 3]}
        ],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": project},
                "versions": [f"1.{m}.{n}" for m in range(20) for n in range(20)],
            }
        ],
    }
    if ranges:
        rec["affected"][0]["ranges"] = [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
        ]
    return rec


def test_a_project_with_too_many_advisories_still_fits_one_document(refresh, export, stores):
    """Firestore refuses a document over 1 MiB, which would fail every run: versions that the
    ranges already cover go first, then the lowest-scored advisories, reported."""
    ranged = [_big(i, "bigranged", ranges=True) for i in range(300)]
    listed = [_big(i, "biglisted", ranges=False) for i in range(300)]
    export.publish(zip_of([*ranged, *listed, *_records().values()]))
    status, body, _ = refresh()
    assert status == 200, body
    doc = _summary(stores, "bigranged")
    assert len(doc["advisories"]) == 300 and all(a["versions"] == [] for a in doc["advisories"])
    doc = _summary(stores, "biglisted")
    kept = len(doc["advisories"])
    assert 0 < kept < 300 and all(len(a["versions"]) == 400 for a in doc["advisories"])
    assert body["refused"] == [f"biglisted: {300 - kept} of 300 advisories left out: over 1 MiB"]
    # The highest scores are the ones kept (A:H, then A:L; A:N the lowest).
    assert doc["max_score"] == 9.8
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]


def test_the_cli_runs_the_same_refresh(stores, export):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    def bale(*args):
        settings_mod.get_settings.cache_clear()
        return CliRunner().invoke(cli, ["admin", "advisories", *args], catch_exceptions=False)

    export.publish(zip_of(list(_records().values())))
    r = bale("refresh", "--url", export.url)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["advisories_refresh"]["loaded"] == 4
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66"]
    r = bale("refresh", "--url", export.url)
    assert r.exit_code == 0 and json.loads(r.stdout)["advisories_refresh"]["status"] == "unchanged"
    stores.db.document("advisories/jinja2").delete()
    r = bale("refresh", "--url", export.url, "--force")
    assert r.exit_code == 0 and json.loads(r.stdout)["advisories_refresh"]["status"] == "loaded"
    assert export.requests[-1]["if-none-match"] == ""
    # Another source (a mirror): the last one's ETag is not sent to it.
    r = bale("refresh", "--url", export.url + "?mirror=1")
    assert r.exit_code == 0 and json.loads(r.stdout)["advisories_refresh"]["status"] == "loaded"
    assert export.requests[-1]["if-none-match"] == ""
    export.publish(b"PK\x03\x04 truncated")
    r = bale("refresh", "--url", export.url)
    assert r.exit_code == 1 and "Refresh failed, nothing written" in r.stderr
    assert _ids(stores, "jinja2") == ["PYSEC-2019-217", "PYSEC-2021-66"]


# -- a hostile export (the source is a URL: a compromised or misconfigured one) ----------------
def test_a_record_nested_deeper_than_the_stack_is_refused_and_the_rest_load(refresh, export, stores):
    deep = b"[" * 10_000 + b"]" * 10_000
    export.publish(zip_of(list(_records().values()), {"DEEP.json": deep, "DEEP.yaml": deep}))
    status, body, _ = refresh()
    assert status == 200, body
    assert body["loaded"] == 4 and body["refused_count"] == 2, body
    assert all("nested deeper" in r for r in body["refused"]), body
    assert _ids(stores, "urllib3") == ["PYSEC-2023-192", "PYSEC-2023-212"]


@pytest.mark.parametrize(
    "behaviour", [trickle_body(0.2, 1_000_000), trickle_headers(0.2)], ids=["body", "headers"]
)
def test_an_export_trickled_past_the_time_limit_fails_at_the_limit(refresh, stores, monkeypatch, behaviour):
    import time

    from bale import settings as settings_mod

    server = RawServer(behaviour)
    try:
        monkeypatch.setenv("BALE_ADVISORIES_URL", f"http://127.0.0.1:{server.port}/all.zip")
        monkeypatch.setenv("BALE_ADVISORIES_TIMEOUT", "2")
        settings_mod.get_settings.cache_clear()
        t0 = time.monotonic()
        status, body, _ = refresh()
        took = time.monotonic() - t0
    finally:
        server.close()
    assert status == 502 and "took over 2 s" in body["message"], body
    assert took < 8, took  # the limit and a second's grace; every read alone is well under 60 s
    assert _status(stores)["failure"] == body["message"]
    assert not list(stores.db.collection("advisories").list_documents())


def test_a_redirect_to_another_host_is_not_followed(refresh, export, stores, monkeypatch):
    from werkzeug.wrappers import Response

    from bale import settings as settings_mod
    from fakes.server import Server

    export.publish(zip_of(list(_records().values())))
    # localhost and 127.0.0.1: the same machine, but another host as far as a URL says.
    elsewhere = export.url.replace("127.0.0.1", "localhost")
    with Server(
        lambda environ, start: Response(status=302, headers={"Location": elsewhere})(environ, start)
    ) as s:
        monkeypatch.setenv("BALE_ADVISORIES_URL", s.url + PATH)
        settings_mod.get_settings.cache_clear()
        status, body, _ = refresh()
    assert status == 502 and "another host" in body["message"], body
    assert export.requests == []
    assert _summary(stores, "urllib3") is None


def test_a_redirect_on_the_same_host_is_followed(refresh, export, stores, monkeypatch):
    from werkzeug.wrappers import Response

    from bale import settings as settings_mod
    from fakes.server import Server

    export.publish(zip_of(list(_records().values())))

    def moved(environ, start):
        if environ["PATH_INFO"] == "/old.zip":
            return Response(status=301, headers={"Location": PATH})(environ, start)
        return export.wsgi(environ, start)

    with Server(moved) as s:
        monkeypatch.setenv("BALE_ADVISORIES_URL", s.url + "/old.zip")
        settings_mod.get_settings.cache_clear()
        status, body, _ = refresh()
    assert status == 200 and body["loaded"] == 4, body


def test_an_export_of_too_many_members_is_refused_before_its_directory_is_read(
    refresh, export, stores, monkeypatch
):
    from bale.advisories import osv

    records = list(_records().values())
    monkeypatch.setattr(osv, "MAX_MEMBERS", len(records) + 1)
    export.publish(zip_of(records, {f"junk/{i}.json": b"{}" for i in range(2)}))
    status, body, _ = refresh()
    assert (
        status == 502
        and body["message"]
        == f"The export has {len(records) + 2} members, over the limit of {len(records) + 1}."
    ), body
    assert _summary(stores, "urllib3") is None

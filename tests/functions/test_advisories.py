"""`bale admin advisories load` and `check` on the real Firestore emulator, with real records
from pypa/advisory-database (tests/assets/advisories, CC-BY 4.0; see NOTICE there)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

ASSETS = Path(__file__).parents[1] / "assets" / "advisories"


@pytest.fixture
def bale(stores, acme):
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    def run_cli(*args):
        settings_mod.get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["admin", *args], catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return run_cli


def test_load_keeps_a_summary_per_project_and_refuses_bad_records_one_by_one(bale, stores, tmp_path):
    src = tmp_path / "vulns"
    shutil.copytree(ASSETS, src, ignore=shutil.ignore_patterns("LICENSE", "NOTICE"))
    (src / "broken.yaml").write_text("id: [unclosed\n")
    (src / "npm-only.json").write_text(
        json.dumps({"id": "GHSA-xxxx", "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}}]})
    )
    (src / "slashed.json").write_text(
        json.dumps(
            {
                "id": "X-1",
                "affected": [{"package": {"ecosystem": "PyPI", "name": "a/b/c"}, "versions": ["1"]}],
            }
        )
    )
    r = bale("advisories", "load", str(src))
    assert r.exit_code == 1
    assert r.stdout == "Loaded 4 advisories for 2 projects; refused 3\n"
    assert "refused broken.yaml: unreadable" in r.stderr
    assert "refused npm-only.json: no PyPI package among the affected" in r.stderr
    assert "refused slashed.json: 'a/b/c' is not a PyPI project name" in r.stderr
    assert not stores.db.document("advisories/a/b/c").get().exists

    doc = stores.db.document("advisories/urllib3").get().to_dict()
    assert [a["id"] for a in doc["advisories"]] == ["PYSEC-2023-192", "PYSEC-2023-212"]
    assert doc["max_score"] == 8.1
    assert stores.db.document("advisories/jinja2").get().to_dict()["max_score"] is None


def test_load_from_a_url_that_does_not_answer_says_so(bale):
    r = bale("advisories", "load", "http://127.0.0.1:9/all.zip")
    assert (
        r.exit_code == 1
        and r.stderr == "error: Could not download http://127.0.0.1:9/all.zip: ConnectionError.\n"
    )


def test_check_exits_1_for_pinned_releases_with_advisories(bale, tmp_path):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in ASSETS.glob("*.yaml"):
            zf.write(f, f.name)
    assert bale("advisories", "load", str(archive)).exit_code == 0

    reqs = tmp_path / "requirements.txt"
    reqs.write_text(
        "# pinned by uv pip compile\nJinja2==2.10 \\\n    --hash=sha256:"
        + "0" * 64
        + "\nurllib3==1.26.16\nrequests>=2\n"
    )
    r = bale("advisories", "check", "acme", "main", "-r", str(reqs))
    assert r.exit_code == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["jinja2==2.10", "PYSEC-2019-217"],
        ["jinja2==2.10", "PYSEC-2021-66"],
        ["urllib3==1.26.16", "PYSEC-2023-192"],
        ["urllib3==1.26.16", "PYSEC-2023-212"],
    ]
    assert "score 8.1" in lines[2]
    assert lines[-1] == "4 advisories in 2 of 2 pinned releases (checked against acme/main)"
    assert r.stderr == "not pinned, so not checked: requests>=2\n"

    reqs.write_text("jinja2==3.1.4\nurllib3==2.2.2\n")
    r = bale("advisories", "check", "acme", "main", "-r", str(reqs))
    assert r.exit_code == 0 and r.stdout == "0 advisories in 2 pinned releases (checked against acme/main)\n"

    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n[[packages]]\nname = "urllib3"\nversion = "2.0.6"\n')
    r = bale("advisories", "check", "acme", "main", "-r", str(lock))
    assert r.exit_code == 1 and "PYSEC-2023-212" in r.stdout and "PYSEC-2023-192" not in r.stdout

    # A file that pins nothing checked nothing: the gate fails rather than pass unseen.
    reqs.write_text("urllib3>=2\nflask\n")
    r = bale("advisories", "check", "acme", "main", "-r", str(reqs))
    assert r.exit_code == 1 and "requirements.txt pins no release (name==version)" in r.stderr
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["urllib3==2.0.5"]\n')
    r = bale("advisories", "check", "acme", "main", "-r", str(pyproject))
    assert r.exit_code == 1 and "pyproject.toml is not a pylock.toml" in r.stderr

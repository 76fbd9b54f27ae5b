"""A view that hides vulnerable releases (issue 27), end to end: a real advisory record from
pypa/advisory-database (tests/assets/advisories, CC-BY 4.0; see NOTICE there) loaded on the
Firestore emulator, a private project published with real uv, and a real `uv pip install`
through a view with `release.cve_max_score < 7` resolving to the fixed release."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from test_upstream import index_url, installed, new_venv, uv_install
from test_views_install import JSON_V1, _publish, _views

ASSETS = Path(__file__).parents[1] / "assets" / "advisories"


@pytest.mark.e2e
def test_a_score_floor_view_installs_the_fix_and_the_plain_index_the_vulnerable_release(
    stack, tmp_path, client_env
):
    from bale.advisories.osv import records
    from bale.advisories.service import Advisories

    # PYSEC-2023-192 (CVSS 3.1, 8.1) affects urllib3 >=2.0.0,<2.0.6 and <1.26.17.
    report = Advisories(stack.stores).load(records(ASSETS / "PYSEC-2023-192.yaml"))
    assert (report.loaded, report.refused) == (1, [])
    _publish(stack, tmp_path, "main", "urllib3", "1.26.17")
    _publish(stack, tmp_path, "main", "urllib3", "2.0.5")
    _views(stack).create("acme", "safe", ["main"], "release.cve_max_score < 7")
    _views(stack).create("acme", "byid", ["main"], '"GHSA-v845-jxx5-vc9f" not in release.advisories')

    safe = stack.token("read", index="safe")
    page = requests.get(
        f"{stack.url}/simple/acme/safe/urllib3/",
        auth=("__token__", safe),
        headers={"Accept": JSON_V1},
        timeout=30,
    ).json()
    assert page["versions"] == ["1.26.17"]

    python = new_venv(tmp_path, client_env, "plain")
    r = uv_install(python, index_url(stack, stack.token("read")), "urllib3", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"urllib3": "2.0.5"}

    for view, token in (("safe", safe), ("byid", stack.token("read", index="byid"))):
        python = new_venv(tmp_path, client_env, view)
        r = uv_install(python, index_url(stack, token, view), "urllib3", env=client_env)
        assert r.returncode == 0, r.stderr
        assert installed(python, client_env) == {"urllib3": "1.26.17"}

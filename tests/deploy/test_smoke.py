"""``bale smoke`` against the registry served as production serves it (issue 20, item 6).

The stack is ``bale_tools.prodstack``: each function target of the load balancer's URL map in
its own ``functions-framework`` process started from a copy of ``functions/`` alone, the
dashboard as its image runs it, and a router that follows the URL map read from terraform/,
over the real emulators. ``bale smoke`` runs as the operator runs it (the console script, real
uv and twine), with the team, index and token made by the admin services.

It must also fail: a router that sends /simple/ to another function, and a simple function that
streams large files instead of redirecting them, each turn a check red.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from clients import BIN, run

pytestmark = pytest.mark.e2e

CHECKS = [
    "oidc audience",
    "dashboard sign-in page",
    "publish (uv)",
    "publish (twine)",
    "install (uv)",
    "signed download",
    "yank",
]

#: Whether the simple function signs download URLs over the emulators. Not yet: on fake-gcs-server
#: GCSBlobStore.signed_url returns None and large files stream through the function, so the
#: smoke test's "signed download" check fails here, which shows it catches a download that is not
#: redirected. Keyless signing through a local metadata server and signBlob (issue 20, item 4)
#: is the hook: once the stack's simple function signs, this is True and every check must pass.
EMULATOR_SIGNS = False

#: What Terraform gives the dashboard (dashboard_env): the Firebase project's public Web API
#: key. The page is checked, not a sign-in, so no Auth emulator is needed (tests/web has those).
DASHBOARD_ENV = {"BALE_FIREBASE_API_KEY": "smoke-test-web-api-key"}


@pytest.fixture(scope="module")
def prod_stack(emulators, tmp_path_factory):
    from bale_tools.prodstack import ProductionShapedStack

    t0 = time.perf_counter()
    stack = ProductionShapedStack(
        dict(os.environ),
        target_env={"dashboard": DASHBOARD_ENV},
        workdir=tmp_path_factory.mktemp("prodstack"),
    ).start()
    stack.started_in = time.perf_counter() - t0
    yield stack
    stack.stop()


@pytest.fixture
def smoke_token(stores, tenancy, tokens):
    """A team and a second index made as the operator would, and an upload token for it."""
    tenancy.create_team("smoke", "ops@example.com")
    tenancy.create_index("smoke", "canary")
    secret, _ = tokens.create("smoke", "canary", "upload", description="bale smoke")
    return secret


def bale_smoke(url: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The console script, as an operator runs it (uv and twine are found beside it)."""
    return run(
        [BIN / "bale", "smoke", url, "--team", "smoke", "--index", "canary", *args], env=env, timeout=600
    )


def lines(r: subprocess.CompletedProcess) -> dict[str, str]:
    """check name -> its whole line."""
    out = {}
    for line in r.stdout.splitlines():
        for name in CHECKS:
            if line[5:].startswith(name):
                out[name] = line
    return out


def test_smoke_passes_against_the_production_shaped_stack(prod_stack, smoke_token) -> None:
    t0 = time.perf_counter()
    r = bale_smoke(prod_stack.url, env={"BALE_TOKEN": smoke_token})
    elapsed = time.perf_counter() - t0
    print(f"stack started in {prod_stack.started_in:.1f} s, bale smoke took {elapsed:.1f} s\n{r.stdout}")
    got = lines(r)
    assert list(got) == CHECKS, r.stdout + r.stderr
    for name in CHECKS:
        if name == "signed download" and not EMULATOR_SIGNS:
            assert (
                got[name].startswith("FAIL signed download: ") and "served by the function (200)" in got[name]
            )
            assert r.returncode == 1
            continue
        assert got[name].startswith("ok   "), got[name]
    assert r.returncode == (0 if EMULATOR_SIGNS else 1), r.stdout + r.stderr
    assert smoke_token not in r.stdout + r.stderr
    assert "40.0 MiB" in got["publish (uv)"] and "40.0 MiB" in got["publish (twine)"]
    # Every request went through the router to the process the URL map names.
    routed = {(method, path.split("/")[1], target) for method, path, target in prod_stack.router.routed}
    assert ("POST", "v1", "upload") in routed
    assert ("GET", "simple", "simple") in routed
    assert ("GET", "_", "oidc") in routed
    assert ("GET", "signin", "dashboard") in routed
    pids = {s.proc.pid for s in prod_stack.services.values()}
    assert len(pids) == len(prod_stack.services) == 4


def test_a_wrong_route_fails_the_smoke_test(prod_stack, smoke_token, tmp_path) -> None:
    """/simple/ sent to the oidc function, as a slip in the URL map would; the token comes from
    uv's credential store this time (as `bale login` leaves it)."""
    from bale_tools.prodstack import Router

    wrong = prod_stack.url_map.replace("/simple/*", "oidc")
    backends = {t: s.address for t, s in prod_stack.services.items()}
    router = Router(wrong, backends).start()
    try:
        env = {
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        _uv_login(router.url, smoke_token, env)
        r = subprocess.run(
            [BIN / "bale", "smoke", router.url, "--team", "smoke", "--index", "canary", "--size-mib", "1"],
            input="",
            capture_output=True,
            text=True,
            timeout=600,
            env={**{k: v for k, v in os.environ.items() if k != "BALE_TOKEN"}, **env},
        )
    finally:
        router.stop()
    got = lines(r)
    assert r.returncode == 1, r.stdout + r.stderr
    assert got["publish (uv)"].startswith("ok   "), r.stdout
    assert got["install (uv)"].startswith("FAIL install (uv): "), r.stdout
    assert got["signed download"].startswith("FAIL "), r.stdout
    assert smoke_token not in r.stdout + r.stderr


def _uv_login(url: str, token: str, env: dict[str, str]) -> None:
    r = subprocess.run(
        [str(BIN / "uv"), "auth", "login", url, "--token", "-"],
        input=token,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr


def test_smoke_without_credentials_says_where_to_get_them(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BALE_TOKEN"}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bale_tools.cli",
            "smoke",
            "http://127.0.0.1:9",
            "--team",
            "t",
            "--index",
            "i",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 1
    assert r.stdout.startswith("FAIL credentials: set BALE_TOKEN or run `bale login"), r.stdout


def test_links_to_another_host_fail_the_smoke_test(emulators, smoke_token, tmp_path) -> None:
    """A stack whose BALE_BASE_URL is not its public URL (the test suite's own server once leaked
    into this one): the page is served, but uv cannot fetch what it links to."""
    from bale_tools.prodstack import ProductionShapedStack

    with ProductionShapedStack(
        dict(os.environ),
        workdir=tmp_path,
        base_url="http://127.0.0.1:9",
        target_env={"dashboard": DASHBOARD_ENV},
    ) as stack:
        r = bale_smoke(stack.url, "--size-mib", "1", env={"BALE_TOKEN": smoke_token})
    got = lines(r)
    assert r.returncode == 1, r.stdout
    hint = "the index page links to 127.0.0.1:9, not 127.0.0.1:"
    assert got["install (uv)"].startswith("FAIL install (uv): ") and hint in got["install (uv)"], r.stdout
    assert hint in got["signed download"], r.stdout

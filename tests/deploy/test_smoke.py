"""``bale smoke`` against the registry served as production serves it (issue 20, item 6).

The stack is ``bale_tools.prodstack``: each function target of the load balancer's URL map in
its own ``functions-framework`` process started from a copy of ``functions/`` alone, the
dashboard as its image runs it, and a router that follows the URL map read from terraform/,
over the real emulators. ``bale smoke`` runs as the operator runs it (the console script, real
uv and twine), with the team, index and token made by the admin services.

Large downloads leave the simple function as in production: it signs V4 URLs with keyless
credentials, through a local metadata server and a local IAM ``signBlob`` (tests/fakes/google_iam.py,
the same fakes as tests/functions/test_keyless_signing.py), for URLs on fake-gcs-server's
address (``BALE_SIGN_ON_EMULATOR``).

It must also fail: a router that sends /simple/ to another function, links to another host,
and a simple function that streams large files instead of redirecting them each turn a check red.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from clients import BIN, run
from fakes.google_iam import EMAIL, GoogleIam

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

#: What Terraform gives the dashboard (dashboard_env): the Firebase project's public Web API
#: key. The page is checked, not a sign-in, so no Auth emulator is needed (tests/web has those).
DASHBOARD_ENV = {"BALE_FIREBASE_API_KEY": "smoke-test-web-api-key"}


def signing_env(google: GoogleIam, home) -> dict[str, str | None]:
    """The simple function's environment on Google's (fake) side: keyless credentials from the
    metadata server, signBlob through the proxy, and no other way to find credentials."""
    return {
        **google.env,
        "BALE_SIGN_ON_EMULATOR": "1",
        "CLOUDSDK_CONFIG": str(home / "gcloud"),  # no gcloud application-default credentials
        "GOOGLE_APPLICATION_CREDENTIALS": None,
        "NO_GCE_CHECK": None,
    }


@pytest.fixture(scope="module")
def google(tmp_path_factory):
    with GoogleIam(tmp_path_factory.mktemp("google-iam")) as g:
        yield g


@pytest.fixture(scope="module")
def prod_stack(emulators, google, tmp_path_factory):
    from bale_tools.prodstack import ProductionShapedStack

    t0 = time.perf_counter()
    work = tmp_path_factory.mktemp("prodstack")
    stack = ProductionShapedStack(
        dict(os.environ),
        target_env={"dashboard": DASHBOARD_ENV, "simple": signing_env(google, work)},
        workdir=work,
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


def test_smoke_passes_against_the_production_shaped_stack(prod_stack, google, smoke_token) -> None:
    signed_before = len(google.iam.calls)
    t0 = time.perf_counter()
    r = bale_smoke(prod_stack.url, env={"BALE_TOKEN": smoke_token})
    elapsed = time.perf_counter() - t0
    print(f"stack started in {prod_stack.started_in:.1f} s, bale smoke took {elapsed:.1f} s\n{r.stdout}")
    got = lines(r)
    assert list(got) == CHECKS, r.stdout + r.stderr
    for name in CHECKS:
        assert got[name].startswith("ok   "), got[name]
    assert r.returncode == 0, r.stdout + r.stderr
    assert smoke_token not in r.stdout + r.stderr
    assert "40.0 MiB" in got["publish (uv)"] and "40.0 MiB" in got["publish (twine)"]
    # Every request went through the router to the process the URL map names.
    routed = {(method, path.split("/")[1], target) for method, path, target in prod_stack.router.routed}
    assert ("POST", "v1", "upload") in routed
    assert ("GET", "simple", "simple") in routed
    assert ("GET", "_", "oidc") in routed
    assert ("GET", "signin", "dashboard") in routed
    # IAM signed for the simple function's account three times: uv's download of the wheel it
    # installed, and each wheel's URL that bale smoke fetched itself.
    calls = google.iam.calls[signed_before:]
    assert [c["email"] for c in calls] == [EMAIL] * 3
    assert "2 files, 302 to 127.0.0.1, signed, no token" in got["signed download"]
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


@contextlib.contextmanager
def with_simple(prod_stack, **env: str | None):
    """The stack's URL map and processes, with /simple/ and /files/ served by another simple
    function whose environment differs by ``env``."""
    from bale_tools.prodstack import Router

    router = Router(prod_stack.url_map, {})
    env.setdefault("BALE_BASE_URL", router.url)  # its links name the router it is behind
    variant = prod_stack.start_variant("simple", **env)
    backends = {t: s.address for t, s in prod_stack.services.items()}
    router.httpd.backends.update({**backends, "simple": variant.address})
    router.start()
    try:
        yield router
    finally:
        router.stop()
        variant.stop()


def test_links_to_another_host_fail_the_smoke_test(prod_stack, smoke_token) -> None:
    """A simple function whose BALE_BASE_URL is not the public URL (the test suite's own server
    once leaked into this stack): the page is served, but uv cannot fetch what it links to."""
    other = prod_stack.url  # a live registry host, so uv's 401 comes at once (no retries)
    with with_simple(prod_stack, BALE_BASE_URL=other) as router:
        r = bale_smoke(router.url, "--size-mib", "1", env={"BALE_TOKEN": smoke_token})
    got = lines(r)
    assert r.returncode == 1, r.stdout
    hint = f"the index page links to {other.split('://')[1]}, not 127.0.0.1:"
    assert got["install (uv)"].startswith("FAIL install (uv): ") and hint in got["install (uv)"], r.stdout
    assert hint in got["signed download"], r.stdout


def test_a_download_that_is_not_redirected_fails_the_smoke_test(prod_stack, smoke_token) -> None:
    """A simple function without a signing identity streams the files itself (as the emulator
    does when it cannot sign, or as a function would below signed_url_min_bytes)."""
    with with_simple(prod_stack, BALE_SIGN_ON_EMULATOR=None) as router:
        r = bale_smoke(router.url, "--size-mib", "5", env={"BALE_TOKEN": smoke_token})
    got = lines(r)
    assert r.returncode == 1, r.stdout
    assert got["install (uv)"].startswith("ok   "), r.stdout
    assert got["signed download"].startswith("FAIL signed download: "), r.stdout
    assert "was served by the function (200), not redirected" in got["signed download"]

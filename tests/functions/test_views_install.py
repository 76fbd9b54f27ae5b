"""Views end to end with real clients (issue 26): uv and pip install through one view URL over a
private index and an upstream (pypiserver, a real third-party index), private first; a snapshot
view reproduces an older resolution; an age floor hides a fresh release until it ages (frozen
clock)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import pytest
import requests
from test_upstream import BIN, PIP, _free_port, index_url, installed, new_venv, upstreams, uv_install

from clients import run, uv_publish
from factories import make_wheel

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def _views(stack):
    from bale.views.service import Views

    return Views(stack.stores)


def _publish(stack, tmp_path, index, name, version, **kw):
    dist = tmp_path / f"dist-{index}-{name}-{version}"
    dist.mkdir()
    wheel = make_wheel(dist, name, version, **kw)
    r = uv_publish(f"{stack.url}/v1/upload/acme/{index}/", stack.token(index=index), wheel)
    assert r.returncode == 0, r.stderr


def _pip_install(python, url, *reqs, env):
    r = run([python, "-m", "ensurepip", "--default-pip"], env=env)
    argv = [python, "-m", "pip"] if r.returncode == 0 else [PIP, "--python", python]
    return run([*argv, "install", "--no-cache-dir", "--index-url", url, *reqs], env=env)


@pytest.fixture
def pypiserver(tmp_path):
    packages = tmp_path / "pypiserver"
    packages.mkdir()
    port = _free_port()
    argv = [BIN / "pypi-server", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "--disable-fallback", str(packages)]  # fmt: skip
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/simple/", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield packages, f"http://127.0.0.1:{port}/simple/"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.e2e
def test_uv_and_pip_install_through_a_view_of_a_private_index_and_an_upstream(
    stack, tenancy, tmp_path, client_env, pypiserver
):
    packages, url = pypiserver
    make_wheel(packages, "pubdep", "1.0", requires=["publeaf"])
    make_wheel(packages, "publeaf", "1.0")
    # The upstream also offers the private name, at a higher version: it must never win.
    make_wheel(packages, "acme-app", "9.0")
    tenancy.create_index("acme", "internal")
    _publish(stack, tmp_path, "internal", "acme-app", "1.0", requires=["pubdep"])
    upstreams(stack).set_upstream("acme", "main", url=url)
    _views(stack).create("acme", "dev", ["internal", "main"], None)

    token = stack.token("read", index="dev")
    page = requests.get(
        f"{stack.url}/simple/acme/dev/acme-app/",
        auth=("__token__", token),
        headers={"Accept": JSON_V1},
        timeout=30,
    ).json()
    assert page["versions"] == ["1.0"]

    python = new_venv(tmp_path, client_env)
    r = uv_install(python, index_url(stack, token, "dev"), "acme-app", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"acme-app": "1.0", "pubdep": "1.0", "publeaf": "1.0"}

    python = new_venv(tmp_path, client_env, "pipvenv")
    r = _pip_install(python, index_url(stack, token, "dev"), "acme-app", env=client_env)
    assert r.returncode == 0, r.stderr + r.stdout
    got = installed(python, client_env)
    assert (got["acme-app"], got["pubdep"], got["publeaf"]) == ("1.0", "1.0", "1.0")


@pytest.mark.e2e
def test_a_snapshot_view_reproduces_an_older_resolution(stack, tmp_path, client_env):
    _publish(stack, tmp_path, "main", "leaf", "1.0")
    _publish(stack, tmp_path, "main", "app", "1.0", requires=["leaf"])
    time.sleep(0.05)
    cut = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.05)
    _publish(stack, tmp_path, "main", "leaf", "2.0")
    _publish(stack, tmp_path, "main", "app", "2.0", requires=["leaf>=2"])
    _views(stack).create("acme", "then", ["main"], f'release.upload_time <= "{cut}"')

    python = new_venv(tmp_path, client_env, "now")
    r = uv_install(python, index_url(stack, stack.token("read")), "app", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"app": "2.0", "leaf": "2.0"}

    python = new_venv(tmp_path, client_env, "then")
    r = uv_install(python, index_url(stack, stack.token("read", index="then"), "then"), "app", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"app": "1.0", "leaf": "1.0"}


@pytest.mark.e2e
def test_an_age_floor_hides_a_fresh_release_until_it_ages(stack, tmp_path, client_env, monkeypatch):
    from bale import clock

    _publish(stack, tmp_path, "main", "fresh", "1.0")
    _views(stack).create("acme", "safe", ["main"], "release.age_days >= 7")
    token = stack.token("read", index="safe")
    url = index_url(stack, token, "safe")

    python = new_venv(tmp_path, client_env)
    r = uv_install(python, url, "fresh", env=client_env)
    assert r.returncode != 0
    assert "fresh" in r.stderr

    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + dt.timedelta(days=6, hours=23))
    r = uv_install(python, url, "fresh", env=client_env)
    assert r.returncode != 0

    monkeypatch.setattr(clock, "now", lambda: real() + dt.timedelta(days=7, minutes=1))
    r = uv_install(python, url, "fresh", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(python, client_env) == {"fresh": "1.0"}

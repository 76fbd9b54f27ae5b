"""Installing with the real uv and pip from the running stack.

Every client runs with ``--index-url`` pointing at Bale only (credentials in the URL, as the
README shows), with caching off and an isolated cache directory, so nothing comes from PyPI
or from an earlier run. The packages are built by tests/factories.py and have no external
dependencies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from clients import BIN, run, uv_publish
from factories import make_wheel, wheel_name

pytestmark = pytest.mark.e2e

UV = BIN / "uv"
PIP = BIN / "pip"


def index_url(stack, token, team="acme", index="main") -> str:
    host = urllib.parse.urlsplit(stack.url).netloc
    return f"http://__token__:{token}@{host}/simple/{team}/{index}/"


@pytest.fixture
def venv(tmp_path, client_env):
    """A fresh, empty virtual environment made by uv; returns its python."""
    path = tmp_path / "venv"
    r = run([UV, "venv", "--no-config", "--python", sys.executable, path], env=client_env)
    assert r.returncode == 0, r.stderr
    return path / "bin" / "python"


@pytest.fixture
def published(stack, tmp_path):
    """lib 1.0, 1.1, 2.0; app 1.0 needs lib>=1,<2; Hello_World 1.0 (a non-normalized name)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    files = [
        make_wheel(dist, "lib", "1.0"),
        make_wheel(dist, "lib", "1.1"),
        make_wheel(dist, "lib", "2.0"),
        make_wheel(dist, "app", "1.0", requires=["lib>=1,<2"]),
        make_wheel(dist, "Hello_World", "1.0"),
    ]
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *files)
    assert r.returncode == 0, r.stderr
    return {f.name: f for f in files}


def uv_install(venv_python, url, *reqs, env, extra=()):
    return run(
        [
            UV,
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            venv_python,
            "--index-url",
            url,
            *extra,
            *reqs,
        ],
        env=env,
    )


def installed(venv_python, *modules) -> dict[str, str]:
    code = "import importlib, json, sys; print(json.dumps({m: importlib.import_module(m).__version__ for m in sys.argv[1:]}))"
    r = subprocess.run([str(venv_python), "-c", code, *modules], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_uv_pip_install_resolves_our_dependencies(stack, published, venv, client_env, caplog):
    url = index_url(stack, stack.token("read"))
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        r = uv_install(venv, url, "app", "Hello_World", env=client_env)
    assert r.returncode == 0, r.stderr
    # Files are linked below the index URL, so uv sends the credentials with every request
    # instead of trying each download anonymously first.
    requests_seen = [rec.getMessage() for rec in caplog.records if '"GET ' in rec.getMessage()]
    assert any(".whl HTTP" in m for m in requests_seen), requests_seen
    assert not [m for m in requests_seen if '" 401 ' in m], requests_seen
    # app 1.0 pulled lib from Bale: the newest that satisfies >=1,<2, not 2.0.
    assert installed(venv, "app", "lib", "hello_world") == {"app": "1.0", "lib": "1.1", "hello_world": "1.0"}
    assert "pypi.org" not in r.stderr


def test_pip_install_resolves_our_dependencies(stack, published, tmp_path, client_env):
    target = tmp_path / "target"
    url = index_url(stack, stack.token("read"))
    r = run(
        [
            PIP,
            "install",
            "--no-cache-dir",
            "--isolated",
            "--disable-pip-version-check",
            "--target",
            target,
            "--index-url",
            url,
            "app",
            "hello.world",
        ],
        env=client_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "lib" / "__init__.py").read_text() == '__version__ = "1.1"\n'
    assert (target / "app" / "__init__.py").exists()
    assert (target / "hello_world" / "__init__.py").exists()
    assert {p.name for p in target.glob("*.dist-info")} == {
        "app-1.0.dist-info",
        "lib-1.1.dist-info",
        "hello_world-1.0.dist-info",
    }


def test_clients_without_credentials_get_401(stack, published, venv, tmp_path, client_env):
    anon = f"{stack.url}/simple/acme/main/"
    r = uv_install(venv, anon, "lib", env=client_env)
    assert r.returncode != 0
    assert "401" in r.stderr or "Unauthorized" in r.stderr, r.stderr
    r = run(
        [
            PIP,
            "install",
            "--no-cache-dir",
            "--isolated",
            "--disable-pip-version-check",
            "--target",
            tmp_path / "t",
            "--index-url",
            anon,
            "lib",
        ],
        env=client_env,
    )
    assert r.returncode != 0
    assert "401" in r.stdout + r.stderr


def test_token_of_another_team_cannot_install(stack, published, venv, tenancy, client_env):
    tenancy.create_team("globex", "gus@example.com")
    url = index_url(stack, stack.token("read", team="globex"))
    r = uv_install(venv, url, "lib", env=client_env)
    assert r.returncode != 0
    assert "403" in r.stderr, r.stderr


def test_bearer_token_like_curl(stack, published):
    """What `curl -H "Authorization: Bearer $TOKEN"` does: read the JSON page, fetch a file."""
    token = stack.token("read")
    page_url = f"{stack.url}/simple/acme/main/lib/"
    req = urllib.request.Request(
        page_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.pypi.simple.v1+json",
        },
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        page = json.load(resp)
    assert page["versions"] == ["1.0", "1.1", "2.0"]
    f = next(f for f in page["files"] if f["filename"] == wheel_name("lib", "1.1"))
    req = urllib.request.Request(
        urllib.parse.urljoin(page_url, f["url"]), headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        data = resp.read()
    assert hashlib.sha256(data).hexdigest() == f["hashes"]["sha256"]
    assert data == published[wheel_name("lib", "1.1")].read_bytes()


def bale(*args):
    return subprocess.run(
        [str(BIN / "bale"), *args], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )


def test_yanked_version_is_skipped_unless_pinned(stack, published, venv, client_env):
    url = index_url(stack, stack.token("read"))
    r = bale("admin", "yank", "acme", "main", "lib", "1.1", "--reason", "broken import")
    assert r.returncode == 0, r.stderr
    assert "Yanked lib 1.1 in acme/main (1 file)" in r.stdout

    # Unpinned, uv skips 1.1 (the best match otherwise) and takes 1.0.
    r = uv_install(venv, url, "app", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(venv, "lib")["lib"] == "1.0"
    # Pinned with ==, the yanked version installs (PEP 592), with the reason shown.
    r = uv_install(venv, url, "lib==1.1", env=client_env)
    assert r.returncode == 0, r.stderr
    assert installed(venv, "lib")["lib"] == "1.1"
    assert "broken import" in r.stderr

    r = bale("admin", "unyank", "acme", "main", "lib", "1.1")
    assert r.returncode == 0, r.stderr
    r = uv_install(venv, url, "lib<2", env=client_env, extra=["--reinstall"])
    assert r.returncode == 0, r.stderr
    assert installed(venv, "lib")["lib"] == "1.1"
    # Yanking a version that does not exist says so.
    r = bale("admin", "yank", "acme", "main", "lib", "9.9")
    assert r.returncode == 1 and "No files for lib 9.9" in r.stderr


def test_pip_skips_yanked_version_unless_pinned(stack, published, tmp_path, client_env):
    from bale.packages.service import Packages

    Packages(stack.stores).set_yanked("acme", "main", "lib", "1.1", True, "broken import")
    url = index_url(stack, stack.token("read"))
    target = tmp_path / "a"
    r = run(
        [
            PIP,
            "install",
            "--no-cache-dir",
            "--isolated",
            "--disable-pip-version-check",
            "--target",
            target,
            "--index-url",
            url,
            "lib<2",
        ],
        env=client_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "lib" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    target = tmp_path / "b"
    r = run(
        [
            PIP,
            "install",
            "--no-cache-dir",
            "--isolated",
            "--disable-pip-version-check",
            "--target",
            target,
            "--index-url",
            url,
            "lib==1.1",
        ],
        env=client_env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "lib" / "__init__.py").read_text() == '__version__ = "1.1"\n'
    assert "broken import" in r.stdout + r.stderr

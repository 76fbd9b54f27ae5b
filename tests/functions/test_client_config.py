"""The client set-ups docs/clients.md recommends, run as written.

Credentials never sit in a URL here: uv reads them from `UV_INDEX_<NAME>_USERNAME/PASSWORD`,
pip from a netrc file, twine from a .pypirc. Each test would fail if Bale answered one of
these clients differently from how the docs say it does.
"""

from __future__ import annotations

import sys
import tomllib
import urllib.parse

import pytest

from clients import BIN, run
from factories import make_sdist, make_wheel

pytestmark = pytest.mark.e2e

UV = BIN / "uv"


def uv_env(tmp_path, token) -> dict:
    return {
        "UV_INDEX_BALE_USERNAME": "__token__",
        "UV_INDEX_BALE_PASSWORD": token,
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


@pytest.fixture
def libs(stack, tmp_path):
    dist = tmp_path / "libs"
    dist.mkdir()
    files = [
        make_wheel(dist, "acme-core", "1.0"),
        make_wheel(dist, "acme-core", "1.2"),
        make_wheel(dist, "acme-utils", "0.5", requires=["acme-core>=1.1"]),
    ]
    r = run(
        [
            UV,
            "publish",
            "--publish-url",
            f"{stack.url}/v1/upload/acme/main/",
            "-u",
            "__token__",
            "-p",
            stack.token(),
            *files,
        ]
    )
    assert r.returncode == 0, r.stderr


def write_project(root, stack, deps) -> None:
    (root / "src" / "app").mkdir(parents=True)
    (root / "src" / "app" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        f"""\
[project]
name = "app"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = {deps!r}

[[tool.uv.index]]
name = "bale"
url = "{stack.url}/simple/acme/main/"
publish-url = "{stack.url}/v1/upload/acme/main/"

[build-system]
requires = ["uv_build>=0.8"]
build-backend = "uv_build"
""".replace("'", '"')
    )


def test_uv_project_with_a_named_index(stack, libs, tmp_path):
    """A named `[[tool.uv.index]]`: lock, sync, then `uv publish --index bale`. The index comes
    before PyPI, and uv takes a name from the first index that has it, so everything Bale has
    comes from Bale (and PyPI is never asked here: Bale has every name)."""
    root = tmp_path / "app"
    write_project(root, stack, ["acme-utils"])
    env = uv_env(tmp_path, stack.token())
    py = ["--python", sys.executable]

    r = run([UV, "lock", *py], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    lock = tomllib.loads((root / "uv.lock").read_text())
    pkgs = {p["name"]: p for p in lock["package"]}
    assert pkgs["acme-core"]["version"] == "1.2"  # acme-utils needs >=1.1: the newest is taken
    assert pkgs["acme-utils"]["source"] == {"registry": f"{stack.url}/simple/acme/main/"}
    wheel = pkgs["acme-core"]["wheels"][0]
    assert wheel["hash"].startswith("sha256:") and wheel["size"] > 0 and wheel["upload-time"]
    assert "__token__" not in (root / "uv.lock").read_text()  # no credentials in the lockfile

    r = run([UV, "sync", *py], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    r = run(
        [
            root / ".venv" / "bin" / "python",
            "-c",
            "import acme_core, acme_utils; print(acme_core.__version__)",
        ]
    )
    assert r.stdout.strip() == "1.2", r.stderr

    # Without the credentials, uv says it was refused (and by whom).
    bare = {k: v for k, v in env.items() if not k.startswith("UV_INDEX_BALE_")}
    r = run([UV, "lock", "--refresh", *py], env=bare, cwd=root)
    assert r.returncode != 0 and "401" in r.stderr

    r = run([UV, "build", "--no-build-isolation", "--offline", *py], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    # The upload token from UV_PUBLISH_TOKEN (without any, uv would first try trusted publishing).
    r = run([UV, "publish", "--index", "bale"], env={**env, "UV_PUBLISH_TOKEN": stack.token()}, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "Uploading app-0.1.0-py3-none-any.whl" in r.stderr
    # Again, with the index's own credentials: uv checks the index first and skips both files.
    r = run([UV, "publish", "--index", "bale", "--trusted-publishing", "never"], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "File app-0.1.0-py3-none-any.whl already exists, skipping" in r.stderr
    assert "File app-0.1.0.tar.gz already exists, skipping" in r.stderr


def test_pip_with_a_netrc_file(stack, libs, tmp_path):
    host = urllib.parse.urlsplit(stack.url).hostname
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host}\nlogin __token__\npassword {stack.token('read')}\n")
    netrc.chmod(0o600)
    target = tmp_path / "target"
    env = {
        "NETRC": str(netrc),
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "HOME": str(tmp_path / "home"),
    }
    r = run(
        [
            BIN / "pip",
            "install",
            "--target",
            target,
            "--index-url",
            f"{stack.url}/simple/acme/main/",
            "acme-utils",
        ],
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "acme_core" / "__init__.py").read_text() == '__version__ = "1.2"\n'
    # uv reads the same file.
    r = run(
        [
            UV,
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            sys.executable,
            "--target",
            tmp_path / "uv-target",
            "--index-url",
            f"{stack.url}/simple/acme/main/",
            "acme-utils",
        ],
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "uv-target" / "acme_utils" / "__init__.py").exists()
    netrc.write_text(f"machine {host}\nlogin __token__\npassword bale_nope_nope\n")
    r = run(
        [
            BIN / "pip",
            "install",
            "--target",
            tmp_path / "t2",
            "--index-url",
            f"{stack.url}/simple/acme/main/",
            "acme-utils",
        ],
        env=env,
    )
    assert r.returncode != 0 and not (tmp_path / "t2").exists()  # pip reports it as "no versions found"


def test_twine_with_a_pypirc(stack, tmp_path):
    pypirc = tmp_path / "pypirc"
    pypirc.write_text(f"""\
[distutils]
index-servers = bale

[bale]
repository = {stack.url}/v1/upload/acme/main/
username = __token__
password = {stack.token()}
""")
    files = [make_wheel(tmp_path, "acme-tool", "2.0"), make_sdist(tmp_path, "acme-tool", "2.0")]
    r = run(
        [
            BIN / "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--config-file",
            pypirc,
            "-r",
            "bale",
            *files,
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # Twine offers --skip-existing only for PyPI; an identical re-upload is a 200 here instead.
    r = run(
        [
            BIN / "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--config-file",
            pypirc,
            "-r",
            "bale",
            *files,
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    from bale.packages.service import Packages

    stored = Packages(stack.stores).files("acme", "main", "acme-tool")
    assert sorted(f.filename for f in stored) == sorted(f.name for f in files)

"""Packages as people really build them: four build backends, published and installed end to end.

The factories in tests/factories.py write archives by hand, which is right for breaking them on
purpose but says nothing about what build backends emit today (Metadata-Version 2.4 and 2.5,
`License-Expression`, `License-File`, `Provides-Extra`, sdists with their own PKG-INFO). Here
`uv build` runs hatchling, setuptools, flit-core and uv_build (installed with the dev extras,
used without build isolation so nothing is fetched), `uv publish` and `twine upload` send the
results, and `uv pip install` resolves the chain between them from Bale alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from clients import BIN, run, twine_upload, uv_publish

pytestmark = pytest.mark.e2e

UV = BIN / "uv"

COMMON = """\
version = "{version}"
description = "Built by {backend}"
readme = "README.md"
requires-python = ">=3.9"
dependencies = [{deps}]
classifiers = ["Private :: bale", "Programming Language :: Python :: 3"]
"""

# backend: (distribution name, import name, keys added to [project], the rest of pyproject.toml)
PROJECTS = {
    "hatchling": (
        "Hatch.Thing",
        "hatch_thing",
        'license = "MIT OR Apache-2.0"\nlicense-files = ["LICENSE*"]\n',
        '[project.optional-dependencies]\nfast = ["setup-thing"]\n'
        '[build-system]\nrequires = ["hatchling>=1.27"]\nbuild-backend = "hatchling.build"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/hatch_thing"]\n',
    ),
    "setuptools": (
        "setup_thing",
        "setup_thing",
        'license = "MIT"\nlicense-files = ["LICENSE*"]\n',
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n',
    ),
    "flit-core": (
        "flit-thing",
        "flit_thing",
        'license = "MIT"\nlicense-files = ["LICENSE*"]\n',
        '[build-system]\nrequires = ["flit_core>=3.12"]\nbuild-backend = "flit_core.buildapi"\n',
    ),
    "uv_build": (
        "uv-thing",
        "uv_thing",
        'license = "Apache-2.0"\nlicense-files = ["LICENSE*"]\n',
        '[build-system]\nrequires = ["uv_build>=0.8"]\nbuild-backend = "uv_build"\n',
    ),
}
# Each depends on the next: uv-thing -> flit-thing -> hatch-thing[fast] -> setup_thing.
DEPS = {
    "uv_build": ["flit-thing>=1"],
    "flit-core": ["hatch-thing[fast]>=1"],
    "hatchling": [],
    "setuptools": [],
}


def write_project(root: Path, backend: str, version: str) -> Path:
    name, module, keys, rest = PROJECTS[backend]
    d = root / backend
    (d / "src" / module).mkdir(parents=True)
    (d / "src" / module / "__init__.py").write_text(
        f'"""{name}, built by {backend}."""\n__version__ = "{version}"\n'
    )
    (d / "README.md").write_text(f"# {name}\n\nBuilt by **{backend}**.\n")
    (d / "LICENSE-MIT").write_text("MIT License\n")
    deps = ", ".join(f'"{x}"' for x in DEPS[backend])
    project = f'[project]\nname = "{name}"\n' + COMMON.format(version=version, backend=backend, deps=deps)
    (d / "pyproject.toml").write_text(project + keys + rest)
    return d


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{backend: [sdist, wheel]}, built once for the module."""
    root = tmp_path_factory.mktemp("real-builds")
    out = {}
    for backend in PROJECTS:
        src = write_project(root / "src", backend, "1.0.0")
        dist = root / "dist" / backend
        r = run(
            [
                UV,
                "build",
                "--no-build-isolation",
                "--offline",
                "--no-config",
                "--python",
                sys.executable,
                "--out-dir",
                dist,
                src,
            ],
            env={"UV_CACHE_DIR": str(root / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never"},
        )
        assert r.returncode == 0, (backend, r.stderr)
        files = sorted(dist.glob("*.tar.gz")) + sorted(dist.glob("*.whl"))
        assert len(files) == 2, sorted(dist.iterdir())
        out[backend] = files
    return out


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return z.read(name)


def get(stack, url, token, accept="application/vnd.pypi.simple.v1+json"):
    req = urllib.request.Request(
        urllib.parse.urljoin(stack.url, url), headers={"Authorization": f"Bearer {token}", "Accept": accept}
    )
    with urllib.request.urlopen(req) as r:
        return r.read()


def test_what_backends_emit_today_is_accepted(built):
    """Guard the premise: the builds carry the metadata this test is about."""
    versions = {b: wheel_metadata(files[1]).split(b"\n", 1)[0] for b, files in built.items()}
    assert all(v in (b"Metadata-Version: 2.4", b"Metadata-Version: 2.5") for v in versions.values()), versions
    assert b"License-Expression: MIT OR Apache-2.0" in wheel_metadata(built["hatchling"][1])
    assert b"Provides-Extra: fast" in wheel_metadata(built["hatchling"][1])


def test_publish_and_install_what_four_backends_built(stack, built, tmp_path):
    upload = f"{stack.url}/v1/upload/acme/main/"
    # Two with uv, two with twine.
    for backend, client in (
        ("hatchling", uv_publish),
        ("setuptools", twine_upload),
        ("flit-core", uv_publish),
        ("uv_build", twine_upload),
    ):
        r = client(upload, stack.token(), *built[backend])
        assert r.returncode == 0, (backend, r.stdout, r.stderr)

    read = stack.token("read")
    # Each page serves the archive's own METADATA, byte for byte, with its hash (PEP 658/714).
    for backend, (sdist, wheel) in built.items():
        project = PROJECTS[backend][0]
        page = json.loads(get(stack, f"/simple/acme/main/{project}/", read))
        files = {f["filename"]: f for f in page["files"]}
        assert set(files) == {sdist.name, wheel.name}, backend
        assert page["versions"] == ["1.0.0"]
        entry = files[wheel.name]
        assert entry["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert entry["requires-python"] == ">=3.9"
        served = get(stack, entry["url"] + ".metadata", read)
        assert served == wheel_metadata(wheel), backend
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(served).hexdigest()}

    # And the chain installs from Bale alone, extras included.
    env = {
        "UV_NO_CACHE": "1",
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_CACHE_DIR": str(tmp_path / "c"),
    }
    venv = tmp_path / "venv"
    assert run([UV, "venv", "--python", sys.executable, venv], env=env).returncode == 0
    host = urllib.parse.urlsplit(stack.url).netloc
    index = f"http://__token__:{read}@{host}/simple/acme/main/"
    r = run(
        [UV, "pip", "install", "--python", venv / "bin" / "python", "--index-url", index, "uv-thing"], env=env
    )
    assert r.returncode == 0, r.stderr
    r = run(
        [
            venv / "bin" / "python",
            "-c",
            "import uv_thing, flit_thing, hatch_thing, setup_thing; print(uv_thing.__doc__, setup_thing.__version__)",
        ]
    )
    assert r.stdout.strip() == "uv-thing, built by uv_build. 1.0.0", r.stdout + r.stderr

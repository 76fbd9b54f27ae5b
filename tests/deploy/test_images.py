"""The images' build contexts and what the Dockerfiles install, checked without a Docker engine.

The build context is computed with Docker's own ``.dockerignore`` matcher (the ``docker``
package's), so a COPY line that names an excluded file fails here rather than in Cloud Build.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath

import pytest

from dockerfiles import DOCKERFILES, ROOT, context_paths, ignore_file, missing_sources, parse

DIGEST_PINNED = re.compile(r"^[\w.\-/]+:[\w.\-]+@sha256:[0-9a-f]{64}$")


@pytest.fixture(params=DOCKERFILES)
def dockerfile(request):
    return parse(ROOT / request.param)


def test_every_copy_source_is_in_the_build_context(dockerfile) -> None:
    assert dockerfile.copies, f"{dockerfile.name} copies nothing"
    missing = missing_sources(dockerfile)
    assert not missing, (
        f"{dockerfile.name}: the build context ({ignore_file(dockerfile.path).name}) leaves out "
        f"what its COPY lines need: {missing}"
    )


def test_the_context_holds_no_secrets_or_local_state(dockerfile) -> None:
    """Whatever the ignore file admits is uploaded to Cloud Build: never a venv, node_modules,
    git history, terraform state or a local .env."""
    for path in context_paths(dockerfile.path):
        first = path.split("/")[0]
        assert first not in {".git", ".venv", "node_modules", "terraform", ".env", ".bale", "tests"}, path
        assert "__pycache__" not in path.split("/"), path


def _pip_installs(dockerfile) -> list[list[str]]:
    """The argument lists of every `pip install` the image runs."""
    found = []
    for run in dockerfile.runs:
        for command in re.split(r"&&|;|\|\|", run):
            words = shlex.split(command)
            for i in range(len(words) - 1):
                if PurePosixPath(words[i]).name.startswith("pip") and words[i + 1] == "install":
                    found.append(words[i + 2 :])
                    break
                if words[i : i + 3] == ["-m", "pip", "install"]:
                    found.append(words[i + 3 :])
                    break
    return found


def test_every_image_installs_from_hashed_requirements(dockerfile) -> None:
    """Each pip install is either a hashed lock (`--require-hashes -r FILE`, FILE copied from the
    repository, every requirement in it pinned with a hash) or the project itself with
    `--no-deps`: nothing is resolved at build time."""
    installs = _pip_installs(dockerfile)
    assert installs, f"{dockerfile.name} installs nothing with pip"
    copied = {
        str(PurePosixPath(c.workdir, c.dest, PurePosixPath(s).name) if c.dest.endswith("/") else c.dest): s
        for c in dockerfile.copies
        for s in c.sources
    }
    locks = 0
    for args in installs:
        if "--require-hashes" in args:
            assert "-r" in args, args
            target = args[args.index("-r") + 1]
            dest = str(PurePosixPath(dockerfile.workdir, target))
            assert dest in copied, f"{dockerfile.name}: {target} is not copied from the repository"
            lock = (ROOT / copied[dest]).read_text()
            entries = re.split(r"\n(?=\S)", lock)
            pins = [e for e in entries if e.strip() and not e.startswith("#")]
            assert pins and all(re.match(r"^[A-Za-z0-9_.\-\[\],]+==\S+", e) for e in pins), copied[dest]
            assert all("--hash=sha256:" in e for e in pins), f"{copied[dest]}: a requirement has no hash"
            locks += 1
        else:
            assert "--no-deps" in args, (
                f"{dockerfile.name}: pip install {shlex.join(args)} resolves dependencies"
            )
            assert not [a for a in args if not a.startswith("-")] or all(
                a in (".", "./") for a in args if not a.startswith("-")
            ), f"{dockerfile.name}: only the project itself installs without hashes: {args}"
    assert locks == 1, f"{dockerfile.name}: one hashed lock per image, found {locks}"


def test_base_image_is_pinned_by_digest(dockerfile) -> None:
    assert DIGEST_PINNED.match(dockerfile.base), f"{dockerfile.name}: FROM {dockerfile.base}"


def test_the_build_commands_in_the_headers_are_valid() -> None:
    """Each Dockerfile's header says how to build it from the repository root; `gcloud builds
    submit` has no -f, so the header names `docker build -f` (what cloudbuild.yaml runs)."""
    for name in DOCKERFILES:
        header = (ROOT / name).read_text().split("\nFROM ", 1)[0]
        assert "gcloud builds submit" not in header or " -f " not in header.split("gcloud builds submit")[1]
        assert re.search(rf"docker build[^\n]* -f {re.escape(name)}( [^\n]*)? \.$", header, re.M), name

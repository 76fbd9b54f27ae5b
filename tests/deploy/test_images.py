"""The images' build contexts and what the Dockerfiles install, checked without a Docker engine.

The build context is computed with Docker's own ``.dockerignore`` matcher (the ``docker``
package's), so a COPY line that names an excluded file fails here rather than in Cloud Build.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml

from dockerfiles import DOCKERFILES, ROOT, context_paths, ignore_file, missing_sources, parse, tracked_files

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


def _cloudbuild_steps() -> list[list[str]]:
    """The `docker build` argument lists of cloudbuild.yaml (what make deploy submits)."""
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return [step["args"][1:] for step in config["steps"] if step.get("args", [None])[0] == "build"]


def _dockerfile_of(args: list[str]) -> str:
    for i, arg in enumerate(args):
        if arg.startswith("--file="):
            return arg.split("=", 1)[1]
        if arg in ("-f", "--file"):
            return args[i + 1]
    return "Dockerfile"


def test_cloud_build_builds_each_image_from_the_context_tested_here() -> None:
    """cloudbuild.yaml builds every Dockerfile, each from the repository root: the context
    whose contents the tests above check."""
    steps = _cloudbuild_steps()
    assert sorted(_dockerfile_of(args) for args in steps) == sorted(DOCKERFILES)
    for args in steps:
        assert args[-1] == ".", args


def test_gcloud_uploads_what_the_builds_need_and_nothing_else() -> None:
    """`gcloud builds submit` uploads the directory as .gcloudignore filters it (gcloud's own
    rules, asked of gcloud): every file either image's context needs, and none of the operator's
    Terraform state, tfvars, caches or venvs."""
    gcloud = shutil.which("gcloud")
    assert gcloud, "the Google Cloud CLI is part of CI's machine (.ci/run)"
    listed = subprocess.run(
        [gcloud, "meta", "list-files-for-upload", str(ROOT)], check=True, capture_output=True, text=True
    ).stdout.split()
    uploaded = set(listed)
    needed = {"cloudbuild.yaml", ".dockerignore", *DOCKERFILES}
    for name in DOCKERFILES:
        for copy in parse(ROOT / name).copies:
            for source in copy.sources:
                needed |= set(tracked_files(source.rstrip("/")))
    assert not needed - uploaded, sorted(needed - uploaded)
    for path in uploaded:
        assert path.split("/")[0] in {"functions", "web", *needed}, f"uploaded to Cloud Build: {path}"
        assert "__pycache__" not in path and not path.endswith(".pyc"), path

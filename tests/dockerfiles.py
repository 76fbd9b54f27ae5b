"""Read the repository's Dockerfiles the way Docker does, without a Docker engine.

What the tests need from an image, short of building it: its instructions (FROM, ENV, WORKDIR,
COPY, RUN, CMD), its build context under Docker's own ``.dockerignore`` rules (the matcher of
the ``docker`` package, not a copy of it), and that context laid out in a directory the way the
COPY lines would lay it out in the image, so the image's CMD can be run from it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[1]
#: Every image, by its Dockerfile; all build from the repository root as their context
#: (`docker build -f Dockerfile.upload .`, `docker build -f Dockerfile .`).
DOCKERFILES = ("Dockerfile", "Dockerfile.upload")


@dataclasses.dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str
    workdir: str


@dataclasses.dataclass
class Dockerfile:
    path: Path
    base: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    workdir: str = "/"
    copies: list[Copy] = dataclasses.field(default_factory=list)
    runs: list[str] = dataclasses.field(default_factory=list)
    #: Shell form as one string (Docker runs it with /bin/sh -c), exec form as a list.
    cmd: str | list[str] | None = None
    user: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comment lines dropped
    (Docker drops a comment line even in the middle of a continued instruction)."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def _words(args: str) -> list[str]:
    if args.startswith("["):
        return list(json.loads(args))
    return shlex.split(args)


def parse(path: Path) -> Dockerfile:
    df = Dockerfile(path=path)
    stages = 0
    for keyword, args in instructions(path.read_text()):
        if keyword == "FROM":
            stages += 1
            assert stages == 1, f"{path.name}: teach tests/dockerfiles.py about multi-stage builds"
            df.base = args.split()[0]
        elif keyword == "ENV":
            words = shlex.split(args)
            if len(words) >= 2 and "=" not in words[0]:  # legacy `ENV KEY value`
                df.env[words[0]] = " ".join(words[1:])
            else:
                df.env.update(w.split("=", 1) for w in words)
        elif keyword == "WORKDIR":
            df.workdir = str(PurePosixPath(df.workdir, args))
        elif keyword in ("COPY", "ADD"):
            words = [w for w in _words(args) if not w.startswith("--")]
            assert len(words) >= 2, f"{path.name}: {keyword} {args}"
            df.copies.append(Copy(tuple(words[:-1]), words[-1], df.workdir))
        elif keyword == "RUN":
            df.runs.append(args)
        elif keyword == "CMD":
            df.cmd = json.loads(args) if args.startswith("[") else args
        elif keyword == "USER":
            df.user = args
    return df


def ignore_file(dockerfile: Path, context: Path = ROOT) -> Path:
    """The ignore file a build of ``dockerfile`` reads. BuildKit prefers
    ``<Dockerfile>.dockerignore`` next to the Dockerfile; both builders read the context's
    ``.dockerignore`` otherwise."""
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return own if own.exists() else context / ".dockerignore"


def ignore_patterns(path: Path) -> list[str]:
    """The patterns of an ignore file, read as the docker package's APIClient.build reads them."""
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_paths(dockerfile: Path, context: Path = ROOT) -> set[str]:
    """Every path (files and directories, relative, '/'-separated) Docker would send as the
    build context of ``dockerfile``."""
    patterns = ignore_patterns(ignore_file(dockerfile, context))
    return set(exclude_paths(str(context), patterns, dockerfile=dockerfile.relative_to(context).as_posix()))


def tracked_files(under: str, context: Path = ROOT) -> list[str]:
    """Files git tracks under a path: what a clean clone (CI, Cloud Build) has there."""
    out = subprocess.run(
        ["git", "-C", str(context), "ls-files", "-z", "--", under],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [p for p in out.split("\0") if p]


def missing_sources(df: Dockerfile, context: Path = ROOT) -> list[str]:
    """COPY/ADD sources the build context lacks: a source that is excluded, and each file git
    tracks under a directory source that the context leaves out (Docker would copy the
    directory without it, and the image would fail only when it ran)."""
    paths = context_paths(df.path, context)
    missing = []
    for copy in df.copies:
        for source in copy.sources:
            tracked = tracked_files(source.rstrip("/") or ".", context)
            assert tracked, f"{df.name}: COPY {source} names nothing git tracks"
            missing += [p for p in tracked if p not in paths]
    return missing


def lay_out(df: Dockerfile, into: Path, context: Path = ROOT) -> Path:
    """Copy the build context into ``into`` as the COPY lines place it in the image (``into``
    standing for the image's /), and return the directory standing for its WORKDIR."""
    paths = context_paths(df.path, context)
    for copy in df.copies:
        dest = PurePosixPath(copy.workdir, copy.dest)
        for source in copy.sources:
            src = source.rstrip("/")
            if (context / src).is_dir():
                # Docker copies a directory's contents, not the directory itself.
                prefix = src + "/"
                for rel in sorted(p for p in paths if p.startswith(prefix)):
                    if (context / rel).is_file():
                        _copy_file(context / rel, into, dest / rel[len(prefix) :])
            elif src in paths:
                target = dest / PurePosixPath(src).name if copy.dest.endswith("/") else dest
                _copy_file(context / src, into, target)
    return into / df.workdir.lstrip("/")


def _copy_file(src: Path, root: Path, dest: PurePosixPath) -> None:
    target = root / str(dest).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, target)

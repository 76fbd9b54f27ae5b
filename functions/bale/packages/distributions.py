"""Checking distribution files: filenames, archives, core metadata, classifiers.

Everything a registry must refuse is refused here with a message that names
the problem; ``packaging`` and ``trove-classifiers`` do the parsing.
"""

from __future__ import annotations

import dataclasses
import re
import tarfile
import zipfile
from typing import IO

import trove_classifiers
from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from bale.errors import BadRequest

normalize = canonicalize_name
_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*\Z")  # \Z: "$" would let a trailing newline through
MAX_FILENAME = 255
MAX_METADATA = 4 * 1024 * 1024


@dataclasses.dataclass
class ParsedFilename:
    filename: str
    project: str  # normalized
    version: Version
    packagetype: str  # bdist_wheel | sdist
    python_tag: str
    archive: str  # zip | tar.gz


@dataclasses.dataclass
class Distribution:
    metadata: Metadata
    raw_metadata: bytes


def check_filename(filename: str) -> str:
    """A bare, safe filename: no directories, no control characters, no surprises."""
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        raise BadRequest(f"Invalid filename {filename!r}: it must not contain a path.")
    if len(filename) > MAX_FILENAME or not _SAFE_FILENAME.match(filename):
        raise BadRequest(f"Invalid filename {filename!r}: use letters, digits and . _ + ! - only.")
    return filename


def parse_filename(filename: str) -> ParsedFilename:
    if filename.endswith(".whl"):
        try:
            name, version, _build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise BadRequest(f"Invalid wheel filename {filename!r}: {exc}") from None
        pythons = sorted({t.interpreter for t in tags})
        return ParsedFilename(filename, name, version, "bdist_wheel", ".".join(pythons), "zip")
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except (InvalidSdistFilename, InvalidVersion) as exc:
            raise BadRequest(f"Invalid sdist filename {filename!r}: {exc}") from None
        return ParsedFilename(
            filename, name, version, "sdist", "source", "zip" if filename.endswith(".zip") else "tar.gz"
        )
    raise BadRequest(
        f"Invalid distribution file {filename!r}: upload a wheel (.whl) or an sdist (.tar.gz)."
    )


def _check_sizes(total: int, size: int, max_uncompressed: int, max_ratio: int, filename: str) -> None:
    if total > max_uncompressed:
        raise BadRequest(
            f"{filename} is too large when unpacked ({total} bytes; the limit is {max_uncompressed})."
        )
    if size and total > 1024 * 1024 and total / size > max_ratio:
        raise BadRequest(
            f"{filename} looks like a decompression bomb (it expands {total // size}-fold; "
            f"the limit is {max_ratio})."
        )


def _read_limited(fh: IO[bytes], limit: int, what: str) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadRequest(f"{what} is larger than {limit} bytes.")
    return data


def _open_zip(fh, parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int, kind: str):
    """Open a zip archive and check what it would unpack to: total size, ratio, safe paths."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadRequest(f"{parsed.filename} is not a valid {kind}: the zip archive cannot be read ({exc}).") from None
    infos = zf.infolist()
    _check_sizes(sum(i.file_size for i in infos), size, max_uncompressed, max_ratio, parsed.filename)
    seen: set[str] = set()
    for i in infos:
        if i.filename.startswith("/") or ".." in i.filename.split("/"):
            zf.close()
            raise BadRequest(f"{parsed.filename} contains an unsafe path {i.filename!r}.")
        # Two entries under one name: tools disagree on which one counts (a "zip confusion"),
        # so what was checked here might not be what an installer unpacks.
        if i.filename in seen:
            zf.close()
            raise BadRequest(f"{parsed.filename} contains more than one entry named {i.filename!r}.")
        seen.add(i.filename)
    return zf, infos


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, parsed: ParsedFilename, what: str) -> bytes:
    try:
        with zf.open(info) as m:
            return _read_limited(m, MAX_METADATA, what)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BadRequest(f"{parsed.filename}: {what} cannot be read ({exc}).") from None


def _wheel_metadata(fh, parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int) -> tuple[bytes, set[str]]:
    """The wheel's METADATA, and the paths under its ``.dist-info/licenses/`` (PEP 639)."""
    zf, infos = _open_zip(fh, parsed, size, max_uncompressed, max_ratio, "wheel")
    with zf:
        candidates = [i for i in infos if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
        if len(candidates) != 1:
            raise BadRequest(
                f"{parsed.filename} is not a valid wheel: it must contain exactly one .dist-info/METADATA "
                f"(found {len(candidates)})."
            )
        dist_info = candidates[0].filename.split("/")[0][: -len(".dist-info")]
        dname, _, dver = dist_info.partition("-")
        if canonicalize_name(dname) != parsed.project or canonicalize_version(dver) != canonicalize_version(parsed.version):
            raise BadRequest(
                f"{parsed.filename}: its .dist-info directory {dist_info!r} does not match the filename."
            )
        licenses = f"{dist_info}.dist-info/licenses/"
        present = {i.filename[len(licenses):] for i in infos if i.filename.startswith(licenses) and not i.is_dir()}
        return _read_zip_member(zf, candidates[0], parsed, "METADATA"), present


def _under(root: str, names) -> set[str]:
    """The paths of the files below an sdist's top-level directory, relative to it."""
    prefix = root + "/"
    return {n[len(prefix):] for n in names if n.startswith(prefix)}


def _sdist_metadata(fh, parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int) -> tuple[bytes, set[str]]:
    """The sdist's PKG-INFO, and the paths of the files beside it (for License-File)."""
    if parsed.archive == "zip":
        zf, infos = _open_zip(fh, parsed, size, max_uncompressed, max_ratio, "zip sdist")
        with zf:
            pkg = [i for i in infos if re.fullmatch(r"[^/]+/PKG-INFO", i.filename)]
            if len(pkg) != 1:
                raise BadRequest(f"{parsed.filename}: an sdist must contain exactly one top-level PKG-INFO (found {len(pkg)}).")
            root = pkg[0].filename.split("/")[0]
            return _read_zip_member(zf, pkg[0], parsed, "PKG-INFO"), _under(root, (i.filename for i in infos if not i.is_dir()))
    found: list[bytes] = []
    roots: list[str] = []
    names: list[str] = []
    total = 0
    try:
        # Stream mode ("r|gz") reads the archive once, front to back, counting what it expands to
        # and giving up as soon as the total passes the limit.
        with tarfile.open(fileobj=fh, mode="r|gz") as tf:
            for member in tf:
                total += member.size
                _check_sizes(total, size, max_uncompressed, max_ratio, parsed.filename)
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    raise BadRequest(f"{parsed.filename} contains an unsafe path {member.name!r}.")
                name = member.name.removeprefix("./")
                if member.isfile() or member.islnk() or member.issym():
                    names.append(name)
                if member.isfile() and re.fullmatch(r"[^/]+/PKG-INFO", name):
                    extracted = tf.extractfile(member)
                    found.append(_read_limited(extracted, MAX_METADATA, "PKG-INFO"))
                    roots.append(name.split("/")[0])
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BadRequest(f"{parsed.filename} is not a valid .tar.gz archive ({exc}).") from None
    if len(found) != 1:
        raise BadRequest(f"{parsed.filename}: an sdist must contain exactly one top-level PKG-INFO (found {len(found)}).")
    return found[0], _under(roots[0], names)


def parse_metadata(raw: bytes, filename: str) -> Metadata:
    try:
        return Metadata.from_email(raw, validate=True)
    except ExceptionGroup as group:
        problems = "; ".join(str(e) for e in group.exceptions)
        if "license-file introduced in metadata version 2.4" in problems:
            # setuptools before 77 wrote License-File under Metadata-Version 2.1/2.2.
            problems += " (setuptools older than 77 writes this: build with setuptools>=77)"
        raise BadRequest(f"{filename} has invalid metadata: {problems}") from None
    except InvalidMetadata as exc:
        raise BadRequest(f"{filename} has invalid metadata: {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{filename} has unreadable metadata: {exc}") from None


def inspect(fh, parsed: ParsedFilename, *, size: int, max_uncompressed: int, max_ratio: int) -> Distribution:
    """Open the archive, read its core metadata and check it matches the filename."""
    fh.seek(0)
    try:
        if parsed.packagetype == "bdist_wheel":
            raw, present = _wheel_metadata(fh, parsed, size, max_uncompressed, max_ratio)
        else:
            raw, present = _sdist_metadata(fh, parsed, size, max_uncompressed, max_ratio)
    finally:
        fh.seek(0)
    meta = parse_metadata(raw, parsed.filename)
    if canonicalize_name(meta.name) != parsed.project:
        raise BadRequest(
            f"{parsed.filename}: the name in its metadata ({meta.name!r}) does not match the filename."
        )
    if meta.version != parsed.version:
        raise BadRequest(
            f"{parsed.filename}: the version in its metadata ({meta.version}) does not match the filename "
            f"({parsed.version})."
        )
    _check_license_files(meta, present, parsed)
    return Distribution(meta, raw)


def _check_license_files(meta: Metadata, present: set[str], parsed: ParsedFilename) -> None:
    """Every License-File must be in the archive (PEP 639): below ``.dist-info/licenses/`` in a
    wheel, beside PKG-INFO in an sdist. (``packaging`` already refuses the field before 2.4.)"""
    where = ".dist-info/licenses/" if parsed.packagetype == "bdist_wheel" else "the sdist's top-level directory"
    for path in meta.license_files or []:
        if path not in present:
            raise BadRequest(
                f"{parsed.filename}: License-File {path!r} is named in its metadata but is not in "
                f"{where} of the archive."
            )


def check_form_agrees(form, dist: Distribution) -> None:
    """Form fields, when sent, must say what the archive says."""
    meta = dist.metadata
    name = form.get("name", "").strip()
    if name and canonicalize_name(name) != canonicalize_name(meta.name):
        raise BadRequest(f"The form's name {name!r} does not match the file's metadata ({meta.name!r}).")
    version = form.get("version", "").strip()
    if version:
        try:
            ok = Version(version) == meta.version
        except InvalidVersion:
            raise BadRequest(f"Invalid version {version!r}: it is not a PEP 440 version.") from None
        if not ok:
            raise BadRequest(f"The form's version {version!r} does not match the file's metadata ({meta.version}).")
    filetype = form.get("filetype", "").strip()
    if filetype and filetype not in ("bdist_wheel", "sdist"):
        raise BadRequest(f"Unsupported filetype {filetype!r}: only bdist_wheel and sdist are accepted.")


def check_classifiers(classifiers: list[str], *, team: str, namespace: str) -> None:
    """Known trove classifiers, plus this registry's private ones.

    ``Private :: <ns>`` may go anywhere on this registry; ``Private :: <ns> :: <team>`` only to
    that team; any other ``Private ::`` classifier (``Do Not Upload`` among them) is refused,
    because it says the author did not mean the package to be published here.
    """
    for c in classifiers:
        c = c.strip()
        parts = [p.strip() for p in c.split("::")]
        if parts[0] == "Private":
            if parts == ["Private", namespace]:
                continue
            if len(parts) == 3 and parts[1] == namespace:
                if parts[2] == team:
                    continue
                raise BadRequest(
                    f"Classifier {c!r} keeps this package inside team {parts[2]!r}; "
                    f"it cannot be uploaded to team {team!r}."
                )
            raise BadRequest(
                f"Classifier {c!r} marks this package as not for upload here; "
                f"use 'Private :: {namespace}' or 'Private :: {namespace} :: {team}'."
            )
        if c in trove_classifiers.deprecated_classifiers:
            raise BadRequest(f"Classifier {c!r} is deprecated; see https://pypi.org/classifiers/.")
        if c not in trove_classifiers.classifiers:
            raise BadRequest(f"Classifier {c!r} is not a valid classifier; see https://pypi.org/classifiers/.")


def summary(meta: Metadata) -> dict:
    """The metadata the dashboard shows, JSON/Firestore friendly."""
    out = {
        "metadata_version": meta.metadata_version,
        "summary": meta.summary,
        "description": (meta.description or "")[:200_000] or None,
        "description_content_type": meta.description_content_type,
        "author": meta.author,
        "author_email": meta.author_email,
        "license": meta.license,
        "license_expression": meta.license_expression,
        "home_page": meta.home_page,
        "requires_python": str(meta.requires_python) if meta.requires_python else None,
        "requires_dist": [str(r) for r in meta.requires_dist or []],
        "classifiers": list(meta.classifiers or []),
        "project_urls": dict(meta.project_urls or {}),
        "keywords": list(meta.keywords or []),
    }
    return {k: v for k, v in out.items() if v not in (None, [], {})}

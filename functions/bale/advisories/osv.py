"""OSV records for PyPI (pypa/advisory-database's YAML, OSV's JSON and its all.zip), pure.

A record is checked whole before it is kept: one that is malformed is refused with the reason,
and the others still load. What is kept is a compact summary per project, the shape the
per-project document in Firestore stores (see :mod:`bale.advisories.service`), so matching a
release needs no more than that document.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from bale.errors import BadRequest
from bale.names import validate_project

#: The largest record read (OSV's largest PyPI records are tens of kB): a bigger member of a zip is
#: refused without being inflated, so a crafted export cannot exhaust memory.
MAX_RECORD_BYTES = 4 * 1024 * 1024

#: The most members an export may have: OSV's PyPI export has tens of thousands. zipfile reads
#: the whole central directory up front, some 400 bytes of memory a member, so a crafted export
#: of tiny members within the download's size cap (a million in 104 MB took the refresh to
#: 937 MiB) would exhaust memory before the first record is read; it is counted first.
MAX_MEMBERS = 250_000

#: The severities read from a record, newest CVSS version first.
_CVSS = ("CVSS_V4", "CVSS_V3")


class Malformed(ValueError):
    """A record that cannot be used; the message says why."""


@dataclasses.dataclass
class Affected:
    """One record's verdict for one project: the ranges (``[introduced, fixed, last_affected]``,
    each a version or None) and the versions it names."""

    ranges: list[list[str | None]]
    versions: list[str]

    def affects(self, version: str) -> bool:
        try:
            v = Version(version)
        except InvalidVersion:
            return version in self.versions
        if any(_same(v, x) for x in self.versions):
            return True
        for introduced, fixed, last in self.ranges:
            if introduced not in (None, "0") and v < Version(introduced):
                continue
            if fixed is not None and v >= Version(fixed):
                continue
            if last is not None and v > Version(last):
                continue
            return True
        return False


def _same(v: Version, other: str) -> bool:
    try:
        return Version(other) == v
    except InvalidVersion:
        return False


@dataclasses.dataclass
class Advisory:
    id: str
    aliases: list[str]
    summary: str
    score: float | None  # CVSS base score, None when the record gives no vector
    url: str
    affected: dict[str, Affected]  # canonical project name -> what is affected

    def for_project(self, project: str) -> dict[str, Any]:
        """The stored form for one project (the per-project summary holds a list of these)."""
        a = self.affected[project]
        return {
            "id": self.id,
            "aliases": self.aliases,
            "summary": self.summary,
            "score": self.score,
            "url": self.url,
            "ranges": [{"introduced": r[0], "fixed": r[1], "last_affected": r[2]} for r in a.ranges],
            "versions": a.versions,
        }


def stored_affects(entry: dict[str, Any], version: str) -> bool:
    """Whether a stored advisory (:meth:`Advisory.for_project`, or a team's private one with
    its PEP 440 ``specifier``) affects ``version``."""
    spec = entry.get("specifier")
    if spec and _in_specifier(spec, version):
        return True
    ranges = [[r.get("introduced"), r.get("fixed"), r.get("last_affected")] for r in entry.get("ranges", [])]
    return Affected(ranges, list(entry.get("versions", []))).affects(version)


def _in_specifier(spec: str, version: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        # prereleases=True: an advisory for "<1.4.2" covers 1.4.0rc1 too, whatever installers
        # would pick by default.
        return SpecifierSet(spec).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def score_of(severity: Any) -> float | None:
    """The CVSS base score of a record's ``severity`` list (v4 preferred), through ``cvss``."""
    from cvss import CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    if severity is None:
        return None
    if not isinstance(severity, list):
        raise Malformed("severity is not a list")
    by_type = {s.get("type"): s.get("score") for s in severity if isinstance(s, dict)}
    for kind in _CVSS:
        vector = by_type.get(kind)
        if vector is None:
            continue
        if not isinstance(vector, str):
            raise Malformed(f"{kind} score is not a vector string")
        try:
            return float(CVSS4(vector).base_score) if kind == "CVSS_V4" else float(CVSS3(vector).scores()[0])
        except (CVSSError, ValueError, KeyError) as exc:
            raise Malformed(f"invalid {kind} vector {vector!r}: {exc}") from None
    return None


def _version(value: Any, what: str) -> str:
    if not isinstance(value, str | int | float):
        raise Malformed(f"{what} is not a version")
    text = str(value)
    if text == "0":
        return text
    try:
        Version(text)
    except InvalidVersion:
        raise Malformed(f"{what} {text!r} is not a PEP 440 version") from None
    return text


def _ranges(ranges: Any) -> list[list[str | None]]:
    if ranges is None:
        return []
    if not isinstance(ranges, list):
        raise Malformed("ranges is not a list")
    out: list[list[str | None]] = []
    for r in ranges:
        if not isinstance(r, dict) or not isinstance(r.get("events"), list):
            raise Malformed("a range has no events list")
        if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not releases
        current: list[str | None] | None = None
        for ev in r["events"]:
            if not isinstance(ev, dict) or len(ev) != 1:
                raise Malformed("a range event is not one of introduced/fixed/last_affected")
            ((kind, value),) = ev.items()
            if kind == "introduced":
                if current is not None:
                    out.append(current)
                current = [_version(value, "introduced"), None, None]
            elif kind in ("fixed", "last_affected"):
                if current is None:
                    raise Malformed(f"{kind} before any introduced")
                current[1 if kind == "fixed" else 2] = _version(value, kind)
                out.append(current)
                current = None
            elif kind != "limit":
                raise Malformed(f"unknown range event {kind!r}")
        if current is not None:
            out.append(current)
    return out


def parse(record: Any) -> Advisory:
    """An OSV record as an Advisory for its PyPI packages; Malformed says why it cannot be."""
    if not isinstance(record, dict):
        raise Malformed("not an object")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise Malformed("no id")
    affected_raw = record.get("affected")
    if not isinstance(affected_raw, list) or not affected_raw:
        raise Malformed("no affected list")
    affected: dict[str, Affected] = {}
    for a in affected_raw:
        if not isinstance(a, dict) or not isinstance(a.get("package"), dict):
            raise Malformed("an affected entry has no package")
        pkg = a["package"]
        if pkg.get("ecosystem") != "PyPI":
            continue
        if not isinstance(pkg.get("name"), str):
            raise Malformed("a PyPI package has no name")
        versions = a.get("versions") or []
        if not isinstance(versions, list):
            raise Malformed("versions is not a list")
        # The name becomes a document id (advisories/{project}): one PyPI could not have, such
        # as "../x" or "a/b/c", would fail the whole load or land in another collection.
        try:
            name = validate_project(pkg["name"])
        except BadRequest:
            raise Malformed(f"{pkg['name'][:100]!r} is not a PyPI project name") from None
        entry = affected.setdefault(name, Affected([], []))
        entry.ranges.extend(_ranges(a.get("ranges")))
        entry.versions.extend(str(v) for v in versions)
    if not affected:
        raise Malformed("no PyPI package among the affected")
    aliases = record.get("aliases") or []
    summary = record.get("summary") or record.get("details") or ""
    if not isinstance(aliases, list) or not isinstance(summary, str):
        raise Malformed("aliases or summary of the wrong type")
    refs = [r.get("url") for r in record.get("references") or [] if isinstance(r, dict)]
    url = next((u for u in refs if isinstance(u, str) and u.startswith("https://")), "")
    return Advisory(
        id=rid.strip(),
        aliases=[str(x) for x in aliases],
        summary=" ".join(summary.split())[:300],
        score=score_of(record.get("severity")),
        url=url or f"https://osv.dev/vulnerability/{rid.strip()}",
        affected=affected,
    )


def records(source: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed document or the error text) for each record in a file, a directory of
    them, or a zip (OSV's all.zip); a document that does not parse is yielded as an exception."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
                yield str(path.relative_to(source)), _load(path.name, path.read_bytes())
        return
    if zipfile.is_zipfile(source):
        # Read from the file one member at a time: OSV's PyPI export is tens of MB, and only
        # the record being parsed is held (the central directory is read once, up front).
        with zipfile.ZipFile(source) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                name = info.filename
                if not name.endswith((".json", ".yaml", ".yml")):
                    continue
                if info.file_size > MAX_RECORD_BYTES:
                    yield name, Malformed(f"larger than {MAX_RECORD_BYTES} bytes uncompressed")
                    continue
                # A bounded read: zipfile's whole-member read() inflates up to 2 GiB in one
                # step before cutting it to the declared size, so a member that lies about its
                # size would be inflated whole. Read in steps, it stops at the declared size
                # (and then fails its CRC, as a damaged member does).
                with zf.open(info) as member:
                    data = member.read(MAX_RECORD_BYTES + 1)
                yield name, _load(name, data)
        return
    if source.stat().st_size > MAX_RECORD_BYTES:
        yield source.name, Malformed(f"larger than {MAX_RECORD_BYTES} bytes")
        return
    yield source.name, _load(source.name, source.read_bytes())


def zip_members(path: Path) -> int | None:
    """How many members a zip says it has, from its end-of-central-directory record (zip64's
    when the count overflows 16 bits), read without reading the central directory; None when
    there is no such record (not a zip)."""
    import struct

    with path.open("rb") as f:
        size = f.seek(0, 2)
        tail_at = max(0, size - (22 + 0xFFFF))  # the record and the longest comment
        f.seek(tail_at)
        tail = f.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) - end < 22:
            return None
        (count,) = struct.unpack_from("<H", tail, end + 10)
        locator = end - 20
        if count != 0xFFFF or locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
            return int(count)
        (record_at,) = struct.unpack_from("<Q", tail, locator + 8)
        f.seek(record_at)
        record = f.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            return None
        return int(struct.unpack_from("<Q", record, 32)[0])


def _load(name: str, data: bytes) -> Any:
    import yaml

    try:
        if name.endswith(".json"):
            return json.loads(data)
        return yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        return Malformed(f"unreadable: {str(exc).splitlines()[0]}")
    except RecursionError:
        # Both parsers recurse per level: a record nested a few thousand deep is one bad
        # record, not a reason to load none of the others.
        return Malformed("unreadable: nested deeper than any record is")

"""Checking distribution files: filenames, archives, core metadata, classifiers.

Everything a registry must refuse is refused here with a message that names
the problem; ``packaging`` and ``trove-classifiers`` do the parsing.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import posixpath
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Protocol

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
from bale.names import check_filename as check_filename  # re-exported: uploads check here

normalize = canonicalize_name
MAX_METADATA = 4 * 1024 * 1024
#: Most entries an archive may hold. Real sdists and wheels stay far below this (the largest on
#: PyPI hold some tens of thousands of files); the cap bounds the memory spent on the listing.
MAX_MEMBERS = 100_000
#: Largest pax extended header or GNU long (link) name record in a tar. ``tarfile`` reads each
#: wholly into memory before we see the member, so a bigger one is refused from its header.
MAX_HEADER_RECORD = 64 * 1024
#: Longest member or link name (PATH_MAX).
MAX_NAME = 4096
#: Most extended headers in a row before a member: ``tarfile`` handles each chained one by
#: recursing, and real archives use at most a pax header plus GNU long name and link records.
MAX_HEADER_CHAIN = 8
_CHUNK = 64 * 1024
#: What reading a damaged archive raises from zipfile, tarfile, gzip and zlib, and only that:
#: BadZipFile/TarError for bad structure, OSError/EOFError/ValueError for bad or short headers
#: (gzip's BadGzipFile is an OSError), zlib.error for a corrupt deflate stream, struct.error for
#: a short record, NotImplementedError for a zip "version" or compression method zipfile lacks.
#: Other exceptions are bugs of ours and stay 500s.
_ARCHIVE_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    struct.error,
    NotImplementedError,
)
#: tarfile handles chained extended headers by recursing (MAX_HEADER_CHAIN bounds the chain).
_TAR_ERRORS: tuple[type[Exception], ...] = (*_ARCHIVE_ERRORS, RecursionError)


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
    raise BadRequest(f"Invalid distribution file {filename!r}: upload a wheel (.whl) or an sdist (.tar.gz).")


def normalized_filename(parsed: ParsedFilename) -> str:
    """The name ``parsed`` should have had: the project name normalized as the binary
    distribution format asks of wheels (lowercase, each run of ``-_.`` as ``_``), and for an
    sdist also the normalized version, as PEP 625 asks. A wheel keeps its version and tags as
    written: PyPI compares a wheel's version with its metadata's, not its spelling."""
    prefix = parsed.project.replace("-", "_")
    if parsed.packagetype == "bdist_wheel":
        return prefix + parsed.filename[parsed.filename.index("-") :]
    return f"{prefix}-{parsed.version}.{parsed.archive}"


def check_normalized_filename(parsed: ParsedFilename) -> None:
    """Refuse a filename that is not written as :func:`normalized_filename` says, as PyPI does.
    uv skips such files when it reads a page while pip takes them, so the two would install
    from different sets of files (and two wheels could carry the same tags)."""
    expected = normalized_filename(parsed)
    if parsed.filename == expected:
        return
    wheel = parsed.packagetype == "bdist_wheel"
    stem = parsed.filename[: -len(parsed.archive) - 1]
    given = stem.partition("-")[0] if wheel else stem.rpartition("-")[0]
    prefix = parsed.project.replace("-", "_")
    rule = (
        "a wheel's name starts with the normalized project name"
        if wheel
        else "an sdist is named by the normalized project name and version, PEP 625"
    )
    if given != prefix:
        raise BadRequest(
            f"Start the filename for {given!r} with {prefix!r}: rename {parsed.filename!r} to "
            f"{expected!r} ({rule})."
        )
    raise BadRequest(f"Rename {parsed.filename!r} to {expected!r} ({rule}).")


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


class _Budget:
    """What an archive really unpacks to, counted as it is decompressed (headers included), so
    an archive that lies about its sizes is stopped as soon as it passes a limit."""

    def __init__(self, size: int, max_uncompressed: int, max_ratio: int, filename: str):
        self.size, self.max_uncompressed, self.max_ratio, self.filename = (
            size,
            max_uncompressed,
            max_ratio,
            filename,
        )
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        _check_sizes(self.total, self.size, self.max_uncompressed, self.max_ratio, self.filename)


def _read_limited(fh: IO[bytes], limit: int, what: str) -> bytes:
    # In chunks: a single huge read() is what the tar stream refuses as a header bomb.
    parts, got = [], 0
    while got <= limit and (chunk := fh.read(min(_CHUNK, limit + 1 - got))):
        parts.append(chunk)
        got += len(chunk)
    if got > limit:
        raise BadRequest(f"{what} is larger than {limit} bytes.")
    return b"".join(parts)


def _unsafe_name(name: str) -> bool:
    """Absolute, drive-relative, with a ``..`` component or a NUL: never a path inside the archive."""
    return (
        not name
        or name.startswith(("/", "\\"))
        or re.match(r"[A-Za-z]:", name) is not None
        or "\0" in name
        or ".." in re.split(r"[/\\]", name)
    )


# ---------------------------------------------------------------------------------------------
# Zip archives (wheels, zip sdists)

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_FLAG_ENCRYPTED, _FLAG_DESCRIPTOR, _FLAG_UTF8 = 0x1, 0x8, 0x800


@dataclasses.dataclass
class _ZipLayout:
    cd_offset: int
    cd_size: int
    entries: int


def _zip_layout(fh: IO[bytes], size: int, filename: str, kind: str) -> _ZipLayout:
    """Find the end records as ``zipfile`` does, and check that they, the central directory and
    the end of the file agree: no bytes after the comment, none moved in front of the archive
    (``zipfile`` silently tolerates both), no more than MAX_MEMBERS entries.

    Walks the central directory itself before ``zipfile`` does, so a directory of millions of
    tiny entries is refused before millions of ZipInfo objects are built."""

    def bad(why: str) -> BadRequest:
        return BadRequest(f"{filename} is not a valid {kind}: {why}.")

    if size < _EOCD.size:
        raise bad("the zip archive has no end-of-central-directory record")
    fh.seek(size - _EOCD.size)
    tail = fh.read(_EOCD.size)
    if tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\0\0":
        eocd = size - _EOCD.size
    else:
        start = max(size - 0xFFFF - _EOCD.size, 0)
        fh.seek(start)
        found = fh.read().rfind(b"PK\x05\x06")
        if found < 0:
            raise bad("the zip archive has no end-of-central-directory record")
        eocd = start + found
    fh.seek(eocd)
    record = fh.read(_EOCD.size)
    if len(record) < _EOCD.size:
        raise bad("the end-of-central-directory record is truncated")
    _, disk, cd_disk, on_disk, entries, cd_size, cd_offset, comment = _EOCD.unpack(record)
    trailing = size - (eocd + _EOCD.size + comment)
    if trailing > 0:
        raise BadRequest(
            f"{filename} has {trailing} bytes of data after the end of its zip archive "
            "(after the end-of-central-directory record and its comment)."
        )
    if trailing < 0:
        raise bad("the end-of-central-directory comment runs past the end of the file")
    cd_end = eocd
    if eocd >= _ZIP64_LOCATOR.size:
        fh.seek(eocd - _ZIP64_LOCATOR.size)
        locator = fh.read(_ZIP64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            # zipfile reads the zip64 end record from just before the locator, whatever the
            # locator says: the two must agree, or another unzipper reads another directory.
            _, z_disk, z_offset, z_disks = _ZIP64_LOCATOR.unpack(locator)
            cd_end = eocd - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
            if cd_end < 0 or z_offset != cd_end or z_disk != 0 or z_disks > 1:
                raise bad("its zip64 end-of-central-directory locator points to the wrong place")
            fh.seek(cd_end)
            z = fh.read(_ZIP64_EOCD.size)
            if (
                len(z) < _ZIP64_EOCD.size
                or z[:4] != b"PK\x06\x06"
                or _ZIP64_EOCD.unpack(z)[1] != _ZIP64_EOCD.size - 12
            ):
                raise bad("its zip64 end-of-central-directory record is missing or malformed")
            _, _, _, _, disk, cd_disk, on_disk, entries, cd_size, cd_offset = _ZIP64_EOCD.unpack(z)
    if disk or cd_disk or on_disk != entries:
        raise bad("multi-disk zip archives are not supported")
    if entries > MAX_MEMBERS:
        raise BadRequest(f"{filename} has {entries} entries; the limit is {MAX_MEMBERS}.")
    if cd_offset + cd_size != cd_end:
        # zipfile would shift every offset by the difference (as for a self-extracting archive).
        raise BadRequest(
            f"{filename} has data outside its zip entries: its central directory is "
            f"{cd_end - cd_size - cd_offset} bytes away from where its end record says "
            "(bytes before the first entry or around the central directory)."
        )
    fh.seek(cd_offset)
    pos, count = cd_offset, 0
    while pos < cd_end:
        head = fh.read(_CENTRAL.size)
        if len(head) < _CENTRAL.size or head[:4] != b"PK\x01\x02":
            raise bad("its central directory is corrupt")
        fields = _CENTRAL.unpack(head)
        pos += _CENTRAL.size + fields[12] + fields[13] + fields[14]
        fh.seek(pos)
        count += 1
        if count > MAX_MEMBERS:
            raise BadRequest(f"{filename} has more than {MAX_MEMBERS} entries; the limit is {MAX_MEMBERS}.")
    if pos != cd_end:
        raise bad("its central directory is corrupt (its last entry runs past its end)")
    if count != entries:
        raise BadRequest(
            f"{filename}: its end-of-central-directory record says {entries} entries but its central "
            f"directory holds {count}."
        )
    return _ZipLayout(cd_offset, cd_size, entries)


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    """The sizes a local header means: 0xFFFFFFFF fields are in its zip64 extra field."""
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack_from("<2H", extra, i)
        if tag == 0x0001:
            # At most the two sizes, and no more than the field (and the extra data) holds.
            count = min(n, 16, len(extra) - i - 4) // 8
            values = list(struct.unpack_from(f"<{count}Q", extra, i + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        i += 4 + n
    return usize, csize


def _descriptor_length(fh: IO[bytes], at: int, info: zipfile.ZipInfo) -> int | None:
    """The length of the data descriptor at ``at`` if it says what the central directory says
    (with or without its signature, with 4- or 8-byte sizes), else None."""
    fh.seek(at)
    d = fh.read(24)
    for off in (4, 0):
        if off and d[:4] != b"PK\x07\x08":
            continue
        for fmt in ("<3L", "<LQQ"):
            n = struct.calcsize(fmt)
            if len(d) >= off + n and struct.unpack_from(fmt, d, off) == (
                info.CRC,
                info.compress_size,
                info.file_size,
            ):
                return off + n
    return None


def _check_local_headers(
    fh: IO[bytes], infos: list[zipfile.ZipInfo], layout: _ZipLayout, filename: str
) -> list[tuple[zipfile.ZipInfo, int]]:
    """Every local header must say what its central directory entry says (name, flags, method,
    CRC, sizes), and the entries must tile the file from byte 0 to the central directory, so
    that a streaming unzipper (which trusts local headers) sees exactly what was checked here.

    Entries with a data descriptor (flag bit 3) are accepted when consistent: their local CRC
    and sizes must be zero or the central values, and the descriptor after the data must carry
    the central values. Tools that write to unseekable streams (zipfile included) produce them.

    Returns each entry with the offset of its data, in file order."""
    expected = 0
    data_at: list[tuple[zipfile.ZipInfo, int]] = []
    for info in sorted(infos, key=lambda i: i.header_offset):
        name = info.orig_filename
        if info.header_offset > expected:
            where = "before its first entry" if expected == 0 else f"between its entries (before {name!r})"
            raise BadRequest(f"{filename} has {info.header_offset - expected} bytes of data {where}.")
        if info.header_offset < expected:
            raise BadRequest(
                f"{filename} has overlapping entries: {name!r} starts inside the entry before it."
            )
        fh.seek(info.header_offset)
        head = fh.read(_LOCAL.size)
        if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
            raise BadRequest(f"{filename}: the local header of {name!r} is missing or corrupt.")
        _, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen = _LOCAL.unpack(head)
        local_name = fh.read(nlen)
        extra = fh.read(xlen)
        usize, csize = _zip64_sizes(extra, usize, csize)
        central_name = name.encode("utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437")
        problems = []
        if local_name != central_name:
            problems.append(f"name {local_name.decode('utf-8', 'replace')!r}")
        if flags != info.flag_bits:
            problems.append(f"flags {flags:#x} (central: {info.flag_bits:#x})")
        if method != info.compress_type:
            problems.append(f"compression method {method} (central: {info.compress_type})")
        described = (crc, csize, usize)
        central = (info.CRC, info.compress_size, info.file_size)
        if described != central and not (flags & _FLAG_DESCRIPTOR and described == (0, 0, 0)):
            problems.append(f"CRC and sizes {described} (central: {central})")
        if problems:
            raise BadRequest(
                f"{filename}: the local header of {name!r} does not match its central directory entry: "
                + "; ".join(problems)
                + "."
            )
        if flags & _FLAG_ENCRYPTED:
            raise BadRequest(f"{filename}: {name!r} is encrypted; encrypted entries are not accepted.")
        if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
            raise BadRequest(f"{filename}: {name!r} uses compression method {method}; use deflate.")
        data_at.append((info, info.header_offset + _LOCAL.size + nlen + xlen))
        expected = info.header_offset + _LOCAL.size + nlen + xlen + info.compress_size
        if flags & _FLAG_DESCRIPTOR:
            length = _descriptor_length(fh, expected, info)
            if length is None:
                raise BadRequest(
                    f"{filename}: the data descriptor of {name!r} does not match its central directory entry."
                )
            expected += length
    if expected < layout.cd_offset:
        raise BadRequest(
            f"{filename} has {layout.cd_offset - expected} bytes of data between its last entry and "
            "its central directory."
        )
    if expected > layout.cd_offset:
        raise BadRequest(
            f"{filename} has overlapping entries: its last entry runs into the central directory."
        )
    return data_at


#: Most bytes one decompression step may produce: memory stays bounded whatever the ratio.
_INFLATE_STEP = 1024 * 1024


def _check_entry_data(
    fh: IO[bytes], info: zipfile.ZipInfo, at: int, budget: _Budget, filename: str, kind: str
) -> None:
    """Decompress one entry from its raw bytes and require its compressed stream to end exactly
    where the central directory says, at once: at ``file_size`` bytes out and ``compress_size``
    bytes in, with a matching CRC.

    zipfile (and so Bale) stops reading an entry at its declared size, but an unzipper that
    inflates to the end of the stream would get whatever follows: 100 declared bytes could be
    200 MB to it. Output is produced in bounded steps, and one byte past the declared size is
    enough to refuse."""
    name = info.orig_filename
    usize, csize = info.file_size, info.compress_size
    fh.seek(at)

    def refuse(why: str) -> BadRequest:
        return BadRequest(
            f"{filename}: the compressed data of {name!r} {why}; an entry's stream must end exactly "
            "at its declared sizes."
        )

    if info.compress_type == zipfile.ZIP_STORED and csize != usize:
        raise refuse(f"is stored uncompressed in {csize} bytes but declares {usize}")
    left, produced, crc = csize, 0, 0
    zdec = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    bdec = bz2.BZ2Decompressor() if info.compress_type == zipfile.ZIP_BZIP2 else None
    pending = b""
    while True:
        limit = min(_INFLATE_STEP, usize - produced + 1)  # one byte too many says it runs on
        if zdec is None and bdec is None:  # stored
            out = fh.read(min(_CHUNK, left))
            if not out and left:
                raise refuse(f"is cut short at {csize - left} of {csize} bytes")
            left -= len(out)
        else:
            wants_input = (not pending) if zdec is not None else bool(bdec and bdec.needs_input)
            data = b""
            if wants_input and left:
                data = fh.read(min(_CHUNK, left))
                if not data:
                    raise refuse(f"is cut short at {csize - left} of {csize} bytes")
                left -= len(data)
            elif wants_input and not left:
                raise refuse(f"does not end within its declared compressed length of {csize} bytes")
            if zdec is not None:
                out = zdec.decompress(pending + data, limit)
                pending = zdec.unconsumed_tail
            else:
                assert bdec is not None
                out = bdec.decompress(data, limit)
        produced += len(out)
        if produced > usize:
            raise refuse(f"inflates past its declared size of {usize} bytes")
        crc = zlib.crc32(out, crc)
        budget.add(len(out))
        dec = zdec or bdec
        if dec is None:
            if not left:
                break
        elif dec.eof:
            if dec.unused_data or pending or left:
                unused = len(dec.unused_data) + len(pending) + left
                raise refuse(f"ends {unused} bytes before its declared compressed length of {csize} bytes")
            break
    if produced != usize:
        raise refuse(f"inflates to {produced} bytes, not its declared {usize}")
    if crc != info.CRC:
        # zipfile's own words, as before this check read the data itself.
        raise BadRequest(
            f"{filename} is not a valid {kind}: its entry {name!r} cannot be read (Bad CRC-32 for file {name!r})."
        )


def _open_zip(
    fh: IO[bytes], parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int, kind: str
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open a zip archive and check it whole: its layout, every local header against the central
    directory, safe unique names, and every entry decompressed (CRC checked) within the limits."""
    layout = _zip_layout(fh, size, parsed.filename, kind)
    try:
        zf = zipfile.ZipFile(fh)
    except _ARCHIVE_ERRORS as exc:
        raise BadRequest(
            f"{parsed.filename} is not a valid {kind}: the zip archive cannot be read ({exc})."
        ) from None
    try:
        infos = zf.infolist()
        if len(infos) != layout.entries:
            raise BadRequest(f"{parsed.filename} is not a valid {kind}: its central directory is corrupt.")
        # Declared sizes first: a cheap refusal before any decompression.
        _check_sizes(sum(i.file_size for i in infos), size, max_uncompressed, max_ratio, parsed.filename)
        seen: set[str] = set()
        for i in infos:
            if _unsafe_name(i.orig_filename) or _unsafe_name(i.filename):
                raise BadRequest(f"{parsed.filename} contains an unsafe path {i.orig_filename!r}.")
            # Two entries under one name: tools disagree on which one counts (a "zip confusion"),
            # so what was checked here might not be what an installer unpacks.
            if i.filename in seen:
                raise BadRequest(f"{parsed.filename} contains more than one entry named {i.filename!r}.")
            seen.add(i.filename)
            if len(i.orig_filename) > MAX_NAME:
                raise BadRequest(f"{parsed.filename} has an entry name longer than {MAX_NAME} characters.")
        data_at = _check_local_headers(fh, infos, layout, parsed.filename)
        budget = _Budget(size, max_uncompressed, max_ratio, parsed.filename)
        for i, at in data_at:
            try:
                _check_entry_data(fh, i, at, budget, parsed.filename, kind)
            except _ARCHIVE_ERRORS as exc:
                raise BadRequest(
                    f"{parsed.filename} is not a valid {kind}: its entry {i.filename!r} cannot be read ({exc})."
                ) from None
    except BaseException:
        zf.close()
        raise
    return zf, infos


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, parsed: ParsedFilename, what: str) -> bytes:
    try:
        with zf.open(info) as m:
            return _read_limited(m, MAX_METADATA, what)
    except _ARCHIVE_ERRORS as exc:
        raise BadRequest(
            f"{parsed.filename} is not a valid archive: its {what} cannot be read ({exc})."
        ) from None


def _wheel_metadata(
    fh: IO[bytes], parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int
) -> tuple[bytes, set[str]]:
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
        if canonicalize_name(dname) != parsed.project or canonicalize_version(dver) != canonicalize_version(
            parsed.version
        ):
            raise BadRequest(
                f"{parsed.filename}: its .dist-info directory {dist_info!r} does not match the filename."
            )
        licenses = f"{dist_info}.dist-info/licenses/"
        present = {
            i.filename[len(licenses) :] for i in infos if i.filename.startswith(licenses) and not i.is_dir()
        }
        return _read_zip_member(zf, candidates[0], parsed, "METADATA"), present


def _under(root: str, names: Iterable[str]) -> set[str]:
    """The paths of the files below an sdist's top-level directory, relative to it."""
    prefix = root + "/"
    return {n[len(prefix) :] for n in names if n.startswith(prefix)}


# ---------------------------------------------------------------------------------------------
# Tar archives (.tar.gz sdists)

_PAX_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_EXTENSION_TYPES = {
    **dict.fromkeys(_PAX_TYPES, "pax extended header"),
    tarfile.GNUTYPE_LONGNAME: "GNU long name record",
    tarfile.GNUTYPE_LONGLINK: "GNU long link name record",
}
_MEMBER_TYPES = (
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.CONTTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _TarStream:
    """The decompressed bytes of a .tar.gz, as ``tarfile`` reads them in its seekable mode: forward
    only, every byte counted against the limits as it is inflated (headers, pax and GNU records
    included), and each tar header block looked at *before* tarfile acts on it.

    That last part is the point: tarfile reads a pax header or GNU long name record whole, in one
    read() of the size its header declares, and reads sparse maps of any length, all before it
    hands us the member. Here a header declaring an oversized record, a sparse member or an
    endless chain of extended headers is refused while only its 512 bytes have been read.
    """

    def __init__(self, gz: _Readable, budget: _Budget, filename: str):
        self._gz, self._budget, self._filename = gz, budget, filename
        self._chunk, self._start, self._pos = b"", 0, 0
        self._record_next: tuple[bytes, int] | None = None  # (type, size) of the record tarfile reads next
        self._chain = 0
        self.extracting = False  # reading member data (PKG-INFO), not headers
        self.last_header = b""

    def _fill(self) -> bool:
        self._start += len(self._chunk)
        self._chunk = self._gz.read(_CHUNK)
        self._budget.add(len(self._chunk))
        return bool(self._chunk)

    def head(self) -> bytes:
        if not self._chunk:
            self._fill()
        return self._chunk[:8]

    def seekable(self) -> bool:
        return True

    # write() and close() complete the file object tarfile.open(fileobj=...) is typed to take;
    # it reads only, and leaves a file object it was given open.
    def write(self, b: bytes, /) -> int:
        raise OSError("the archive is read-only")

    def close(self) -> None:
        pass

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or pos < self._start:
            raise OSError("the archive asks to seek backwards in its compressed stream")
        self._pos = pos
        return pos

    def _take(self, n: int) -> bytes:
        parts = []
        while n > 0:
            off = self._pos - self._start
            if off >= len(self._chunk):
                if not self._fill():
                    break
                continue
            piece = self._chunk[off : off + n]
            parts.append(piece)
            self._pos += len(piece)
            n -= len(piece)
        return b"".join(parts)

    def drain(self) -> int:
        """Inflate the rest of the stream (so its CRC is checked); the count of non-zero bytes."""
        junk = 0
        while data := self._take(_CHUNK):
            junk += len(data) - data.count(0)
        return junk

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_HEADER_RECORD + tarfile.BLOCKSIZE:
            # Only tarfile's reads of pax and GNU records are this big, and their headers were
            # checked below; a stray one is refused rather than allocated.
            raise BadRequest(
                f"{self._filename} has a tar header record larger than {MAX_HEADER_RECORD} bytes."
            )
        aligned = self._pos % tarfile.BLOCKSIZE == 0
        data = self._take(n)
        if self.extracting:
            return data
        if self._record_next is not None:
            (type_, size), self._record_next = self._record_next, None
            if type_ in _PAX_TYPES:
                self._check_pax(data[:size])
        elif n == tarfile.BLOCKSIZE and aligned and len(data) == n:
            self._check_header(data)
        return data

    def _check_header(self, block: bytes) -> None:
        self.last_header = block
        type_ = block[156:157]
        kind = _EXTENSION_TYPES.get(type_)
        if kind is None and type_ != tarfile.GNUTYPE_SPARSE:
            self._chain = 0  # an ordinary member (or no header at all): tarfile decides
            return
        try:
            # Parsed only for the types that matter here: it is most of the cost of a member.
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            return
        if type_ == tarfile.GNUTYPE_SPARSE:
            raise BadRequest(
                f"{self._filename} contains a GNU sparse member {info.name!r}; sparse files are not accepted."
            )
        if info.size > MAX_HEADER_RECORD:
            raise BadRequest(
                f"{self._filename} has a {kind} of {info.size} bytes; the limit is {MAX_HEADER_RECORD} "
                "(a tar header bomb)."
            )
        self._chain += 1
        if self._chain > MAX_HEADER_CHAIN:
            raise BadRequest(
                f"{self._filename} has more than {MAX_HEADER_CHAIN} tar extended headers in a row."
            )
        self._record_next = (type_, info.size)

    def _check_pax(self, record: bytes) -> None:
        """Well-formed records ("LEN KEY=VALUE\\n") that tile the header exactly: tarfile's own
        parser scans past a malformed record (quadratic time), and no GNU sparse keywords."""
        pos = 0
        while pos < len(record):
            space = record.find(b" ", pos, pos + 20)
            digits = record[pos:space] if space > 0 else b""
            length = int(digits) if digits.isdigit() else 0
            body = record[space + 1 : pos + length]
            if length < 5 or pos + length > len(record) or not body.endswith(b"\n") or b"=" not in body[1:]:
                raise BadRequest(f"{self._filename} has a malformed pax extended header.")
            if body.startswith(b"GNU.sparse."):
                raise BadRequest(
                    f"{self._filename} contains a GNU sparse member; sparse files are not accepted."
                )
            pos += length


def _escapes(path: str, links: dict[str, str]) -> bool:
    """Whether ``path`` (relative to the archive root) leads outside the root once every symbolic
    link in it is followed, as an extractor would follow them on disk."""
    resolved: list[str] = []
    todo = path.split("/")[::-1]
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > 40 or target.startswith("/"):
                return True
            resolved.pop()
            todo.extend(target.split("/")[::-1])
    return False


def _sdist_tar(fh: IO[bytes], parsed: ParsedFilename, budget: _Budget) -> tuple[bytes, set[str]]:
    filename = parsed.filename
    if fh.read(2) != b"\x1f\x8b":
        raise BadRequest(f"{filename} is not a valid .tar.gz archive: it is not gzip-compressed.")
    fh.seek(0)
    stream = _TarStream(gzip.GzipFile(fileobj=fh, mode="rb"), budget, filename)
    head = stream.head()
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            raise BadRequest(
                f"{filename} is compressed twice ({kind} inside gzip); an sdist is a gzip-compressed tar archive."
            )
    found: list[bytes] = []
    roots: list[str] = []
    names: list[str] = []
    seen: set[str] = set()
    links: dict[str, str] = {}
    hardlinks: list[tuple[str, str]] = []
    count = 0
    with tarfile.open(fileobj=stream, mode="r:") as tf:
        while (member := tf.next()) is not None:
            # One member at a time: tarfile would otherwise keep every TarInfo it has read.
            tf.members.clear()  # type: ignore[attr-defined]  # typeshed omits TarFile.members
            count += 1
            if count > MAX_MEMBERS:
                raise BadRequest(
                    f"{filename} has more than {MAX_MEMBERS} members; the limit is {MAX_MEMBERS}."
                )
            raw = member.name
            if len(raw) > MAX_NAME or len(member.linkname) > MAX_NAME:
                raise BadRequest(f"{filename} has a member or link name longer than {MAX_NAME} characters.")
            if _unsafe_name(raw):
                raise BadRequest(f"{filename} contains an unsafe path {raw!r}.")
            name = posixpath.normpath(raw)
            if member.ischr() or member.isblk() or member.isfifo():
                what = "FIFO" if member.isfifo() else "device file"
                raise BadRequest(
                    f"{filename} contains a {what} {raw!r}; an sdist may hold only files, directories and links."
                )
            if member.issparse():
                raise BadRequest(
                    f"{filename} contains a GNU sparse member {raw!r}; sparse files are not accepted."
                )
            if member.type not in _MEMBER_TYPES:
                raise BadRequest(f"{filename} contains {raw!r} of unsupported tar type {member.type!r}.")
            if member.issym():
                if member.linkname.startswith("/") or not member.linkname:
                    raise BadRequest(
                        f"{filename} contains a symbolic link {raw!r} to an absolute path {member.linkname!r}."
                    )
                links[name] = member.linkname
            elif member.islnk():
                target = member.linkname
                if _unsafe_name(target):
                    raise BadRequest(
                        f"{filename} contains a hard link {raw!r} to {target!r}, which leads outside the archive."
                    )
                if posixpath.normpath(target) not in seen:
                    raise BadRequest(
                        f"{filename} contains a hard link {raw!r} to {target!r}, which is not a member "
                        "before it in the archive."
                    )
                hardlinks.append((raw, posixpath.normpath(target)))
            seen.add(name)
            if member.isfile() or member.islnk() or member.issym():
                names.append(name)
            if member.isfile() and re.fullmatch(r"[^/]+/PKG-INFO", name):
                stream.extracting = True
                try:
                    extracted = tf.extractfile(member)
                    if extracted is None:  # a regular file always has data; a damaged one may not
                        raise BadRequest(
                            f"{filename} is not a valid .tar.gz archive: {raw!r} cannot be read."
                        )
                    found.append(_read_limited(extracted, MAX_METADATA, "PKG-INFO"))
                finally:
                    stream.extracting = False
                roots.append(name.split("/")[0])
        if stream.last_header.count(0) != tarfile.BLOCKSIZE:
            raise BadRequest(f"{filename} is not a valid .tar.gz archive: a tar header is corrupt.")
        junk = stream.drain()
        if junk:
            raise BadRequest(f"{filename} has {junk} bytes of data after the end of its tar archive.")
    for link, target in links.items():
        if _escapes(posixpath.join(posixpath.dirname(link), target), links):
            raise BadRequest(
                f"{filename} contains a symbolic link {link!r} to {target!r}, which leads outside the archive."
            )
    for link, target in hardlinks:
        if _escapes(target, links):
            raise BadRequest(
                f"{filename} contains a hard link {link!r} to {target!r}, which leads outside the archive."
            )
    if len(found) != 1:
        raise BadRequest(
            f"{filename}: an sdist must contain exactly one top-level PKG-INFO (found {len(found)})."
        )
    return found[0], _under(roots[0], names)


def _sdist_metadata(
    fh: IO[bytes], parsed: ParsedFilename, size: int, max_uncompressed: int, max_ratio: int
) -> tuple[bytes, set[str]]:
    """The sdist's PKG-INFO, and the paths of the files beside it (for License-File)."""
    if parsed.archive == "zip":
        zf, infos = _open_zip(fh, parsed, size, max_uncompressed, max_ratio, "zip sdist")
        with zf:
            pkg = [i for i in infos if re.fullmatch(r"[^/]+/PKG-INFO", i.filename)]
            if len(pkg) != 1:
                raise BadRequest(
                    f"{parsed.filename}: an sdist must contain exactly one top-level PKG-INFO (found {len(pkg)})."
                )
            root = pkg[0].filename.split("/")[0]
            return _read_zip_member(zf, pkg[0], parsed, "PKG-INFO"), _under(
                root, (i.filename for i in infos if not i.is_dir())
            )
    budget = _Budget(size, max_uncompressed, max_ratio, parsed.filename)
    try:
        return _sdist_tar(fh, parsed, budget)
    except _TAR_ERRORS as exc:
        raise BadRequest(f"{parsed.filename} is not a valid .tar.gz archive ({exc}).") from None


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


def inspect(
    fh: IO[bytes], parsed: ParsedFilename, *, size: int, max_uncompressed: int, max_ratio: int
) -> Distribution:
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
    where = (
        ".dist-info/licenses/" if parsed.packagetype == "bdist_wheel" else "the sdist's top-level directory"
    )
    for path in meta.license_files or []:
        if path not in present:
            raise BadRequest(
                f"{parsed.filename}: License-File {path!r} is named in its metadata but is not in "
                f"{where} of the archive."
            )


def check_form_agrees(form: Mapping[str, str], dist: Distribution) -> None:
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
            raise BadRequest(
                f"The form's version {version!r} does not match the file's metadata ({meta.version})."
            )
    filetype = form.get("filetype", "").strip()
    if filetype and filetype not in ("bdist_wheel", "sdist"):
        raise BadRequest(f"Unsupported filetype {filetype!r}: only bdist_wheel and sdist are accepted.")


def check_classifiers(classifiers: list[str], *, team: str, namespace: str | Sequence[str]) -> None:
    """Known trove classifiers, plus this registry's private ones.

    For each private namespace ``<ns>`` (one, or several: ``("bale", "pyx")``), ``Private ::
    <ns>`` may go anywhere on this registry and ``Private :: <ns> :: <team>`` only to that team;
    any other ``Private ::`` classifier (``Do Not Upload`` among them) is refused, because it
    says the author did not mean the package to be published here.
    """
    namespaces = (namespace,) if isinstance(namespace, str) else tuple(namespace)
    for c in classifiers:
        c = c.strip()
        parts = [p.strip() for p in c.split("::")]
        if parts[0] == "Private":
            if len(parts) == 2 and parts[1] in namespaces:
                continue
            if len(parts) == 3 and parts[1] in namespaces:
                if parts[2] == team:
                    continue
                raise BadRequest(
                    f"Classifier {c!r} keeps this package inside team {parts[2]!r}; "
                    f"it cannot be uploaded to team {team!r}."
                )
            ns = namespaces[0]
            raise BadRequest(
                f"Classifier {c!r} marks this package as not for upload here; "
                f"use 'Private :: {ns}' or 'Private :: {ns} :: {team}'."
            )
        if c in trove_classifiers.deprecated_classifiers:
            raise BadRequest(f"Classifier {c!r} is deprecated; see https://pypi.org/classifiers/.")
        if c not in trove_classifiers.classifiers:
            raise BadRequest(
                f"Classifier {c!r} is not a valid classifier; see https://pypi.org/classifiers/."
            )


def summary(meta: Metadata) -> dict[str, object]:
    """The metadata the dashboard shows, JSON/Firestore friendly."""
    out: dict[str, object] = {
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

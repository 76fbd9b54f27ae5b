"""Archives that lie: hand-built hostile sdists and wheels, byte by byte where tools won't help.

Each trick is a ``Trick(id, filename, build, message)``: ``build()`` returns the file's bytes
and ``message`` is what the refusal must say. Big bombs are compressed as they are generated,
so building one never holds its unpacked size in memory.
"""

from __future__ import annotations

import bz2
import dataclasses
import functools
import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable

from factories import metadata_text, wheel_bytes, wheel_name

MB = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
SDIST = "demo-1.0.tar.gz"
WHEEL = wheel_name("demo", "1.0")


@dataclasses.dataclass
class Trick:
    id: str
    filename: str
    build: Callable[[], bytes]
    message: str
    big: bool = False  # a bomb: the HTTP test measures the upload's peak memory


# ---------------------------------------------------------------------------------------------
# tar


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def header(
    name: str,
    *,
    type=tarfile.REGTYPE,
    size: int = 0,
    linkname: str = "",
    fmt=tarfile.GNU_FORMAT,
    pax=None,
    **attrs,
) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = type, size, linkname
    if pax:
        info.pax_headers = pax
    for k, v in attrs.items():
        setattr(info, k, v)
    return info.tobuf(fmt, "utf-8", "surrogateescape")


def member(name: str, data: bytes = b"", **kw) -> bytes:
    return header(name, size=len(data), **kw) + _pad(data)


def raw_header(type: bytes, size: int, name: str = "././@LongLink") -> bytes:
    """A header block of any type and declared size, checksum included."""
    info = tarfile.TarInfo(name)
    info.size = 0
    block = bytearray(info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"))
    block[124:136] = b"%011o\0" % size
    block[156:157] = type
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def legit_members(base: str = "demo-1.0") -> list[bytes]:
    return [
        member(f"{base}/PKG-INFO", metadata_text("demo", "1.0").encode()),
        member(f"{base}/pyproject.toml", b'[build-system]\nrequires = ["setuptools"]\n'),
    ]


END = b"\0" * (2 * BLOCK)


def gz_stream(parts: Iterable[bytes]) -> bytes:
    """gzip-compress a stream of parts as they come (level 9: bombs compress ~1000-fold)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(p) for p in parts]
    out.append(c.flush())
    return b"".join(out)


def repeat(byte: bytes, n: int) -> Iterable[bytes]:
    chunk = byte * MB
    while n > 0:
        yield chunk[: min(n, MB)]
        n -= MB


def sdist(*extra: bytes, before: Iterable[bytes] = (), after: Iterable[bytes] = ()) -> bytes:
    """A valid sdist (PKG-INFO first) with ``extra`` members, then the end, then ``after``."""
    return gz_stream([*before, *legit_members(), *extra, END, *after])


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def pax_header(records: bytes, name: str = "demo-1.0/././@PaxHeader") -> bytes:
    return raw_header(tarfile.XHDTYPE, len(records), name) + _pad(records)


def _header_bomb(type: bytes, size: int) -> bytes:
    """An extended header that unpacks to ``size`` bytes, then a valid sdist."""

    def parts():
        yield raw_header(type, size)
        if type == tarfile.XHDTYPE:
            digits = str(size).encode()
            yield digits + b" path="
            yield from repeat(b"a", size - len(digits) - 7)
            yield b"\n"
        else:
            yield from repeat(b"a", size)
        yield b"\0" * (-size % BLOCK)
        yield member("demo-1.0/x.py", b"")
        yield from legit_members()
        yield END

    return gz_stream(parts())


def _many_members(n: int) -> bytes:
    """``n`` empty files, their headers patched from one template (tobuf per member is slow)."""
    template = bytearray(header("demo-1.0/m/0"))
    template[148:156] = b" " * 8

    def headers():
        batch = []
        for i in range(n):
            block = template.copy()
            name = b"demo-1.0/m/%d" % i
            block[0 : len(name)] = name
            block[148:156] = b"%06o\0 " % sum(block)
            batch.append(block)
            if len(batch) == 2000 or i == n - 1:
                yield b"".join(batch)
                batch = []

    return gz_stream([*legit_members(), *headers(), END])


def _sparse_pax_10() -> bytes:
    pax = (
        pax_record("GNU.sparse.major", "1")
        + pax_record("GNU.sparse.minor", "0")
        + pax_record("GNU.sparse.name", "demo-1.0/s")
    )
    # The sparse map that tarfile would read block by block, and keep, before handing us the member.
    body = b"5000000\n" + b"0\n" * 1000
    return sdist(pax_header(pax), member("demo-1.0/GNUSparseFile.0/s", body))


def _sparse_old() -> bytes:
    return sdist(raw_header(tarfile.GNUTYPE_SPARSE, 0, "demo-1.0/s"))


def _chain(n: int) -> bytes:
    rec = _pad(b"demo-1.0/x\0")
    return sdist(*[raw_header(tarfile.GNUTYPE_LONGNAME, 11) + rec for _ in range(n)], member("demo-1.0/y"))


def _pax_size_lie() -> bytes:
    return sdist(pax_header(pax_record("size", str(10**12))), member("demo-1.0/big.bin", b"tiny"))


def _nested(inner: bytes) -> bytes:
    return gzip.compress(inner)


SDIST_TRICKS = [
    Trick(
        "pax-header-bomb",
        SDIST,
        lambda: _header_bomb(tarfile.XHDTYPE, 200 * MB),
        "has a pax extended header of 209715200 bytes",
        big=True,
    ),
    Trick(
        "gnu-longname-bomb",
        SDIST,
        lambda: _header_bomb(tarfile.GNUTYPE_LONGNAME, 200 * MB),
        "has a GNU long name record of 209715200 bytes",
        big=True,
    ),
    Trick(
        "gnu-longlink-bomb",
        SDIST,
        lambda: _header_bomb(tarfile.GNUTYPE_LONGLINK, 200 * MB),
        "GNU long link name record of",
        big=True,
    ),
    Trick(
        "pax-header-just-over-limit",
        SDIST,
        lambda: _header_bomb(tarfile.XHDTYPE, 64 * 1024 + 1),
        "pax extended header of 65537 bytes",
    ),
    Trick("extended-header-chain", SDIST, lambda: _chain(5000), "tar extended headers in a row"),
    Trick(
        "malformed-pax-record",
        SDIST,
        lambda: sdist(pax_header(b"12 abcdefgh\n"), member("demo-1.0/z")),
        "malformed pax extended header",
    ),
    Trick("pax-size-lie", SDIST, _pax_size_lie, "unexpected end of data"),
    Trick(
        "member-data-bomb",
        SDIST,
        lambda: gz_stream(
            [*legit_members(), header("demo-1.0/zeros", size=300 * MB), *repeat(b"\0", 300 * MB), END]
        ),
        "looks like a decompression bomb",
        big=True,
    ),
    Trick(
        "zero-tail-bomb",
        SDIST,
        lambda: sdist(after=repeat(b"\0", 300 * MB)),
        "looks like a decompression bomb",
        big=True,
    ),
    Trick(
        "data-after-end",
        SDIST,
        lambda: sdist(after=[_pad(b"#!/bin/sh\nrm -rf ~\n")]),
        "bytes of data after the end of its tar archive",
    ),
    Trick(
        "junk-instead-of-end",
        SDIST,
        lambda: gz_stream([*legit_members(), _pad(b"not a header"), END]),
        "a tar header is corrupt",
    ),
    Trick("gnu-sparse-old", SDIST, _sparse_old, "contains a GNU sparse member"),
    Trick("gnu-sparse-pax-1.0", SDIST, _sparse_pax_10, "contains a GNU sparse member"),
    Trick(
        "gnu-sparse-pax-0.1",
        SDIST,
        lambda: sdist(pax_header(pax_record("GNU.sparse.map", "0,1," * 1000 + "0,1")), member("demo-1.0/s")),
        "contains a GNU sparse member",
    ),
    Trick(
        "huge-member-count", SDIST, lambda: _many_members(100_001), "has more than 100000 members", big=True
    ),
    Trick(
        "gzip-in-gzip",
        SDIST,
        lambda: _nested(gz_stream([*legit_members(), END])),
        "is compressed twice (gzip inside gzip)",
    ),
    Trick(
        "bzip2-in-gzip",
        SDIST,
        lambda: _nested(bz2.compress(b"".join([*legit_members(), END]))),
        "is compressed twice (bzip2 inside gzip)",
    ),
    Trick("plain-tar", SDIST, lambda: b"".join([*legit_members(), END]), "it is not gzip-compressed"),
    Trick(
        "absolute-name",
        SDIST,
        lambda: sdist(member("/etc/cron.d/evil", b"* * * * * root sh\n")),
        "unsafe path '/etc/cron.d/evil'",
    ),
    Trick(
        "dotdot-name",
        SDIST,
        lambda: sdist(member("demo-1.0/../../evil.py")),
        "unsafe path 'demo-1.0/../../evil.py'",
    ),
    Trick(
        "pax-absolute-name",
        SDIST,
        lambda: sdist(member("demo-1.0/ok", fmt=tarfile.PAX_FORMAT, pax={"path": "/etc/passwd"})),
        "unsafe path '/etc/passwd'",
    ),
    Trick(
        "long-name",
        SDIST,
        lambda: sdist(member("demo-1.0/" + "a/" * 2500 + "x", fmt=tarfile.PAX_FORMAT)),
        "longer than 4096 characters",
    ),
    Trick(
        "symlink-absolute",
        SDIST,
        lambda: sdist(header("demo-1.0/passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")),
        "symbolic link 'demo-1.0/passwd' to an absolute path '/etc/passwd'",
    ),
    Trick(
        "symlink-escape",
        SDIST,
        lambda: sdist(header("demo-1.0/up", type=tarfile.SYMTYPE, linkname="../../..")),
        "symbolic link 'demo-1.0/up' to '../../..', which leads outside the archive",
    ),
    Trick(
        "symlink-chain-escape",
        SDIST,
        lambda: sdist(
            header("demo-1.0/a", type=tarfile.SYMTYPE, linkname=".."),
            header("demo-1.0/b", type=tarfile.SYMTYPE, linkname="a/.."),
        ),
        "symbolic link 'demo-1.0/b' to 'a/..', which leads outside the archive",
    ),
    Trick(
        "hardlink-absolute",
        SDIST,
        lambda: sdist(header("demo-1.0/passwd", type=tarfile.LNKTYPE, linkname="/etc/passwd")),
        "hard link 'demo-1.0/passwd' to '/etc/passwd', which leads outside the archive",
    ),
    Trick(
        "hardlink-escape",
        SDIST,
        lambda: sdist(header("demo-1.0/passwd", type=tarfile.LNKTYPE, linkname="../../../etc/passwd")),
        "hard link 'demo-1.0/passwd' to '../../../etc/passwd', which leads outside the archive",
    ),
    Trick(
        "hardlink-to-nothing",
        SDIST,
        lambda: sdist(header("demo-1.0/h", type=tarfile.LNKTYPE, linkname="etc/passwd")),
        "which is not a member before it in the archive",
    ),
    Trick(
        "char-device",
        SDIST,
        lambda: sdist(header("demo-1.0/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)),
        "contains a device file 'demo-1.0/null'",
    ),
    Trick(
        "block-device",
        SDIST,
        lambda: sdist(header("demo-1.0/sda", type=tarfile.BLKTYPE, devmajor=8)),
        "contains a device file 'demo-1.0/sda'",
    ),
    Trick(
        "fifo",
        SDIST,
        lambda: sdist(header("demo-1.0/pipe", type=tarfile.FIFOTYPE)),
        "contains a FIFO 'demo-1.0/pipe'",
    ),
]


# ---------------------------------------------------------------------------------------------
# zip, written by hand so every field can lie

LOCAL = struct.Struct("<4s2B4HL2L2H")
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
EOCD = struct.Struct("<4s4H2LH")


@dataclasses.dataclass
class Entry:
    name: str
    data: bytes
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0
    local: dict = dataclasses.field(default_factory=dict)  # name, flags, method, crc, csize, usize
    central: dict = dataclasses.field(default_factory=dict)  # same, plus offset, extra
    descriptor: bytes | None = None  # written after the data (flag bit 3)
    payload: bytes | None = None  # the stored bytes, if not data compressed honestly


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def wheel_entries(**kw) -> list[Entry]:
    with zipfile.ZipFile(io.BytesIO(wheel_bytes("demo", "1.0", **kw))) as zf:
        return [Entry(i.filename, zf.read(i)) for i in zf.infolist()]


def build_zip(
    entries: list[Entry],
    *,
    prefix=b"",
    prefix_in_offsets=True,
    between=b"",
    before_cd=b"",
    trailing=b"",
    comment=b"",
    count=None,
    extra_central: list[bytes] = (),
    zip64_end=None,
) -> bytes:
    out = bytearray(prefix)
    base = 0 if prefix_in_offsets else len(prefix)
    central = []
    for n, e in enumerate(entries):
        if n == 1:
            out += between
        payload = (
            e.payload
            if e.payload is not None
            else (deflate(e.data) if e.method == zipfile.ZIP_DEFLATED else e.data)
        )
        real = {
            "name": e.name.encode(),
            "flags": e.flags,
            "method": e.method,
            "crc": zlib.crc32(e.data),
            "csize": len(payload),
            "usize": len(e.data),
        }
        loc = {**real, **({"crc": 0, "csize": 0, "usize": 0} if e.flags & 0x8 else {}), **e.local}
        cen = {**real, "offset": len(out) - base, "extra": b"", **e.central}
        out += (
            LOCAL.pack(
                b"PK\x03\x04",
                20,
                0,
                loc["flags"],
                loc["method"],
                0,
                0x21,
                loc["crc"],
                loc["csize"],
                loc["usize"],
                len(loc["name"]),
                len(loc.get("extra", b"")),
            )
            + loc["name"]
            + loc.get("extra", b"")
        )
        out += payload + (e.descriptor or b"")
        central.append(
            CENTRAL.pack(
                b"PK\x01\x02",
                20,
                3,
                20,
                0,
                cen["flags"],
                cen["method"],
                0,
                0x21,
                cen["crc"],
                cen["csize"],
                cen["usize"],
                len(cen["name"]),
                len(cen["extra"]),
                0,
                0,
                0,
                0o644 << 16,
                cen["offset"],
            )
            + cen["name"]
            + cen["extra"]
        )
    out += before_cd
    central += list(extra_central)
    cd_offset = len(out) - base
    cd = b"".join(central)
    out += cd
    n = len(central) if count is None else count
    if zip64_end is not None:
        z = {"entries": n, "at": len(out) - base, **zip64_end}
        out += struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, z["entries"], z["entries"], len(cd), cd_offset
        )
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, z["at"], 1)
    out += EOCD.pack(b"PK\x05\x06", 0, 0, n, n, len(cd), cd_offset, len(comment)) + comment + trailing
    return bytes(out)


def wheel(*, change=None, **kw) -> bytes:
    """The demo wheel rebuilt by hand; ``change(entries)`` edits entries before writing."""
    entries = wheel_entries()
    if change:
        change(entries)
    return build_zip(entries, **kw)


def _first(**fields):
    def change(entries):
        for k, v in fields.items():
            getattr(entries[0], k).update(v) if isinstance(v, dict) else setattr(entries[0], k, v)

    return change


def _zip64_size_lie(entries):
    e = entries[0]
    e.central.update(usize=0xFFFFFFFF, extra=struct.pack("<HHQ", 1, 8, len(e.data) + 1))


def _bad_crc_data(entries):
    e = entries[0]
    e.method = zipfile.ZIP_STORED
    e.payload = e.data.replace(b"__version__", b"__VERSION__")


def inflating_past(data: bytes, extra_mb: int) -> bytes:
    """A deflate stream of ``data`` and then ``extra_mb`` MiB of zeros, made in milliseconds:
    after a full flush the compressor starts afresh, so one flushed MiB of zeros is the same
    bytes every time and is repeated (about 1 KB each) before the final block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)
    zeros = c.compress(b"\0" * MB) + c.flush(zlib.Z_FULL_FLUSH)
    return head + zeros * extra_mb + c.flush()


def _runs_past_declared_size(entries):
    """The entry declares its bytes (and their CRC), but its stream inflates 1 MiB more."""
    entries[0].payload = inflating_past(entries[0].data, 1)


def hidden_200mb_wheel() -> bytes:
    """Issue 21 §5's wheel: about 204 KB, one entry declaring 100 bytes (with their CRC) whose
    deflate stream inflates to 200 MB."""
    declared = b"# " + b"x" * 97 + b"\n"
    entries = wheel_entries()
    entries.append(Entry("demo/data.txt", declared, payload=inflating_past(declared, 200)))
    return build_zip(entries)


def _ends_before_compressed_length(entries):
    entries[0].payload = deflate(entries[0].data) + b"hidden after the stream"


def _never_ends(entries):
    """Every declared byte, then no final block: the stream runs on past its compressed length."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    entries[0].payload = c.compress(entries[0].data) + c.flush(zlib.Z_SYNC_FLUSH)


def _stored_size_lie(entries):
    e = entries[0]
    e.method = zipfile.ZIP_STORED
    e.payload = e.data + b"hidden after the declared size"


def _descriptor(entries, *, honest: bool):
    e = entries[0]
    e.flags = 0x8
    crc = zlib.crc32(e.data) ^ (0 if honest else 1)
    e.descriptor = struct.pack("<4s3L", b"PK\x07\x08", crc, len(deflate(e.data)), len(e.data))


def _overlapping_wheel() -> bytes:
    """A second central entry (another name) pointing at the first entry's bytes."""
    entries = wheel_entries()
    good = build_zip(entries)
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        first = zf.infolist()[0]
    e = entries[0]
    payload = deflate(e.data)
    alias = (
        CENTRAL.pack(
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            0,
            8,
            0,
            0x21,
            zlib.crc32(e.data),
            len(payload),
            len(e.data),
            len(b"demo/alias.py"),
            0,
            0,
            0,
            0,
            0,
            first.header_offset,
        )
        + b"demo/alias.py"
    )
    return build_zip(entries, extra_central=[alias])


def _many_entries(n: int, claimed: int | None = None) -> bytes:
    """A central directory of ``n`` entries (all naming one local file) and an end record."""
    body = LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, 0x21, 0, 0, 0, 1, 0) + b"a"
    names = [b"%d" % i for i in range(n)]
    cd = b"".join(
        CENTRAL.pack(b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, 0, 0, 0, len(nm), 0, 0, 0, 0, 0, 0) + nm
        for nm in names
    )
    c = n if claimed is None else claimed
    if c <= 0xFFFF:
        return body + cd + EOCD.pack(b"PK\x05\x06", 0, 0, c, c, len(cd), len(body), 0)
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, c, c, len(cd), len(body))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body) + len(cd), 1)
    return (
        body + cd + z64 + locator + EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    )


def _zip64(**lie) -> bytes:
    return wheel(zip64_end=lie)


def _multi_disk() -> bytes:
    data = bytearray(wheel())
    data[-22 + 4 : -22 + 6] = struct.pack("<H", 1)
    return bytes(data)


WHEEL_TRICKS = [
    Trick(
        "local-name-mismatch",
        WHEEL,
        lambda: wheel(change=_first(local={"name": b"demo/evil_.py"})),
        "does not match its central directory entry: name 'demo/evil_.py'",
    ),
    Trick(
        "local-crc-mismatch",
        WHEEL,
        lambda: wheel(change=_first(local={"crc": 1234})),
        "does not match its central directory entry: CRC and sizes",
    ),
    Trick(
        "local-size-mismatch",
        WHEEL,
        lambda: wheel(change=_first(local={"usize": 99999})),
        "does not match its central directory entry: CRC and sizes",
    ),
    Trick(
        "local-method-mismatch",
        WHEEL,
        lambda: wheel(change=_first(local={"method": 0})),
        "compression method 0 (central: 8)",
    ),
    Trick(
        "local-flags-mismatch",
        WHEEL,
        lambda: wheel(change=_first(local={"flags": 0x800})),
        "flags 0x800 (central: 0x0)",
    ),
    Trick(
        "deflate-runs-past-declared-size",
        WHEEL,
        lambda: wheel(change=_runs_past_declared_size),
        "inflates past its declared size of",
    ),
    Trick(
        "deflate-200mb-behind-100-bytes",
        WHEEL,
        hidden_200mb_wheel,
        "the compressed data of 'demo/data.txt' inflates past its declared size of 100 bytes",
    ),
    Trick(
        "deflate-ends-before-compressed-length",
        WHEEL,
        lambda: wheel(change=_ends_before_compressed_length),
        "ends 23 bytes before its declared compressed length",
    ),
    Trick(
        "deflate-never-ends",
        WHEEL,
        lambda: wheel(change=_never_ends),
        "does not end within its declared compressed length",
    ),
    Trick(
        "stored-size-lie",
        WHEEL,
        lambda: wheel(change=_stored_size_lie),
        "is stored uncompressed in",
    ),
    Trick(
        "crc-mismatch", WHEEL, lambda: wheel(change=_bad_crc_data), "Bad CRC-32 for file 'demo/__init__.py'"
    ),
    Trick(
        "data-before-first-entry",
        WHEEL,
        lambda: wheel(prefix=b"#!/bin/sh\nexec evil\n"),
        "20 bytes of data before its first entry",
    ),
    Trick(
        "prepended-data-unadjusted",
        WHEEL,
        lambda: wheel(prefix=b"MZ" + b"\0" * 62, prefix_in_offsets=False),
        "has data outside its zip entries",
    ),
    Trick(
        "data-between-entries",
        WHEEL,
        lambda: wheel(between=b"hidden payload"),
        "14 bytes of data between its entries",
    ),
    Trick(
        "data-before-central-directory",
        WHEEL,
        lambda: wheel(before_cd=b"hidden"),
        "6 bytes of data between its last entry and its central directory",
    ),
    Trick(
        "trailing-junk",
        WHEEL,
        lambda: wheel(comment=b"ok", trailing=b"PK junk after the comment"),
        "25 bytes of data after the end of its zip archive",
    ),
    Trick("overlapping-entries", WHEEL, _overlapping_wheel, "has overlapping entries"),
    Trick(
        "eocd-count-lie",
        WHEEL,
        lambda: wheel(count=2),
        "its end-of-central-directory record says 2 entries but its central directory holds 4",
    ),
    Trick(
        "zip64-size-lie",
        WHEEL,
        lambda: wheel(change=_zip64_size_lie),
        "does not match its central directory entry: CRC and sizes",
    ),
    Trick(
        "zip64-locator-lie",
        WHEEL,
        lambda: _zip64(at=0),
        "zip64 end-of-central-directory locator points to the wrong place",
    ),
    Trick(
        "zip64-count-lie",
        WHEEL,
        lambda: _zip64(entries=7),
        "says 7 entries but its central directory holds 4",
    ),
    Trick("multi-disk", WHEEL, _multi_disk, "multi-disk zip archives are not supported"),
    Trick(
        "huge-entry-count",
        WHEEL,
        lambda: _many_entries(100_001),
        "has 100001 entries; the limit is 100000",
        big=True,
    ),
    Trick(
        "huge-central-directory-count-lie",
        WHEEL,
        lambda: _many_entries(100_001, claimed=3),
        "has more than 100000 entries",
        big=True,
    ),
    Trick(
        "descriptor-lie",
        WHEEL,
        lambda: wheel(change=lambda es: _descriptor(es, honest=False)),
        "the data descriptor of 'demo/__init__.py' does not match",
    ),
    Trick(
        "encrypted-entry", WHEEL, lambda: wheel(change=_first(flags=0x1)), "'demo/__init__.py' is encrypted"
    ),
    Trick(
        "unknown-compression",
        WHEEL,
        lambda: wheel(change=_first(method=99, payload=b"??")),
        "uses compression method 99",
    ),
    Trick(
        "duplicate-name",
        WHEEL,
        lambda: wheel(change=lambda es: es.append(Entry("demo/__init__.py", b"import os\n"))),
        "contains more than one entry named 'demo/__init__.py'",
    ),
    Trick(
        "absolute-entry",
        WHEEL,
        lambda: wheel(change=lambda es: es.append(Entry("/etc/evil.py", b""))),
        "unsafe path '/etc/evil.py'",
    ),
    Trick(
        "backslash-dotdot-entry",
        WHEEL,
        lambda: wheel(change=lambda es: es.append(Entry("..\\evil.py", b""))),
        "unsafe path '..\\\\evil.py'",
    ),
    Trick(
        "nul-in-entry-name",
        WHEEL,
        lambda: wheel(change=lambda es: es.append(Entry("demo/a.py\0.txt", b""))),
        "unsafe path 'demo/a.py\\x00.txt'",
    ),
    Trick(
        "declared-zip-bomb",
        WHEEL,
        lambda: wheel_bytes("demo", "1.0", extra_files={"demo/zeros.bin": b"\0" * (64 * MB)}),
        "looks like a decompression bomb",
        big=True,
    ),
]

TRICKS = SDIST_TRICKS + WHEEL_TRICKS


@functools.cache
def built(trick_id: str) -> bytes:
    return next(t for t in TRICKS if t.id == trick_id).build()


# ---------------------------------------------------------------------------------------------
# Honest archives that look unusual: these must keep working.


class _Unseekable(io.RawIOBase):
    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


def wheel_with_descriptors() -> bytes:
    """A wheel as zipfile writes it to a pipe: every entry with a data descriptor (flag bit 3)."""
    sink = _Unseekable()
    with (
        zipfile.ZipFile(io.BytesIO(wheel_bytes("demo", "1.0"))) as src,
        zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        for i in src.infolist():
            zf.writestr(i.filename, src.read(i))
    return bytes(sink.buf)


def wheel_zip64() -> bytes:
    """zipfile's force_zip64: local headers carry their sizes in a zip64 extra field."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(wheel_bytes("demo", "1.0"))) as src,
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        for i in src.infolist():
            with zf.open(i.filename, "w", force_zip64=True) as w:
                w.write(src.read(i))
    return buf.getvalue()


def sdist_with_nested_tarball() -> bytes:
    """Test data that is itself a .tar.gz, and a relative symlink and hard link inside the root."""
    inner = gz_stream([member("x/data.txt", b"hello"), END])
    return sdist(
        member("demo-1.0/tests/data.tar.gz", inner),
        header("demo-1.0/docs/README", type=tarfile.SYMTYPE, linkname="../pyproject.toml"),
        header("demo-1.0/copy.toml", type=tarfile.LNKTYPE, linkname="demo-1.0/pyproject.toml"),
        header("demo-1.0/tests", type=tarfile.DIRTYPE),
    )


def sdist_with_long_pax_name() -> bytes:
    """A pax header carrying a long (but sane) path, as tarfile writes for paths over 100 bytes."""
    return sdist(member("demo-1.0/" + "d/" * 200 + "f.py", b"", fmt=tarfile.PAX_FORMAT))


HONEST = [
    ("wheel-with-data-descriptors", WHEEL, wheel_with_descriptors),
    ("wheel-zip64-local-headers", WHEEL, wheel_zip64),
    ("hand-built-wheel", WHEEL, lambda: wheel()),
    ("wheel-with-zip64-end-records", WHEEL, lambda: wheel(zip64_end={})),
    ("sdist-nested-tarball-and-links", SDIST, sdist_with_nested_tarball),
    ("sdist-long-pax-name", SDIST, sdist_with_long_pax_name),
    ("wheel-descriptor-consistent", WHEEL, lambda: wheel(change=lambda es: _descriptor(es, honest=True))),
]

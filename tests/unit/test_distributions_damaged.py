"""distributions.inspect on damaged archives, no emulator: real wheels and sdists (built by
tests/factories.py) with bytes flipped, cut short or overwritten. Whatever the damage, the only
thing that comes out is a BadRequest (a 400 naming the file), or the archive is accepted when
the damage missed everything that is checked. Found by benchmarks/fuzz.py as 500s: zlib.error,
NotImplementedError from zipfile, TypeError/struct.error/EOFError from tarfile and gzip."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import pytest

from bale.errors import BadRequest
from bale.packages import distributions
from factories import sdist_bytes, wheel_bytes, wheel_name

LIMITS = {"max_uncompressed": 1024 * 1024 * 1024, "max_ratio": 200}  # the settings' defaults
SEED = 20261201
PAYLOAD = bytes(random.Random(1).randrange(256) for _ in range(3000)) + b"x = 1\n" * 400
WHEEL = (wheel_name("demo", "1.0"), wheel_bytes("demo", "1.0", payload=PAYLOAD))
SDIST = ("demo-1.0.tar.gz", sdist_bytes("demo", "1.0", payload=PAYLOAD))


def inspect(filename: str, data: bytes) -> distributions.Distribution:
    return distributions.inspect(
        io.BytesIO(data), distributions.parse_filename(filename), size=len(data), **LIMITS
    )


def refused_or_accepted(filename: str, data: bytes) -> str:
    """'ok' or 'refused'; anything but BadRequest fails the test (it would be a 500)."""
    try:
        inspect(filename, data)
    except BadRequest as exc:
        assert exc.status == 400
        assert filename in exc.message
        if "(" in exc.message and "not a valid" in exc.message:
            assert exc.message.startswith(filename)
        return "refused"
    return "ok"


def mutations(data: bytes, rng: random.Random, n: int):
    for _ in range(n):
        b = bytearray(data)
        how = rng.randrange(5)
        if how == 0:  # a few bit flips anywhere
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
        elif how == 1:  # a run of random bytes
            i = rng.randrange(len(b))
            for j in range(i, min(len(b), i + rng.randint(1, 16))):
                b[j] = rng.randrange(256)
        elif how == 2:  # cut short
            del b[rng.randrange(1, len(b)) :]
        elif how == 3:  # a byte set to an extreme
            b[rng.randrange(len(b))] = rng.choice((0, 0xFF, 0x7F, 0x80))
        else:  # a random 2- or 4-byte little-endian field overwritten
            i = rng.randrange(len(b) - 4)
            b[i : i + 4] = struct.pack("<L", rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(2**32))))
        yield bytes(b)


def test_undamaged_archives_are_accepted():
    for filename, data in (WHEEL, SDIST):
        assert inspect(filename, data).metadata.name == "demo"


@pytest.mark.parametrize("archive", [WHEEL, SDIST], ids=["wheel", "sdist"])
def test_damaged_archives_are_only_ever_a_400(archive):
    filename, data = archive
    rng = random.Random(SEED)
    outcomes = [refused_or_accepted(filename, damaged) for damaged in mutations(data, rng, 600)]
    assert outcomes.count("refused") > 300


def _flip_in_member(data: bytes, member: str) -> bytes:
    """A bit flipped in the middle of one member's compressed bytes, the CRC left alone."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    start = info.header_offset + 30 + len(info.orig_filename.encode()) + len(info.extra)
    b = bytearray(data)
    b[start + info.compress_size // 2] ^= 0x10
    return bytes(b)


@pytest.mark.parametrize("member", ["demo/__init__.py", "demo-1.0.dist-info/METADATA"])
def test_a_corrupt_deflate_stream_is_a_400(member):
    """zlib.error ("invalid stored block lengths", "invalid distance too far back") was a 500."""
    filename, data = WHEEL
    rng = random.Random(SEED)
    for _ in range(40):
        b = bytearray(_flip_in_member(data, member))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo(member)
        start = info.header_offset + 30 + len(info.orig_filename.encode()) + len(info.extra)
        b[start + rng.randrange(info.compress_size)] ^= 1 << rng.randrange(8)
        refused_or_accepted(filename, bytes(b))


def _set_central_field(data: bytes, offset_in_entry: int, fmt: str, value: int) -> bytes:
    """Change one field of every central and local header (both agree, so only zipfile objects)."""
    b = bytearray(data)
    for sig, base in ((b"PK\x01\x02", 0), (b"PK\x03\x04", 0)):
        i = b.find(sig)
        while i >= 0:
            off = offset_in_entry if sig == b"PK\x01\x02" else offset_in_entry - 2
            struct.pack_into(fmt, b, i + off + base, value)
            i = b.find(sig, i + 4)
    return bytes(b)


def test_unsupported_zip_version_or_method_is_a_400():
    """NotImplementedError from zipfile ("zip file version", "compression method") was a 500."""
    filename, data = WHEEL
    # version needed to extract (central offset 6, local offset 4)
    with pytest.raises(BadRequest, match="is not a valid wheel"):
        inspect(filename, _set_central_field(data, 6, "<H", 99))
    # compression method 99 (AES) in both headers
    with pytest.raises(BadRequest):
        inspect(filename, _set_central_field(data, 10, "<H", 99))
    # compression method 97 (WavPack): a known method zipfile does not implement
    with pytest.raises(BadRequest):
        inspect(filename, _set_central_field(data, 10, "<H", 97))


def test_damaged_gzip_and_tar_headers_are_a_400():
    """TypeError, struct.error, EOFError from gzip/tarfile on damaged headers were 500s."""
    filename, data = SDIST
    rng = random.Random(SEED)
    for i in range(0, 40):  # every byte of the gzip header and the first deflate bytes
        for value in (0, 0xFF, rng.randrange(256)):
            b = bytearray(data)
            b[i] = value
            refused_or_accepted(filename, bytes(b))
    for cut in range(1, len(data), max(1, len(data) // 97)):
        refused_or_accepted(filename, data[:cut])


def test_a_short_zip64_extra_field_is_not_a_struct_error():
    """A local header's zip64 extra field (tag 1) declaring more bytes than it holds made
    struct.unpack_from raise struct.error while the local headers were checked. (Shifting a real
    archive's entries to get one there is refused earlier, so the reader is checked directly.)"""
    short = struct.pack("<2H", 1, 16) + struct.pack("<Q", 5)  # says 16 bytes, holds 8
    assert distributions._zip64_sizes(short, 0xFFFFFFFF, 0xFFFFFFFF) == (5, 0xFFFFFFFF)
    assert distributions._zip64_sizes(struct.pack("<2H", 1, 16), 0xFFFFFFFF, 7) == (0xFFFFFFFF, 7)
    assert distributions._zip64_sizes(b"\x01\x00\x10", 0xFFFFFFFF, 7) == (0xFFFFFFFF, 7)

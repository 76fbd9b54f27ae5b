"""distributions.inspect on hostile archives, no emulator: every trick refused with its message,
and the honest but unusual archives accepted. Runs in seconds."""

from __future__ import annotations

import io
import os
import zlib

import pytest

from bale.errors import BadRequest
from bale.packages import distributions
from hostile import HONEST, TRICKS, WHEEL, built

LIMITS = {"max_uncompressed": 1024 * 1024 * 1024, "max_ratio": 200}  # the settings' defaults


def inspect(filename: str, data: bytes, tmp_path):
    path = tmp_path / filename
    path.write_bytes(data)
    with path.open("rb") as fh:
        return distributions.inspect(fh, distributions.parse_filename(filename), size=len(data), **LIMITS)


@pytest.mark.parametrize("trick", TRICKS, ids=[t.id for t in TRICKS])
def test_hostile_archive_is_refused(trick, tmp_path):
    with pytest.raises(BadRequest) as exc:
        inspect(trick.filename, built(trick.id), tmp_path)
    assert trick.message in exc.value.message
    assert exc.value.status == 400


@pytest.mark.parametrize("case", HONEST, ids=[c[0] for c in HONEST])
def test_honest_unusual_archive_is_accepted(case, tmp_path):
    _, filename, build = case
    dist = inspect(filename, build(), tmp_path)
    assert dist.metadata.name == "demo" and str(dist.metadata.version) == "1.0"


def test_bytes_actually_inflated_are_counted_not_declared_sizes(tmp_path):
    """A pax header that declares nothing much but a member whose pax size lies is still caught
    by the bytes inflated; and the limit is a setting."""
    from hostile import END, MB, SDIST, gz_stream, header, legit_members, repeat

    data = gz_stream([*legit_members(), header("demo-1.0/zeros", size=3 * MB), *repeat(b"\0", 3 * MB), END])
    path = tmp_path / SDIST
    path.write_bytes(data)
    with path.open("rb") as fh, pytest.raises(BadRequest, match="too large when unpacked"):
        distributions.inspect(
            fh, distributions.parse_filename(SDIST), size=len(data), max_uncompressed=2 * MB, max_ratio=10**6
        )
    with path.open("rb") as fh:
        distributions.inspect(
            fh, distributions.parse_filename(SDIST), size=len(data), max_uncompressed=4 * MB, max_ratio=10**6
        )


def test_symlink_resolution():
    esc = distributions._escapes
    assert not esc("a/b/../c", {})
    assert esc("a/../..", {})
    assert not esc("p/docs/../x", {"p/docs": "."})
    assert esc("p/l/../..", {"p/l": "."}) is True
    assert esc("p/b", {"p/a": "..", "p/b": "a/.."})  # b -> a/.. -> (p/..)/.. : above the root
    assert esc("p/loop", {"p/loop": "loop"})  # a cycle never resolves
    assert esc("p/x", {"p/x": "/etc"})


def test_an_entry_that_inflates_past_its_declared_size_is_refused(tmp_path):
    """Issue 21 §5: a 204 KB wheel whose entry declares 100 bytes (with their CRC) but whose
    deflate stream inflates to 200 MB. zipfile stops at the declared 100 bytes, so it passed;
    an unzipper that inflates to the end of the stream would write all 200 MB."""
    import zipfile

    from hostile import MB, hidden_200mb_wheel

    data = hidden_200mb_wheel()
    assert 150_000 < len(data) < 250_000
    # What a streaming unzipper gets from that entry: everything to the end of the stream.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("demo/data.txt")
        assert (info.file_size, info.CRC) == (100, zlib.crc32(zf.read(info)))
        raw = data[
            info.header_offset + 30 + len(info.filename) : info.header_offset
            + 30
            + len(info.filename)
            + info.compress_size
        ]
    d = zlib.decompressobj(-15)
    inflated = sum(len(d.decompress(raw[i : i + 65536], 0)) for i in range(0, len(raw), 65536))
    assert d.eof and inflated == 100 + 200 * MB
    with pytest.raises(BadRequest) as exc:
        inspect(WHEEL, data, tmp_path)
    assert exc.value.status == 400
    assert exc.value.message == (
        f"{WHEEL}: the compressed data of 'demo/data.txt' inflates past its declared size of 100 bytes; "
        "an entry's stream must end exactly at its declared sizes."
    )


def test_honest_entries_end_exactly_where_declared(tmp_path):
    """Deflated, stored, bzip2 and empty entries pass, and a deflated one of several steps
    (data descriptors: HONEST's wheel_with_descriptors)."""
    import zipfile

    from factories import wheel_bytes

    src = zipfile.ZipFile(io.BytesIO(wheel_bytes("demo", "1.0")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, i in enumerate(src.infolist()):
            method = (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2)[n % 3]
            zf.writestr(i.filename, src.read(i), compress_type=method)
        zf.writestr("demo/empty.txt", b"", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("demo/big.bin", os.urandom(3 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    dist = inspect(WHEEL, out.getvalue(), tmp_path)
    assert dist.metadata.name == "demo"

"""distributions.inspect on hostile archives, no emulator: every trick refused with its message,
and the honest but unusual archives accepted. Runs in seconds."""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.packages import distributions
from hostile import HONEST, TRICKS, built

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

"""bale smoke's pure parts: the wheel it generates, its versions, its one-line report."""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest
from packaging.utils import parse_wheel_filename

from bale.packages.distributions import inspect, parse_filename
from bale_tools.smoke import MIB, Failed, Report, Skipped, build_wheel, smoke_version

NOW = dt.datetime(2026, 12, 7, 7, 5, 9, 42_000, tzinfo=dt.UTC)


def test_versions_are_normalized_and_new_each_millisecond() -> None:
    assert smoke_version(NOW) == "2026.1207.70509.42"
    assert smoke_version(NOW + dt.timedelta(milliseconds=1)) != smoke_version(NOW)


@pytest.mark.parametrize("build", [None, "1"])
def test_the_wheel_passes_the_registrys_own_upload_checks(tmp_path, build) -> None:
    version = smoke_version(NOW)
    wheel = build_wheel(tmp_path, version, MIB, build=build)
    name, parsed_version, build_tag, _ = parse_wheel_filename(wheel.name)
    assert (name, str(parsed_version)) == ("bale-smoke", version)
    assert build_tag == ((1, "") if build else ())
    size = wheel.stat().st_size
    with wheel.open("rb") as fh:
        dist = inspect(fh, parse_filename(wheel.name), size=size, max_uncompressed=4 * MIB, max_ratio=10)
    assert dist.metadata.version == parsed_version
    # Stored, not deflated: the file is as large on the wire as its random payload.
    assert MIB < size < MIB + 4096
    with zipfile.ZipFile(wheel) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        assert zf.testzip() is None


def test_the_report_prints_one_line_per_check_and_never_the_token() -> None:
    out: list[str] = []
    report = Report(["s3cret"], out.append)

    def fails() -> str:
        raise Failed("uv said: bad token s3cret\nsecond line")

    def skipped() -> str:
        raise Skipped("nothing was published")

    def crashes() -> str:
        raise KeyError("x")

    assert report.check("publish (uv)", lambda: "40.0 MiB in 1.0 s") is True
    assert report.check("install (uv)", fails) is False
    report.check("yank", skipped)
    report.check("signed download", crashes)
    assert out == [
        "ok   publish (uv) 40.0 MiB in 1.0 s",
        "FAIL install (uv): uv said: bad token *** second line",
        "skip yank: nothing was published",
        "FAIL signed download: KeyError: 'x'",
    ]
    assert report.failures == 3

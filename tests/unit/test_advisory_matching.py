"""bale.advisories.osv: real OSV records (pypa/advisory-database, tests/assets/advisories),
matched by canonical name and OSV ranges/versions with packaging; CVSS scores through cvss."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from bale.advisories.osv import Malformed, parse, records, stored_affects

ASSETS = Path(__file__).parents[1] / "assets" / "advisories"


def real(name: str) -> dict:
    return yaml.safe_load((ASSETS / name).read_text())


def test_a_real_record_without_severity():
    adv = parse(real("PYSEC-2019-217.yaml"))
    assert adv.id == "PYSEC-2019-217" and adv.aliases == ["CVE-2019-10906", "GHSA-462w-v97r-4m45"]
    assert adv.score is None and "sandbox escape" in adv.summary
    jinja = adv.affected["jinja2"]
    assert jinja.affects("2.10") and jinja.affects("2.0rc1") and jinja.affects("1.0")
    assert not jinja.affects("2.10.1") and not jinja.affects("3.1.4")


def test_two_ranges_and_a_cvss_v3_score():
    adv = parse(real("PYSEC-2023-192.yaml"))
    assert adv.score == 8.1  # CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N, scored by cvss
    u = adv.affected["urllib3"]
    # ECOSYSTEM ranges [2.0.0, 2.0.6) and [0, 1.26.17); the GIT range names commits and is skipped.
    assert [v for v in ("1.26.16", "1.26.17", "2.0.0", "2.0.5", "2.0.6", "2.1.0") if u.affects(v)] == [
        "1.26.16",
        "2.0.0",
        "2.0.5",
    ]
    stored = adv.for_project("urllib3")
    assert stored_affects(stored, "1.26.16") and not stored_affects(stored, "1.26.17")


def test_names_are_matched_canonically():
    record = real("PYSEC-2021-66.yaml")
    record["affected"][0]["package"]["name"] = "Jinja2"
    assert list(parse(record).affected) == ["jinja2"]


def test_last_affected_and_explicit_versions():
    record = {
        "id": "TEST-1",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Widgets"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.2"}]}
                ],
                "versions": ["0.5"],
            }
        ],
        "severity": [
            {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}
        ],
    }
    adv = parse(record)
    w = adv.affected["widgets"]
    assert [v for v in ("0.5", "0.9", "1.0", "1.2", "1.2.1") if w.affects(v)] == ["0.5", "1.0", "1.2"]
    assert adv.score == 9.3


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda r: r.pop("id"), "no id"),
        (lambda r: r.update(affected=[]), "no affected list"),
        (lambda r: r["affected"][0]["package"].update(ecosystem="npm"), "no PyPI package"),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].insert(0, {"fixed": "1.0"}),
            "fixed before any introduced",
        ),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].append({"introduced": "not a version!"}),
            "not a PEP 440",
        ),
        (
            lambda r: r.update(severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}]),
            "invalid CVSS_V3 vector",
        ),
        # Names become document ids: one PyPI could not have is refused, not written.
        (lambda r: r["affected"][0]["package"].update(name="../x"), "'../x' is not a PyPI project name"),
        (lambda r: r["affected"][0]["package"].update(name="a/b/c"), "'a/b/c' is not a PyPI project name"),
        (lambda r: r["affected"][0]["package"].update(name=""), "'' is not a PyPI project name"),
    ],
)
def test_malformed_records_say_why(change, why):
    record = real("PYSEC-2021-66.yaml")
    change(record)
    with pytest.raises(Malformed, match=why):
        parse(record)


def test_records_from_a_directory_a_zip_and_one_file(tmp_path):
    found = [where for where, _ in records(ASSETS)]
    assert found == [
        "PYSEC-2019-217.yaml",
        "PYSEC-2021-66.yaml",
        "PYSEC-2023-192.yaml",
        "PYSEC-2023-212.yaml",
    ]
    zipped = tmp_path / "all.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("PYSEC-2023-212.json", json.dumps(real("PYSEC-2023-212.yaml"), default=str))
        zf.writestr("broken.json", "{")
    got = dict(records(zipped))
    assert parse(got["PYSEC-2023-212.json"]).score is not None
    assert isinstance(got["broken.json"], Malformed)
    ((where, doc),) = records(ASSETS / "PYSEC-2021-66.yaml")
    assert (where, doc["id"]) == ("PYSEC-2021-66.yaml", "PYSEC-2021-66")


def _lying_zip(path: Path, *, declared: int, inflated: int) -> None:
    """A zip whose one member says it is ``declared`` bytes but inflates to ``inflated``."""
    import struct

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("BOMB.json", "w") as f:
        for _ in range(inflated >> 20):
            f.write(b"\0" * (1 << 20))
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)  # the central directory's size
    struct.pack_into("<I", data, struct.unpack_from("<I", data, central + 42)[0] + 22, declared)
    path.write_bytes(bytes(data))


def test_a_member_inflating_past_its_declared_size_is_not_inflated_whole(tmp_path):
    """A bomb: 64 MiB of zeros (64 kB deflated) declared as 1,000 bytes. zipfile's read() of a
    whole member inflates all of it in one step before cutting it to the declared size (2 GiB
    of zeros took the refresh past 2 GiB of memory); read in bounded steps, it stops at the
    declared size and the CRC fails, as for any damaged member."""
    import tracemalloc

    bomb = tmp_path / "all.zip"
    _lying_zip(bomb, declared=1000, inflated=64 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            list(records(bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / (1 << 20):.0f} MiB held while reading a 1,000-byte member"


@pytest.mark.parametrize("count", [0, 3, 0xFFFF + 2])
def test_a_zips_member_count_is_read_from_its_end_record(tmp_path, count):
    """What the refresh checks before zipfile reads the whole central directory (zip64's record
    past 65,535 members)."""
    from bale.advisories.osv import zip_members

    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(count):
            zf.writestr(f"{i}.json", b"")
    assert zip_members(path) == count == len(zipfile.ZipFile(path).infolist())
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 not really")
    assert zip_members(tmp_path / "not.zip") is None

"""A team's own advisories, the pure parts: what `advisory add` accepts, and matching a
specifier set the way the public ranges are matched (no emulator needed)."""

from __future__ import annotations

import pytest

from bale.advisories.osv import stored_affects
from bale.advisories.private import check_affected, check_id, check_severity, fixed_in
from bale.errors import BadRequest


def test_the_specifier_is_kept_as_packaging_normalizes_it() -> None:
    assert check_affected(" < 1.4.2 , >=1.0", ["1.0.1", "1.0.1"]) == ("<1.4.2,>=1.0", ["1.0.1"])
    assert check_affected(None, ["2.0"]) == (None, ["2.0"])
    for bad in ("<<1", "1.4", "~=1"):
        with pytest.raises(BadRequest, match="not a PEP 440 specifier set"):
            check_affected(bad, [])


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N", 5.3),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        (None, None),
    ],
)
def test_the_score_is_the_cvss_librarys(vector, score) -> None:
    assert check_severity(vector) == score


def test_bad_vectors_and_ids_are_refused() -> None:
    with pytest.raises(BadRequest, match="not a CVSS vector"):
        check_severity("9.8")
    with pytest.raises(BadRequest, match="invalid CVSS_V3 vector"):
        check_severity("CVSS:3.1/AV:X/AC:L")
    assert check_id(" ACME-2026-1 ") == "ACME-2026-1"
    for bad in ("", "-A", "a/b", "x" * 65, "ACME 1"):
        with pytest.raises(BadRequest, match="is not usable"):
            check_id(bad)


def test_a_specifier_matches_as_pep_440_says() -> None:
    entry = {"id": "ACME-1", "specifier": "<1.4.2", "versions": ["2.0"], "ranges": []}
    assert stored_affects(entry, "1.4.1") and stored_affects(entry, "1.0rc1") and stored_affects(entry, "2.0")
    assert not stored_affects(entry, "1.4.2") and not stored_affects(entry, "1.5")
    # "<1.4.2" excludes the pre-releases of 1.4.2 itself (PEP 440), and a name that is no
    # version matches nothing but an exact entry.
    assert not stored_affects(entry, "1.4.2rc1") and not stored_affects(entry, "nightly")
    assert fixed_in(entry) == ["1.4.2"]
    assert fixed_in({"ranges": [{"introduced": "0", "fixed": "1.26.17"}, {"fixed": "2.0.6"}]}) == [
        "1.26.17",
        "2.0.6",
    ]


def test_an_overlong_vector_is_refused_without_echoing_it() -> None:
    vector = "CVSS:3.1/" + "AV:N/" * 3000
    with pytest.raises(BadRequest) as exc:
        check_severity(vector)
    assert exc.value.message == "--severity is 15009 characters long; a CVSS vector has at most 200."
    full = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A/CR:H/IR:H/AR:H/MAV:N/MAC:L/MAT:N/MPR:N/MUI:N/MVC:H/MVI:H/MVA:H/MSC:H/MSI:S/MSA:S/S:P/AU:Y/R:U/V:C/RE:H/U:Red"
    assert len(full) <= 200 and check_severity(full) is not None

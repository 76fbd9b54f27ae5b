"""Team, index and project names: full matches over ASCII only (no emulator needed)."""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.names import validate_email, validate_index, validate_project, validate_team

# Strings that a partial match ($ before a trailing newline) or a Unicode case fold
# (re.IGNORECASE without re.ASCII) used to let through, and their relatives.
ATTACKS = [
    "acme\n",  # $ matches before a trailing newline
    "acme\r\n",
    "\nacme",
    "ac\nme",
    "acme\x00",
    "acme ",
    " acme",
    "acme\t",
    "\u212acme",  # KELVIN SIGN: folds to k under IGNORECASE
    "\u017fpam",  # LATIN SMALL LETTER LONG S: folds to s
    "\u0130stanbul",  # LATIN CAPITAL LETTER I WITH DOT ABOVE: lowercases to i + combining dot
    "\uff41cme",  # FULLWIDTH a
    "acme\u200b",  # zero-width space
    "acm\u0435",  # Cyrillic e
    "acme\u0301",  # combining acute accent
    "ac%0Ame",
    "acme/..",
    "..",
    ".",
    "",
]


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize("check", [validate_team, validate_index, validate_project])
def test_attack_strings_are_refused(check, value):
    with pytest.raises(BadRequest):
        check(value)


@pytest.mark.parametrize("check", [validate_team, validate_index, validate_project])
@pytest.mark.parametrize("value", [None, 1, b"acme", ["acme"]])
def test_non_strings_are_refused(check, value):
    with pytest.raises(BadRequest):
        check(value)


@pytest.mark.parametrize("value", ["acme", "a", "a1", "team-42", "0", "a" * 39])
def test_valid_slugs(value):
    assert validate_team(value) == value
    assert validate_index(value) == value


@pytest.mark.parametrize(
    "value",
    ["Acme", "-acme", "acme-", "a_b", "a.b", "a" * 40, "acme\n", "ACME", "k\u212a"],
)
def test_invalid_slugs(value):
    with pytest.raises(BadRequest):
        validate_team(value)
    with pytest.raises(BadRequest):
        validate_index(value)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("Django", "django"),
        ("oslo.concurrency", "oslo-concurrency"),
        ("Foo__Bar", "foo-bar"),
        ("a", "a"),
        ("A-._b", "a-b"),
        ("KELVIN", "kelvin"),
        ("9", "9"),
    ],
)
def test_valid_projects_normalize(name, normalized):
    assert validate_project(name) == normalized


@pytest.mark.parametrize(
    "name", ["-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "a\\b", "a@b", "a+b", "a:b"]
)
def test_invalid_projects(name):
    with pytest.raises(BadRequest):
        validate_project(name)


def test_kelvin_sign_no_longer_aliases_an_ascii_project():
    # It used to pass and normalize to "kelvin": the same documents as a real project's.
    with pytest.raises(BadRequest):
        validate_project("\u212aelvin")
    assert validate_project("Kelvin") == "kelvin"


@pytest.mark.parametrize("value", ["alice@example.com", " Alice@Example.COM\n"])
def test_valid_emails(value):
    assert validate_email(value) == "alice@example.com"


@pytest.mark.parametrize(
    "value", ["", "alice", "alice@", "@example.com", "a@b", "a b@example.com", "a@ex ample.com", "a@@b.c"]
)
def test_invalid_emails(value):
    with pytest.raises(BadRequest):
        validate_email(value)

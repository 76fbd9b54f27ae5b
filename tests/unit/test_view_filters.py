"""The filter language of views (bale.views.filters): what it accepts, how it compares, what it
refuses and where, and what unknown upload times do."""

from __future__ import annotations

import datetime as dt

import pytest

from bale.errors import BadRequest
from bale.views.filters import FIELDS, MAX_DEPTH, MAX_LENGTH, FilterError, Subject, compile_filter

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def subject(
    name: str = "demo",
    version: str = "1.0",
    filename: str = "demo-1.0-py3-none-any.whl",
    when: str | None = "2025-01-01T00:00:00",
    release: str | None = None,
    package: str | None = None,
) -> Subject:
    t = at(when) if when else None
    return Subject(
        name,
        version,
        filename,
        file_time=t,
        release_time=at(release) if release else t,
        package_time=at(package) if package else t,
    )


def keeps(expr: str, s: Subject) -> bool:
    return compile_filter(expr).keeps(s, NOW)


@pytest.mark.parametrize(
    ("expr", "kept"),
    [
        ('release.upload_time <= "2025-01-01"', True),
        ('release.upload_time < "2025-01-01"', False),
        ('release.upload_time <= "2024-12-31T23:59:59"', False),
        ('release.upload_time <= "2025-01-01T01:00:00+02:00"', False),  # 2024-12-31T23:00Z
        ('release.upload_time >= "2025-01-01T01:00:00+02:00"', True),
        ('"2024-06-01" < file.upload_time < "2025-02-01"', True),
        ("release.age_days >= 7", True),
        ("release.age_days >= 152", False),  # 151.5 days old
        ("release.age_days > 151.4 and release.age_days < 151.6", True),
        ("package.age_days >= -1", True),
        ('package.name != "setuptools"', True),
        ('package.name != "Demo"', False),  # normalized
        ('package.name == "DEMO"', True),
        ('package.name not in ("setuptools", "DeMo")', False),
        ('package.name in ["demo"]', True),
        ('release.version < "2"', True),
        ('release.version < "1.0.0"', False),  # PEP 440: 1.0 == 1.0.0
        ('release.version == "1.0.0"', True),
        ('release.version in ("1.0.0", "2")', True),
        ('release.version >= "1.0a1"', True),
        ('file.name == "demo-1.0-py3-none-any.whl"', True),
        ('"none-any" in file.name', True),
        ('".tar.gz" in file.name', False),
        ('".tar.gz" not in file.name', True),
        ('not package.name == "demo" or release.version == "1"', True),
        ('(package.name == "x" or release.version > "0.9") and not (file.name == "y")', True),
    ],
)
def test_comparisons(expr: str, kept: bool) -> None:
    assert keeps(expr, subject()) is kept


def test_versions_order_as_pep_440_not_as_text() -> None:
    f = compile_filter('release.version < "1.10"')
    assert f.keeps(subject(version="1.9"), NOW)
    assert not f.keeps(subject(version="1.10.0"), NOW)
    assert not f.keeps(subject(version="1.11"), NOW)


def test_release_and_package_times_are_their_own() -> None:
    s = subject(when="2025-05-30", release="2025-05-01", package="2020-01-01")
    assert keeps('file.upload_time > "2025-05-29"', s)
    assert keeps("release.age_days >= 7", s)
    assert keeps('package.upload_time < "2021-01-01"', s)
    assert not keeps("package.age_days < 365", s)


def test_age_follows_the_clock() -> None:
    f = compile_filter("release.age_days >= 7")
    s = subject(when="2025-06-01T00:00:00")
    assert not f.keeps(s, NOW)
    assert f.keeps(s, NOW + dt.timedelta(days=7))


@pytest.mark.parametrize(
    ("expr", "truth"),
    [
        ('release.upload_time <= "2025-01-01"', None),
        ("release.age_days >= 7", None),
        ("not (release.age_days < 7)", None),
        ('package.name == "other" and release.age_days >= 7', False),
        ('package.name == "demo" or release.age_days >= 7', True),
        ('package.name == "demo" and release.age_days >= 7', None),
        ('package.name != "demo" or file.upload_time >= "2020-01-01"', None),
    ],
)
def test_unknown_upload_times_are_three_valued_and_hide(expr: str, truth: bool | None) -> None:
    f = compile_filter(expr)
    s = subject(when=None)
    assert f.truth(s, NOW) is truth
    assert f.keeps(s, NOW) is (truth is True)


def test_an_unparsable_version_is_unknown() -> None:
    f = compile_filter('release.version < "2"')
    assert f.truth(subject(version="not a version"), NOW) is None


def test_explain_names_each_failing_comparison() -> None:
    f = compile_filter('release.age_days >= 7 and package.name != "demo" and release.version < "5"')
    assert f.explain(subject(), NOW) == ['package.name != "demo" is false']
    assert f.explain(subject(when=None), NOW) == [
        "release.age_days >= 7 is unknown",
        'package.name != "demo" is false',
    ]


def test_fields_used_are_reported() -> None:
    assert compile_filter('release.age_days > 1 or "x" in file.name').fields == {
        "release.age_days",
        "file.name",
    }


@pytest.mark.parametrize(
    ("expr", "column", "words"),
    [
        ("package.nam == 'x'", 1, "unknown field package.nam; allowed: " + ", ".join(FIELDS)),
        ("package.name == 'x' and release.size > 3", 25, "unknown field release.size"),
        ("package.name.lower == 'x'", 1, "unknown field package.name.lower"),
        ("__import__('os').system('x') == 1", 1, "a function call is not allowed; allowed: comparisons"),
        ("package.name is 'x'", 1, "the operator Is is not allowed; allowed: == != < <= > >= in, not in"),
        ("release.age_days + 1 > 3", 1, "arithmetic is not allowed"),
        ("release.version < 'banana'", 19, "'banana' is not a PEP 440 version"),
        ("release.upload_time <= 'last year'", 24, "not an ISO 8601 date or time"),
        ("release.upload_time <= 20250101", 24, "compares with a string"),
        ("release.age_days >= '7'", 21, "compares with a number of days"),
        ("release.age_days >= True", 21, "True is not a string or a number"),
        ("release.age_days >= 1e999", 21, "compares with a number of days"),
        ("package.name < 'm'", 16, "package.name compares only with ==, !=, in and not in"),
        ("package.name in 'abc'", 17, "in needs a literal tuple or list"),
        (
            "'x' in release.version",
            1,
            "only package.name, file.name and release.advisories can be on the right of in",
        ),
        ("release.cve_max_score < 'high'", 25, "compares with a CVSS score (0 to 10)"),
        ("release.advisories == 'PYSEC-1'", 23, "is a set of advisory ids; test one"),
        ("release.advisories in ('PYSEC-1',)", 23, "is a set of advisory ids; test one"),
        ("package.status == 'gone'", 19, "'gone' is not a project status; one of active, archived"),
        ("package.status < 'b'", 18, "package.status compares only with ==, !=, in and not in"),
        ("package.name == file.name", 1, "compare a field with a literal, not with another field"),
        ("1 == 1", 1, "a comparison needs one field"),
        ("package.name", 1, "package.name alone is not a condition"),
        ("'x'", 1, "the literal 'x' alone is not a condition"),
        ("package.name == == 'x'", 17, "is not a valid expression"),
        ("package.name == f'{1}'", 17, "an f-string is not allowed"),
        ("package.name in (x for x in 'ab')", 17, "a comprehension is not allowed"),
        ("package.name in ('a', release.version)", 23, "not a literal"),
    ],
)
def test_refusals_name_the_column_and_what_is_allowed(expr: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(expr)
    assert isinstance(caught.value, BadRequest) and caught.value.status == 400
    assert caught.value.column == column
    assert words in caught.value.message
    assert caught.value.message.startswith(f"filter, column {column}: ")


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ('package.name in {"a"}', "a set (use a tuple or a list)"),
        ('package.name in {"a": 1}', "a dict"),
        ('package.name in [x for x in "a"]', "a comprehension"),
        ('package.name in (*"ab",)', "unpacking (*)"),
        ("release.age_days > ~1", "an operator before a value"),
        ("release.age_days > -(-1)", "an operator before a value"),
        ('package.name in ("a", ("b",))', "a nested tuple"),
        ("await x", "'await x' is not allowed"),
        ("(yield)", "'(yield)' is not allowed"),
    ],
)
def test_refusals_use_words_not_python_class_names(expr: str, words: str) -> None:
    with pytest.raises(BadRequest) as exc:
        compile_filter(expr)
    message = exc.value.message
    assert words in message
    for name in ("Set", "Dict", "ListComp", "Starred", "UnaryOp", "Tuple", "Await", "Yield"):
        assert f"{name} is" not in message, message


@pytest.mark.parametrize("expr", ["release.ａｇｅ_days >= 7", "ｒelease.age_days >= 7"])
def test_field_names_are_ascii_as_written(expr: str) -> None:
    with pytest.raises(BadRequest, match="is not a field name as written; use ASCII letters"):
        compile_filter(expr)


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(BadRequest) as exc:
        compile_filter('package.name == "é" or release.agedays > 1')
    assert exc.value.message.startswith("filter, column 24: unknown field release.agedays")
    assert compile_filter('package.name == "é"').source == 'package.name == "é"'


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_out_of_range_in_utc_is_refused(when: str) -> None:
    with pytest.raises(BadRequest, match="is out of range in UTC"):
        compile_filter(f'release.upload_time <= "{when}"')


def test_size_limits() -> None:
    with pytest.raises(FilterError, match="at most 2000 are allowed"):
        compile_filter("package.name == '" + "x" * MAX_LENGTH + "'")
    with pytest.raises(FilterError, match="nested too deeply"):
        compile_filter("(" * (MAX_DEPTH + 1) + "package.name == 'x'" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(FilterError, match="nested too deeply"):
        compile_filter("not " * 60 + "package.name == 'x'")
    with pytest.raises(FilterError, match="parts; at most 400"):
        compile_filter("package.name in (" + ",".join(["'a'"] * 450) + ")")
    with pytest.raises(FilterError, match="empty"):
        compile_filter("   ")
    with pytest.raises(FilterError, match="NUL"):
        compile_filter("package.name == '\x00'")


def scored(
    score: float | None, ids: tuple[str, ...] = (), package: float | None = None, status: str = "active"
) -> Subject:
    return Subject(
        "demo",
        "1.0",
        "demo-1.0-py3-none-any.whl",
        release_score=score,
        package_score=score if package is None else package,
        release_advisories=frozenset(ids),
        package_status=status,
    )


@pytest.mark.parametrize(
    ("score", "shown"),
    [(0.0, True), (6.9, True), (7.0, False), (8.1, False), (None, False)],
)
def test_a_score_floor_hides_releases_scored_7_or_more_and_unknown_scores(
    score: float | None, shown: bool
) -> None:
    # A release without advisories has score 0; one whose advisory has no score is unknown, so hidden.
    assert keeps("release.cve_max_score < 7", scored(score)) is shown


def test_package_score_is_the_projects_maximum() -> None:
    s = scored(0.0, package=9.8)
    assert keeps("release.cve_max_score < 7", s)
    assert not keeps("package.cve_max_score < 7", s)
    assert keeps("package.cve_max_score >= 9", s)


def test_advisory_ids_are_a_set_tested_with_in() -> None:
    s = scored(8.1, ("PYSEC-2023-192", "GHSA-v845-jxx5-vc9f"))
    assert not keeps('"GHSA-v845-jxx5-vc9f" not in release.advisories', s)
    assert keeps('"PYSEC-2023-192" in release.advisories', s)
    # Exact ids, not substrings.
    assert not keeps('"PYSEC-2023" in release.advisories', s)
    assert keeps('release.cve_max_score < 7 or "GHSA-v845-jxx5-vc9f" in release.advisories', s)
    assert keeps('"PYSEC-2023-192" not in release.advisories', scored(0.0))


def test_package_status_compares_as_a_status() -> None:
    assert keeps('package.status != "quarantined"', scored(0.0))
    assert not keeps('package.status in ("deprecated", "archived")', scored(0.0))
    assert keeps('package.status == "Deprecated"', scored(0.0, status="deprecated"))
    assert compile_filter('package.status == "active" and release.cve_max_score < 7').fields == {
        "package.status",
        "release.cve_max_score",
    }

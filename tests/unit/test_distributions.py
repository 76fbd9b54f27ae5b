"""bale.packages.distributions: filenames, archives, core metadata, classifiers, form fields.

Real wheels and sdists are built with tests/factories.py in a temporary directory and read
back through ``inspect``, as the upload does, without the upload's storage.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from packaging.version import Version

from bale.errors import BadRequest
from bale.packages import distributions as d
from factories import make_sdist, make_wheel, metadata_text, sdist_bytes, wheel_bytes

LIMITS = {"max_uncompressed": 10 * 1024 * 1024, "max_ratio": 200}


def inspect(path: Path) -> d.Distribution:
    parsed = d.parse_filename(path.name)
    with path.open("rb") as fh:
        dist = d.inspect(fh, parsed, size=path.stat().st_size, **LIMITS)
        assert fh.tell() == 0  # left rewound for the blob write that follows
    return dist


def inspect_bytes(filename: str, data: bytes) -> d.Distribution:
    return d.inspect(io.BytesIO(data), d.parse_filename(filename), size=len(data), **LIMITS)


# -- filenames ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "widgets-1.0-py3-none-any.whl",
        "widgets-1.0.tar.gz",
        "Widgets_X-1.0+local.1-py3-none-any.whl",
        "a" * 251 + ".whl",
        "w-1!2.0.tar.gz",
    ],
)
def test_check_filename_accepts(name):
    assert d.check_filename(name) == name


@pytest.mark.parametrize(
    "name, message",
    [
        ("../widgets-1.0.tar.gz", "must not contain a path"),
        ("dir/widgets-1.0.tar.gz", "must not contain a path"),
        ("dir\\widgets-1.0.tar.gz", "must not contain a path"),
        ("..", "must not contain a path"),
        (".", "must not contain a path"),
        (".hidden-1.0.tar.gz", "use letters, digits"),
        ("widgets 1.0.tar.gz", "use letters, digits"),
        ("widgets-1.0.tar.gz\n", "use letters, digits"),
        ("widgets-1.0\x00.whl", "use letters, digits"),
        ("wídgets-1.0.tar.gz", "use letters, digits"),
        ("a" * 252 + ".whl", "use letters, digits"),
        ("", "use letters, digits"),
    ],
)
def test_check_filename_refuses(name, message):
    with pytest.raises(BadRequest, match=message):
        d.check_filename(name)


def test_parse_wheel_filename():
    p = d.parse_filename("My_Pkg-1.0-py3-none-any.whl")
    assert (p.project, p.version, p.packagetype, p.python_tag, p.archive) == (
        "my-pkg",
        Version("1.0"),
        "bdist_wheel",
        "py3",
        "zip",
    )
    p = d.parse_filename("pkg-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert p.python_tag == "cp312"
    p = d.parse_filename("pkg-2.0-py2.py3-none-any.whl")
    assert p.python_tag == "py2.py3"


def test_parse_sdist_filename():
    p = d.parse_filename("my_pkg-1.0rc1.tar.gz")
    assert (p.project, p.version, p.packagetype, p.python_tag, p.archive) == (
        "my-pkg",
        Version("1.0rc1"),
        "sdist",
        "source",
        "tar.gz",
    )
    assert d.parse_filename("my_pkg-1.0.zip").archive == "zip"


@pytest.mark.parametrize(
    "name, message",
    [
        ("widgets-1.0.exe", "upload a wheel"),
        ("widgets-1.0-py2.7.egg", "upload a wheel"),
        ("widgets-1.0.tar.bz2", "upload a wheel"),
        ("widgets.whl", "Invalid wheel filename"),
        ("widgets-banana-py3-none-any.whl", "Invalid wheel filename"),
        ("widgets.tar.gz", "Invalid sdist filename"),
        ("widgets-banana.tar.gz", "Invalid sdist filename"),
    ],
)
def test_parse_filename_refuses(name, message):
    with pytest.raises(BadRequest, match=message):
        d.parse_filename(name)


@pytest.mark.parametrize(
    "name",
    [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.0-1-cp312-cp312-manylinux_2_17_x86_64.whl",
        # A wheel's version is compared with its metadata, not its spelling (as on PyPI).
        "foo_bar-1.0.0rc1-py3-none-any.whl",
        "foo_bar-1.0-py2.py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
        "foo_bar-1.0.post1.tar.gz",
        "foo_bar-1.0.zip",
        "x-1-py3-none-any.whl",
    ],
)
def test_normalized_filenames_pass(name):
    parsed = d.parse_filename(name)
    assert d.normalized_filename(parsed) == name
    d.check_normalized_filename(parsed)


@pytest.mark.parametrize(
    "name, expected, prefix",
    [
        (
            "Foo.Bar-1.0-py3-none-any.whl",
            "foo_bar-1.0-py3-none-any.whl",
            "Start the filename for 'Foo.Bar' with 'foo_bar'",
        ),
        ("Foo_Bar-1.0-py3-none-any.whl", "foo_bar-1.0-py3-none-any.whl", "'Foo_Bar' with 'foo_bar'"),
        ("FOO-1.0-py3-none-any.whl", "foo-1.0-py3-none-any.whl", "'FOO' with 'foo'"),
        ("foo.bar-2.0-1-py3-none-any.whl", "foo_bar-2.0-1-py3-none-any.whl", "'foo.bar' with 'foo_bar'"),
        ("Foo.Baz-1.0.tar.gz", "foo_baz-1.0.tar.gz", "Start the filename for 'Foo.Baz' with 'foo_baz'"),
        ("foo-baz-1.0.tar.gz", "foo_baz-1.0.tar.gz", "'foo-baz' with 'foo_baz'"),
        ("Foo_Baz-1.0.zip", "foo_baz-1.0.zip", "'Foo_Baz' with 'foo_baz'"),
        # PEP 625: an sdist's version is written normalized too.
        ("foo_baz-1.0RC1.tar.gz", "foo_baz-1.0rc1.tar.gz", "Rename 'foo_baz-1.0RC1.tar.gz'"),
        ("foo_baz-01.0.tar.gz", "foo_baz-1.0.tar.gz", "Rename 'foo_baz-01.0.tar.gz'"),
    ],
)
def test_unnormalized_filenames_are_refused_naming_the_expected_name(name, expected, prefix):
    parsed = d.parse_filename(name)
    assert d.normalized_filename(parsed) == expected
    with pytest.raises(BadRequest) as exc:
        d.check_normalized_filename(parsed)
    assert prefix in str(exc.value)
    assert repr(expected) in str(exc.value)


# -- archives and their metadata ---------------------------------------------------------------
def test_inspect_a_wheel(tmp_path):
    path = make_wheel(tmp_path, "My-Pkg", "1.0", requires=["requests>=2"], requires_python=">=3.9")
    dist = inspect(path)
    assert str(dist.metadata.name) == "My-Pkg" and dist.metadata.version == Version("1.0")
    assert (
        dist.raw_metadata
        == metadata_text("My-Pkg", "1.0", requires=["requests>=2"], requires_python=">=3.9").encode()
    )
    assert [str(r) for r in dist.metadata.requires_dist] == ["requests>=2"]


def test_inspect_an_sdist(tmp_path):
    dist = inspect(make_sdist(tmp_path, "my_pkg", "2.0.post1"))
    assert str(dist.metadata.name) == "my_pkg" and dist.metadata.version == Version("2.0.post1")


def test_a_version_spelled_differently_still_matches(tmp_path):
    # 1.0.0 in the filename, 1.0 in METADATA: the same PEP 440 version.
    data = wheel_bytes(
        "widgets", "1.0.0", metadata=metadata_text("widgets", "1.0"), dist_info="widgets-1.0.dist-info"
    )
    assert inspect_bytes("widgets-1.0.0-py3-none-any.whl", data).metadata.version == Version("1.0")


def test_metadata_name_must_match_the_filename(tmp_path):
    data = wheel_bytes("widgets", "1.0", metadata=metadata_text("gadgets", "1.0"))
    with pytest.raises(BadRequest, match=r"the name in its metadata \('gadgets'\) does not match"):
        inspect_bytes("widgets-1.0-py3-none-any.whl", data)


def test_metadata_version_must_match_the_filename():
    data = sdist_bytes("widgets", "1.0", metadata=metadata_text("widgets", "1.1"))
    with pytest.raises(
        BadRequest, match=r"the version in its metadata \(1.1\) does not match the filename \(1.0\)"
    ):
        inspect_bytes("widgets-1.0.tar.gz", data)


def test_dist_info_must_match_the_filename():
    data = wheel_bytes("widgets", "1.0", dist_info="gadgets-1.0.dist-info")
    with pytest.raises(BadRequest, match=re.escape("its .dist-info directory 'gadgets-1.0' does not match")):
        inspect_bytes("widgets-1.0-py3-none-any.whl", data)


def test_a_wheel_needs_exactly_one_metadata():
    two = wheel_bytes("widgets", "1.0", extra_files={"other-1.0.dist-info/METADATA": b"Name: other\n"})
    with pytest.raises(BadRequest, match=r"exactly one .dist-info/METADATA \(found 2\)"):
        inspect_bytes("widgets-1.0-py3-none-any.whl", two)


def test_not_an_archive():
    with pytest.raises(BadRequest, match="is not a valid wheel"):
        inspect_bytes("widgets-1.0-py3-none-any.whl", b"PK\x03\x04 not really a zip")
    with pytest.raises(BadRequest, match=re.escape("is not a valid .tar.gz archive")):
        inspect_bytes("widgets-1.0.tar.gz", b"\x1f\x8b not really gzip")
    # A wheel uploaded under an sdist's name is read as what its name says.
    with pytest.raises(BadRequest, match=re.escape("is not a valid .tar.gz archive")):
        inspect_bytes("widgets-1.0.tar.gz", wheel_bytes("widgets", "1.0"))


@pytest.mark.parametrize(
    "metadata, message",
    [
        (
            "Metadata-Version: 2.1\nName: widgets\nVersion: 1.0\nRequires-Dist: requests >>= 2\n",
            "invalid metadata",
        ),
        ("Metadata-Version: 2.1\nName: widgets\n", "invalid metadata"),  # no Version
        ("Metadata-Version: 9.9\nName: widgets\nVersion: 1.0\n", "invalid metadata"),
        ("Metadata-Version: 2.1\nName: widgets\nVersion: 1.0\nLicense-File: LICENSE\n", "setuptools>=77"),
    ],
)
def test_invalid_metadata_is_refused_with_its_reason(metadata, message):
    with pytest.raises(BadRequest, match=message) as exc:
        inspect_bytes("widgets-1.0-py3-none-any.whl", wheel_bytes("widgets", "1.0", metadata=metadata))
    assert "widgets-1.0-py3-none-any.whl" in exc.value.message


def test_parse_metadata_reads_a_valid_document():
    meta = d.parse_metadata(metadata_text("widgets", "3.1", classifiers=["Typing :: Typed"]).encode(), "f")
    assert (str(meta.name), meta.version, meta.classifiers) == (
        "widgets",
        Version("3.1"),
        ["Typing :: Typed"],
    )


LICENSED = (
    "Metadata-Version: 2.4\nName: widgets\nVersion: 1.0\nLicense-Expression: MIT\nLicense-File: LICENSE\n"
)


def test_license_files_must_be_in_the_wheel():
    ok = wheel_bytes(
        "widgets", "1.0", metadata=LICENSED, extra_files={"widgets-1.0.dist-info/licenses/LICENSE": b"MIT"}
    )
    assert inspect_bytes("widgets-1.0-py3-none-any.whl", ok).metadata.license_files == ["LICENSE"]
    missing = wheel_bytes("widgets", "1.0", metadata=LICENSED, extra_files={"LICENSE": b"MIT"})
    with pytest.raises(
        BadRequest,
        match=r"License-File 'LICENSE' is named in its metadata but is not in \.dist-info/licenses/",
    ):
        inspect_bytes("widgets-1.0-py3-none-any.whl", missing)


def test_license_files_must_be_in_the_sdist():
    with pytest.raises(BadRequest, match="is not in the sdist's top-level directory"):
        inspect_bytes("widgets-1.0.tar.gz", sdist_bytes("widgets", "1.0", metadata=LICENSED))


# -- form fields --------------------------------------------------------------------------------
@pytest.fixture
def dist(tmp_path) -> d.Distribution:
    return inspect(make_wheel(tmp_path, "My_Widgets", "1.0"))


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"name": "my-widgets"},
        {"name": " MY.WIDGETS "},
        {"version": "1.0.0"},
        {"version": "1.0"},
        {"filetype": "bdist_wheel"},
        {"filetype": "sdist"},
        {"name": "", "version": "", "filetype": ""},
    ],
)
def test_form_agrees(dist, form):
    d.check_form_agrees(form, dist)


@pytest.mark.parametrize(
    "form, message",
    [
        (
            {"name": "gadgets"},
            r"The form's name 'gadgets' does not match the file's metadata \('My_Widgets'\)",
        ),
        ({"version": "1.1"}, r"The form's version '1.1' does not match the file's metadata \(1.0\)"),
        ({"version": "banana"}, "Invalid version 'banana'"),
        ({"filetype": "bdist_egg"}, "Unsupported filetype 'bdist_egg'"),
    ],
)
def test_form_disagrees(dist, form, message):
    with pytest.raises(BadRequest, match=message):
        d.check_form_agrees(form, dist)


# -- classifiers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "classifiers",
    [
        [],
        ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"],
        ["Private :: bale"],
        ["Private :: bale :: acme"],
        ["  Private :: bale :: acme  ", "Private::bale"],  # spacing does not matter
        ["Private :: bale", "Private :: bale :: acme", "Typing :: Typed"],
    ],
)
def test_classifiers_accepted_for_team_acme(classifiers):
    d.check_classifiers(classifiers, team="acme", namespace="bale")


@pytest.mark.parametrize(
    "classifier, message",
    [
        (
            "Private :: bale :: beta",
            "keeps this package inside team 'beta'; it cannot be uploaded to team 'acme'",
        ),
        ("Private :: Do Not Upload", "marks this package as not for upload here"),
        ("Private :: corp", "marks this package as not for upload here"),
        ("Private :: bale :: acme :: extra", "marks this package as not for upload here"),
        ("Private", "marks this package as not for upload here"),
        ("Framework :: Nonexistent", "is not a valid classifier"),
        ("programming language :: python :: 3", "is not a valid classifier"),  # case matters
        ("Framework :: Django CMS :: 4.2", "is deprecated"),
    ],
)
def test_classifiers_refused_for_team_acme(classifier, message):
    with pytest.raises(BadRequest, match=message):
        d.check_classifiers(["Typing :: Typed", classifier], team="acme", namespace="bale")


def test_the_private_namespace_is_a_setting():
    d.check_classifiers(["Private :: corp", "Private :: corp :: acme"], team="acme", namespace="corp")
    with pytest.raises(BadRequest, match="use 'Private :: corp' or 'Private :: corp :: acme'"):
        d.check_classifiers(["Private :: bale"], team="acme", namespace="corp")


# -- summary ------------------------------------------------------------------------------------
def test_summary_keeps_what_the_dashboard_shows_and_drops_what_is_empty(tmp_path):
    extra = "Project-URL: Homepage, https://example.com/widgets\nKeywords: a,b\nAuthor: Ada\n"
    path = make_wheel(
        tmp_path,
        "widgets",
        "1.0",
        requires=["requests>=2", "rich; extra == 'ui'"],
        classifiers=["Typing :: Typed"],
        requires_python=">=3.9",
        summary="Widgets!",
        description="# Widgets\n\nHello.\n",
        extra=extra,
    )
    s = d.summary(inspect(path).metadata)
    assert s == {
        "metadata_version": "2.1",
        "summary": "Widgets!",
        "description": "# Widgets\n\nHello.\n",
        "description_content_type": "text/markdown",
        "author": "Ada",
        "requires_python": ">=3.9",
        "requires_dist": ["requests>=2", 'rich; extra == "ui"'],
        "classifiers": ["Typing :: Typed"],
        "project_urls": {"Homepage": "https://example.com/widgets"},
        "keywords": ["a", "b"],
    }


def test_summary_bounds_the_description(tmp_path):
    path = make_wheel(tmp_path, "widgets", "1.0", description="x" * 300_000)
    assert len(d.summary(inspect(path).metadata)["description"]) == 200_000


def test_several_private_namespaces_each_with_the_same_rules():
    """BALE_PRIVATE_NAMESPACES=bale,pyx: packages marked for pyx publish unchanged."""
    both = ("bale", "pyx")
    d.check_classifiers(["Private :: pyx", "Private :: pyx :: acme"], team="acme", namespace=both)
    d.check_classifiers(["Private :: bale :: acme"], team="acme", namespace=both)
    with pytest.raises(BadRequest, match="keeps this package inside team 'acme'"):
        d.check_classifiers(["Private :: pyx :: acme"], team="other", namespace=both)
    with pytest.raises(BadRequest, match="use 'Private :: bale' or 'Private :: bale :: acme'"):
        d.check_classifiers(["Private :: corp"], team="acme", namespace=both)
    with pytest.raises(BadRequest, match="not for upload here"):
        d.check_classifiers(["Private :: pyx :: acme :: extra"], team="acme", namespace=both)
    # Only the namespaces named count.
    with pytest.raises(BadRequest, match="not for upload here"):
        d.check_classifiers(["Private :: pyx"], team="acme", namespace="bale")

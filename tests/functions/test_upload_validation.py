"""The upload API refuses bad input with a clear 4xx and stores nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from collections.abc import Callable

import pytest
import requests

from factories import metadata_text, sdist_bytes, wheel_bytes, wheel_name
from uploads import form_for, post


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return buf.getvalue()


GOOD = wheel_name("demo", "1.0")


@dataclasses.dataclass
class Case:
    id: str
    build: Callable[[], tuple[str, bytes, dict]]  # -> filename, bytes, extra form fields
    status: int
    message: str


def _wheel(**kw):
    return lambda: (GOOD, wheel_bytes("demo", "1.0", **kw), {})


def _meta(text):
    return _wheel(metadata=text)


# Metadata 2.4 naming a license file (PEP 639), which the archive must then hold.
LICENSED = "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\nLicense-File: LICENSE\n"


CASES = [
    Case(
        "no-action",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {":action": "submit"}),
        400,
        "Unsupported :action",
    ),
    Case(
        "bad-protocol",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"protocol_version": "2"}),
        400,
        "protocol_version",
    ),
    Case(
        "path-in-filename",
        lambda: ("../" + GOOD, wheel_bytes("demo", "1.0"), {}),
        400,
        "must not contain a path",
    ),
    Case(
        "absolute-filename",
        lambda: ("/etc/" + GOOD, wheel_bytes("demo", "1.0"), {}),
        400,
        "must not contain a path",
    ),
    Case(
        "weird-chars",
        lambda: ("demo-1.0-py3-none-any$.whl", wheel_bytes("demo", "1.0"), {}),
        400,
        "Invalid filename",
    ),
    Case(
        "unnormalized-wheel-name",
        lambda: ("Foo.Bar-1.0-py3-none-any.whl", wheel_bytes("Foo.Bar", "1.0"), {}),
        400,
        "Start the filename for 'Foo.Bar' with 'foo_bar': rename 'Foo.Bar-1.0-py3-none-any.whl' to "
        "'foo_bar-1.0-py3-none-any.whl'",
    ),
    Case(
        "unnormalized-sdist-name",
        lambda: ("Foo.Baz-1.0.tar.gz", sdist_bytes("Foo.Baz", "1.0"), {}),
        400,
        "Start the filename for 'Foo.Baz' with 'foo_baz'",
    ),
    Case(
        "unnormalized-sdist-version",
        lambda: ("demo-1.0RC1.tar.gz", sdist_bytes("demo", "1.0rc1"), {}),
        400,
        "Rename 'demo-1.0RC1.tar.gz' to 'demo-1.0rc1.tar.gz'",
    ),
    Case("egg", lambda: ("demo-1.0-py3.11.egg", wheel_bytes("demo", "1.0"), {}), 400, "upload a wheel"),
    Case(
        "bad-wheel-name",
        lambda: ("demo-1.0.whl", wheel_bytes("demo", "1.0"), {}),
        400,
        "Invalid wheel filename",
    ),
    Case(
        "bad-version-in-filename",
        lambda: ("demo-notaversion-py3-none-any.whl", wheel_bytes("demo", "1.0"), {}),
        400,
        "Invalid wheel filename",
    ),
    Case(
        "bad-sdist-name",
        lambda: ("demo.tar.gz", sdist_bytes("demo", "1.0"), {}),
        400,
        "Invalid sdist filename",
    ),
    Case("empty-file", lambda: (GOOD, b"", {"sha256_digest": None}), 400, "empty"),
    Case("not-a-zip", lambda: (GOOD, b"this is not a zip file", {}), 400, "not a valid wheel"),
    Case("not-a-tarball", lambda: ("demo-1.0.tar.gz", b"\x1f\x8bnope", {}), 400, "not a valid .tar.gz"),
    Case(
        "sha256-mismatch",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"sha256_digest": "0" * 64}),
        400,
        "sha256_digest given does not match",
    ),
    Case(
        "md5-mismatch",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"md5_digest": "0" * 32}),
        400,
        "md5_digest given does not match",
    ),
    Case(
        "blake2-mismatch",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"blake2_256_digest": "0" * 64}),
        400,
        "blake2_256_digest",
    ),
    Case(
        "no-metadata",
        lambda: (GOOD, zip_of({"demo/__init__.py": b""}), {}),
        400,
        "exactly one .dist-info/METADATA",
    ),
    Case(
        "two-metadata",
        lambda: (
            GOOD,
            zip_of(
                {
                    "demo-1.0.dist-info/METADATA": metadata_text("demo", "1.0").encode(),
                    "other-1.0.dist-info/METADATA": b"x",
                }
            ),
            {},
        ),
        400,
        "found 2",
    ),
    Case("dist-info-mismatch", _wheel(dist_info="other-1.0.dist-info"), 400, "does not match the filename"),
    Case("metadata-name-mismatch", _meta(metadata_text("other", "1.0")), 400, "name in its metadata"),
    Case("metadata-version-mismatch", _meta(metadata_text("demo", "2.0")), 400, "version in its metadata"),
    Case(
        "metadata-invalid-version",
        _meta("Metadata-Version: 2.1\nName: demo\nVersion: one\n"),
        400,
        "invalid metadata",
    ),
    Case("metadata-missing-name", _meta("Metadata-Version: 2.1\nVersion: 1.0\n"), 400, "invalid metadata"),
    Case(
        "metadata-bad-requires",
        _meta(metadata_text("demo", "1.0", requires=["not a ^ requirement"])),
        400,
        "invalid metadata",
    ),
    Case(
        "form-name-mismatch",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"name": "other"}),
        400,
        "does not match the filename",
    ),
    Case(
        "form-version-mismatch",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"name": "demo", "version": "1.1"}),
        400,
        "form's version",
    ),
    Case(
        "form-version-invalid",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"name": "demo", "version": "x.y"}),
        400,
        "not a PEP 440 version",
    ),
    Case(
        "unknown-classifier",
        _wheel(classifiers=["Programming Language :: Cobol :: 85"]),
        400,
        "is not a valid classifier",
    ),
    Case(
        "form-unknown-classifier",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"classifiers": "Made Up :: Thing"}),
        400,
        "is not a valid classifier",
    ),
    Case("do-not-upload", _wheel(classifiers=["Private :: Do Not Upload"]), 400, "not for upload here"),
    Case("other-private", _wheel(classifiers=["Private :: internal"]), 400, "not for upload here"),
    Case(
        "other-team-private", _wheel(classifiers=["Private :: bale :: globex"]), 400, "inside team 'globex'"
    ),
    Case(
        "unsafe-member",
        lambda: (
            GOOD,
            zip_of({"demo-1.0.dist-info/METADATA": metadata_text("demo", "1.0").encode(), "../evil.py": b""}),
            {},
        ),
        400,
        "unsafe path",
    ),
    Case(
        "zip-bomb",
        _wheel(extra_files={"demo/zeros.bin": b"\0" * (64 * 1024 * 1024)}),
        400,
        "decompression bomb",
    ),
    Case(
        "sdist-no-pkg-info",
        lambda: ("demo-1.0.tar.gz", _tar({"demo-1.0/setup.py": b""}), {}),
        400,
        "exactly one top-level PKG-INFO",
    ),
    Case(
        "license-file-missing-from-wheel",
        _meta(LICENSED),
        400,
        "License-File 'LICENSE' is named in its metadata but is not in .dist-info/licenses/",
    ),
    Case(
        "license-file-at-wheel-root",
        _wheel(metadata=LICENSED, extra_files={"LICENSE": b"MIT"}),
        400,
        "License-File 'LICENSE'",
    ),
    Case(
        "license-file-missing-from-sdist",
        lambda: ("demo-1.0.tar.gz", _tar({"demo-1.0/PKG-INFO": LICENSED.encode()}), {}),
        400,
        "License-File 'LICENSE' is named in its metadata but is not in the sdist's top-level directory",
    ),
    # What setuptools < 77 wrote: License-File under Metadata-Version 2.1 (PyPI refuses it too).
    Case(
        "license-file-before-2.4",
        _meta("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-File: LICENSE\n"),
        400,
        "license-file introduced in metadata version 2.4, not 2.1 (setuptools older than 77",
    ),
    Case(
        "duplicate-zip-entry",
        lambda: (GOOD, _dup_zip(), {}),
        400,
        "contains more than one entry named 'demo/__init__.py'",
    ),
    Case(
        "filetype-unknown",
        lambda: (GOOD, wheel_bytes("demo", "1.0"), {"filetype": "bdist_egg"}),
        400,
        "Unsupported filetype",
    ),
]


def _dup_zip() -> bytes:
    """A valid wheel with a second, different entry under an existing name."""
    import warnings

    buf = io.BytesIO(wheel_bytes("demo", "1.0"))
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "a") as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        zf.writestr("demo/__init__.py", b"import os; os.system('evil')\n")
    return buf.getvalue()


def _tar(entries: dict[str, bytes]) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for k, v in entries.items():
            info = tarfile.TarInfo(k)
            info.size = len(v)
            tf.addfile(info, io.BytesIO(v))
    return buf.getvalue()


def assert_nothing_stored(stack):
    from bale.packages.service import Packages

    assert Packages(stack.stores).projects("acme", "main") == []
    assert stack.stores.blobs.list() == []
    project_docs = list(stack.stores.db.collection_group("files").stream())
    assert project_docs == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_upload_is_refused_and_leaves_nothing(stack, case):
    filename, data, extra = case.build()
    form, files = form_for(filename, data, **extra)
    r = post(stack, form, files, token=stack.token())
    assert r.status_code == case.status, r.text
    assert case.message in r.text
    # The message is in the status line too, which is what uv and twine print.
    assert case.message.split("'")[0].strip() in r.reason
    assert r.headers["Content-Type"].startswith("text/plain")
    assert_nothing_stored(stack)


def test_private_classifiers_allowed(stack):
    token = stack.token()
    for name, classifier in (("anywhere", "Private :: bale"), ("only-acme", "Private :: bale :: acme")):
        data = wheel_bytes(name, "1.0", classifiers=[classifier, "Programming Language :: Python :: 3"])
        r = post(stack, *form_for(wheel_name(name, "1.0"), data), token=token)
        assert r.status_code == 200, r.text


def test_license_files_where_pep_639_puts_them_are_accepted(stack):
    token = stack.token()
    wheel = wheel_bytes(
        "demo", "1.0", metadata=LICENSED, extra_files={"demo-1.0.dist-info/licenses/LICENSE": b"MIT"}
    )
    assert post(stack, *form_for(GOOD, wheel), token=token).status_code == 200
    sdist = _tar({"./demo-1.0/PKG-INFO": LICENSED.encode(), "./demo-1.0/LICENSE": b"MIT"})
    r = post(stack, *form_for("demo-1.0.tar.gz", sdist), token=token)
    assert r.status_code == 200, r.text
    # A license file stored as a link in the tarball counts too.
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        meta = LICENSED.replace("1.0", "1.1").encode()
        for name, data in (("demo-1.1/PKG-INFO", meta), ("demo-1.1/COPYING", b"MIT")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("demo-1.1/LICENSE")
        link.type, link.linkname = tarfile.SYMTYPE, "COPYING"
        tf.addfile(link)
    r = post(stack, *form_for("demo-1.1.tar.gz", buf.getvalue()), token=token)
    assert r.status_code == 200, r.text


def test_namespace_comes_from_settings():
    from bale.errors import BadRequest
    from bale.packages.distributions import check_classifiers

    check_classifiers(["Private :: corp :: acme"], team="acme", namespace="corp")
    with pytest.raises(BadRequest):
        check_classifiers(["Private :: bale"], team="acme", namespace="corp")


def test_no_credentials_is_401_with_challenge(stack):
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert_nothing_stored(stack)


def test_a_truncated_token_is_called_truncated(stack):
    """A token cut short in a copy and paste still starts with 'bale_': say what is wrong."""
    token = stack.token()
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=token[:-1])
    assert r.status_code == 401 and "malformed or truncated" in r.text and "64 characters" in r.reason
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token="pypi-" + token)
    assert r.status_code == 401 and "a Bale token starts with 'bale_'" in r.text
    assert_nothing_stored(stack)


def test_bearer_token_is_accepted(stack):
    r = post(
        stack,
        *form_for(GOOD, wheel_bytes("demo", "1.0")),
        headers={"Authorization": f"Bearer {stack.token()}"},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "scope,path,message",
    [
        ({"permission": "read"}, "/v1/upload/acme/main/", "only read"),
        ({"projects": ["other"]}, "/v1/upload/acme/main/", "may not upload project 'demo'"),
        ({}, "/v1/upload/acme/staging/", "not acme/staging"),
    ],
)
def test_token_scope_is_403_naming_what_is_missing(stack, scope, path, message):
    from bale.tenancy.service import Tenancy

    Tenancy(stack.stores).create_index("acme", "staging")
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=stack.token(**scope), path=path)
    assert r.status_code == 403
    assert message in r.text
    assert_nothing_stored(stack)


def test_foreign_team_token_gets_403(stack, tenancy):
    tenancy.create_team("globex", "g@example.com")
    token = stack.token(team="globex")
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=token)
    assert r.status_code == 403 and "globex/main, not acme/main" in r.text


def test_unknown_route_and_method(stack):
    assert requests.get(stack.url + "/v1/upload/acme/main/").status_code == 405
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=stack.token(), path="/v1/upload/acme/")
    assert r.status_code == 404


def test_too_large_is_413(stack, settings, monkeypatch):
    monkeypatch.setenv("BALE_MAX_UPLOAD_BYTES", "4096")
    from bale.settings import get_settings

    get_settings.cache_clear()
    try:
        data = wheel_bytes("demo", "1.0", payload=os.urandom(8192))
        r = post(stack, *form_for(GOOD, data), token=stack.token())
        assert r.status_code == 413
        assert "limit is 4096 bytes" in r.text
        assert_nothing_stored(stack)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_same_file_twice_is_200_and_different_content_is_400(stack):
    token = stack.token()
    first = wheel_bytes("demo", "1.0")
    assert post(stack, *form_for(GOOD, first), token=token).status_code == 200
    again = post(stack, *form_for(GOOD, first), token=token)
    assert again.status_code == 200 and "already exists with the same content" in again.text
    other = wheel_bytes("demo", "1.0", payload=b"# changed\n")
    r = post(stack, *form_for(GOOD, other), token=token)
    assert r.status_code == 400 and "File already exists" in r.text
    # The first upload's bytes are untouched, and the refused content left no blob.
    from bale.packages.service import Packages

    rec = Packages(stack.stores).file("acme", "main", "demo", GOOD)
    assert rec.sha256 == hashlib.sha256(first).hexdigest()
    blobs = stack.stores.blobs.list()
    assert sorted(blobs) == sorted([rec.blob_path, rec.metadata_path])


def test_deleted_filename_cannot_be_reused(stack):
    from bale.clock import now
    from bale.packages.service import Packages

    token = stack.token()
    data = wheel_bytes("demo", "1.0")
    assert post(stack, *form_for(GOOD, data), token=token).status_code == 200
    pk = Packages(stack.stores)
    pk.file_ref("acme", "main", "demo", GOOD).update({"deleted_at": now()})
    for content in (data, wheel_bytes("demo", "1.0", payload=b"# new\n")):
        r = post(stack, *form_for(GOOD, content), token=token)
        assert r.status_code == 400 and "cannot be reused" in r.text


def test_sdist_zip_and_metadata_stored_beside_file(stack):
    token = stack.token()
    pkg_info = metadata_text("oldstyle", "0.9")
    data = zip_of({"oldstyle-0.9/PKG-INFO": pkg_info.encode(), "oldstyle-0.9/setup.py": b""})
    r = post(stack, *form_for("oldstyle-0.9.zip", data), token=token)
    assert r.status_code == 200, r.text
    from bale.packages.service import Packages

    rec = Packages(stack.stores).file("acme", "main", "oldstyle", "oldstyle-0.9.zip")
    assert rec.packagetype == "sdist"
    assert stack.stores.blobs.read(rec.metadata_path) == pkg_info.encode()
    assert rec.metadata_sha256 == hashlib.sha256(pkg_info.encode()).hexdigest()


def test_upload_to_an_index_that_is_gone_is_a_404_and_other_teams_learn_nothing(stack, tenancy):
    from bale.tenancy.service import Tenancy

    tenancy.create_index("acme", "old")
    token = stack.token(index="old")
    Tenancy(stack.stores).index_ref("acme", "old").delete()  # removed after the token was made
    r = post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=token, path="/v1/upload/acme/old/")
    assert r.status_code == 404 and "No index acme/old" in r.text
    # A token of acme/main asking about acme/old (gone) or acme/nope (never was): one answer.
    main = stack.token()
    answers = [
        post(stack, *form_for(GOOD, wheel_bytes("demo", "1.0")), token=main, path=f"/v1/upload/acme/{i}/")
        for i in ("old", "nope")
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].text.replace("old", "X") == answers[1].text.replace("nope", "X")
    assert_nothing_stored(stack)

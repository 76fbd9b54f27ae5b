"""The Simple API and downloads over real HTTP, on the real emulators.

Pages are checked field by field against PEP 503/691 (HTML, JSON), 592 (yanked), 658/714
(core metadata) and 700 (versions, size, upload-time); auth against the privacy rules (401
with a challenge, 403 that never depends on what exists); and the hot path by counting the
Firestore documents a request really fetches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html.parser
import io
import os
import re
import urllib.parse
import zipfile

import pytest
import requests

from bulk import FirestoreReads, bulk_project
from factories import metadata_text, sdist_bytes, wheel_bytes, wheel_name

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


# -- helpers ------------------------------------------------------------------------------------
def publish(stack, token, filename: str, data: bytes, team="acme", index="main"):
    r = requests.post(
        f"{stack.url}/v1/upload/{team}/{index}/",
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        },
        files={"content": (filename, data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return data


def publish_wheel(stack, token, name, version, **kw):
    return publish(stack, token, wheel_name(name, version), wheel_bytes(name, version, **kw))


def get(stack, path, token=None, accept=None, *, method="GET", basic=False, headers=None, **kw):
    h = dict(headers or {})
    if token and basic:
        kw["auth"] = ("__token__", token)
    elif token:
        h["Authorization"] = f"Bearer {token}"
    if accept is not None:
        h["Accept"] = accept
    url = path if path.startswith("http") else stack.url + path
    return requests.request(method, url, headers=h, allow_redirects=False, timeout=30, **kw)


class Links(html.parser.HTMLParser):
    """The anchors and <meta> tags of a Simple API HTML page."""

    def __init__(self):
        super().__init__()
        self.anchors: list[dict] = []
        self.meta: dict[str, str] = {}
        self._open = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self._open = {**a, "text": ""}
            self.anchors.append(self._open)
        elif tag == "meta" and "name" in a:
            self.meta[a["name"]] = a.get("content")

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None


def parse_html(text: str) -> Links:
    p = Links()
    p.feed(text)
    return p


def server_db():
    """The Firestore client the served functions use (same process: bale dev's dispatcher)."""
    from bale.api.simple import routing as simple_routing

    return simple_routing.services()[1].db


IN_ORDER = [
    wheel_name("Demo", "1.0rc1"),
    wheel_name("Demo", "1.0"),
    "demo-1.0.tar.gz",
    wheel_name("Demo", "2.0"),
    wheel_name("Demo", "10.0"),
]


@pytest.fixture
def demo(stack):
    """A project with a wheel and an sdist of 1.0, plus 1.0rc1, 2.0 and 10.0 wheels."""
    token = stack.token()
    files = {}
    files[wheel_name("Demo", "1.0")] = publish_wheel(stack, token, "Demo", "1.0", requires_python=">=3.8")
    files["demo-1.0.tar.gz"] = publish(
        stack, token, "demo-1.0.tar.gz", sdist_bytes("Demo", "1.0", requires_python=">=3.8")
    )
    for v in ("2.0", "10.0", "1.0rc1"):
        files[wheel_name("Demo", v)] = publish_wheel(stack, token, "Demo", v)
    return files


# -- PEP 691 / 700 JSON -------------------------------------------------------------------------
def test_json_project_page_field_by_field(stack, demo):
    token = stack.token("read")
    page_url = f"{stack.url}/simple/acme/main/demo/"
    r = get(stack, page_url, token, JSON_V1)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_V1
    doc = r.json()
    assert set(doc) == {"meta", "name", "versions", "files"}
    assert doc["meta"] == {"api-version": "1.4", "_last-serial": 5}
    assert doc["name"] == "demo"
    # PEP 700: every version, in version order (a string sort would put 10.0 before 2.0).
    assert doc["versions"] == ["1.0rc1", "1.0", "2.0", "10.0"]
    # Files in version order, then by filename (whatever order the page's chunks hold them in).
    assert [f["filename"] for f in doc["files"]] == IN_ORDER

    now = dt.datetime.now(dt.UTC)
    for f in doc["files"]:
        data = demo[f["filename"]]
        keys = {
            "filename",
            "url",
            "hashes",
            "core-metadata",
            "dist-info-metadata",
            "yanked",
            "size",
            "upload-time",
            "provenance",  # PEP 740: none here (no attestations were uploaded)
        }
        if f["filename"] in (wheel_name("Demo", "1.0"), "demo-1.0.tar.gz"):
            keys.add("requires-python")
        assert set(f) == keys, f
        assert f["hashes"] == {"sha256": hashlib.sha256(data).hexdigest()}
        assert f["size"] == len(data)
        assert f["yanked"] is False
        assert f["provenance"] is None
        assert UPLOAD_TIME.match(f["upload-time"]), f["upload-time"]
        uploaded = dt.datetime.fromisoformat(f["upload-time"].replace("Z", "+00:00"))
        assert abs((now - uploaded).total_seconds()) < 120
        if "requires-python" in f:
            assert f["requires-python"] == ">=3.8"
        # The URL (relative or absolute, resolved against the page) serves exactly those bytes...
        file_url = urllib.parse.urljoin(page_url, f["url"])
        assert urllib.parse.urlsplit(file_url).path == f"/simple/acme/main/demo/{f['filename']}"
        got = get(stack, file_url, token)
        assert got.status_code == 200 and got.content == data
        # ...and its METADATA (PEP 658/714) is at url + .metadata with the advertised hash.
        assert f["core-metadata"] == f["dist-info-metadata"]
        assert SHA256.match(f["core-metadata"]["sha256"])
        meta = get(stack, file_url + ".metadata", token)
        assert meta.status_code == 200
        assert hashlib.sha256(meta.content).hexdigest() == f["core-metadata"]["sha256"]
        assert meta.content.startswith(b"Metadata-Version: 2.1\nName: Demo\n")


def test_json_project_list(stack, demo):
    token = stack.token()
    publish_wheel(stack, token, "Another.Thing", "0.1")
    r = get(stack, "/simple/acme/main/", token, JSON_V1)
    assert r.status_code == 200 and r.headers["Content-Type"] == JSON_V1
    # The list's serial counts the projects added to the index: demo, then another-thing.
    assert r.json() == {
        "meta": {"api-version": "1.4", "_last-serial": 2},
        "projects": [{"name": "Another.Thing"}, {"name": "Demo"}],
    }
    page = parse_html(get(stack, "/simple/acme/main/", token).text)
    assert page.meta["pypi:repository-version"] == "1.4"
    assert [(a["href"], a["text"]) for a in page.anchors] == [
        ("another-thing/", "Another.Thing"),
        ("demo/", "Demo"),
    ]


# -- PEP 503 HTML -------------------------------------------------------------------------------
def test_html_project_page(stack, demo):
    token = stack.token("read")
    page_url = f"{stack.url}/simple/acme/main/demo/"
    r = get(stack, page_url, token)  # no Accept: HTML
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.text.startswith("<!DOCTYPE html>")
    # Requires-Python is HTML-escaped in the attribute (PEP 503).
    assert 'data-requires-python="&gt;=3.8"' in r.text
    assert ">=3.8" not in r.text
    page = parse_html(r.text)
    assert page.meta == {"pypi:repository-version": "1.4"}
    assert [a["text"] for a in page.anchors] == IN_ORDER
    for a in page.anchors:
        data = demo[a["text"]]
        url, _, fragment = a["href"].partition("#")
        assert fragment == "sha256=" + hashlib.sha256(data).hexdigest()
        file_url = urllib.parse.urljoin(page_url, url)
        assert get(stack, file_url, token).content == data
        meta = get(stack, file_url + ".metadata", token).content
        assert (
            a["data-core-metadata"]
            == a["data-dist-info-metadata"]
            == "sha256=" + hashlib.sha256(meta).hexdigest()
        )
        assert "data-yanked" not in a
        if a["text"] in (wheel_name("Demo", "1.0"), "demo-1.0.tar.gz"):
            assert a["data-requires-python"] == ">=3.8"
        else:
            assert "data-requires-python" not in a


def test_content_negotiation(stack, demo):
    token = stack.token("read")
    cases = [
        (None, "text/html; charset=utf-8"),
        ("", "text/html; charset=utf-8"),
        ("*/*", "text/html; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        (HTML_V1, HTML_V1),
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        (JSON_V1, JSON_V1),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        (PIP_ACCEPT, JSON_V1),
        (f"{JSON_V1};q=0.2, text/html", "text/html; charset=utf-8"),
        (f"{JSON_V1};q=0.9, {HTML_V1}", HTML_V1),
        (f"text/html;q=0.5, {JSON_V1}", JSON_V1),
        ("application/json, text/plain", None),
        ("text/html;q=0", None),
    ]
    for accept, expected in cases:
        for path in ("/simple/acme/main/demo/", "/simple/acme/main/"):
            r = get(stack, path, token, accept)
            if expected is None:
                assert r.status_code == 406, (accept, r.status_code)
                assert JSON_V1 in r.text
            else:
                assert r.status_code == 200, (accept, r.text)
                assert r.headers["Content-Type"] == expected, (accept, path)
                assert (r.text.lstrip()[0] == "{") == (expected == JSON_V1)
                assert "Accept" in r.headers["Vary"]


# -- status codes -------------------------------------------------------------------------------
def test_redirects_to_normalized_and_slashed_urls(stack, demo):
    token = stack.token("read")
    for path, location in [
        ("/simple/acme/main/Demo/", "/simple/acme/main/demo/"),
        ("/simple/acme/main/DEMO/?x=1&y=2", "/simple/acme/main/demo/?x=1&y=2"),
        ("/simple/acme/main/demo", "/simple/acme/main/demo/"),
        ("/simple/acme/main/Hello_World.x", "/simple/acme/main/hello-world-x/"),
        ("/simple/acme/main", "/simple/acme/main/"),
        ("/simple/acme/main?format=json", "/simple/acme/main/?format=json"),
    ]:
        r = get(stack, path, token)
        assert r.status_code == 301, (path, r.status_code)
        assert (
            urllib.parse.urlsplit(r.headers["Location"])._replace(scheme="", netloc="").geturl() == location
        )
    # The normalized page itself answers 200, a file URL with a non-normalized project redirects.
    assert get(stack, "/simple/acme/main/demo/", token).status_code == 200
    r = get(stack, f"/files/acme/main/Demo/{wheel_name('Demo', '1.0')}", token)
    assert r.status_code == 301 and r.headers["Location"].endswith(
        f"/files/acme/main/demo/{wheel_name('Demo', '1.0')}"
    )


def test_not_found(stack, demo):
    token = stack.token("read")
    for path in (
        "/simple/acme/main/nothing-here/",
        "/simple/acme/main/-bad-/",
        "/simple/acme/",
        "/simple/",
        "/simple/acme/main/demo/extra/",
        "/simple/Acme/main/",
        "/files/acme/main/demo/nothing-1.0-py3-none-any.whl",
        "/files/acme/main/demo/",
        "/files/acme/main/demo/" + wheel_name("Demo", "1.0") + ".metadata.metadata",
    ):
        assert get(stack, path, token).status_code == 404, path


def test_write_methods_are_405(stack, demo):
    token = stack.token()
    for path in (
        "/simple/acme/main/demo/",
        "/simple/acme/main/",
        f"/files/acme/main/demo/{wheel_name('Demo', '1.0')}",
    ):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            r = get(stack, path, token, method=method)
            assert r.status_code == 405, (method, path)
            assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
            # A POST to an index is an upload sent to the wrong URL: name the right one.
            names_upload = f"Upload to {stack.url}/v1/upload/acme/main/ instead." in r.text
            assert names_upload == (method == "POST" and path.startswith("/simple/")), (method, path, r.text)
            assert (f"{stack.url}/v1/upload/acme/main/" in r.reason) == names_upload


def test_head_has_headers_and_no_body(stack, demo):
    token = stack.token("read")
    plain = {"Accept-Encoding": "identity"}
    g = get(stack, "/simple/acme/main/demo/", token, JSON_V1, headers=plain)
    h = get(stack, "/simple/acme/main/demo/", token, JSON_V1, method="HEAD", headers=plain)
    assert h.status_code == 200 and h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"]
    assert int(h.headers["Content-Length"]) == len(g.content)
    wheel = wheel_name("Demo", "1.0")
    h = get(stack, f"/files/acme/main/demo/{wheel}", token, method="HEAD")
    assert h.status_code == 200 and h.content == b""
    assert int(h.headers["Content-Length"]) == len(demo[wheel])
    g = get(stack, f"/files/acme/main/demo/{wheel}.metadata", token)
    h = get(stack, f"/files/acme/main/demo/{wheel}.metadata", token, method="HEAD")
    assert h.status_code == 200 and h.content == b"" and g.content.startswith(b"Metadata-Version")
    assert int(h.headers["Content-Length"]) == len(g.content)


def test_record_whose_bytes_vanished_is_a_404_not_a_500(stack, demo):
    from bale.packages.service import Packages

    token = stack.token("read")
    wheel = wheel_name("Demo", "1.0")
    rec = Packages(stack.stores).file("acme", "main", "demo", wheel)
    stack.stores.blobs.delete(rec.blob_path)
    stack.stores.blobs.delete(rec.metadata_path)
    for suffix in ("", ".metadata"):
        r = get(stack, f"/simple/acme/main/demo/{wheel}{suffix}", token)
        assert r.status_code == 404, (suffix, r.status_code)
        assert f"No file '{wheel}{suffix}'" in r.text


# -- caching: ETag, 304 -------------------------------------------------------------------------
def test_etag_and_304(stack, demo):
    token = stack.token()
    path = "/simple/acme/main/demo/"
    j = get(stack, path, token, JSON_V1)
    h = get(stack, path, token)
    for r in (j, h):
        assert re.fullmatch(r'"[0-9a-f]{16,}"', r.headers["ETag"]), r.headers["ETag"]  # strong, not W/
        assert r.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
        assert {v.strip() for v in r.headers["Vary"].split(",")} == {
            "Accept",
            "Accept-Encoding",
            "Authorization",
            "Cookie",
        }
    assert j.headers["ETag"] != h.headers["ETag"]
    r = get(stack, path, token, JSON_V1, headers={"If-None-Match": j.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["ETag"] == j.headers["ETag"]
    # An HTML client presenting the JSON tag gets the full HTML page.
    assert get(stack, path, token, headers={"If-None-Match": j.headers["ETag"]}).status_code == 200
    # A new upload changes the page: the old tag no longer matches, the cache is not stale.
    publish_wheel(stack, token, "Demo", "11.0")
    r = get(stack, path, token, JSON_V1, headers={"If-None-Match": j.headers["ETag"]})
    assert r.status_code == 200 and r.headers["ETag"] != j.headers["ETag"]
    assert r.json()["versions"][-1] == "11.0" and r.json()["meta"]["_last-serial"] == 6
    assert get(stack, path, token, JSON_V1, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    # Files: their ETag is their sha256.
    wheel = wheel_name("Demo", "1.0")
    f = get(stack, f"/files/acme/main/demo/{wheel}", token)
    assert f.headers["ETag"] == f'"{hashlib.sha256(demo[wheel]).hexdigest()}"'
    assert f.headers["Cache-Control"].startswith("private")
    assert (
        get(
            stack, f"/files/acme/main/demo/{wheel}", token, headers={"If-None-Match": f.headers["ETag"]}
        ).status_code
        == 304
    )


def test_pages_are_gzipped_for_clients_that_accept_it(stack, demo):
    import gzip

    token = stack.token("read")
    for accept in (JSON_V1, "text/html"):
        plain = get(stack, "/simple/acme/main/demo/", token, accept, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        packed = get(
            stack, "/simple/acme/main/demo/", token, accept, headers={"Accept-Encoding": "gzip"}, stream=True
        )
        raw = packed.raw.read(decode_content=False)
        assert packed.headers["Content-Encoding"] == "gzip"
        assert int(packed.headers["Content-Length"]) == len(raw) < len(plain.content)
        assert gzip.decompress(raw) == plain.content
        # Two representations, two strong tags; each revalidates on its own.
        assert packed.headers["ETag"] != plain.headers["ETag"]
        again = get(
            stack,
            "/simple/acme/main/demo/",
            token,
            accept,
            headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]},
        )
        assert again.status_code == 304
        other = get(
            stack,
            "/simple/acme/main/demo/",
            token,
            accept,
            headers={"Accept-Encoding": "identity", "If-None-Match": packed.headers["ETag"]},
        )
        assert other.status_code == 200 and other.content == plain.content


# -- auth ---------------------------------------------------------------------------------------
def test_credentials_required(stack, demo):
    from bale.tokens.service import Tokens

    read = stack.token("read")
    wheel = wheel_name("Demo", "1.0")
    paths = (
        "/simple/acme/main/demo/",
        "/simple/acme/main/",
        f"/files/acme/main/demo/{wheel}",
        f"/files/acme/main/demo/{wheel}.metadata",
    )
    revoked = stack.token("read")
    Tokens(stack.stores).revoke("acme", revoked.split("_")[1])
    for path in paths:
        for r in (
            get(stack, path),  # nothing
            get(stack, path, "bale_0000000000000000_" + "x" * 43),  # unknown
            get(stack, path, read[:-1] + ("A" if read[-1] != "A" else "B")),  # wrong secret
            get(stack, path, revoked),
            get(stack, path, "not-a-token", basic=True),
            get(stack, path, auth=("someone", read)),  # Basic, but not __token__
        ):
            assert r.status_code == 401, (path, r.status_code)
            assert r.headers["WWW-Authenticate"] == 'Basic realm="bale"'
        # Basic __token__:<token> and Bearer both work, read and upload tokens alike.
        assert get(stack, path, read, basic=True).status_code == 200
        assert get(stack, path, read).status_code == 200
        assert get(stack, path, stack.token("upload")).status_code == 200


def _same_answer(a: requests.Response, b: requests.Response, *names: tuple[str, str]):
    ta, tb = a.text, b.text
    for pair in names:
        for name in pair:
            ta, tb = ta.replace(name, "P"), tb.replace(name, "P")
    assert (a.status_code, ta) == (b.status_code, tb)


def test_other_team_or_index_cannot_tell_what_exists(stack, demo, tenancy):
    tenancy.create_team("globex", "gus@example.com")
    tenancy.create_index("acme", "staging")
    secret = wheel_bytes("secret", "1.0")
    publish(stack, stack.token(team="globex"), wheel_name("secret", "1.0"), secret, team="globex")
    acme = stack.token("upload")  # even upload tokens of another team see nothing
    staging = stack.token("read", index="staging")
    cases = [
        (acme, "/simple/globex/main/secret/", "/simple/globex/main/absent/"),
        (acme, "/simple/globex/main/", "/simple/nosuchteam/main/"),
        (
            acme,
            f"/files/globex/main/secret/{wheel_name('secret', '1.0')}",
            f"/files/globex/main/absent/{wheel_name('absent', '1.0')}",
        ),
        (staging, "/simple/acme/main/demo/", "/simple/acme/main/absent/"),
        (
            staging,
            f"/files/acme/main/demo/{wheel_name('Demo', '1.0')}",
            f"/files/acme/main/absent/{wheel_name('absent', '1.0')}",
        ),
    ]
    for token, existing, missing in cases:
        a, b = get(stack, existing, token), get(stack, missing, token)
        assert a.status_code == 403, (existing, a.status_code, a.text)
        _same_answer(a, b, ("globex/main", "nosuchteam/main"))
        assert "secret" not in a.text and "demo" not in a.text.lower()
        # The same for the JSON flavour, and whatever the name's spelling.
        assert get(stack, existing, token, JSON_V1).status_code == 403
    assert get(stack, "/simple/globex/main/Secret/", acme).status_code == 301  # URL-only, leaks nothing


def test_project_limited_token(stack, demo):
    upload = stack.token()
    publish_wheel(stack, upload, "alpha", "1.0")
    publish_wheel(stack, upload, "beta", "1.0")
    limited = stack.token("read", projects=["Alpha", "gamma"])
    # The list shows only its projects (gamma does not exist: not listed either).
    r = get(stack, "/simple/acme/main/", limited, JSON_V1)
    assert [p["name"] for p in r.json()["projects"]] == ["alpha"]
    assert [a["text"] for a in parse_html(get(stack, "/simple/acme/main/", limited).text).anchors] == [
        "alpha"
    ]
    assert get(stack, "/simple/acme/main/alpha/", limited).status_code == 200
    assert get(stack, f"/files/acme/main/alpha/{wheel_name('alpha', '1.0')}", limited).status_code == 200
    # Another project answers the same whether it exists (beta, demo) or not (delta).
    answers = [get(stack, f"/simple/acme/main/{p}/", limited) for p in ("beta", "demo", "delta")]
    for r, p in zip(answers, ("beta", "demo", "delta"), strict=False):
        assert r.status_code == 403
        _same_answer(answers[0], r, ("beta", p))
    f = [get(stack, f"/files/acme/main/{p}/{wheel_name(p, '1.0')}", limited) for p in ("beta", "delta")]
    assert f[0].status_code == 403
    _same_answer(f[0], f[1], ("beta", "delta"))


# -- downloads ----------------------------------------------------------------------------------
def test_downloads_headers_and_bytes(stack, demo):
    token = stack.token("read")
    wheel = wheel_name("Demo", "1.0")
    r = get(stack, f"/files/acme/main/demo/{wheel}", token, basic=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert int(r.headers["Content-Length"]) == len(demo[wheel]) == len(r.content)
    assert r.content == demo[wheel]
    zipfile.ZipFile(io.BytesIO(r.content)).testzip()
    r = get(stack, f"/files/acme/main/demo/{wheel}.metadata", token)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.content == metadata_text("Demo", "1.0", requires_python=">=3.8").encode()
    assert int(r.headers["Content-Length"]) == len(r.content)
    r = get(stack, "/files/acme/main/demo/demo-1.0.tar.gz", token)
    assert r.content == demo["demo-1.0.tar.gz"]


def test_blob_without_live_record_is_never_served(stack, demo):
    from bale.clock import now
    from bale.packages.service import Packages
    from bale.store.paths import blob_path

    token = stack.token("read")
    # A blob an interrupted upload left behind: bytes in GCS, no record.
    orphan = wheel_name("Demo", "3.0")
    data = wheel_bytes("Demo", "3.0")
    path = blob_path("acme", "main", "demo", hashlib.sha256(data).hexdigest(), orphan)
    stack.stores.blobs.create(path, io.BytesIO(data), size=len(data), content_type="application/zip")
    stack.stores.blobs.create(path + ".metadata", io.BytesIO(b"Name: x"), size=7, content_type="text/plain")
    assert get(stack, f"/files/acme/main/demo/{orphan}", token).status_code == 404
    assert get(stack, f"/files/acme/main/demo/{orphan}.metadata", token).status_code == 404
    # A deleted file: the record stays as a tombstone, the bytes are no longer served.
    wheel = wheel_name("Demo", "2.0")
    assert get(stack, f"/files/acme/main/demo/{wheel}", token).status_code == 200
    Packages(stack.stores).file_ref("acme", "main", "demo", wheel).update({"deleted_at": now()})
    assert get(stack, f"/files/acme/main/demo/{wheel}", token).status_code == 404
    assert get(stack, f"/files/acme/main/demo/{wheel}.metadata", token).status_code == 404


def _call(path, token, method="GET"):
    """Call the handler in-process, to look at the response object itself."""
    import flask

    from bale.api.simple import views as simple_api

    app = flask.Flask("t")
    with app.test_request_context(path, method=method, headers={"Authorization": f"Bearer {token}"}):
        return simple_api.handle(flask.request)


def test_downloads_are_streamed_in_chunks(stack):
    import os

    from bale.store.blobs import GCSBlobStore

    token = stack.token()
    payload = os.urandom(3 * 1024 * 1024 + 17)  # incompressible: the wheel stays > 3 MiB
    data = publish_wheel(stack, token, "bigfile", "1.0", payload=payload)
    resp = _call(f"/files/acme/main/bigfile/{wheel_name('bigfile', '1.0')}", token)
    assert resp.status_code == 200
    assert resp.is_streamed and resp.direct_passthrough  # a generator, not a buffered body
    assert int(resp.headers["Content-Length"]) == len(data)
    chunks = list(resp.response)
    assert len(chunks) >= 4 and max(map(len, chunks)) <= GCSBlobStore.CHUNK
    assert b"".join(chunks) == data


def test_downloads_cost_one_storage_request_per_chunk(stack):
    """Counted at the storage client's HTTP session: the file's record knows its size, so there
    is no metadata request, and a file of one chunk (most wheels) is one GET."""
    from bale.store.backends import get_stores
    from bale.store.blobs import GCSBlobStore

    token = stack.token()
    small = publish_wheel(stack, token, "small", "1.0")
    big = publish_wheel(stack, token, "big", "1.0", payload=os.urandom(2 * GCSBlobStore.CHUNK + 5))
    session = get_stores().blobs.bucket.client._http  # what the serving app's storage calls go through
    calls = []
    original = session.request

    def counting(method, url, *a, **kw):
        calls.append((method, url.split("?")[0].rsplit("/", 1)[-1]))
        return original(method, url, *a, **kw)

    session.request = counting
    try:
        for name, data, expected in (("small", small, 1), ("big", big, 3)):
            for suffix, want in (("", expected), (".metadata", 1)):
                calls.clear()
                r = get(stack, f"/simple/acme/main/{name}/{wheel_name(name, '1.0')}{suffix}", token)
                assert r.status_code == 200
                if not suffix:
                    assert r.content == data
                assert len(calls) == want, (name, suffix, calls)
        calls.clear()  # HEAD: the headers only, one metadata request whatever the size
        r = get(stack, f"/simple/acme/main/big/{wheel_name('big', '1.0')}", token, method="HEAD")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(big) and len(calls) == 1
    finally:
        del session.request


def test_warm_small_downloads_skip_storage_and_deleted_files_stay_refused(stack):
    """A METADATA file or a small wheel read once is served from the instance's memory (its
    blob path never changes), but only while its record is live: the token and the record are
    still read on every request, so a deleted file is a 404 and a revoked token a 403 at once."""
    from bale.api.simple.download import SMALL_BYTES_MAX
    from bale.packages.service import Packages
    from bale.store.backends import get_stores
    from bale.tokens.service import Tokens

    token = stack.token()
    data = publish_wheel(stack, token, "warm", "1.0")
    assert len(data) <= SMALL_BYTES_MAX
    session = get_stores().blobs.bucket.client._http
    calls = []
    original = session.request

    def counting(method, url, *a, **kw):
        calls.append((method, url.split("?")[0].rsplit("/", 1)[-1]))
        return original(method, url, *a, **kw)

    session.request = counting
    path = f"/simple/acme/main/warm/{wheel_name('warm', '1.0')}"
    try:
        for suffix in ("", ".metadata"):
            calls.clear()
            first = get(stack, path + suffix, token)
            assert first.status_code == 200 and len(calls) == 1, calls
            calls.clear()
            again = get(stack, path + suffix, token)
            assert again.status_code == 200 and calls == [], calls
            assert again.content == first.content
            assert again.headers["ETag"] == first.headers["ETag"]
            assert int(again.headers["Content-Length"]) == len(first.content)
        assert get(stack, path, token).content == data
    finally:
        del session.request
    reader = stack.token(permission="read")
    assert get(stack, path, reader).status_code == 200
    Tokens(stack.stores).revoke("acme", reader.split("_")[1], actor="admin@example.com")
    assert get(stack, path, reader).status_code in (401, 403)
    Packages(stack.stores).delete("acme", "main", "warm", "1.0", actor="admin@example.com")
    for suffix in ("", ".metadata"):
        assert get(stack, path + suffix, token).status_code == 404


def test_download_redirects_to_signed_url_when_storage_signs(stack, settings):
    from bale.api.simple.download import serve_blob
    from bale.packages.service import Packages
    from bale.store.backends import Stores
    from bale.store.blobs import GCSBlobStore

    class SigningBlobs(GCSBlobStore):
        """GCS with signing credentials, as in production (the emulator cannot sign)."""

        def signed_url(self, path, *, ttl):
            return f"https://storage.example/{path}?ttl={int(ttl.total_seconds())}"

    token = stack.token()
    publish_wheel(stack, token, "signed", "1.0")
    rec = Packages(stack.stores).file("acme", "main", "signed", wheel_name("signed", "1.0"))
    stores = Stores(dataclasses.replace(settings, signed_url_min_bytes=0))
    stores.blobs = SigningBlobs(stores.settings)
    import flask

    with flask.Flask("t").test_request_context("/files/x"):
        resp = serve_blob(flask.request, stores, rec, want_metadata=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"https://storage.example/{rec.blob_path}?ttl=300"
    assert "no-store" in resp.headers["Cache-Control"]
    # Below the threshold the bytes are streamed even where storage signs.
    stores = Stores(dataclasses.replace(settings, signed_url_min_bytes=rec.size + 1))
    stores.blobs = SigningBlobs(stores.settings)
    with flask.Flask("t").test_request_context("/files/x"):
        resp = serve_blob(flask.request, stores, rec, want_metadata=False)
    assert resp.status_code == 200 and b"".join(resp.response) == stack.stores.blobs.read(rec.blob_path)


# -- yank ---------------------------------------------------------------------------------------
def test_yank_and_unyank_show_on_both_formats(stack, demo):
    from bale.packages.service import Packages

    token = stack.token("read")
    packages = Packages(stack.stores)
    path = "/simple/acme/main/demo/"
    get(stack, path, token, JSON_V1)  # warm the cache: the yank must invalidate it
    assert (
        packages.set_yanked("acme", "main", "demo", "1.0", True, "CVE-2024-0001 <fixed in 2.0> & more") == 2
    )
    assert packages.set_yanked("acme", "main", "demo", "2.0", True) == 1

    doc = get(stack, path, token, JSON_V1).json()
    yanked = {f["filename"]: f["yanked"] for f in doc["files"]}
    assert yanked == {
        wheel_name("Demo", "1.0"): "CVE-2024-0001 <fixed in 2.0> & more",
        "demo-1.0.tar.gz": "CVE-2024-0001 <fixed in 2.0> & more",
        wheel_name("Demo", "2.0"): True,
        wheel_name("Demo", "10.0"): False,
        wheel_name("Demo", "1.0rc1"): False,
    }
    assert doc["meta"]["_last-serial"] == 7
    assert doc["versions"] == ["1.0rc1", "1.0", "2.0", "10.0"]  # yanked versions still exist
    r = get(stack, path, token)
    assert 'data-yanked="CVE-2024-0001 &lt;fixed in 2.0&gt; &amp; more"' in r.text
    anchors = {a["text"]: a for a in parse_html(r.text).anchors}
    assert anchors[wheel_name("Demo", "1.0")]["data-yanked"] == "CVE-2024-0001 <fixed in 2.0> & more"
    assert anchors[wheel_name("Demo", "2.0")]["data-yanked"] == ""
    assert "data-yanked" not in anchors[wheel_name("Demo", "10.0")]

    packages.set_yanked("acme", "main", "demo", "1.0", False)
    doc = get(stack, path, token, JSON_V1).json()
    assert {f["filename"]: f["yanked"] for f in doc["files"]}[wheel_name("Demo", "1.0")] is False


# -- the hot path: reads per request, document sizes ----------------------------------------------
def _value_size(v) -> int:
    """Firestore's storage size of a value (cloud.google.com/firestore/docs/storage-size)."""
    if isinstance(v, str):
        return len(v.encode()) + 1
    if v is None or isinstance(v, bool):
        return 1
    if isinstance(v, (int, float, dt.datetime)):
        return 8
    if isinstance(v, bytes):
        return len(v)
    if isinstance(v, list):
        return sum(_value_size(x) for x in v)
    if isinstance(v, dict):
        return sum(_value_size(k) + _value_size(x) for k, x in v.items())
    raise TypeError(type(v))


def doc_size(ref, data: dict) -> int:
    name = sum(len(seg.encode()) + 1 for seg in ref.path.split("/")) + 16
    return name + _value_size(data) + 32


def test_10k_file_project_costs_a_bounded_number_of_reads(stack):
    from bale.api.simple import views as simple_api
    from bale.packages.service import CHUNKS, Packages

    n = 10_000
    records = bulk_project(stack.stores, "Huge.Project", n, yank_every=97)
    packages = Packages(stack.stores)

    # Documents as stored (read back from the emulator): all far under Firestore's 1 MiB.
    p_ref = packages.project_ref("acme", "main", "huge-project")
    proj = p_ref.get().to_dict()
    chunks = len(proj["chunks"])
    assert chunks == CHUNKS and proj["file_count"] == n  # 10,000 files fill every chunk
    assert doc_size(p_ref, proj) < 1024
    sizes = [doc_size(s.reference, s.to_dict()) for s in p_ref.collection("pages").stream()]
    assert len(sizes) == chunks
    assert max(sizes) < 512 * 1024, max(sizes)
    f_ref = packages.file_ref("acme", "main", "huge-project", records[-1].filename)
    assert doc_size(f_ref, f_ref.get().to_dict()) < 16 * 1024

    token = stack.token("read")
    path = "/simple/acme/main/huge-project/"
    simple_api.clear_caches()
    with FirestoreReads(server_db()) as reads:
        cold = get(stack, path, token, JSON_V1)
        cold_reads = reads.reset()
        warm = get(stack, path, token, JSON_V1)
        warm_reads = reads.reset()
        warm_html = get(stack, path, token, "text/html")
        warm_html_reads = reads.reset()
        not_modified = get(stack, path, token, JSON_V1, headers={"If-None-Match": warm.headers["ETag"]})
        not_modified_reads = reads.reset()
        download = get(stack, f"/files/acme/main/huge-project/{records[5].filename}.metadata", token)
        download_reads = reads.reset()
    # Cold: the token, the project document and its chunks, nothing per file.
    assert cold_reads == 2 + chunks, cold_reads
    assert cold_reads <= 2 + CHUNKS
    # Warm: the token and the project document (for its serial), whatever the size.
    assert warm_reads == 2 and warm_html_reads == 2 and not_modified_reads == 2
    # A download reads the token, the file's record and its project's (whose status may withhold
    # the files, PEP 792), in one round trip (then 404s here: no blob was written).
    assert download_reads == 3 and download.status_code == 404

    assert cold.status_code == warm.status_code == warm_html.status_code == 200
    assert cold.content == warm.content
    assert not_modified.status_code == 304
    doc = warm.json()
    assert len(doc["files"]) == n
    assert doc["meta"]["_last-serial"] == n
    assert len(doc["versions"]) == n and doc["versions"][:3] == ["0.0.0", "0.1.0", "0.2.0"]
    assert doc["versions"][-1] == "99.99.0"
    yanked = [f for f in doc["files"] if f["yanked"]]
    assert len(yanked) == len(range(0, n, 97)) and yanked[0]["yanked"] == "broken build, use the next release"
    assert len(parse_html(warm_html.text).anchors) == n


def test_api_responses_cannot_be_sniffed_scripted_or_framed(stack, demo):
    """The functions share the dashboard's origin and serve uploaded bytes: every answer, good
    or bad, from each function, carries nosniff and a sandboxing Content-Security-Policy."""
    token = stack.token("read")
    wheel = wheel_name("Demo", "1.0")
    responses = [
        get(stack, "/simple/acme/main/", token),
        get(stack, "/simple/acme/main/demo/", token),
        get(stack, f"/simple/acme/main/demo/{wheel}", token),
        get(stack, f"/simple/acme/main/demo/{wheel}.metadata", token),
        get(stack, "/simple/acme/main/nope/", token),
        requests.get(f"{stack.url}/simple/acme/main/", timeout=10),  # 401
        requests.post(f"{stack.url}/v1/upload/acme/main/", timeout=10),  # 401
        requests.get(f"{stack.url}/v1/upload/acme/main/", timeout=10),  # 405
        requests.get(f"{stack.url}/_/oidc/audience", timeout=10),
        requests.post(f"{stack.url}/_/oidc/mint-token", data=b"junk", timeout=10),  # 422
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 401, 401, 405, 200, 422]
    for r in responses:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
        assert "default-src 'none'" in r.headers["Content-Security-Policy"], r.url
        assert "sandbox" in r.headers["Content-Security-Policy"], r.url


def test_project_list_reads_are_bounded_and_old_indexes_are_backfilled(stack):
    """The list comes from the index's catalog: the same few reads for 300 projects as for 3.
    An index without a catalog (made before it existed) is listed from its projects once, and
    its catalog written on the way."""
    from bale.packages.service import CATALOG_CHUNKS, Packages
    from bale.tenancy.service import Tenancy
    from bulk import bulk_project

    for i in range(300):
        bulk_project(stack.stores, f"Proj-{i:03d}", 1)
    token = stack.token("read")
    with FirestoreReads(server_db()) as reads:
        r = get(stack, "/simple/acme/main/", token, JSON_V1)
        listed = reads.reset()
    assert r.status_code == 200
    names = [p["name"] for p in r.json()["projects"]]
    assert names == [f"Proj-{i:03d}" for i in range(300)]
    assert listed <= 2 + CATALOG_CHUNKS, listed  # token + index document + catalog chunks

    # An index from before the catalog: no flag, no catalog documents.
    packages = Packages(stack.stores)
    for k in range(CATALOG_CHUNKS):
        packages.catalog_ref("acme", "main", k).delete()
    Tenancy(stack.stores).index_ref("acme", "main").update({"catalog": None, "catalog_chunks": []})
    with FirestoreReads(server_db()) as reads:
        again = get(stack, "/simple/acme/main/", token, JSON_V1)
        backfill_reads = reads.reset()
        third = get(stack, "/simple/acme/main/", token, JSON_V1)
        after = reads.reset()
    assert (
        [p["name"] for p in again.json()["projects"]]
        == names
        == [p["name"] for p in third.json()["projects"]]
    )
    assert backfill_reads >= 300 and after <= 2 + CATALOG_CHUNKS

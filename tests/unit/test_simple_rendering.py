"""bale.api.simple, the pure parts: rendering a project page (PEP 503 HTML, PEP 691/700
JSON), version order, content negotiation, the response's caching headers, and the page cache."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from html.parser import HTMLParser

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from bale.api.simple import negotiate
from bale.api.simple.cache import PageCache, Rendered
from bale.api.simple.render import render_project, upload_time
from bale.errors import BaleError
from bale.packages.versions import sort_versions

BASE = "https://pypi.example.com/simple/acme/main/widgets/"
T = dt.datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC)


def entry(filename, version, *, sha="a" * 64, size=123, t=T, **extra) -> dict:
    """A page entry as bale.packages.service.page_entry writes it (short keys)."""
    return {"f": filename, "v": version, "h": sha, "s": size, "t": t, **extra}


class Anchors(HTMLParser):
    def __init__(self, body: bytes):
        super().__init__()
        self.anchors: list[tuple[dict, str]] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in = None
        self.feed(body.decode())

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append((dict(attrs), ""))
        elif tag == "meta":
            d = dict(attrs)
            self.meta[d["name"]] = d["content"]
        self._in = tag

    def handle_data(self, data):
        if self._in == "a" and self.anchors:
            a, text = self.anchors[-1]
            self.anchors[-1] = (a, text + data)
        elif self._in == "title":
            self.title += data

    def handle_endtag(self, tag):
        self._in = None


# -- version order ------------------------------------------------------------------------------
def test_versions_in_pep_440_order_with_pre_and_post_releases():
    got = sort_versions(["1.10", "2.0a1", "1.0", "1.9", "2.0.dev1", "1.0rc1", "1.0.post1", "2.0", "1.0"])
    assert got == ["1.0rc1", "1.0", "1.0.post1", "1.9", "1.10", "2.0.dev1", "2.0a1", "2.0"]


def test_unparsable_versions_come_first_and_are_kept():
    assert sort_versions(["1.0", "not a version", "0.1"]) == ["not a version", "0.1", "1.0"]
    assert sort_versions([]) == []


# -- upload-time --------------------------------------------------------------------------------
def test_upload_time_is_pep_700_utc_with_microseconds():
    assert upload_time(T) == "2025-03-04T05:06:07.000089Z"
    assert upload_time(dt.datetime(2025, 1, 1)) == "2025-01-01T00:00:00.000000Z"  # naive: already UTC
    paris = dt.timezone(dt.timedelta(hours=1))
    assert upload_time(dt.datetime(2025, 1, 1, 0, 30, tzinfo=paris)) == "2024-12-31T23:30:00.000000Z"


# -- the page -----------------------------------------------------------------------------------
FILES = [
    entry("widgets-2.0.tar.gz", "2.0", sha="b" * 64, size=2000),
    entry("widgets-1.0-py3-none-any.whl", "1.0", sha="c" * 64, size=1000, r=">=3.9", m="d" * 64),
    entry("widgets-2.0rc1-py3-none-any.whl", "2.0rc1", sha="e" * 64, size=1500, y="broken build"),
    entry("widgets-1.0.tar.gz", "1.0", sha="f" * 64, size=900, y=""),
]


def page(files=FILES, name="Widgets", normalized="widgets", serial=7) -> Rendered:
    return render_project(name, normalized, serial, files, BASE, (serial, "t"))


def test_json_page_fields():
    doc = json.loads(page().bodies["json"])
    assert doc["meta"] == {"api-version": "1.4", "_last-serial": 7}
    assert doc["name"] == "widgets"
    assert doc["versions"] == ["1.0", "2.0rc1", "2.0"]
    # Files by version, then by filename.
    assert [f["filename"] for f in doc["files"]] == [
        "widgets-1.0-py3-none-any.whl",
        "widgets-1.0.tar.gz",
        "widgets-2.0rc1-py3-none-any.whl",
        "widgets-2.0.tar.gz",
    ]
    wheel, sdist, rc, final = doc["files"]
    assert wheel == {
        "filename": "widgets-1.0-py3-none-any.whl",
        "url": BASE + "widgets-1.0-py3-none-any.whl",
        "hashes": {"sha256": "c" * 64},
        "requires-python": ">=3.9",
        "core-metadata": {"sha256": "d" * 64},
        "dist-info-metadata": {"sha256": "d" * 64},
        "yanked": False,
        "size": 1000,
        "upload-time": "2025-03-04T05:06:07.000089Z",
        "provenance": None,
    }
    assert "requires-python" not in sdist
    assert sdist["core-metadata"] is False and sdist["dist-info-metadata"] is False
    assert sdist["yanked"] is True  # yanked without a reason
    assert rc["yanked"] == "broken build"
    assert final["yanked"] is False and final["size"] == 2000


def test_html_page_links():
    parsed = Anchors(page().bodies["html"])
    assert parsed.meta == {"pypi:repository-version": "1.4"}
    assert parsed.title == "Links for Widgets"
    by_name = {text: attrs for attrs, text in parsed.anchors}
    assert list(by_name) == [
        "widgets-1.0-py3-none-any.whl",
        "widgets-1.0.tar.gz",
        "widgets-2.0rc1-py3-none-any.whl",
        "widgets-2.0.tar.gz",
    ]
    wheel = by_name["widgets-1.0-py3-none-any.whl"]
    assert wheel == {
        "href": BASE + "widgets-1.0-py3-none-any.whl#sha256=" + "c" * 64,
        "data-requires-python": ">=3.9",
        "data-core-metadata": "sha256=" + "d" * 64,
        "data-dist-info-metadata": "sha256=" + "d" * 64,
    }
    assert by_name["widgets-1.0.tar.gz"]["data-yanked"] == ""
    assert by_name["widgets-2.0rc1-py3-none-any.whl"]["data-yanked"] == "broken build"
    assert "data-yanked" not in by_name["widgets-2.0.tar.gz"]
    # Requires-Python is escaped in the attribute (PEP 503 asks for &gt;).
    assert b'data-requires-python="&gt;=3.9"' in page().bodies["html"]


def test_odd_names_are_escaped_in_html_and_kept_in_json():
    odd = "w&d\"<x>'.whl"
    files = [entry(odd, "1.0", r='<4,>"3"', y='<script>alert("y")</script>')]
    rendered = page(files, name="<b>Widgets</b>")
    body = rendered.bodies["html"]
    assert b"<script>" not in body and b"<b>" not in body and b'"3"' not in body
    parsed = Anchors(body)
    assert parsed.title == "Links for <b>Widgets</b>"
    ((attrs, text),) = parsed.anchors
    assert text == odd
    assert attrs["href"] == BASE + odd + "#sha256=" + "a" * 64
    assert attrs["data-requires-python"] == '<4,>"3"'
    assert attrs["data-yanked"] == '<script>alert("y")</script>'
    (f,) = json.loads(rendered.bodies["json"])["files"]
    assert (f["filename"], f["requires-python"], f["yanked"]) == (
        odd,
        '<4,>"3"',
        '<script>alert("y")</script>',
    )


def test_an_empty_project_renders():
    doc = json.loads(page([]).bodies["json"])
    assert (doc["versions"], doc["files"]) == ([], [])
    assert Anchors(page([]).bodies["html"]).anchors == []


# -- project status (PEP 792) ---------------------------------------------------------------------
@pytest.mark.parametrize("status", ["archived", "quarantined", "deprecated"])
def test_a_status_is_served_in_both_formats(status):
    rendered = render_project("Widgets", "widgets", 7, FILES, BASE, (7, "t"), status=status)
    doc = json.loads(rendered.bodies["json"])
    assert doc["project-status"] == {"status": status}
    assert doc["meta"]["api-version"] == "1.4"
    meta = Anchors(rendered.bodies["html"]).meta
    assert meta == {"pypi:repository-version": "1.4", "pypi:project-status": status}


def test_a_reason_is_served_escaped_in_html_and_as_is_in_json():
    reason = 'moved to <b>"gadgets"</b> & co'
    rendered = render_project(
        "Widgets", "widgets", 7, [], BASE, (7, "t"), status="deprecated", status_reason=reason
    )
    assert json.loads(rendered.bodies["json"])["project-status"] == {"status": "deprecated", "reason": reason}
    body = rendered.bodies["html"]
    assert b"<b>" not in body
    assert Anchors(body).meta["pypi:project-status-reason"] == reason


def test_active_is_left_unmarked_as_pep_792_reads_no_marker():
    rendered = render_project(
        "Widgets", "widgets", 7, FILES, BASE, (7, "t"), status="active", status_reason="x"
    )
    assert "project-status" not in json.loads(rendered.bodies["json"])
    assert b"project-status" not in rendered.bodies["html"]
    assert rendered.bodies == page().bodies


def test_rendering_is_deterministic_whatever_the_entry_order():
    a, b = page(FILES), page(list(reversed(FILES)))
    assert a.bodies == b.bodies and a.digests == b.digests and a.gzipped == b.gzipped
    for fmt, body in a.bodies.items():
        assert a.digests[fmt] == hashlib.sha256(body).hexdigest()


def test_large_pages_are_gzipped_once_and_small_ones_not():
    small = page([FILES[0]])
    assert len(small.bodies["json"]) < negotiate.GZIP_MIN_BYTES and "json" not in small.gzipped
    many = [entry(f"widgets-1.{i}.tar.gz", f"1.{i}") for i in range(50)]
    big = page(many)
    assert set(big.gzipped) == {"json", "html"}
    for fmt in ("json", "html"):
        assert gzip.decompress(big.gzipped[fmt]) == big.bodies[fmt]
    assert big.size == sum(map(len, big.bodies.values())) + sum(map(len, big.gzipped.values()))


# -- content negotiation and the response ---------------------------------------------------------
def request(**headers) -> Request:
    return Request(EnvironBuilder(path="/simple/acme/main/widgets/", headers=headers).get_environ())


@pytest.mark.parametrize(
    "accept, fmt, content_type",
    [
        (None, "html", "text/html; charset=utf-8"),
        ("*/*", "html", "text/html; charset=utf-8"),
        ("text/html", "html", "text/html; charset=utf-8"),
        ("application/vnd.pypi.simple.v1+html", "html", "application/vnd.pypi.simple.v1+html"),
        ("application/vnd.pypi.simple.latest+html", "html", "application/vnd.pypi.simple.v1+html"),
        ("application/vnd.pypi.simple.v1+json", "json", "application/vnd.pypi.simple.v1+json"),
        ("application/vnd.pypi.simple.latest+json", "json", "application/vnd.pypi.simple.v1+json"),
        # What uv sends: JSON preferred, HTML accepted.
        (
            "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
            "json",
            "application/vnd.pypi.simple.v1+json",
        ),
        (
            "text/html;q=0.1, application/vnd.pypi.simple.v1+json;q=0.9",
            "json",
            "application/vnd.pypi.simple.v1+json",
        ),
    ],
)
def test_negotiate(accept, fmt, content_type):
    req = request(**({"Accept": accept} if accept else {}))
    assert negotiate.negotiate(req) == (fmt, content_type)


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.pypi.simple.v2+json", "image/png"])
def test_negotiate_406_when_nothing_fits(accept):
    with pytest.raises(BaleError) as exc:
        negotiate.negotiate(request(Accept=accept))
    assert exc.value.status == 406


def test_page_response_headers_gzip_and_revalidation():
    big = page([entry(f"widgets-1.{i}.tar.gz", f"1.{i}") for i in range(50)])
    body, digest, gz = big.bodies["json"], big.digests["json"], big.gzipped["json"]
    ctype = "application/vnd.pypi.simple.v1+json"
    plain = negotiate.page_response(request(), body, digest, ctype, 7, gz)
    assert plain.status_code == 200 and plain.get_data() == body
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert plain.headers["Vary"] == "Accept, Accept-Encoding, Authorization, Cookie"
    assert plain.headers["X-PyPI-Last-Serial"] == "7"
    assert plain.headers["Content-Type"] == ctype
    zipped = negotiate.page_response(request(**{"Accept-Encoding": "gzip"}), body, digest, ctype, 7, gz)
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.get_data()) == body
    # The two representations have different ETags; each revalidates to 304 only with its own.
    assert plain.headers["ETag"] != zipped.headers["ETag"]
    again = negotiate.page_response(
        request(**{"If-None-Match": plain.headers["ETag"]}), body, digest, ctype, 7, gz
    )
    assert again.status_code == 304 and again.get_data() == b""
    other = negotiate.page_response(
        request(**{"If-None-Match": zipped.headers["ETag"]}), body, digest, ctype, 7, gz
    )
    assert other.status_code == 200


# -- the page cache -----------------------------------------------------------------------------
def rendered(version: tuple, size: int) -> Rendered:
    return Rendered(version=version, serial=version[0], bodies={"html": b"x" * size}, digests={}, gzipped={})


def test_cache_hit_only_for_the_same_version():
    cache = PageCache(max_bytes=1000)
    cache.put(("k",), rendered((1, "t"), 10))
    assert cache.get(("k",), (1, "t")).serial == 1
    assert cache.get(("k",), (2, "t")) is None  # a newer upload: a miss, never a stale page
    assert cache.get(("k",), (1, "other")) is None  # the project re-created
    assert cache.get(("other",), (1, "t")) is None


def test_cache_is_bounded_in_bytes_and_evicts_the_least_recently_used():
    cache = PageCache(max_bytes=250)
    cache.put(("a",), rendered((1, ""), 100))
    cache.put(("b",), rendered((1, ""), 100))
    assert cache.get(("a",), (1, "")) is not None  # a is now the most recently used
    cache.put(("c",), rendered((1, ""), 100))
    assert len(cache) == 2
    assert cache.get(("b",), (1, "")) is None
    assert cache.get(("a",), (1, "")) is not None and cache.get(("c",), (1, "")) is not None
    assert cache._bytes == 200


def test_cache_replaces_an_entry_and_skips_one_larger_than_itself():
    cache = PageCache(max_bytes=250)
    cache.put(("a",), rendered((1, ""), 100))
    cache.put(("a",), rendered((2, ""), 150))
    assert len(cache) == 1 and cache._bytes == 150 and cache.get(("a",), (2, "")) is not None
    cache.put(("a",), rendered((3, ""), 251))  # too big to keep: the old version goes too
    assert len(cache) == 0 and cache._bytes == 0
    cache.put(("b",), rendered((1, ""), 10))
    cache.clear()
    assert len(cache) == 0 and cache.get(("b",), (1, "")) is None


# -- provenance (PEP 740) -----------------------------------------------------------------------
INTEGRITY = "https://pypi.example.com/integrity/acme/main/widgets/"


def test_provenance_linked_for_files_that_have_it():
    files = [entry("widgets-1.0.tar.gz", "1.0", p=1), entry("widgets-1.0-py3-none-any.whl", "1.0")]
    rendered = render_project("widgets", "widgets", 3, files, BASE, (3, "t"), integrity=INTEGRITY)
    doc = json.loads(rendered.bodies["json"])
    by_name = {f["filename"]: f for f in doc["files"]}
    assert by_name["widgets-1.0.tar.gz"]["provenance"] == INTEGRITY + "1.0/widgets-1.0.tar.gz/provenance"
    assert by_name["widgets-1.0-py3-none-any.whl"]["provenance"] is None
    anchors = {text: attrs for attrs, text in Anchors(rendered.bodies["html"]).anchors}
    assert anchors["widgets-1.0.tar.gz"]["data-provenance"] == INTEGRITY + "1.0/widgets-1.0.tar.gz/provenance"
    assert "data-provenance" not in anchors["widgets-1.0-py3-none-any.whl"]

"""Content negotiation for Simple API pages, and the page response (gzip, ETag, 304).

A page goes out as PEP 503 HTML or PEP 691 JSON, picked from the request's ``Accept``
header (HTML when the client does not say), plain or gzipped per ``Accept-Encoding``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from typing import Final, Literal

from flask import Request, Response
from werkzeug.datastructures import Accept, MIMEAccept
from werkzeug.http import parse_accept_header

from bale.errors import BaleError

#: The two representations of a page.
Format = Literal["html", "json"]

HTML_V1: Final = "application/vnd.pypi.simple.v1+html"
JSON_V1: Final = "application/vnd.pypi.simple.v1+json"
TEXT_HTML: Final = "text/html"
# What a client may ask for, HTML first: with equal preference (e.g. */*) HTML wins, the
# format every installer understands. The ``latest`` aliases answer with the concrete v1 type.
OFFERS: Final[dict[str, tuple[Format, str]]] = {
    TEXT_HTML: ("html", "text/html; charset=utf-8"),
    HTML_V1: ("html", HTML_V1),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_V1),
    JSON_V1: ("json", JSON_V1),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_V1),
}

PAGE_CACHE_CONTROL: Final = "private, max-age=0, must-revalidate"
# Pages compress about 5x (a 10,000-file page: 5.8 MB of JSON, 1 MB gzipped); tiny ones aren't worth it.
GZIP_MIN_BYTES: Final = 1024


def negotiate(request: Request) -> tuple[Format, str]:
    """(format, Content-Type) for the request's Accept header; 406 if none fits."""
    best = _best_offer(request.headers.get("Accept", "").strip())
    if best is None:
        raise BaleError(
            "Not acceptable: this index serves " + ", ".join(OFFERS) + ".",
            status=406,
        )
    return OFFERS[best]


@functools.lru_cache(maxsize=256)
def _best_offer(accept: str) -> str | None:
    """The offer an Accept header prefers (None: none fits). Installers send the same few
    headers on every request, so each is parsed once."""
    if not accept:
        return TEXT_HTML
    return parse_accept_header(accept, MIMEAccept).best_match(list(OFFERS))


@functools.lru_cache(maxsize=1024)
def _etag(digest: str, content_type: str, encoding: str | None) -> str:
    return hashlib.sha256(f"{digest}:{content_type}:{encoding}".encode()).hexdigest()[:40]


@functools.lru_cache(maxsize=64)
def _accepts_gzip(accept_encoding: str) -> bool:
    return parse_accept_header(accept_encoding, Accept)["gzip"] > 0


def gzip_body(body: bytes) -> bytes:
    """The body gzipped, the same bytes on every instance (so the same ETag)."""
    # mtime=0: no timestamp in the header, which would change the bytes per instance.
    return gzip.compress(body, compresslevel=6, mtime=0)


def page_response(
    request: Request, body: bytes, digest: str, content_type: str, serial: int, gzipped: bytes | None = None
) -> Response:
    """A page (``digest``: the sha256 of ``body``) as 200, or 304 when the client's copy is current.

    ``gzipped`` is the body already compressed (the page cache keeps it), else it is
    compressed here if the client accepts gzip and the body is worth it.
    """
    encoding = None
    if len(body) >= GZIP_MIN_BYTES and _accepts_gzip(request.headers.get("Accept-Encoding", "")):
        encoding = "gzip"
        body = gzipped if gzipped is not None else gzip_body(body)
    # Strong ETag: a hash of exactly this representation (the media type and encoding are part
    # of it, since the same HTML goes out as text/html or v1+html, plain or gzipped).
    etag = _etag(digest, content_type, encoding)
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": PAGE_CACHE_CONTROL,
        # The body depends on the format, the encoding, and what the credential (a token, or a
        # browser's cookie) may see.
        "Vary": "Accept, Accept-Encoding, Authorization, Cookie",
        "X-PyPI-Last-Serial": str(serial),
    }
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    resp = Response(body, status=200, headers=headers)
    resp.headers["Content-Type"] = content_type
    if encoding:
        resp.headers["Content-Encoding"] = encoding
    return resp

"""The Simple API (PEP 503 HTML, PEP 691 JSON) and file downloads: what pip and uv read.

Routes (``bale dev`` and the production load balancer send both prefixes here)::

    GET /simple/{team}/{index}/                         the projects a token may read
    GET /simple/{team}/{index}/{project}/               one project's files
    GET /files/{team}/{index}/{project}/{filename}      a file, streamed or redirected to GCS
    GET /files/{team}/{index}/{project}/{filename}.metadata   its METADATA (PEP 658/714)

Every index is private: each request carries a read-capable token (HTTP Basic
``__token__:<token>`` or ``Authorization: Bearer``). The token's scope is
checked before anything about the project is read, so a token for another
team, index or project gets the same 403 whether the project exists or not.

The hot path is a project page. Its cost in Firestore is two document reads
whatever the number of files: the token and the project document, whose
``serial`` says whether the page this instance rendered earlier is still
current. Only when it is not (a cold instance, or a new upload or yank) are the
page's chunks read, all in one ``get_all`` (see :mod:`bale.packages.service`), and the
page rendered (and gzipped) once in both formats. Responses carry a strong
``ETag`` (a hash of the representation) so clients revalidate with
``If-None-Match`` and get 304, and ``Cache-Control: private``: a page is only
for the token holder, never for a shared cache.

Downloads go through the file's record, never straight to a blob: a blob with
no live record (an interrupted upload, a deleted file) is never served.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import gzip
import hashlib
import html
import json
import logging
import threading

from flask import Request, Response
from packaging.version import InvalidVersion, Version

from bale.api.http import plain_errors, route_parts
from bale.errors import BadRequest, BaleError, Forbidden, NotFound
from bale.names import validate_index, validate_project, validate_team
from bale.packages.distributions import check_filename
from bale.packages.service import FileRecord, Packages
from bale.settings import Settings, get_settings
from bale.store.backends import BlobMissing, Stores, get_stores
from bale.tokens.service import Token, Tokens

log = logging.getLogger("bale.simple")

SIMPLE = "/simple"
FILES = "/files"
API_VERSION = "1.1"  # PEP 700: size, upload-time, versions

HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
TEXT_HTML = "text/html"
# What a client may ask for, HTML first: with equal preference (e.g. */*) HTML wins, the
# format every installer understands. The ``latest`` aliases answer with the concrete v1 type.
OFFERS = {
    TEXT_HTML: ("html", "text/html; charset=utf-8"),
    HTML_V1: ("html", HTML_V1),
    "application/vnd.pypi.simple.latest+html": ("html", HTML_V1),
    JSON_V1: ("json", JSON_V1),
    "application/vnd.pypi.simple.latest+json": ("json", JSON_V1),
}

PAGE_CACHE_CONTROL = "private, max-age=0, must-revalidate"
# Files never change once stored (content-addressed, create-only), so a client may keep them.
FILE_CACHE_CONTROL = "private, max-age=31536000, immutable"
SIGNED_URL_TTL = dt.timedelta(minutes=5)
FILE_TYPE = "application/octet-stream"
METADATA_TYPE = "text/plain; charset=utf-8"
METADATA_SUFFIX = ".metadata"

CACHE_MAX_BYTES = 64 * 1024 * 1024
# Pages compress about 5x (a 10,000-file page: 5.8 MB of JSON, 1 MB gzipped); tiny ones aren't worth it.
GZIP_MIN_BYTES = 1024


# -- the page cache -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rendered:
    """One project page in both formats, for one version of the project."""

    version: tuple  # (serial, updated_at), read together from the project document
    serial: int
    bodies: dict[str, bytes]  # "html" | "json" -> body
    digests: dict[str, str]  # "html" | "json" -> sha256 of the body
    gzipped: dict[str, bytes]  # "html" | "json" -> gzipped body, compressed once, served many times

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.bodies.values()) + sum(len(b) for b in self.gzipped.values())


class PageCache:
    """A per-process LRU of rendered project pages, bounded in bytes.

    Keyed by (base URL, team, index, project). An entry is used only when its
    version matches the project document read for the request, so it can never
    serve a page older than what Firestore holds.
    """

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES):
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[tuple, Rendered] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Striped locks: concurrent misses on one page render it once, not once per request.
        self._fill_locks = [threading.Lock() for _ in range(64)]

    def get(self, key: tuple, version: tuple) -> Rendered | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Rendered) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    def fill_lock(self, key: tuple) -> threading.Lock:
        return self._fill_locks[hash(key) % len(self._fill_locks)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


_pages = PageCache()


def clear_caches() -> None:
    """Forget cached pages (tests clear the emulators between tests)."""
    _pages.clear()


# -- entry point --------------------------------------------------------------------------------
@plain_errors
def handle(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        raise BaleError(
            f"Method {request.method} is not allowed here; the Simple API is read-only.",
            status=405,
            headers={"Allow": "GET, HEAD"},
        )
    path = request.path
    if path == FILES or path.startswith(FILES + "/"):
        return _download(request)
    if path == SIMPLE or path.startswith(SIMPLE + "/"):
        return _simple(request)
    raise NotFound("Not found.")


def _services() -> tuple[Settings, Stores]:
    settings = get_settings()
    return settings, get_stores(settings)


def _slugs(team: str, index: str) -> tuple[str, str]:
    try:
        return validate_team(team), validate_index(index)
    except BadRequest as exc:
        raise NotFound(exc.message) from None


def _redirect(request: Request, path: str) -> Response:
    location = request.script_root + path
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    resp = Response(f"Moved to {location}\n", status=301, mimetype="text/plain")
    resp.headers["Location"] = location
    return resp


def _authorize(
    request: Request, stores: Stores, team: str, index: str, project: str | None = None, also=()
) -> tuple[Token, list]:
    """The request's token, if it may read ``team/index`` (and ``project``); else 401/403.

    The documents ``also`` (the project, or a file record) are fetched in the same round
    trip as the token (and, for a person's token, the team's roster), but nothing about them is used unless this passes, so the answer
    for a token of another team, index or project never depends on what exists.
    """
    tokens = Tokens(stores)
    token, extra = tokens.from_request_with(request.headers.get("Authorization"), also, team=team)
    why = token.why_not("read", team, index, project)
    if why:
        raise Forbidden(why)
    # A person's token reads only while its owner is a member of the team (the roster came in
    # the same round trip as the token).
    why = tokens.owner_refusal(token, "read", team, index)
    if why:
        raise Forbidden(why)
    return token, extra


def _negotiate(request: Request) -> tuple[str, str]:
    """('html' | 'json', Content-Type) for the request's Accept header; 406 if none fits."""
    accept = request.headers.get("Accept", "").strip()
    if not accept:
        return OFFERS[TEXT_HTML]
    best = request.accept_mimetypes.best_match(list(OFFERS))
    if best is None:
        raise BaleError(
            "Not acceptable: this index serves " + ", ".join(OFFERS) + ".",
            status=406,
        )
    return OFFERS[best]


def _gzip(body: bytes) -> bytes:
    # mtime=0: the same page compresses to the same bytes on every instance (same ETag).
    return gzip.compress(body, compresslevel=6, mtime=0)


def _page_response(
    request: Request, body: bytes, digest: str, content_type: str, serial: int, gzipped: bytes | None = None
) -> Response:
    encoding = None
    if len(body) >= GZIP_MIN_BYTES and request.accept_encodings["gzip"] > 0:
        encoding = "gzip"
        body = gzipped if gzipped is not None else _gzip(body)
    # Strong ETag: a hash of exactly this representation (the media type and encoding are part
    # of it, since the same HTML goes out as text/html or v1+html, plain or gzipped).
    etag = hashlib.sha256(f"{digest}:{content_type}:{encoding}".encode()).hexdigest()[:40]
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": PAGE_CACHE_CONTROL,
        # The body depends on all three: the format, the encoding, and what the token may see.
        "Vary": "Accept, Accept-Encoding, Authorization",
        "X-PyPI-Last-Serial": str(serial),
    }
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    resp = Response(body, status=200, headers=headers)
    resp.headers["Content-Type"] = content_type
    if encoding:
        resp.headers["Content-Encoding"] = encoding
    return resp


# -- /simple/ -----------------------------------------------------------------------------------
def _simple(request: Request) -> Response:
    parts = route_parts(request.path, SIMPLE + "/")
    if len(parts) == 4:
        return _download(request, parts, SIMPLE)
    if len(parts) not in (2, 3):
        raise NotFound("The Simple API is at /simple/TEAM/INDEX/ and /simple/TEAM/INDEX/PROJECT/.")
    team, index = _slugs(parts[0], parts[1])
    if len(parts) == 3:
        try:
            project = validate_project(parts[2])
        except BadRequest as exc:
            raise NotFound(exc.message) from None
        # Both redirects depend on the URL alone, so they say nothing about what exists.
        if project != parts[2] or not request.path.endswith("/"):
            return _redirect(request, f"{SIMPLE}/{team}/{index}/{project}/")
    else:
        project = None
        if not request.path.endswith("/"):
            return _redirect(request, f"{SIMPLE}/{team}/{index}/")

    settings, stores = _services()
    if project is None:
        token, (index_snap,) = _authorize(
            request, stores, team, index, also=[Packages(stores).index_ref(team, index)]
        )
        fmt, content_type = _negotiate(request)
        return _project_list(request, settings, stores, token, team, index, fmt, content_type, index_snap)
    _, (snap,) = _authorize(
        request, stores, team, index, project, also=[Packages(stores).project_ref(team, index, project)]
    )
    fmt, content_type = _negotiate(request)
    proj = snap.to_dict() if snap.exists else None
    return _project_page(request, settings, stores, team, index, project, fmt, content_type, proj)


def _project_page(request, settings, stores, team, index, project, fmt, content_type, proj) -> Response:
    packages = Packages(stores)
    if proj is None:
        raise NotFound(f"No project {project!r} in {team}/{index}.")
    base = _file_base(settings, team, index, project)
    key = (base, team, index, project)
    # updated_at too: a project re-created from scratch (emulators cleared) restarts its serial.
    version = (proj["serial"], str(proj.get("updated_at")))
    entry = _pages.get(key, version)
    if entry is None:
        with _pages.fill_lock(key):
            entry = _pages.get(key, version)  # another request may have just rendered it
            if entry is None:
                page = packages.page(team, index, project, proj=proj)
                entry = render_project(page.name, page.normalized, page.serial, page.files, base, version)
                _pages.put(key, entry)
    return _page_response(
        request, entry.bodies[fmt], entry.digests[fmt], content_type, entry.serial, entry.gzipped.get(fmt)
    )


def _project_list(
    request, settings, stores, token: Token, team, index, fmt, content_type, index_snap
) -> Response:
    packages = Packages(stores)
    if not index_snap.exists:
        raise NotFound(f"No index {team}/{index}.")
    index_doc = index_snap.to_dict()
    limited = token.projects_for(team, index)
    if limited is None:
        # The catalog: a bounded number of reads, however many projects the index holds.
        projects = packages.catalog(team, index, index_doc)
    else:
        # A token limited to some projects sees only those (and costs only their reads).
        refs = [packages.project_ref(team, index, p) for p in limited]
        snaps = stores.db.get_all(refs, field_paths=["name", "normalized"])
        projects = sorted((s.to_dict() for s in snaps if s.exists), key=lambda d: d["normalized"])
    # Moves whenever a project is added to the index (the list's only change).
    serial = int(index_doc.get("catalog_serial") or 0)
    if fmt == "json":
        body = _json(
            {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "projects": [{"name": p["name"]} for p in projects],
            }
        )
    else:
        rows = "".join(
            f'    <a href="{_attr(p["normalized"])}/">{html.escape(p["name"])}</a><br>\n' for p in projects
        )
        body = _html_doc("Simple index", rows)
    return _page_response(request, body, hashlib.sha256(body).hexdigest(), content_type, serial)


# -- rendering ----------------------------------------------------------------------------------
def _file_base(settings: Settings, team: str, index: str, project: str) -> str:
    """Where a project's files are linked: below the index URL (see _download), absolute under
    BALE_BASE_URL, else host-relative."""
    return f"{settings.base_url}{SIMPLE}/{team}/{index}/{project}/"


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _json(data) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _html_doc(title: str, rows: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{rows}  </body>\n</html>\n"
    ).encode()


def upload_time(value: dt.datetime) -> str:
    """PEP 700's format: ISO 8601 in UTC, ``yyyy-mm-ddThh:mm:ss.ffffffZ``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return dt.datetime.isoformat(value, timespec="microseconds") + "Z"


def sort_versions(versions) -> list[str]:
    """Distinct versions in PEP 440 order (an unparsable one, which uploads refuse, first)."""

    parsed, bad = [], []
    for v in set(versions):
        try:
            parsed.append((Version(v), v))
        except InvalidVersion:
            bad.append(v)
    parsed.sort(key=lambda p: p[0])  # Version objects alone: only __lt__, no tuple __eq__
    return sorted(bad) + [v for _, v in parsed]


def render_project(
    name: str, normalized: str, serial: int, files: list[dict], base: str, version: tuple
) -> Rendered:
    """Render a project page (entries as :func:`bale.packages.page_entry` writes them)."""
    json_files = []
    rows = []
    versions = sort_versions(e["v"] for e in files)
    # Chunks hold entries in hash order; sort so every instance renders the same bytes (hence
    # the same ETag): by version, then filename. Each version is parsed once, not per file.
    rank = {v: i for i, v in enumerate(versions)}
    files = sorted(files, key=lambda e: (rank[e["v"]], e["f"]))
    for e in files:
        url = base + e["f"]
        yanked = e.get("y")
        meta = e.get("m")
        jf = {
            "filename": e["f"],
            "url": url,
            "hashes": {"sha256": e["h"]},
        }
        if e.get("r"):
            jf["requires-python"] = e["r"]
        # PEP 714 names it core-metadata; dist-info-metadata is what older clients read.
        jf["core-metadata"] = {"sha256": meta} if meta else False
        jf["dist-info-metadata"] = jf["core-metadata"]
        jf["yanked"] = (yanked or True) if yanked is not None else False
        jf["size"] = e["s"]
        jf["upload-time"] = upload_time(e["t"])
        json_files.append(jf)

        attrs = [f'href="{_attr(url)}#sha256={e["h"]}"']
        if e.get("r"):
            attrs.append(f'data-requires-python="{_attr(e["r"])}"')
        if yanked is not None:
            attrs.append(f'data-yanked="{_attr(yanked)}"')
        if meta:
            attrs.append(f'data-core-metadata="sha256={meta}"')
            attrs.append(f'data-dist-info-metadata="sha256={meta}"')
        rows.append(f"    <a {' '.join(attrs)}>{html.escape(e['f'])}</a><br>\n")

    bodies = {
        "json": _json(
            {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "name": normalized,
                "versions": versions,
                "files": json_files,
            }
        ),
        "html": _html_doc(f"Links for {name}", "".join(rows)),
    }
    return Rendered(
        version=version,
        serial=serial,
        bodies=bodies,
        digests={k: hashlib.sha256(v).hexdigest() for k, v in bodies.items()},
        gzipped={k: _gzip(v) for k, v in bodies.items() if len(v) >= GZIP_MIN_BYTES},
    )


# -- /files/ ------------------------------------------------------------------------------------
def _download(request: Request, parts: list[str] | None = None, prefix: str = FILES) -> Response:
    """A file or its METADATA, at PREFIX/TEAM/INDEX/PROJECT/FILENAME[.metadata].

    Pages link files under the index URL (``/simple/TEAM/INDEX/PROJECT/FILENAME``): uv sends
    the index URL's credentials up front only to URLs below it, so a link elsewhere costs
    every download a 401 round trip. ``/files/…`` serves the same files for other clients.
    """
    if parts is None:
        parts = route_parts(request.path, FILES + "/")
    if len(parts) != 4:
        raise NotFound("Files are at /files/TEAM/INDEX/PROJECT/FILENAME.")
    team, index = _slugs(parts[0], parts[1])
    try:
        project = validate_project(parts[2])
        name = check_filename(parts[3])
    except BadRequest as exc:
        raise NotFound(exc.message) from None
    if project != parts[2]:
        return _redirect(request, f"{prefix}/{team}/{index}/{project}/{name}")
    want_metadata = name.endswith(METADATA_SUFFIX)
    filename = name[: -len(METADATA_SUFFIX)] if want_metadata else name

    _, stores = _services()
    packages = Packages(stores)
    also = [packages.file_ref(team, index, project, filename)] if filename else []
    _, snaps = _authorize(request, stores, team, index, project, also=also)
    # Only a live record makes a blob servable: a blob without one (an interrupted upload)
    # or behind a deleted record is never served.
    rec = FileRecord(**snaps[0].to_dict()) if snaps and snaps[0].exists else None
    if rec is None or rec.deleted_at is not None or (want_metadata and not rec.metadata_sha256):
        raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
    return _serve_blob(request, stores, rec, want_metadata)


def _serve_blob(request: Request, stores: Stores, rec: FileRecord, want_metadata: bool) -> Response:
    path = rec.metadata_path if want_metadata else rec.blob_path
    digest = rec.metadata_sha256 if want_metadata else rec.sha256
    headers = {"ETag": f'"{digest}"', "Cache-Control": FILE_CACHE_CONTROL}
    if request.if_none_match.contains_weak(digest):
        return Response(status=304, headers=headers)
    url = stores.blobs.signed_url(path, ttl=SIGNED_URL_TTL)
    if url:
        # The signed URL is short-lived and per request: clients must not keep the redirect.
        resp = Response(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})
        resp.autocorrect_location_header = False
        return resp
    if want_metadata:
        # METADATA is small (4 MiB at most): one GET, whole.
        try:
            data = stores.blobs.read(path)
        except BlobMissing:
            log.error("record without its METADATA: %s", path)
            raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.") from None
        resp = Response(b"" if request.method == "HEAD" else data, status=200, headers=headers)
        resp.headers["Content-Type"] = METADATA_TYPE
        resp.headers["Content-Length"] = str(len(data))
        return resp
    if request.method == "HEAD":
        # The headers only: the record has the size; one metadata request says the bytes exist.
        if not stores.blobs.exists(path):
            log.error("record without its blob: %s", path)
            raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.")
        body, size = None, rec.size
    else:
        try:
            body, size = stores.blobs.open(path, size=rec.size)
        except BlobMissing:
            log.error("record without its blob: %s", path)
            raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.") from None
    # Streamed chunk by chunk (1 MiB each): memory stays flat whatever the file's size.
    resp = Response(body, status=200, headers=headers, direct_passthrough=True)
    resp.headers["Content-Type"] = FILE_TYPE
    resp.headers["Content-Length"] = str(size)
    return resp

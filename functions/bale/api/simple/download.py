"""File and ``.metadata`` downloads (PEP 658/714): through the file's record, never straight
to a blob, so a blob with no live record (an interrupted upload, a deleted file) is never served."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final, Literal, Protocol

from flask import Request, Response

from bale import access
from bale.api.simple import pages, viewpages
from bale.api.simple.routing import index_slugs, redirect, services, slug_or_404
from bale.clock import now
from bale.errors import NotFound
from bale.names import check_filename, validate_project
from bale.packages import status as project_status
from bale.packages.service import FileRecord, Packages
from bale.routes import FILES
from bale.settings import Settings
from bale.store.backends import Stores
from bale.store.blobs import BlobMissing
from bale.store.memory import BytesLRU
from bale.tenancy.service import Tenancy
from bale.upstream.policy import UpstreamConfig, config_of, hidden_reason, is_private
from bale.views.service import view_of

log = logging.getLogger("bale.simple")

# Files never change once stored (content-addressed, create-only), so a client may keep them.
FILE_CACHE_CONTROL: Final = "private, max-age=31536000, immutable"
SIGNED_URL_TTL: Final = dt.timedelta(minutes=5)
FILE_TYPE: Final = "application/octet-stream"
METADATA_TYPE: Final = "text/plain; charset=utf-8"
METADATA_SUFFIX: Final = ".metadata"
#: Warm downloads of METADATA files and small wheels skip storage: the bytes of a blob path
#: never change (create-only, content-addressed), and the record, read on every request, still
#: decides whether they are served. Up to 16 MiB in all per instance, 256 KiB each.
SMALL_BYTES_MAX: Final = 256 * 1024
_small = BytesLRU(16 * 1024 * 1024, max_item=SMALL_BYTES_MAX)


def clear_caches() -> None:
    """Forget the bytes kept in memory (tests clear the emulators between tests)."""
    _small.clear()


def download(
    request: Request, team: str, index: str, project: str, filename: str, prefix: str = FILES
) -> Response:
    """A file or its METADATA, at PREFIX/TEAM/INDEX/PROJECT/FILENAME[.metadata] (the values as
    the route matched them, not yet validated).

    Pages link files under the index URL (``/simple/TEAM/INDEX/PROJECT/FILENAME``): uv sends
    the index URL's credentials up front only to URLs below it, so a link elsewhere costs
    every download a 401 round trip. ``/files/…`` serves the same files for other clients.
    """
    team, index = index_slugs(team, index)
    given, project = project, slug_or_404(validate_project, project)
    name = slug_or_404(check_filename, filename)
    if project != given:
        return redirect(request, f"{prefix}/{team}/{index}/{project}/{name}")
    want_metadata = name.endswith(METADATA_SUFFIX)
    filename = name[: -len(METADATA_SUFFIX)] if want_metadata else name

    settings, stores = services()
    packages = Packages(stores)
    if not filename:
        raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
    if access.require_cached(request, stores, team, index, project) is not None:
        # A view this instance knows: the file is one its page (at the sources' versions) shows.
        known_view = (
            viewpages.current(stores, team, index, trust=settings.token_cache_seconds)
            if viewpages.known(team, index)
            else None
        )
        if known_view is not None:
            return _from_view(request, settings, stores, known_view, project, filename, want_metadata)
        # Warm: a token checked moments ago, and the project's version in one small read. The
        # page this instance rendered at that version lists exactly the live files.
        version = pages.current_version(stores, team, index, project)
        if version is None:  # no such project here: its files can only be the upstream's
            return _not_private(
                request, settings, stores, team, index, project, filename, want_metadata, name
            )
        entry = pages.cached(settings, team, index, project, version)
        if entry is not None:
            ref = entry.files.get(filename)
            if ref is None or (want_metadata and not ref.metadata_sha256):
                project_status.refuse_download(project, f"{team}/{index}", entry.status, entry.status_reason)
                raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
            return serve_blob(request, stores, ref, want_metadata)
        # No page at this version here: the file's own record decides, with the project's
        # status (a quarantined project serves none), read in the same round trip.
        f_ref, p_ref = (
            packages.file_ref(team, index, project, filename),
            packages.project_ref(team, index, project),
        )
        snaps = {s.reference.path: s for s in stores.db.get_all([f_ref, p_ref])}
        f_snap, p_snap = snaps[f_ref.path], snaps[p_ref.path]
    else:
        _, (f_snap, p_snap) = access.require(
            request,
            stores,
            "read",
            team,
            index,
            project,
            also=[
                packages.file_ref(team, index, project, filename),
                packages.project_ref(team, index, project),
            ],
        )
    if p_snap.exists:
        project_status.refuse_download(project, f"{team}/{index}", *project_status.of(p_snap.to_dict()))
    if not f_snap.exists:
        # Only for a file the index does not hold: may it be its upstream's? (One more round
        # trip, so a private download keeps costing one.)
        p_ref, i_ref = packages.project_ref(team, index, project), Tenancy(stores).index_ref(team, index)
        snaps = {s.reference.path: s for s in stores.db.get_all([p_ref, i_ref])}
        if snaps[p_ref.path].exists:  # the project is private: its files are never the upstream's
            raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
        i_snap = snaps[i_ref.path]
        index_doc = i_snap.to_dict() if i_snap.exists else None
        return _not_private(
            request, settings, stores, team, index, project, filename, want_metadata, name, index_doc
        )
    # Only a live record makes a blob servable: a blob without one (an interrupted upload)
    # or behind a deleted record is never served.
    rec = FileRecord(**(f_snap.to_dict() or {})) if f_snap.exists else None
    if rec is None or rec.deleted_at is not None or (want_metadata and not rec.metadata_sha256):
        raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
    return serve_blob(request, stores, rec, want_metadata)


def _not_private(
    request: Request,
    settings: Settings,
    stores: Stores,
    team: str,
    index: str,
    project: str,
    filename: str,
    want_metadata: bool,
    name: str,
    index_doc: dict[str, Any] | Literal[False] | None = False,
) -> Response:
    """A file of a project the index does not hold: its upstream's, if it has one and the
    name is not kept private; else 404. ``index_doc``: the index's document if already read."""
    if index_doc is False:
        index_snap = Tenancy(stores).index_ref(team, index).get()
        index_doc = index_snap.to_dict() if index_snap.exists else None
    known_view = viewpages.current(stores, team, index, index_doc) if view_of(team, index_doc) else None
    if known_view is not None:
        return _from_view(request, settings, stores, known_view, project, filename, want_metadata)
    cfg = config_of(index_doc)
    if cfg is not None and not is_private(index_doc, project, False):
        return upstream_file(request, settings, stores, team, index, project, cfg, filename, want_metadata)
    raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")


def _from_view(
    request: Request,
    settings: Settings,
    stores: Stores,
    known_view: viewpages.Known,
    project: str,
    filename: str,
    want_metadata: bool,
) -> Response:
    """A file of a view: from the source that wins the project, if the filter keeps it."""
    page, ref = viewpages.file_of(settings, stores, known_view, project, filename, want_metadata)
    if ref is not None:
        return serve_blob(request, stores, ref, want_metadata)
    assert page.upstream is not None
    team = known_view.view.team
    return upstream_file(
        request, settings, stores, team, page.source, project, page.upstream, filename, want_metadata
    )


class Servable(Protocol):
    """What serving a file needs: a FileRecord, or the FileRef of a cached page."""

    @property
    def blob_path(self) -> str: ...
    @property
    def metadata_path(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def metadata_sha256(self) -> str | None: ...


def serve_blob(request: Request, stores: Stores, rec: Servable, want_metadata: bool) -> Response:
    """The record's file (or METADATA): 304, a redirect to a signed URL, or the bytes streamed.

    A file of at least ``signed_url_min_bytes`` (BALE_SIGNED_URL_MIN_BYTES) goes to a signed
    Cloud Storage URL when storage can sign one: the instance answers in milliseconds instead
    of relaying hundreds of MiB. uv and pip follow the redirect to the other host without
    sending the index's credentials there (tests/functions/test_large_files.py checks both);
    the signature alone authorizes the GET, for 5 minutes. Smaller files and METADATA are
    streamed: one storage read costs less than the client's second round trip.

    A file above ``max_streamed_bytes`` is redirected whatever the threshold says: the
    platform cuts longer responses. Where storage should sign and cannot, the request fails
    with 503 (SigningFailed, logged by the store) rather than stream; only a store that cannot
    sign at all (the emulator of ``bale dev`` and the tests) streams every size."""
    path = rec.metadata_path if want_metadata else rec.blob_path
    digest = rec.metadata_sha256 if want_metadata else rec.sha256
    if digest is None:  # a file without METADATA (download() refuses it before this)
        raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.")
    headers = {"ETag": f'"{digest}"', "Cache-Control": FILE_CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(digest):
        return Response(status=304, headers=headers)
    settings = stores.settings
    big = not want_metadata and (
        rec.size >= settings.signed_url_min_bytes or rec.size > settings.max_streamed_bytes
    )
    url = stores.blobs.signed_url(path, ttl=SIGNED_URL_TTL) if big else None
    if url:
        # The signed URL is short-lived and per request: clients must not keep the redirect.
        resp = Response(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})
        resp.autocorrect_location_header = False
        return resp
    if want_metadata:
        # METADATA is small (4 MiB at most): one GET, whole, or none when this instance has it.
        data = _small.get(path)
        if data is None:
            try:
                data = stores.blobs.read(path)
            except BlobMissing:
                log.error("record without its METADATA: %s", path)
                raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.") from None
            _small.put(path, data)
        resp = Response(b"" if request.method == "HEAD" else data, status=200, headers=headers)
        resp.headers["Content-Type"] = METADATA_TYPE
        resp.headers["Content-Length"] = str(len(data))
        return resp
    if request.method == "GET" and rec.size <= SMALL_BYTES_MAX:
        data = _small.get(path)
        if data is None:
            try:
                chunks, _ = stores.blobs.open(path, size=rec.size)  # one chunk: one GET
                data = b"".join(chunks)
            except BlobMissing:
                log.error("record without its blob: %s", path)
                raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.") from None
            _small.put(path, data)
        resp = Response(data, status=200, headers=headers)
        resp.headers["Content-Type"] = FILE_TYPE
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


def upstream_file(
    request: Request,
    settings: Settings,
    stores: Stores,
    team: str,
    index: str,
    project: str,
    cfg: UpstreamConfig,
    filename: str,
    want_metadata: bool,
) -> Response:
    """An upstream file (or its METADATA), from Bale's verified copy, made on first use."""
    # Imported here: a cold instance serving private files never loads the upstream client.
    from bale.upstream.cache import UpstreamCache

    up = UpstreamCache(stores, settings, team, cfg)
    page = up.page(project)
    # The upstream's own marker (PEP 792) passes through: a project it quarantines serves
    # nothing here either, not even a copy Bale made before.
    project_status.refuse_download(project, f"{team}/{index} (its upstream)", page.status, page.status_reason)
    entry = page.entry(filename)
    shown = filename + (".metadata" if want_metadata else "")
    if entry is None:
        raise NotFound(f"No file {shown!r} in {team}/{index}/{project} or its upstream.")
    why = hidden_reason(entry, cfg, project, now())
    if why:
        raise NotFound(f"{filename} is held back by the cooldown of {team}/{index}: {why}.")
    if want_metadata and not entry.get("m"):
        raise NotFound(f"The upstream has no metadata file for {filename!r}.")
    digest = entry["m"] if want_metadata else entry["h"]
    headers = {"ETag": f'"{digest}"', "Cache-Control": FILE_CACHE_CONTROL}
    if request.if_none_match.contains_weak(digest):
        return Response(status=304, headers=headers)
    url = stores.blobs.signed_url(up.file_path(entry, want_metadata), ttl=SIGNED_URL_TTL)
    if url:
        # Production: the client fetches Bale's copy from Cloud Storage; it must exist first.
        up.ensure_copy(entry, want_metadata)
        resp = Response(status=302, headers={"Location": url, "Cache-Control": "private, no-store"})
        resp.autocorrect_location_header = False
        return resp
    chunks, size = up.open_file(entry, want_metadata)
    if request.method == "HEAD":
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    resp = Response(
        None if request.method == "HEAD" else chunks, status=200, headers=headers, direct_passthrough=True
    )
    resp.headers["Content-Type"] = METADATA_TYPE if want_metadata else FILE_TYPE
    resp.headers["Content-Length"] = str(size)
    return resp

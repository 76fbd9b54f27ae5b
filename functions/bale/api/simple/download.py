"""File and ``.metadata`` downloads (PEP 658/714): through the file's record, never straight
to a blob, so a blob with no live record (an interrupted upload, a deleted file) is never served."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from flask import Request, Response

from bale.api.http import route_parts
from bale.api.simple.routing import FILES, authorize, index_slugs, redirect, services, slug_or_404
from bale.errors import NotFound
from bale.names import validate_project
from bale.packages.distributions import check_filename
from bale.packages.service import FileRecord, Packages
from bale.store.backends import Stores
from bale.store.blobs import BlobMissing

log = logging.getLogger("bale.simple")

# Files never change once stored (content-addressed, create-only), so a client may keep them.
FILE_CACHE_CONTROL: Final = "private, max-age=31536000, immutable"
SIGNED_URL_TTL: Final = dt.timedelta(minutes=5)
FILE_TYPE: Final = "application/octet-stream"
METADATA_TYPE: Final = "text/plain; charset=utf-8"
METADATA_SUFFIX: Final = ".metadata"


def download(request: Request, parts: list[str] | None = None, prefix: str = FILES) -> Response:
    """A file or its METADATA, at PREFIX/TEAM/INDEX/PROJECT/FILENAME[.metadata].

    Pages link files under the index URL (``/simple/TEAM/INDEX/PROJECT/FILENAME``): uv sends
    the index URL's credentials up front only to URLs below it, so a link elsewhere costs
    every download a 401 round trip. ``/files/…`` serves the same files for other clients.
    """
    if parts is None:
        parts = route_parts(request.path, FILES + "/")
    if len(parts) != 4:
        raise NotFound("Files are at /files/TEAM/INDEX/PROJECT/FILENAME.")
    team, index = index_slugs(parts[0], parts[1])
    project = slug_or_404(validate_project, parts[2])
    name = slug_or_404(check_filename, parts[3])
    if project != parts[2]:
        return redirect(request, f"{prefix}/{team}/{index}/{project}/{name}")
    want_metadata = name.endswith(METADATA_SUFFIX)
    filename = name[: -len(METADATA_SUFFIX)] if want_metadata else name

    _, stores = services()
    packages = Packages(stores)
    also = [packages.file_ref(team, index, project, filename)] if filename else []
    _, snaps = authorize(request, stores, team, index, project, also=also)
    # Only a live record makes a blob servable: a blob without one (an interrupted upload)
    # or behind a deleted record is never served.
    rec = FileRecord(**snaps[0].to_dict()) if snaps and snaps[0].exists else None
    if rec is None or rec.deleted_at is not None or (want_metadata and not rec.metadata_sha256):
        raise NotFound(f"No file {name!r} in {team}/{index}/{project}.")
    return serve_blob(request, stores, rec, want_metadata)


def serve_blob(request: Request, stores: Stores, rec: FileRecord, want_metadata: bool) -> Response:
    """The record's file (or METADATA): 304, a redirect to a signed URL, or the bytes streamed.

    A file of at least ``signed_url_min_bytes`` (BALE_SIGNED_URL_MIN_BYTES) goes to a signed
    Cloud Storage URL when storage can sign one: the instance answers in milliseconds instead
    of relaying hundreds of MiB. uv and pip follow the redirect to the other host without
    sending the index's credentials there (tests/functions/test_large_files.py checks both);
    the signature alone authorizes the GET, for 5 minutes. Smaller files and METADATA are
    streamed: one storage read costs less than the client's second round trip."""
    path = rec.metadata_path if want_metadata else rec.blob_path
    digest = rec.metadata_sha256 if want_metadata else rec.sha256
    if digest is None:  # a file without METADATA (download() refuses it before this)
        raise NotFound(f"No file {path.rsplit('/', 1)[-1]!r}.")
    headers = {"ETag": f'"{digest}"', "Cache-Control": FILE_CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if request.if_none_match.contains_weak(digest):
        return Response(status=304, headers=headers)
    big = not want_metadata and rec.size >= stores.settings.signed_url_min_bytes
    url = stores.blobs.signed_url(path, ttl=SIGNED_URL_TTL) if big else None
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

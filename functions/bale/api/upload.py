"""The upload endpoint: PyPI's legacy multipart API, as ``uv publish`` and ``twine upload`` speak it.

Order of work, cheapest refusal first: route and auth, size, form, filename,
digests (while spooling the body to a temporary file, so memory stays flat),
archive and its METADATA, classifiers, PEP 740 attestations (verified offline, only
when the upload carries them); only then the blob (create-only, in a
content-addressed path) and finally the Firestore transaction that makes the
file visible, with its provenance. Any failure after the blob write deletes that blob.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from flask import Request, Response
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from bale import access
from bale.api.http import plain_errors
from bale.clock import now
from bale.errors import BadRequest, BaleError, Forbidden, NotFound, TooLarge, Unavailable
from bale.names import validate_index, validate_team
from bale.packages import distributions
from bale.packages.service import CommitResult, FileRecord, Packages
from bale.provenance import store as provenance_store
from bale.provenance.identity import NO_IDENTITY
from bale.routes import Endpoint, match
from bale.settings import get_settings
from bale.store.backends import Stores, get_stores
from bale.store.blobs import BlobExists, BlobMissing, BlobStore
from bale.store.paths import blob_path
from bale.upstream.policy import config_of, may_shadow
from bale.views.service import refuse_upload, view_of

log = logging.getLogger("bale.upload")

CONTENT_TYPES = {"bdist_wheel": "application/zip", "sdist": "application/octet-stream"}
#: Set in the WSGI environ when the request's body could not be read to its end.
_UNREAD = "bale.upload.body_unread"
#: The one endpoint of bale.routes this function serves.
ENDPOINT = Endpoint("upload", "upload")


def _route(request: Request) -> tuple[str, str]:
    try:
        endpoint, values = match(request.path, request.method)
    except HTTPException:
        endpoint, values = None, {}
    if endpoint != ENDPOINT:
        raise NotFound("Upload to /v1/upload/TEAM/INDEX/.")
    try:
        return validate_team(values["team"]), validate_index(values["index"])
    except BadRequest as exc:
        raise NotFound(exc.message) from None


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _hash_file(fh: IO[bytes]) -> tuple[int, dict[str, str]]:
    hashes: dict[str, _Hasher] = {
        "sha256": hashlib.sha256(),
        "md5": hashlib.md5(usedforsecurity=False),
        "blake2_256": hashlib.blake2b(digest_size=32),
    }
    size = 0
    fh.seek(0)
    while chunk := fh.read(1024 * 1024):
        size += len(chunk)
        for h in hashes.values():
            h.update(chunk)
    fh.seek(0)
    return size, {k: h.hexdigest() for k, h in hashes.items()}


def handle(request: Request) -> Response:
    resp: Response = _handle_mapped(request)
    if request.environ.get(_UNREAD):
        _close_unread(resp)
    return resp


def _close_unread(resp: Response) -> None:
    """An answer for a request whose body could not be read to its end (the client hung up): it
    closes the connection and is sent as an iterable, because functions-framework's
    read_request after-request hook re-reads the body of any other response, and that read
    raises ClientDisconnected again: a logged 500 for what is the client's doing."""
    data = resp.get_data()

    def once() -> Iterator[bytes]:
        yield data

    resp.response = once()
    resp.headers["Content-Length"] = str(len(data))
    resp.headers["Connection"] = "close"


def _handle(request: Request) -> Response:
    settings = get_settings()
    if request.method != "POST":
        raise BaleError("Use POST to upload.", status=405, headers={"Allow": "POST"})
    team, index = _route(request)
    stores = get_stores(settings)

    # The token, the index and (for a person's token) the team's roster in one round trip;
    # nothing about the index is used (or told) unless the token may upload there.
    principal, (index_snap,) = access.require(request, stores, "upload", team, index)
    index_doc = index_snap.to_dict() or {}
    view = view_of(team, index_doc)
    if view is not None:
        raise refuse_upload(view)

    length = request.content_length
    if length is not None and length > settings.max_upload_bytes:
        raise TooLarge(f"Upload too large: {length} bytes; the limit is {settings.max_upload_bytes} bytes.")
    request.max_content_length = settings.max_upload_bytes + 64 * 1024
    request.max_form_memory_size = 8 * 1024 * 1024  # long descriptions are form fields
    try:
        form, files = request.form, request.files
    except RequestEntityTooLarge:
        raise TooLarge(f"Upload too large; the limit is {settings.max_upload_bytes} bytes.") from None
    except ClientDisconnected:
        # Nobody reads this answer; it is a 400 so that logs and metrics do not count a server error.
        request.environ[_UNREAD] = True
        raise BadRequest("The upload ended early: the client closed the connection mid-body.") from None
    except HTTPException as exc:
        raise BadRequest(f"Malformed upload body: {exc.description}") from None

    if form.get(":action") != "file_upload":
        raise BadRequest(f"Unsupported :action {form.get(':action')!r}; only file_upload is supported.")
    if form.get("protocol_version", "1") != "1":
        raise BadRequest(f"Unsupported protocol_version {form.get('protocol_version')!r}.")
    content = files.get("content")
    if content is None or not content.filename:
        raise BadRequest("Upload has no file: the 'content' field is missing.")

    filename = distributions.check_filename(content.filename)
    form_name = form.get("name", "").strip()
    parsed = distributions.parse_filename(filename)
    # Project-scoped tokens: refuse before any expensive work.
    access.confirm(principal, "upload", team, index, parsed.project)
    distributions.check_normalized_filename(parsed)
    if form_name and distributions.normalize(form_name) != parsed.project:
        raise BadRequest(f"The form's name {form_name!r} does not match the filename {filename!r}.")
    attestations = _attestations_field(form, files, principal)

    fh = content.stream
    size, digests = _hash_file(fh)
    if size == 0:
        raise BadRequest(f"{filename}: the file is empty.")
    if size > settings.max_upload_bytes:
        raise TooLarge(f"Upload too large: {size} bytes; the limit is {settings.max_upload_bytes} bytes.")
    for field, algo in (
        ("md5_digest", "md5"),
        ("sha256_digest", "sha256"),
        ("blake2_256_digest", "blake2_256"),
    ):
        given = form.get(field, "").strip().lower()
        if given and given != digests[algo]:
            raise BadRequest(f"The {field} given does not match the file's {algo}: the upload was corrupted.")

    dist = distributions.inspect(
        fh,
        parsed,
        size=size,
        max_uncompressed=settings.max_uncompressed_bytes,
        max_ratio=settings.max_compression_ratio,
    )
    meta = dist.metadata
    distributions.check_form_agrees(form, dist)
    classifiers = list(dict.fromkeys([*(meta.classifiers or []), *form.getlist("classifiers")]))
    distributions.check_classifiers(classifiers, team=team, namespace=settings.private_namespaces)

    provenance = _attestations(attestations, principal, filename, digests["sha256"])
    record = FileRecord(
        filename=filename,
        project=parsed.project,
        name=meta.name,
        version=str(meta.version),
        packagetype=parsed.packagetype,
        python_version=form.get("pyversion") or parsed.python_tag,
        size=size,
        sha256=digests["sha256"],
        md5=digests["md5"],
        blake2_256=digests["blake2_256"],
        blob_path=blob_path(team, index, parsed.project, digests["sha256"], filename),
        metadata_sha256=hashlib.sha256(dist.raw_metadata).hexdigest(),
        requires_python=str(meta.requires_python) if meta.requires_python else None,
        upload_time=now(),
        uploaded_by=principal.token.label_for(team, index),
        metadata=distributions.summary(meta),
        provenance=provenance[1] if provenance else None,
    )
    return _store(
        stores,
        team,
        index,
        record,
        fh,
        dist.raw_metadata,
        provenance=provenance[0] if provenance else None,
        index_doc=index_doc,
    )


def _attestations_field(
    form: MultiDict[str, str], files: MultiDict[str, FileStorage], principal: access.Principal
) -> str | None:
    """The upload's ``attestations`` form field, or None; the refusals that need neither the
    file nor the verification stack come here, before the file is read: a second field or a
    file part of that name (either would otherwise be silently ignored), and attestations on
    an upload whose token has no publisher identity to check them against."""
    if "attestations" in files:
        raise BadRequest("Attestations refused: send them as a form field (a JSON array), not as a file.")
    fields = form.getlist("attestations")
    if len(fields) > 1:
        raise BadRequest("Attestations refused: send one attestations field (a JSON array of them all).")
    raw: str | None = fields[0] if fields else None
    if raw is None or not raw.strip():
        return None
    if access.attestation_identity(principal) is None:
        raise BadRequest(f"Attestation refused: {NO_IDENTITY}")
    return raw


def _attestations(
    raw: str | None, principal: access.Principal, filename: str, sha256: str
) -> tuple[str, dict[str, Any]] | None:
    """The upload's PEP 740 attestations, verified: (the provenance to store, as JSON; its
    summary), or None when there are none. Refused (400, naming the check) if any fails."""
    if raw is None or not raw.strip():
        return None
    # The verification stack (sigstore and its dependencies) is large: imported only here, so
    # an upload without attestations, the usual case, never pays for it.
    from bale.provenance import verify

    verified = verify.verify_upload(
        raw,
        access.attestation_identity(principal),
        filename,
        sha256,
        trusted_root=get_settings().sigstore_trusted_root,
    )
    return provenance_store.encode(verified.provenance), verified.summary


def _check_shadowing(stores: Stores, team: str, index: str, project: str, index_doc: dict[str, Any]) -> None:
    """Refuse the first upload of a name the index's upstream has, unless an admin allowed it:
    from then on the private project would hide the public one (private first), which must be
    a decision, never an accident."""
    cfg = config_of(index_doc)
    if cfg is None or may_shadow(cfg, project):
        return
    how = f"bale admin allow-shadow {team} {index} {project}"
    # Imported here: only an index with an upstream needs the upstream client.
    from bale.upstream.cache import upstream_has
    from bale.upstream.client import UpstreamError

    try:
        taken = upstream_has(stores, get_settings(), team, cfg, project)
    except UpstreamError as exc:
        raise Unavailable(
            f"Cannot check whether {project!r} exists on the upstream of {team}/{index} ({exc.message}); "
            f"retry later, or have a team admin run `{how}` to upload it anyway."
        ) from None
    if taken:
        raise Forbidden(
            f"{project!r} exists on the upstream of {team}/{index} ({cfg.url}); uploading it here would "
            f"shadow it for everyone installing from this index. If that is intended, a team admin "
            f"can allow it: `{how}`."
        )


def _store(
    stores: Stores,
    team: str,
    index: str,
    record: FileRecord,
    fh: IO[bytes],
    raw_metadata: bytes,
    provenance: str | None = None,
    index_doc: dict[str, Any] | None = None,
) -> Response:
    blobs = stores.blobs
    # A retry of a stored file, or a taken name: answered without writing anything.
    outcome, project_exists = Packages(stores).precheck(team, index, record)
    if outcome == CommitResult.EXISTS:
        _journal(stores, team, index, record, provenance)
        return _stored(record, team, index, CommitResult.EXISTS)
    if not project_exists:
        # One upstream lookup (through its page cache), only for a project's first upload.
        _check_shadowing(stores, team, index, record.project, index_doc or {})
    created: list[tuple[str, int]] = []
    try:
        # Create-only writes to a path named by the content's hash: a stored file can never be
        # replaced, and an identical retry finds its bytes already there.
        _put(blobs, record.blob_path, fh, record.size, CONTENT_TYPES[record.packagetype], created)
        _put(
            blobs,
            record.metadata_path,
            io.BytesIO(raw_metadata),
            len(raw_metadata),
            "text/plain; charset=utf-8",
            created,
        )
        # The record comes last and in one transaction: until it commits nothing is served.
        result = Packages(stores).commit(
            team, index, record, new_project=not project_exists, provenance=provenance
        )
    except BaseException:
        _clean_up(stores, team, index, record, created)
        raise
    _journal(stores, team, index, record, provenance)
    return _stored(record, team, index, result)


def _put(
    blobs: BlobStore, path: str, fh: IO[bytes], size: int, content_type: str, created: list[tuple[str, int]]
) -> None:
    """Store one blob create-only, or reuse the one there (an identical retry: the path is
    named by the content's hash). A reused blob may be an orphan that ``bale admin sweep``
    is about to delete: touching it first makes that delete fail its metageneration
    precondition, so the record committed next never points at deleted bytes. If the sweep
    deleted it before the touch, it is written again."""
    for _ in range(3):
        try:
            created.append((path, blobs.create(path, fh, size=size, content_type=content_type)))
            return
        except BlobExists:
            pass
        try:
            blobs.touch(path)
            return
        except BlobMissing:
            continue  # swept between our create and our touch
    raise Unavailable(f"Storage keeps changing {path}; retry the upload.", headers={"Retry-After": "5"})


def _journal(stores: Stores, team: str, index: str, record: FileRecord, provenance: str | None) -> None:
    """Under ``bale dev --data-dir``, make the record durable before the 200 (see
    bale.packages.journal); a no-op in production."""
    path = stores.settings.dev_journal
    if path:
        from bale.packages import journal

        journal.append(path, team, index, record, provenance=provenance)


def _clean_up(
    stores: Stores, team: str, index: str, record: FileRecord, created: list[tuple[str, int]]
) -> None:
    """After a failed upload, remove the blobs it wrote, unless a record now references them:
    a racing identical upload's, or this upload's own when its commit reached Firestore but
    the answer did not (a deadline passed). Each call has its deadline (see bale.store), so
    this is bounded too. When the record cannot be read, the blobs stay: deleting them could
    leave a record without its bytes; a blob without a record is never served, and
    ``bale admin sweep`` removes it later. In production the upload's service account may
    create package files but not delete them (terraform/iam_storage.tf): there the blobs
    always stay, and an identical retry reuses them."""
    if not created:
        return
    try:
        kept = Packages(stores).file(team, index, record.project, record.filename)
    except Exception as exc:
        log.warning(
            "upload of %s failed and its record cannot be read (%r): its blobs stay for `bale admin sweep`",
            record.filename,
            exc,
        )
        return
    # A tombstone with the same hash references nothing: its bytes were deleted.
    if kept is not None and kept.deleted_at is None and kept.sha256 == record.sha256:
        return
    for path, gen in created:
        try:
            stores.blobs.delete(path, generation=gen)
        except Exception:
            log.warning("could not delete orphan blob %s (left for `bale admin sweep`)", path, exc_info=True)


def _stored(record: FileRecord, team: str, index: str, result: str) -> Response:
    if result == CommitResult.EXISTS:
        msg = f"{record.filename} already exists with the same content; nothing to do."
    else:
        msg = f"Uploaded {record.filename} to {team}/{index}."
    return Response(msg + "\n", status=200, mimetype="text/plain")


#: The handler with errors mapped to responses in one place (bale.api.http).
_handle_mapped: Callable[[Request], Response] = plain_errors(_handle)

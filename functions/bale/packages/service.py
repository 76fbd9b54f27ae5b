"""Projects and their files: the records behind uploads and the Simple API.

Firestore layout, under ``teams/{team}/indexes/{index}``::

    projects/{normalized}                  {name, normalized, serial, file_count, chunks: [k],
                                            updated_at, status?, status_reason?}
    projects/{normalized}/files/{filename} the full record of one file (kept after deletion as a
                                           tombstone, so a filename can never be reused)
    projects/{normalized}/pages/{k:05d}    {files: [entry, ...]}: the Simple API page, split over
                                           CHUNKS documents by a hash of the filename; the
                                           upload's batch adds its entry
    catalog/{k:02d}                        {projects: [{n, name}, ...]}: the index's project list,
                                           split over CATALOG_CHUNKS documents by a hash of the
                                           name; the upload that creates a project adds it (the
                                           index document keeps catalog_chunks and catalog_serial)

A page entry is compact (see :func:`page_entry`, about 250 bytes), so a project
of 10,000 files is 16 chunks of about 160 KB, far under Firestore's 1 MiB
document limit (the ceiling is roughly 60,000 files a project). A page read
costs at most 1 + CHUNKS document reads on a cold cache, whatever the number of
files, and 1 read (the project document, for its serial) on a warm one.

Blobs (Cloud Storage) are content-addressed::

    {team}/{index}/{normalized}/{sha256}/{filename}            the file
    {team}/{index}/{normalized}/{sha256}/{filename}.metadata   its METADATA (PEP 658)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bale.clock import now
from bale.errors import BadRequest, NotFound, Unavailable
from bale.names import validate_project
from bale.packages import status as project_status
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import PageEntry
from bale.tenancy.audit import AuditLog
from bale.tenancy.service import Tenancy

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot, Transaction

#: A project's page is split over this many chunk documents, by a hash of the filename.
CHUNKS = 16
#: An index's project list is split over this many documents, by a hash of the project name
#: (about 20,000 projects each fit under Firestore's 1 MiB document limit).
CATALOG_CHUNKS = 8
MAX_TXN_ATTEMPTS = 30


def chunk_of(filename: str) -> int:
    return zlib.crc32(filename.encode()) % CHUNKS


def catalog_chunk_of(project: str) -> int:
    return zlib.crc32(project.encode()) % CATALOG_CHUNKS


@dataclasses.dataclass
class FileRecord:
    filename: str
    project: str  # normalized
    name: str  # as written in METADATA
    version: str
    packagetype: str  # bdist_wheel | sdist
    python_version: str
    size: int
    sha256: str
    md5: str
    blake2_256: str
    blob_path: str
    metadata_sha256: str | None
    requires_python: str | None
    upload_time: dt.datetime
    uploaded_by: str
    metadata: dict[str, Any]
    yanked: bool = False
    yanked_reason: str | None = None
    deleted_at: dt.datetime | None = None
    deleted_by: str | None = None
    chunk: int = 0
    #: Who built the file, as its verified attestations say (see
    #: :func:`bale.provenance.verify.summarize`); None: uploaded without provenance. The
    #: provenance itself is a document of its own (``paths.provenance``), created in the
    #: same batch as this record.
    provenance: dict[str, Any] | None = None

    @property
    def metadata_path(self) -> str:
        return paths.metadata_path(self.blob_path)


def page_entry(rec: FileRecord) -> PageEntry:
    """The few fields the Simple API needs (see :class:`bale.store.records.PageEntry`)."""
    e: PageEntry = {
        "f": rec.filename,
        "v": rec.version,
        "h": rec.sha256,
        "s": rec.size,
        "t": rec.upload_time,
    }
    if rec.requires_python:
        e["r"] = rec.requires_python
    if rec.metadata_sha256:
        e["m"] = rec.metadata_sha256
    if rec.yanked:
        e["y"] = rec.yanked_reason or ""
    if rec.provenance:
        e["p"] = 1
    return e


@dataclasses.dataclass
class Page:
    """What the Simple API renders for one project."""

    name: str
    normalized: str
    serial: int
    files: list[PageEntry]
    #: PEP 792 (see :mod:`bale.packages.status`); a quarantined page lists no files.
    status: str = "active"
    status_reason: str | None = None


class Deleted(list[FileRecord]):
    """What :meth:`Packages.delete` deleted: its FileRecords, sorted by filename, and in
    ``failed_blobs`` the storage paths it could not remove (unreachable, never served, but
    still stored: the admin should know)."""

    def __init__(self, records: Iterable[FileRecord] = (), failed_blobs: Iterable[str] = ()) -> None:
        super().__init__(records)
        self.failed_blobs: list[str] = list(failed_blobs)


class CommitResult:
    CREATED = "created"
    EXISTS = "exists"


def _transact(txn: Any, tx: Transaction) -> Any:
    """Run a ``@firestore.transactional`` function, with the library's two ValueErrors turned
    back into what happened: attempts exhausted (the documents kept changing: 503, retry), and
    the rollback it tries after a begin that failed (a deadline, an outage), which finds no
    transaction and raises with the real error as its context (raised here, so an outage is
    still answered 503, not 500)."""
    try:
        return txn(tx)
    except ValueError as exc:
        if isinstance(exc.__cause__, Exception):
            raise Unavailable(
                "Too many concurrent changes to this project; retry.", headers={"Retry-After": "1"}
            ) from exc
        if isinstance(exc.__context__, Exception):
            raise exc.__context__ from None
        raise


def unquarantined(projects: list[dict[str, Any]], index_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The index's project list without its quarantined projects, as PyPI leaves them out:
    they offer nothing to install (PEP 792), and a mirror or tool walking the list should not
    find them. Their own page still answers, with the marker and no files, so a client that
    asks by name learns why. (The index document keeps their names: no extra read.)"""
    hidden = set(index_doc.get("quarantined") or ())
    return [p for p in projects if p["normalized"] not in hidden] if hidden else projects


class Packages:
    """Projects and their files: records, pages, catalogs, yanks and deletions."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    # -- references (the index document's is Tenancy.index_ref) ----------------
    def project_ref(self, team: str, index: str, project: str) -> DocumentReference:
        return self.db.document(paths.project(team, index, project))

    def file_ref(self, team: str, index: str, project: str, filename: str) -> DocumentReference:
        return self.db.document(paths.file(team, index, project, filename))

    def chunk_ref(self, team: str, index: str, project: str, k: int) -> DocumentReference:
        return self.db.document(paths.page_chunk(team, index, project, k))

    def catalog_ref(self, team: str, index: str, k: int) -> DocumentReference:
        return self.db.document(paths.catalog_chunk(team, index, k))

    # -- writes -------------------------------------------------------------
    def commit(
        self,
        team: str,
        index: str,
        rec: FileRecord,
        *,
        new_project: bool,
        provenance: str | None = None,
        check_status: bool = True,
    ) -> str:
        """Record an uploaded file, atomically with its project page.

        Called after the blob is stored: a crash in between leaves an
        unreferenced blob, which is never served (downloads go through the
        record), never a record without its blob.

        One transaction that reads one small document, the project's status (PEP 792:
        archived and quarantined projects take no uploads), and then writes: the file
        document is created, the page entry is added to its chunk with an array-union
        transform and the project's serial is incremented server-side. Reading the status
        here, not only in :meth:`precheck`, is what makes the rule hold: an upload that
        passed the precheck before ``bale admin project status`` ran either commits before
        the status does, or reads the new status and is refused. It reads the status
        document (``paths.project_status``), which uploads never write, and nothing that
        uploads write: uploads to one project, even of one filename, never invalidate each
        other's reads, so they do not abort and retry. Which of two racing uploads of one
        filename wins is decided by the file document's create, as outside a transaction:
        the loser's commit fails with AlreadyExists and is answered from the winner's record.

        ``new_project`` (the project had no document when the upload looked) also adds the
        project to the index's catalog, in the same commit: the first commit of a project
        always saw it missing, so every project is in the catalog; two racing first uploads
        both add it, and the catalog's reader drops the repeat.

        ``provenance`` (the PEP 740 provenance object, as JSON) is created in the same commit,
        so a file is never visible without the provenance it was uploaded with.

        ``check_status``: False only for the journal's replay of uploads that were answered
        200 before a status changed (nothing accepted is ever lost).

        Returns CommitResult.CREATED, or EXISTS when the same file was there.
        Raises BadRequest when the filename is taken by other content, or when the project's
        status takes no uploads.
        """
        from google.api_core import exceptions
        from google.cloud import firestore

        project = rec.project
        p_ref = self.project_ref(team, index, project)
        f_ref = self.file_ref(team, index, project, rec.filename)
        s_ref = self.db.document(paths.project_status(team, index, project))
        rec.chunk = chunk_of(rec.filename)

        @firestore.transactional
        def txn(tx: Transaction) -> str:
            if check_status:
                s_snap = s_ref.get(transaction=tx)
                if s_snap.exists:
                    project_status.refuse_upload(project, s_snap.to_dict())
            tx.create(f_ref, dataclasses.asdict(rec))
            if provenance is not None:
                tx.create(
                    self.db.document(paths.provenance(team, index, project, rec.filename)),
                    {"json": provenance, "created_at": rec.upload_time},
                )
            tx.set(
                self.chunk_ref(team, index, project, rec.chunk),
                {"files": firestore.ArrayUnion([page_entry(rec)])},
                merge=True,
            )
            tx.set(
                p_ref,
                {
                    "name": rec.name,
                    "normalized": project,
                    "serial": firestore.Increment(1),
                    "file_count": firestore.Increment(1),
                    "chunks": firestore.ArrayUnion([rec.chunk]),
                    "updated_at": rec.upload_time,
                },
                merge=True,
            )
            # The team's audit log names every upload, in this commit: no second round trip,
            # and an upload that does not commit (a repeat, a taken filename) records nothing.
            tx.create(
                self.db.collection(paths.audit()).document(),
                {
                    "team": team,
                    "actor": rec.uploaded_by,
                    "action": "upload",
                    "detail": f"{index}/{project} {rec.filename}",
                    "at": rec.upload_time,
                },
            )
            if new_project:
                k = catalog_chunk_of(project)
                tx.set(
                    self.catalog_ref(team, index, k),
                    {"projects": firestore.ArrayUnion([{"n": project, "name": rec.name}])},
                    merge=True,
                )
                tx.update(
                    Tenancy(self.stores).index_ref(team, index),
                    {"catalog_chunks": firestore.ArrayUnion([k]), "catalog_serial": firestore.Increment(1)},
                )
            return CommitResult.CREATED

        try:
            result: str = _transact(txn, self.db.transaction(max_attempts=MAX_TXN_ATTEMPTS))
        except exceptions.AlreadyExists:
            return self.already_there(f_ref.get().to_dict() or {}, rec)
        return result

    def precheck(self, team: str, index: str, rec: FileRecord) -> tuple[str | None, bool]:
        """Before any byte is stored, in one round trip: (EXISTS for an identical re-upload (a
        retry), None for a new file; whether the project exists). BadRequest for a filename
        taken by other bytes or by a deleted file, or for a project whose status (PEP 792) takes
        no uploads. ``commit`` decides races."""
        f_ref = self.file_ref(team, index, rec.project, rec.filename)
        p_ref = self.project_ref(team, index, rec.project)
        snaps = {s.reference.path: s for s in self.db.get_all([f_ref, p_ref])}
        f_snap, p_snap = snaps[f_ref.path], snaps[p_ref.path]
        # Checked here so that a refused upload stores no byte; checked again in the commit,
        # which decides when a status is set while the upload is under way.
        project_status.refuse_upload(rec.project, p_snap.to_dict() if p_snap.exists else None)
        outcome = self.already_there(f_snap.to_dict() or {}, rec) if f_snap.exists else None
        return outcome, p_snap.exists

    @staticmethod
    def already_there(old: dict[str, Any], rec: FileRecord) -> str:
        """EXISTS for the same bytes under that filename; BadRequest for any other."""
        if old.get("deleted_at"):
            raise BadRequest(
                f"Filename {rec.filename!r} was used by a deleted file and cannot be reused; "
                "publish a new version."
            )
        if old.get("sha256") == rec.sha256:
            return CommitResult.EXISTS
        raise BadRequest(
            f"File already exists: {rec.filename!r} was uploaded with different content; "
            "files cannot be replaced, publish a new version."
        )

    def _version_files(
        self, tx: Transaction, team: str, index: str, project: str, version: str, filename: str | None = None
    ) -> tuple[list[DocumentSnapshot[DocumentReference]], dict[int, dict[str, Any]]]:
        """In a transaction: the live file records of a version (or its one named file), read
        with their page chunks. NotFound names what is missing."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from packaging.version import InvalidVersion, Version

        try:
            want = Version(version)
        except InvalidVersion:
            raise BadRequest(f"Invalid version {version!r}.") from None
        p_ref = self.project_ref(team, index, project)
        if not p_ref.get(transaction=tx).exists:
            raise NotFound(f"No project {project!r} in {team}/{index}.")
        live = (
            self.db.collection(paths.files(team, index, project))
            .where(filter=FieldFilter("deleted_at", "==", None))
            .get(transaction=tx)
        )
        matches = [s for s in live if Version(s.get("version")) == want and filename in (None, s.id)]
        if not matches:
            what = f"file {filename!r} of" if filename else "files for"
            raise NotFound(f"No {what} {project} {version} in {team}/{index}.")
        chunks = {
            k: self.chunk_ref(team, index, project, k).get(transaction=tx).to_dict() or {"files": []}
            for k in sorted({s.get("chunk") for s in matches})
        }
        return matches, chunks

    def set_yanked(
        self,
        team: str,
        index: str,
        project: str,
        version: str,
        yanked: bool,
        reason: str | None = None,
        *,
        actor: str = "cli",
    ) -> int:
        """Yank or unyank every file of a version; returns how many files changed. Recorded
        once in the team's audit log, as ``actor``'s doing."""

        from google.cloud import firestore

        project = validate_project(project)
        p_ref = self.project_ref(team, index, project)

        @firestore.transactional
        def txn(tx: Transaction) -> int:
            matches, chunks = self._version_files(tx, team, index, project, version)
            names = {s.id for s in matches}
            for k, chunk in chunks.items():
                for e in chunk["files"]:
                    if e["f"] in names:
                        if yanked:
                            e["y"] = reason or ""
                        else:
                            e.pop("y", None)
                tx.set(self.chunk_ref(team, index, project, k), chunk)
            for s in matches:
                tx.update(s.reference, {"yanked": yanked, "yanked_reason": reason if yanked else None})
            tx.update(p_ref, {"serial": firestore.Increment(1), "updated_at": now()})
            return len(matches)

        n: int = txn(self.db.transaction(max_attempts=MAX_TXN_ATTEMPTS))
        detail = f"{index}/{project} {version} ({n} file{'s' if n != 1 else ''})"
        if yanked and reason:
            detail += f": {reason}"
        AuditLog(self.stores).record(team, actor, "yank" if yanked else "unyank", detail)
        return n

    def delete(
        self, team: str, index: str, project: str, version: str, *, filename: str | None = None, actor: str
    ) -> Deleted:
        """Delete every file of a version (or the one named file of it); returns what was deleted.

        One transaction takes the files off the project page and turns their
        records into tombstones (``deleted_at``, ``deleted_by``), so the
        filenames can never be used again; the serial moves, so every cached
        page is rebuilt. The bytes are removed afterwards: if that fails they
        stay unreferenced, and a blob without a live record is never served, but
        they are still stored, so the result's ``failed_blobs`` and the audit entry
        (one, as ``actor``'s doing) name them.
        """
        import logging

        from google.cloud import firestore

        project = validate_project(project)
        p_ref = self.project_ref(team, index, project)

        @firestore.transactional
        def txn(tx: Transaction) -> list[FileRecord]:
            matches, chunks = self._version_files(tx, team, index, project, version, filename)
            names = {s.id for s in matches}
            when = now()
            for k, chunk in chunks.items():
                chunk["files"] = [e for e in chunk.get("files", []) if e["f"] not in names]
                tx.set(self.chunk_ref(team, index, project, k), chunk)
            for s in matches:
                tx.update(s.reference, {"deleted_at": when, "deleted_by": actor})
            tx.update(
                p_ref,
                {
                    "serial": firestore.Increment(1),
                    "file_count": firestore.Increment(-len(matches)),
                    "updated_at": when,
                },
            )
            return [FileRecord(**{**(s.to_dict() or {}), "deleted_at": when}) for s in matches]

        deleted: list[FileRecord] = txn(self.db.transaction(max_attempts=MAX_TXN_ATTEMPTS))
        gone = sorted(deleted, key=lambda r: r.filename)
        failed = []
        for rec in gone:
            for path in (rec.blob_path, rec.metadata_path):
                try:
                    self.stores.blobs.delete(path)
                except Exception:
                    logging.getLogger(__name__).warning("could not delete blob %s", path, exc_info=True)
                    failed.append(path)
        detail = f"{index}/{project} {version}: " + ", ".join(r.filename for r in gone)
        if failed:
            detail += f"; could not remove from storage: {', '.join(failed)}"
        AuditLog(self.stores).record(team, actor, "delete", detail)
        return Deleted(gone, failed)

    def set_status(
        self, team: str, index: str, project: str, status: str, reason: str | None = None, *, actor: str
    ) -> tuple[str, str | None]:
        """Set a project's status (PEP 792) and its reason; returns them as stored. ``active``
        clears both. The serial moves, so every cached page is rebuilt with the new marker (and
        a quarantined page loses its files at once). Recorded once in the team's audit log.

        One transaction writes the status on the project document (what pages read), on its
        own document (what an upload's commit reads, see :meth:`commit`), and, when the
        project is or was quarantined, in the index's list of quarantined projects, which the
        project list leaves out (moving the list's serial)."""
        from google.cloud import firestore

        project = validate_project(project)
        status, reason = project_status.check_status(status, reason)
        active = status == project_status.ACTIVE
        p_ref = self.project_ref(team, index, project)
        s_ref = self.db.document(paths.project_status(team, index, project))
        quarantined = status == project_status.QUARANTINED

        @firestore.transactional
        def txn(tx: Transaction) -> None:
            snap = p_ref.get(transaction=tx)
            if not snap.exists:  # a status needs something to apply to
                raise NotFound(f"No project {project!r} in {team}/{index}.")
            was, _ = project_status.of(snap.to_dict())
            tx.update(
                p_ref,
                {
                    "status": firestore.DELETE_FIELD if active else status,
                    "status_reason": firestore.DELETE_FIELD if active or not reason else reason,
                    "serial": firestore.Increment(1),
                    "updated_at": now(),
                },
            )
            tx.set(s_ref, {"status": status, "status_reason": None if active else reason})
            # Also when it stays quarantined: setting it again puts back a name the list lacks
            # (a status set before the list kept them).
            if quarantined or was == project_status.QUARANTINED:
                change = firestore.ArrayUnion if quarantined else firestore.ArrayRemove
                tx.update(
                    Tenancy(self.stores).index_ref(team, index),
                    {"quarantined": change([project]), "catalog_serial": firestore.Increment(1)},
                )

        _transact(txn, self.db.transaction(max_attempts=MAX_TXN_ATTEMPTS))
        detail = f"{index}/{project} {status}" + (f": {reason}" if reason and not active else "")
        AuditLog(self.stores).record(team, actor, "project-status", detail)
        return status, None if active else reason

    # -- reads ------------------------------------------------------------
    def project_doc(self, team: str, index: str, project: str) -> dict[str, Any] | None:
        snap = self.project_ref(team, index, project).get()
        return snap.to_dict() if snap.exists else None

    def page(self, team: str, index: str, project: str, proj: dict[str, Any] | None = None) -> Page | None:
        """The project's page: its document (unless given) plus its chunks."""
        proj = proj or self.project_doc(team, index, project)
        if proj is None:
            return None
        status, reason = project_status.of(proj)
        # A quarantined project lists no files, so none is downloadable (downloads go through
        # the page): its chunks are not even read.
        chunks = proj.get("chunks", []) if project_status.serves_files(status) else []
        refs = [self.chunk_ref(team, index, project, k) for k in sorted(chunks)]
        files: list[PageEntry] = []
        if refs:
            by_id = {s.id: s.to_dict() for s in self.db.get_all(refs)}
            for ref in refs:
                files.extend((by_id.get(ref.id) or {}).get("files", []))
        return Page(
            name=proj["name"],
            normalized=proj["normalized"],
            serial=proj["serial"],
            files=files,
            status=status,
            status_reason=reason,
        )

    def catalog(self, team: str, index: str, index_doc: dict[str, Any]) -> list[dict[str, str]]:
        """The index's projects as ``{name, normalized}``, sorted: a bounded number of reads
        (the catalog's chunks) whatever the number of projects."""
        if index_doc.get("catalog") != paths.CATALOG_VERSION:
            return self.backfill_catalog(team, index)
        refs = [self.catalog_ref(team, index, k) for k in sorted(index_doc.get("catalog_chunks", []))]
        seen: dict[str, str] = {}
        for snap in self.db.get_all(refs) if refs else []:
            for e in (snap.to_dict() or {}).get("projects", []):
                seen.setdefault(e["n"], e["name"])
        return [{"name": name, "normalized": n} for n, name in sorted(seen.items())]

    def backfill_catalog(self, team: str, index: str) -> list[dict[str, str]]:
        """Build the catalog of an index made before it existed (reads every project once).

        Array unions only, so a project an upload creates meanwhile (and adds itself) is kept,
        and running it again (``bale admin rebuild-catalog``) is always safe.
        """
        from google.cloud import firestore

        projects = [{"name": p["name"], "normalized": p["normalized"]} for p in self.projects(team, index)]
        by_chunk: dict[int, list[dict[str, str]]] = {}
        for p in projects:
            by_chunk.setdefault(catalog_chunk_of(p["normalized"]), []).append(
                {"n": p["normalized"], "name": p["name"]}
            )
        batch = self.db.batch()
        for k, entries in by_chunk.items():
            batch.set(
                self.catalog_ref(team, index, k), {"projects": firestore.ArrayUnion(entries)}, merge=True
            )
        marks: dict[str, Any] = {
            "catalog": paths.CATALOG_VERSION,
            "catalog_serial": firestore.Increment(len(projects)),
        }
        if by_chunk:  # Firestore refuses an empty ArrayUnion: an index without projects has none
            marks["catalog_chunks"] = firestore.ArrayUnion(sorted(by_chunk))
        batch.update(Tenancy(self.stores).index_ref(team, index), marks)
        batch.commit()
        return projects

    def projects(self, team: str, index: str) -> list[dict[str, Any]]:
        """The index's project documents (their summary fields), sorted by name."""
        q = self.db.collection(paths.projects(team, index)).select(
            ["name", "normalized", "serial", "updated_at", "file_count"]
        )
        return sorted((s.to_dict() or {} for s in q.stream()), key=lambda d: d["normalized"])

    def file(self, team: str, index: str, project: str, filename: str) -> FileRecord | None:
        snap = self.file_ref(team, index, project, filename).get()
        if not snap.exists:
            return None
        return FileRecord(**(snap.to_dict() or {}))

    def files(self, team: str, index: str, project: str) -> list[FileRecord]:
        snaps = self.db.collection(paths.files(team, index, project)).stream()
        return [FileRecord(**(s.to_dict() or {})) for s in snaps]

"""The sweeper: removes package blobs that no live file record references.

An upload writes its blobs, then commits the record. When the commit fails and the clean-up
cannot tell whether it landed (Firestore unreachable), or the uploader may not delete (in
production the upload's account is create-only), the blobs stay: never served, since every
download goes through a record, but stored. A deletion whose blob removal failed leaves the
same. :func:`sweep` finds both and removes them.

Racing a retry: an identical retry reuses an orphan's blob (its path is the content's hash)
and commits a record pointing at it. So an orphan is removed only once it is older than a
threshold (its ``updated`` time), and only by a delete conditioned on the metageneration the
listing saw; the upload touches a blob it reuses (a metadata patch, which bumps the
metageneration) before it commits, so a sweep that saw the blob before the touch has its
delete refused, and one that lists it after sees it young. Blobs of deleted files (a
tombstone: the filename can never be used again) are removed whatever their age.

Run by an identity that may delete package objects (an operator's ``bale admin sweep``, or
the dashboard's account); the upload's cannot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

from bale.clock import now
from bale.store import paths
from bale.store.backends import Stores
from bale.store.blobs import BlobInfo
from bale.tenancy.audit import AuditLog

#: What the sweep did with one blob.
ORPHAN = "orphan"  # no live record of these bytes, older than the threshold
DELETED = "deleted"  # its file was deleted (a tombstone)
#: How many records one Firestore read asks for.
BATCH = 100


@dataclasses.dataclass
class Swept:
    path: str
    team: str
    why: str  # ORPHAN or DELETED
    #: True: removed (or would be, in a dry run); False: it changed since the listing (a
    #: retry reused it) or was already gone, so it stays.
    removed: bool


@dataclasses.dataclass
class SweepResult:
    swept: list[Swept]
    #: Blobs looked at (internal prefixes excluded), and those with a live record.
    seen: int
    kept: int
    #: Orphans left because they are younger than the threshold.
    young: int
    #: Paths that are not a package file's layout: left alone.
    unknown: list[str]

    @property
    def removed(self) -> int:
        return sum(1 for s in self.swept if s.removed)


def _parts(path: str) -> tuple[str, str, str, str, str] | None:
    """(team, index, project, sha256, filename) of a package blob or its ``.metadata``."""
    bits = path.split("/")
    if len(bits) != 5 or not all(bits):
        return None
    team, index, project, sha256, name = bits
    if name.endswith(".metadata"):
        name = name[: -len(".metadata")]
    return team, index, project, sha256, name


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def sweep(
    stores: Stores, *, older_than: dt.timedelta, dry_run: bool = False, actor: str = "cli"
) -> SweepResult:
    """Remove package blobs with no live record: orphans older than ``older_than`` (by their
    ``updated`` time) and blobs of deleted files. Each delete is conditioned on the blob being
    unchanged since the listing. One audit entry per team that lost blobs, as ``actor``."""
    cutoff = now() - older_than
    infos = [i for i in stores.blobs.list_info() if not i.path.startswith(paths.INTERNAL_PREFIXES)]
    unknown: list[str] = []
    parsed: list[tuple[BlobInfo, tuple[str, str, str, str, str]]] = []
    for info in infos:
        p = _parts(info.path)
        if p is None:
            unknown.append(info.path)
        else:
            parsed.append((info, p))

    # The record each blob's filename names, read in batches (never one read per blob).
    keys = sorted({(t, i, pr, f) for _, (t, i, pr, _, f) in parsed})
    records: dict[tuple[str, str, str, str], dict[str, Any] | None] = {}
    for batch in _chunks(keys, BATCH):
        refs = [stores.db.document(paths.file(*k)) for k in batch]
        by_path = {s.reference.path: s for s in stores.db.get_all(refs)}
        for k, ref in zip(batch, refs, strict=True):
            snap = by_path.get(ref.path)
            records[k] = snap.to_dict() if snap is not None and snap.exists else None

    swept: list[Swept] = []
    kept = young = 0
    for info, (team, index, project, sha256, filename) in parsed:
        rec = records[(team, index, project, filename)]
        if rec is not None and rec.get("deleted_at"):
            why = DELETED
        elif rec is not None and rec.get("sha256") == sha256:
            kept += 1
            continue
        elif info.updated >= cutoff:
            young += 1  # maybe an upload between its blobs and its commit, or a retry's
            continue
        else:
            why = ORPHAN
        removed = True if dry_run else stores.blobs.delete_unchanged(info)
        swept.append(Swept(info.path, team, why, removed))

    if not dry_run:
        by_team: dict[str, list[str]] = {}
        for s in swept:
            if s.removed:
                by_team.setdefault(s.team, []).append(s.path)
        for team, removed_paths in sorted(by_team.items()):
            AuditLog(stores).record(
                team,
                actor,
                "sweep",
                f"removed {len(removed_paths)} unreferenced blobs: " + ", ".join(removed_paths),
            )
    return SweepResult(swept, len(infos), kept, young, unknown)

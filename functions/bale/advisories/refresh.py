"""The daily refresh of public advisories from OSV's PyPI export (production's scheduled job).

Cloud Scheduler calls the ``advisories_refresh`` function once a day (terraform/advisories.tf,
docs/deploy.md). One run:

1. asks for the export with the ETag of the last one loaded (``If-None-Match``); a 304, or a
   body whose SHA-256 is the last one's, ends the run: nothing has changed;
2. streams the body to a temporary file, cut off at ``settings.advisories_max_bytes``;
3. reads every record, one zip member at a time, into the per-project summaries; a malformed
   record is refused with its reason and the others are kept;
4. only once the whole export has been read, writes each project's summary and then removes
   the summaries of projects the export no longer names (a record withdrawn upstream);
5. records the run in ``advisories_refresh/osv`` (time, counts, ETag and SHA-256), which
   ``bale admin advisories status`` prints.

Anything that fails before step 4 (the download, a truncated or corrupt zip, an export with no
usable record) raises :class:`RefreshFailed` having written nothing, so the function answers
5xx and Scheduler retries while the summaries of the last good run stay as they were. A
refused record never takes data away either: whatever the last run stored for its id is kept,
and when a refused record is too broken to say which projects it names, no summary is removed
in that run. Team-scoped private advisories are stored elsewhere and never touched here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from packaging.utils import canonicalize_name

from bale.advisories import osv
from bale.advisories.osv import records, zip_members
from bale.advisories.service import group, write_summaries
from bale.clock import now
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores

#: Firestore's batched writes take at most 500 operations.
_BATCH = 400
#: Refusals named in the log line and the refresh record (the count is always whole).
REFUSED_SHOWN = 20
#: Removing more than this share of the stored summaries in one run (and more than
#: ``_REMOVE_FLOOR`` of them) looks like a broken export, not withdrawals: nothing is removed,
#: and the run says so.
_REMOVE_SHARE = 0.5
_REMOVE_FLOOR = 100
_CHUNK = 1 << 16


class RefreshFailed(Exception):
    """Nothing was written: the export could not be had or read whole. ``status`` is the HTTP
    answer (5xx, so that Cloud Scheduler retries)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Outcome:
    """What one run did; ``as_record()`` is what is stored and logged."""

    status: str  # "loaded" or "unchanged"
    etag: str | None = None
    sha256: str | None = None
    bytes: int = 0
    loaded: int = 0
    projects: int = 0
    removed: int = 0
    kept_refused: int = 0
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    not_removed: str = ""  # why stale summaries were left in place, if they were
    seconds: float = 0.0

    def as_record(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "etag": self.etag,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "loaded": self.loaded,
            "projects": self.projects,
            "removed": self.removed,
            "kept_refused": self.kept_refused,
            "refused_count": len(self.refused),
            "refused": [f"{where}: {why}" for where, why in self.refused[:REFUSED_SHOWN]],
            "not_removed": self.not_removed,
            "seconds": round(self.seconds, 2),
        }


def status(stores: Stores) -> dict[str, Any] | None:
    """The refresh record (:func:`run` writes it), or None before the first refresh."""
    snap = stores.db.document(paths.advisories_refresh()).get()
    return snap.to_dict() if snap.exists else None


def run(stores: Stores, settings: Settings, *, force: bool = False) -> Outcome:
    """One refresh from ``settings.advisories_url``; raises :class:`RefreshFailed` having
    written nothing when the export cannot be had or read whole. ``force``: load it even if
    it is the export loaded last (after summaries were lost, say)."""
    ref = stores.db.document(paths.advisories_refresh())
    try:
        return _run(stores, settings, ref, force)
    except RefreshFailed as exc:
        # The last good load's fields stay; the failure is added, for `advisories status`.
        ref.set({"failed_at": now(), "failure": str(exc)}, merge=True)
        raise


def _run(stores: Stores, settings: Settings, ref: Any, force: bool) -> Outcome:
    started = time.monotonic()
    previous = {} if force else status(stores) or {}
    if previous.get("source") != settings.advisories_url:
        previous = {}  # another source's ETag and hash say nothing about this one
    with tempfile.TemporaryDirectory(prefix="bale-advisories-") as tmp:
        path = Path(tmp) / "export.zip"
        got = _download(settings, path, previous.get("etag"))
        if got is None or got[1] == previous.get("sha256"):
            etag, sha = (previous.get("etag"), previous.get("sha256")) if got is None else got[:2]
            out = Outcome("unchanged", etag=etag, sha256=sha, bytes=0 if got is None else got[2])
            out.seconds = time.monotonic() - started
            # The last load stays as it was; only the check is new (the dashboard's staleness).
            ref.set({"checked_at": now(), "etag": etag}, merge=True)
            _log(out)
            return out
        etag, sha, size = got
        out = _load(stores, path)
    out.etag, out.sha256, out.bytes = etag, sha, size
    out.seconds = time.monotonic() - started
    when = now()
    ref.set(
        {
            **out.as_record(),
            "loaded_at": when,
            "checked_at": when,
            "source": settings.advisories_url,
            "failed_at": None,
            "failure": "",
        }
    )
    _log(out)
    return out


def emit(severity: str, message: str, fields: dict[str, Any]) -> None:
    """One structured log line: Cloud Run (and so Cloud Functions) reads a JSON object printed
    on stdout as a log entry with that severity, its fields searchable in jsonPayload."""
    print(
        json.dumps({"severity": severity, "message": message, "advisories_refresh": fields}, default=str),
        flush=True,
    )


def _log(out: Outcome) -> None:
    record = out.as_record()
    severity = "WARNING" if out.refused or out.not_removed else "INFO"
    summary = (
        f"advisories refresh: {record['status']}, {out.loaded} loaded for {out.projects} projects, "
        f"{out.removed} removed, {len(out.refused)} refused"
    )
    emit(severity, summary, record)


def _download(settings: Settings, dest: Path, etag: str | None) -> tuple[str | None, str, int] | None:
    """Stream the export to ``dest``: (ETag, SHA-256, size), or None when it is unchanged (304).

    The whole download, headers included, ends by ``settings.advisories_timeout``: it runs in a
    worker thread this one stops waiting for then. Socket timeouts alone bound only the wait for
    each read, and a server trickling a byte at a time keeps every read short."""
    deadline = time.monotonic() + settings.advisories_timeout
    cancelled = threading.Event()
    result: list[Any] = []
    done = threading.Event()

    def work() -> None:
        try:
            result.append(_fetch(settings, dest, etag, deadline, cancelled))
        except BaseException as exc:  # handed to the waiting thread, which raises it
            result.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, name="advisories-download", daemon=True)
    worker.start()
    if not done.wait(max(deadline - time.monotonic(), 0) + 1):
        # The worker closes its response at its next read and writes nothing more.
        cancelled.set()
        raise RefreshFailed(f"{settings.advisories_url} took over {settings.advisories_timeout} s.")
    got = result[0]
    if isinstance(got, BaseException):
        raise got
    return got  # type: ignore[no-any-return]


#: Redirects followed, to the same scheme and host only: another host is another source, which
#: BALE_ADVISORIES_URL names if it is meant.
_REDIRECTS = 3


def _fetch(
    settings: Settings, dest: Path, etag: str | None, deadline: float, cancelled: threading.Event
) -> tuple[str | None, str, int] | None:
    import requests

    headers = {"If-None-Match": etag} if etag else {}
    url = settings.advisories_url
    origin = urlsplit(url)[:2]
    digest = hashlib.sha256()
    size = 0
    try:
        for _ in range(_REDIRECTS + 1):
            resp = requests.get(url, headers=headers, stream=True, timeout=(10, 60), allow_redirects=False)
            if not resp.is_redirect:
                break
            target = urljoin(url, resp.headers.get("Location", ""))
            resp.close()
            if urlsplit(target)[:2] != origin:
                raise RefreshFailed(
                    f"{url} redirects to {target[:200]}, another host: set BALE_ADVISORIES_URL to "
                    "the export's own URL if that is its source."
                )
            url = target
        else:
            raise RefreshFailed(f"{settings.advisories_url} redirects more than {_REDIRECTS} times.")
        with resp:
            if resp.status_code == 304 and etag:
                return None
            if resp.status_code != 200:
                raise RefreshFailed(f"{url} answered {resp.status_code}.")
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > settings.advisories_max_bytes:
                raise RefreshFailed(
                    f"{url} is {declared} bytes, over the limit of {settings.advisories_max_bytes}."
                )
            # Undecoded bytes: the ETag and hash are of what the server stores, and a
            # Content-Encoding would only inflate what the size cap is meant to bound. read1
            # returns what one read brings, so the deadline is checked between reads however
            # slowly the bytes come.
            with dest.open("wb") as f:
                while chunk := resp.raw.read1(_CHUNK, decode_content=False):
                    size += len(chunk)
                    if size > settings.advisories_max_bytes:
                        raise RefreshFailed(
                            f"{url} is over the limit of {settings.advisories_max_bytes} bytes."
                        )
                    if cancelled.is_set() or time.monotonic() > deadline:
                        raise RefreshFailed(f"{url} took over {settings.advisories_timeout} s.")
                    digest.update(chunk)
                    f.write(chunk)
            if declared and declared.isdigit() and int(declared) != size:
                raise RefreshFailed(f"{url} ended after {size} of {declared} bytes.")
            return resp.headers.get("ETag"), digest.hexdigest(), size
    except requests.RequestException as exc:
        raise RefreshFailed(f"{url} could not be downloaded: {exc}") from None
    except Exception as exc:
        # urllib3 raises its own errors (a cut connection: ProtocolError) from the raw stream.
        import urllib3.exceptions

        if isinstance(exc, urllib3.exceptions.HTTPError):
            raise RefreshFailed(f"{url} could not be downloaded: {exc}") from None
        raise


@dataclasses.dataclass
class _Refused:
    """What a refused record still tells: its id and the PyPI projects it names, if readable."""

    id: str | None
    projects: list[str]


def _names(doc: Any) -> _Refused:
    if not isinstance(doc, dict):
        return _Refused(None, [])
    rid = doc.get("id")
    names: list[str] = []
    affected = doc.get("affected")
    for a in affected if isinstance(affected, list) else []:
        pkg = a.get("package") if isinstance(a, dict) else None
        if isinstance(pkg, dict) and pkg.get("ecosystem") == "PyPI" and isinstance(pkg.get("name"), str):
            names.append(canonicalize_name(pkg["name"]))
    return _Refused(rid.strip() if isinstance(rid, str) and rid.strip() else None, names)


def _read(docs: Iterable[tuple[str, Any]], out: Outcome) -> tuple[dict[str, dict[str, Any]], list[_Refused]]:
    """The per-project summaries of every usable record, and what each refused record still names."""
    refused: list[_Refused] = []
    by_project = group(docs, out, lambda doc: refused.append(_names(doc)))
    return by_project, refused


def _all_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        yield from records(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        # A member that does not inflate or fails its CRC: the download is damaged somewhere,
        # so none of it is trusted (a partial export must not remove anything).
        raise RefreshFailed(f"The export is damaged: {exc}.") from None


def _load(stores: Stores, path: Path) -> Outcome:
    out = Outcome("loaded")
    if not zipfile.is_zipfile(path):
        raise RefreshFailed("The export is not a zip archive (truncated, or not OSV's all.zip).")
    members = zip_members(path)
    if members is not None and members > osv.MAX_MEMBERS:
        raise RefreshFailed(f"The export has {members} members, over the limit of {osv.MAX_MEMBERS}.")
    by_project, refused = _read(_all_records(path), out)
    if not out.loaded:
        raise RefreshFailed(f"The export holds no usable record ({len(out.refused)} refused).")
    db = stores.db
    collection = db.collection(paths.advisories())
    existing = {ref.id for ref in collection.list_documents(page_size=1000)}
    _keep_refused(stores, by_project, refused, existing, out)
    write_summaries(db, by_project, out)
    stale = sorted(existing - by_project.keys())
    if any(r.id is None or not r.projects for r in refused):
        out.not_removed = "a refused record names no readable id or project"
    elif len(stale) > _REMOVE_FLOOR and len(stale) > _REMOVE_SHARE * len(existing):
        out.not_removed = f"{len(stale)} of {len(existing)} summaries would go; the export looks incomplete"
    if stale and not out.not_removed:
        for i in range(0, len(stale), _BATCH):
            batch = db.batch()
            for project in stale[i : i + _BATCH]:
                batch.delete(db.document(paths.advisory_summary(project)))
            batch.commit()
        out.removed = len(stale)
    return out


def _keep_refused(
    stores: Stores,
    by_project: dict[str, dict[str, Any]],
    refused: list[_Refused],
    existing: set[str],
    out: Outcome,
) -> None:
    """Carry over what the last load stored for a refused record's id, in each project it names:
    an advisory does not vanish because this copy of its record is broken."""
    wanted: dict[str, set[str]] = {}
    for r in refused:
        if r.id is None:
            continue
        for project in r.projects:
            if project in existing:
                wanted.setdefault(project, set()).add(r.id)
    if not wanted:
        return
    refs = [stores.db.document(paths.advisory_summary(p)) for p in sorted(wanted)]
    for snap in stores.db.get_all(refs):
        if not snap.exists:
            continue
        for entry in (snap.to_dict() or {}).get("advisories", []):
            if entry.get("id") in wanted[snap.id]:
                slot = by_project.setdefault(snap.id, {})
                if entry["id"] not in slot:
                    slot[entry["id"]] = entry
                    out.kept_refused += 1

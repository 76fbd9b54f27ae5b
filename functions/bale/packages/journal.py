"""The upload journal of ``bale dev --data-dir``: no upload answered 200 is lost in a crash.

The Firestore emulator keeps its data in memory and saves it only when asked (an export,
which ``bale dev`` makes at a clean stop and every :data:`~bale_tools.devserver.SAVE_EVERY`
seconds). A crash of the emulator or of ``bale dev`` would lose every upload since the last
save, while their blobs stay on disk (fake-gcs-server's filesystem backend). So under
``bale dev --data-dir`` (``BALE_DEV_JOURNAL`` names the file), the upload path appends each
file's record to this journal, and ``fsync``\\s it, before it answers 200; ``bale dev``
replays the journal into the emulator when it starts (:func:`replay`), then starts afresh
once a clean stop has saved everything.

Replaying is idempotent: :meth:`Packages.commit` creates the file's record with a "must
not exist" precondition, so a record the last save already holds is left as it is (the same
bytes: nothing to do). A record whose blob is gone (the file was deleted after the last
save) is not brought back. Production never sets it: Firestore is durable before it answers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bale.packages.service import FileRecord
    from bale.store.backends import Stores

_lock = threading.Lock()


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot journal {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$dt"}:
        return dt.datetime.fromisoformat(obj["$dt"])
    return obj


def append(path: str, team: str, index: str, rec: FileRecord, *, provenance: str | None) -> None:
    """Add ``rec`` to the journal at ``path``, durably (fsync) before returning."""
    line = json.dumps(
        {"team": team, "index": index, "record": dataclasses.asdict(rec), "provenance": provenance},
        default=_default,
        separators=(",", ":"),
    )
    data = (line + "\n").encode()
    with _lock:  # one writer at a time in this process; O_APPEND keeps processes apart
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def entries(path: str | Path) -> Iterator[dict[str, Any]]:
    """The journal's entries; a last line cut short by a crash (never acknowledged) is skipped."""
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            try:
                yield json.loads(line, object_hook=_hook)
            except ValueError:
                continue


def replay(stores: Stores, path: str | Path) -> tuple[int, list[str]]:
    """Commit every journaled record the database lacks: (how many were brought back, what
    could not be, one line each: e.g. its index is not in the last save either)."""
    from bale.packages.service import CommitResult, FileRecord, Packages

    packages = Packages(stores)
    restored = 0
    failed: list[str] = []
    for entry in entries(path):
        rec = FileRecord(**entry["record"])
        team, index = entry["team"], entry["index"]
        if packages.file(team, index, rec.project, rec.filename) is not None:
            continue  # in the save (or deleted since: its tombstone stays)
        if not stores.blobs.exists(rec.blob_path):
            continue  # deleted after the last save, with its bytes
        new_project = packages.project_doc(team, index, rec.project) is None
        try:
            # An upload answered 200 is restored whatever its project's status is now: the
            # status can only have been set after the upload committed.
            result = packages.commit(
                team, index, rec, new_project=new_project, provenance=entry["provenance"], check_status=False
            )
        except Exception as exc:
            failed.append(f"{team}/{index} {rec.filename}: {exc}")
            continue
        restored += result == CommitResult.CREATED
    return restored, failed

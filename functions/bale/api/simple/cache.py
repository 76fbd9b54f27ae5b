"""The per-process cache of rendered project pages."""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Final, NamedTuple

from bale.api.simple.negotiate import Format

CACHE_MAX_BYTES: Final = 64 * 1024 * 1024

#: What a page is cached under: (base URL, team, index, project).
PageKey = tuple[str, str, str, str]
#: Which state of the project a page shows: (serial, the project document's update time as
#: "seconds.nanoseconds"), read together from the project document (every change to a file
#: of the project writes it in the same commit).
PageVersion = tuple[int, str]
#: What an entry adds to the cache's byte count for each file it can serve (see Rendered.files).
FILE_REF_BYTES: Final = 200


def page_version(serial: int, seconds: int, nanos: int) -> PageVersion:
    """The version of a project page, from the project document's ``serial`` and update time."""
    return (serial, f"{seconds}.{nanos:09d}")


class FileRef(NamedTuple):
    """A live file as its page lists it: enough to serve it without reading its record."""

    blob_path: str
    sha256: str
    size: int
    metadata_sha256: str | None

    @property
    def metadata_path(self) -> str:
        return self.blob_path + ".metadata"


@dataclasses.dataclass(frozen=True)
class Rendered:
    """One project page in both formats, for one version of the project."""

    version: PageVersion
    serial: int
    bodies: dict[Format, bytes]
    digests: dict[Format, str]  # sha256 of each body
    gzipped: dict[Format, bytes]  # compressed once, served many times (only bodies worth it)
    #: The files the page lists, by filename: at this version, these and no others are live, so
    #: a download checked against the same version needs no record of its own.
    files: dict[str, FileRef] = dataclasses.field(default_factory=dict)
    #: The project's PEP 792 status and reason as the page shows them: a download of a file a
    #: quarantined page leaves out is refused naming the status, not as an unknown file.
    status: str = "active"
    status_reason: str | None = None

    @property
    def size(self) -> int:
        bodies = sum(len(b) for b in self.bodies.values()) + sum(len(b) for b in self.gzipped.values())
        return bodies + FILE_REF_BYTES * len(self.files)


class PageCache:
    """A per-process LRU of rendered project pages, bounded in bytes.

    An entry is used only when its version matches the project document read for the
    request, so it can never serve a page older than what Firestore holds.
    """

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[PageKey, Rendered] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Striped locks: concurrent misses on one page render it once, not once per request.
        self._fill_locks = [threading.Lock() for _ in range(64)]

    def get(self, key: PageKey, version: PageVersion) -> Rendered | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: PageKey, entry: Rendered) -> None:
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

    def fill_lock(self, key: PageKey) -> threading.Lock:
        """The lock to hold while rendering ``key``'s page."""
        return self._fill_locks[hash(key) % len(self._fill_locks)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

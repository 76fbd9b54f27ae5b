"""The per-process cache of rendered project pages."""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Final

from bale.api.simple.negotiate import Format

CACHE_MAX_BYTES: Final = 64 * 1024 * 1024

#: What a page is cached under: (base URL, team, index, project).
PageKey = tuple[str, str, str, str]
#: Which state of the project a page shows: (serial, updated_at), read together from the
#: project document.
PageVersion = tuple[int, str]


@dataclasses.dataclass(frozen=True)
class Rendered:
    """One project page in both formats, for one version of the project."""

    version: PageVersion
    serial: int
    bodies: dict[Format, bytes]
    digests: dict[Format, str]  # sha256 of each body
    gzipped: dict[Format, bytes]  # compressed once, served many times (only bodies worth it)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.bodies.values()) + sum(len(b) for b in self.gzipped.values())


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

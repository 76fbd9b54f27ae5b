"""Bytes kept in the instance's memory, bounded: for what storage holds create-only.

A blob path in Bale is written once (content-addressed, ``if_generation_match=0``), so bytes
read from it never go stale; what decides whether they may be served is the file's record,
read on every request. Caching them saves the storage request, never a check.
"""

from __future__ import annotations

import collections
import threading


class BytesLRU:
    """Whole small objects by path: least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int, max_item: int | None = None) -> None:
        self._items: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self.max_item = max_bytes if max_item is None else max_item
        self._lock = threading.Lock()

    def get(self, path: str) -> bytes | None:
        with self._lock:
            data = self._items.get(path)
            if data is not None:
                self._items.move_to_end(path)
            return data

    def put(self, path: str, data: bytes) -> None:
        if len(data) > self.max_item:
            return
        with self._lock:
            if path in self._items:
                return
            self._items[path] = data
            self._bytes += len(data)
            while self._bytes > self._max:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

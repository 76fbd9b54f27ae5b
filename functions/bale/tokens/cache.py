"""Tokens a read-only instance checked a moment ago, kept for a few seconds.

A warm Simple API request used to read the token (and, for a person's token, the team's
roster) on every request, batched with the project or file it asks for. Kept here for
``Settings.token_cache_seconds`` (2 s by default, 60 at most), the token lets a warm request
make one small read instead (the project's version, see :mod:`bale.store.probe`).

What a cached token keeps, and what it does not:

* The **secret** was checked against the stored hash when the entry was made; an entry is
  found only by the whole presented token (its SHA-256, with the team), so a wrong secret
  never matches one.
* **Expiry** is checked on every use against the clock.
* **Revocation, a removed member, a narrowed role or scope** take effect when the entry is
  older than the TTL: at most ``token_cache_seconds`` after the change, on every instance.
* **Rights** are still decided per request (:mod:`bale.access`) from the token and the roster
  read with it (the entry keeps both).
* Only :mod:`bale.access`, for the Simple API (reads), uses this cache. Uploads, Trusted Publishing and the dashboard
  read the token on every request, so a revoked token never writes.

The cache is bounded (``max_entries``, least recently used first out) and per process.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

from bale.clock import now

MAX_ENTRIES: Final = 4096


class Expiring(Protocol):
    """What the cache keeps: a token, or what :mod:`bale.access` holds of one (with its roster)."""

    @property
    def expires_at(self) -> dt.datetime | None: ...


V = TypeVar("V", bound=Expiring)


@dataclasses.dataclass(frozen=True)
class _Entry(Generic[V]):
    token: V
    checked: float  # time.monotonic() when the token was read and its secret checked


class TokenCache(Generic[V]):
    """Tokens that passed authentication in this process, each trusted for ``ttl`` seconds
    (given on every lookup: it is a setting, and tests change settings)."""

    def __init__(
        self, max_entries: int = MAX_ENTRIES, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: collections.OrderedDict[bytes, _Entry[V]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(raw: str, team: str) -> bytes:
        # The team is part of the key: a person's token comes with the roster of the team the
        # request was for, and another team's request must read its own.
        return hashlib.sha256(f"{team}\0{raw.strip()}".encode()).digest()

    def get(self, raw: str, team: str, ttl: float) -> V | None:
        """The token ``raw`` authenticated as less than ``ttl`` seconds ago, for a request to
        ``team``; None if it was not (or is expired now): the caller reads it."""
        if ttl <= 0:
            return None
        key = self._key(raw, team)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._monotonic() - entry.checked >= ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
        token = entry.token
        if token.expires_at is not None and token.expires_at <= now():
            return None
        return token

    def put(self, raw: str, team: str, token: V) -> None:
        """Keep ``token``, just read and authenticated from ``raw`` for a request to ``team``."""
        key = self._key(raw, team)
        with self._lock:
            self._entries[key] = _Entry(token, self._monotonic())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

"""Where Bale keeps things: metadata in Firestore, files in Cloud Storage.

Services get a :class:`Stores` and reach the backends through it; HTTP handlers
never import ``google.cloud``. Clients are created on first use, not at import.
The Google client libraries pick up ``FIRESTORE_EMULATOR_HOST`` by themselves.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from bale.settings import Settings, get_settings
from bale.store.blobs import BlobStore, GCSBlobStore
from bale.store.guard import Guard
from bale.store.probe import DocumentProbe

if TYPE_CHECKING:
    from google.cloud import firestore


class Stores:
    """The backends of one Settings; Firestore client made on first use.

    Every call to either backend has a deadline and goes through the backend's guard (slots
    and a circuit breaker, see :mod:`bale.store.guard`), shared by every Stores of the process:
    the threads it protects are the process's."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: firestore.Client | None = None
        self._lock = threading.Lock()
        self.firestore_guard = guard_for("Firestore", settings)
        self.storage_guard = guard_for("Cloud Storage", settings)
        self.blobs: BlobStore = GCSBlobStore(settings, self.storage_guard)
        #: One document's version in a unary call (the Simple API's warm requests).
        self.probe = DocumentProbe(settings, self.firestore_guard)

    @property
    def db(self) -> firestore.Client:
        """The Firestore client."""
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from bale.store import deadlines

                    db = deadlines.client(self.settings.project)
                    deadlines.bound(db, self.settings, self.firestore_guard)
                    self._db = db
        return self._db


_guards: dict[tuple[str, int, float, int, float, int], Guard] = {}
_guards_lock = threading.Lock()


def guard_for(name: str, settings: Settings) -> Guard:
    """The process's guard of backend ``name`` (one per set of guard settings)."""
    s = settings
    key = (name, s.backend_slots, s.backend_slot_wait, s.breaker_threshold, s.breaker_cooldown, s.threads)
    with _guards_lock:
        guard = _guards.get(key)
        if guard is None:
            guard = _guards[key] = Guard(name, settings)
        return guard


def reset_guards() -> None:
    """Close every breaker (tests: one test's outage must not answer the next one's calls)."""
    with _guards_lock:
        for guard in _guards.values():
            guard.reset()


@functools.cache
def _stores_for(settings: Settings) -> Stores:
    return Stores(settings)


def get_stores(settings: Settings | None = None) -> Stores:
    """The Stores of ``settings`` (default: the environment's), one per Settings."""
    return _stores_for(settings or get_settings())

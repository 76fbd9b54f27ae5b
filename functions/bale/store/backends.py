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

# Re-exported until their importers (api/simple/views.py, api/upload.py, tests) import them
# from bale.store.blobs; remove then.
from bale.store.blobs import BlobStore, GCSBlobStore
from bale.store.probe import DocumentProbe

if TYPE_CHECKING:
    from google.cloud import firestore


class Stores:
    """The backends of one Settings; Firestore client made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: firestore.Client | None = None
        self._lock = threading.Lock()
        self.blobs: BlobStore = GCSBlobStore(settings)
        #: One document's version in a unary call (the Simple API's warm requests).
        self.probe = DocumentProbe(settings)

    @property
    def db(self) -> firestore.Client:
        """The Firestore client."""
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from google.cloud import firestore

                    self._db = firestore.Client(project=self.settings.project)
        return self._db


@functools.cache
def _stores_for(settings: Settings) -> Stores:
    return Stores(settings)


def get_stores(settings: Settings | None = None) -> Stores:
    """The Stores of ``settings`` (default: the environment's), one per Settings."""
    return _stores_for(settings or get_settings())

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

if TYPE_CHECKING:
    from google.cloud import firestore


class Stores:
    """The backends of one Settings; Firestore client made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: firestore.Client | None = None
        self._lock = threading.Lock()
        self.blobs: BlobStore = GCSBlobStore(settings)

    @property
    def db(self) -> firestore.Client:
        """The Firestore client."""
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from google.cloud import firestore

                    _single_threaded_streams()
                    self._db = firestore.Client(project=self.settings.project)
        return self._db


def _single_threaded_streams() -> None:
    """Have the Firestore client's channels run server-streaming calls on the calling thread.

    Every warm request makes one ``BatchGetDocuments`` (the token and the page's, file's or
    index's document in one ``get_all``), a unary-stream RPC. By default gRPC runs each such
    call as a "managed call" with a channel spin thread, started afresh whenever no other call
    is in flight: about 0.3 ms of CPU per request here, a quarter of the read's cost in the
    client (profiled in docs/performance.md). gRPC's ``SingleThreadedUnaryStream`` channel
    option reads the stream on the thread that iterates it instead, which is all ``get_all``
    and ``stream()`` do. The client takes its channel options from these module constants (it
    has no parameter for them), so the option is appended there, once, before the first
    client makes its channel.
    """
    import grpc
    from google.cloud.firestore_v1 import base_client

    option = (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)
    for name in ("_DEFAULT_CHANNEL_OPTIONS", "_GRPC_MSG_SIZE_OPTIONS"):
        current = list(getattr(base_client, name))
        if option not in current:
            setattr(base_client, name, [*current, option])


@functools.cache
def _stores_for(settings: Settings) -> Stores:
    return Stores(settings)


def get_stores(settings: Settings | None = None) -> Stores:
    """The Stores of ``settings`` (default: the environment's), one per Settings."""
    return _stores_for(settings or get_settings())

"""Where Bale keeps things: metadata in Firestore, files in Cloud Storage.

Services get a :class:`Stores` and reach the backends through it; HTTP handlers
never import ``google.cloud``. Clients are created on first use, not at import,
so a cold start that only serves a cached page never opens a GCS connection.

The Google client libraries pick up ``FIRESTORE_EMULATOR_HOST`` by themselves;
for Cloud Storage we pass the emulator endpoint explicitly from settings.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterator
from typing import IO, Protocol

from bale.errors import Unavailable
from bale.settings import Settings, get_settings


class BlobExists(Exception):
    """A create-only write found an object already at that path."""


class BlobMissing(Exception):
    """No object at that path."""


class BlobStore(Protocol):
    """Immutable file storage. Paths are opaque strings chosen by services."""

    def create(self, path: str, fileobj: IO[bytes], *, size: int, content_type: str) -> int:
        """Write a new object, failing with BlobExists if one is there; return its generation."""

    def delete(self, path: str, *, generation: int | None = None) -> None:
        """Remove an object (only that generation, when given); missing is fine."""

    def open(self, path: str, *, size: int | None = None) -> tuple[Iterator[bytes], int]:
        """Stream an object in chunks; return (chunks, size). With the size known (from the
        file's record), no metadata request is made. Raises BlobMissing before any chunk."""

    def read(self, path: str) -> bytes:
        """Read a small object whole (METADATA files)."""

    def exists(self, path: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def signed_url(self, path: str, *, ttl: dt.timedelta) -> str | None:
        """A short-lived URL for the object, or None where signing is not possible."""


class GCSBlobStore:
    """BlobStore on Cloud Storage (or fake-gcs-server through its endpoint)."""

    CHUNK = 1024 * 1024
    #: Resumable uploads send (and hold in memory) one chunk at a time; the library's
    #: default is 100 MiB, which would put a whole large wheel in memory.
    UPLOAD_CHUNK = 8 * 1024 * 1024

    def __init__(self, settings: Settings):
        self._settings = settings
        self._lock = threading.Lock()
        self._bucket = None

    @property
    def bucket(self):
        if self._bucket is None:
            with self._lock:
                if self._bucket is None:
                    from google.cloud import storage

                    s = self._settings
                    if s.storage_emulator_host:
                        from google.auth.credentials import AnonymousCredentials

                        endpoint = s.storage_emulator_host
                        if "://" not in endpoint:
                            endpoint = "http://" + endpoint
                        client = storage.Client(
                            project=s.project,
                            credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": endpoint},
                            use_auth_w_custom_endpoint=False,
                        )
                    else:
                        client = storage.Client(project=s.project)
                    self._bucket = client.bucket(s.bucket)
        return self._bucket

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (local stack only; Terraform owns it in production)."""
        from google.api_core import exceptions

        try:
            self.bucket.client.create_bucket(self.bucket.name)
        except exceptions.Conflict:
            pass

    def create(self, path, fileobj, *, size, content_type):
        from google.api_core import exceptions
        from google.cloud.storage.retry import DEFAULT_RETRY

        limit = self._settings.storage_timeout
        blob = self.bucket.blob(path, chunk_size=self.UPLOAD_CHUNK)
        try:
            # if_generation_match=0: the write succeeds only if no object exists,
            # so a file once stored can never be replaced, even by a racing upload.
            blob.upload_from_file(
                fileobj,
                size=size,
                content_type=content_type,
                if_generation_match=0,
                rewind=True,
                checksum=None,
                timeout=min(limit, 60),
                retry=DEFAULT_RETRY.with_timeout(limit),
            )
        except exceptions.PreconditionFailed:
            raise BlobExists(path) from None
        except exceptions.RetryError as exc:  # retries ran out (timeouts, dropped connections)
            raise Unavailable(f"Storage is unavailable: {exc.cause or exc}") from exc
        except exceptions.GoogleAPIError as exc:
            raise Unavailable(f"Storage is unavailable: {exc}") from exc
        except (ConnectionError, OSError) as exc:
            raise Unavailable(f"Storage is unavailable: {exc}") from exc
        except Exception as exc:  # requests' errors, transport failures
            if exc.__class__.__module__.startswith(("requests", "urllib3", "google.auth")):
                raise Unavailable(f"Storage is unavailable: {exc}") from exc
            raise
        return blob.generation

    def delete(self, path, *, generation=None):
        from google.api_core import exceptions

        try:
            self.bucket.blob(path).delete(if_generation_match=generation)
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            pass

    def open(self, path, *, size=None):
        from google.api_core import exceptions

        blob = self.bucket.blob(path)
        if size is None:
            try:
                blob.reload()
            except exceptions.NotFound:
                raise BlobMissing(path) from None
            size = blob.size

        # Ranged GETs, one chunk each; the first is fetched now so that a missing object is a
        # 404 before any byte is sent, and a file of one chunk or less costs one request.
        # Paths are content-addressed and written once, so the ranges all read the same bytes.
        def fetch(start: int) -> bytes:
            end = min(start + self.CHUNK, size) - 1
            try:
                return blob.download_as_bytes(start=start, end=end, checksum=None)
            except exceptions.NotFound:
                raise BlobMissing(path) from None

        first = fetch(0) if size else b""

        def chunks() -> Iterator[bytes]:
            if first:
                yield first
            pos = len(first)
            while pos < size:
                data = fetch(pos)
                if not data:
                    raise BlobMissing(f"{path} ended at {pos} of {size} bytes")
                pos += len(data)
                yield data

        return chunks(), size

    def read(self, path):
        from google.api_core import exceptions

        try:
            return self.bucket.blob(path).download_as_bytes()
        except exceptions.NotFound:
            raise BlobMissing(path) from None

    def exists(self, path):
        return self.bucket.blob(path).exists()

    def list(self, prefix=""):
        return [b.name for b in self.bucket.client.list_blobs(self.bucket.name, prefix=prefix or None)]

    def signed_url(self, path, *, ttl):
        if self._settings.storage_emulator_host:
            return None
        try:
            return self.bucket.blob(path).generate_signed_url(version="v4", expiration=ttl, method="GET")
        except Exception:
            return None


class Stores:
    """The backends of one Settings; Firestore client made on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._db = None
        self._lock = threading.Lock()
        self.blobs: BlobStore = GCSBlobStore(settings)

    @property
    def db(self):
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
    return _stores_for(settings or get_settings())

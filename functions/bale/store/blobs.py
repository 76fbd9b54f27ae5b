"""File storage: the :class:`BlobStore` interface and its Cloud Storage implementation.

The bucket is reached on first use, not at import, so a cold start that only serves a cached
page never opens a GCS connection. For Cloud Storage we pass the emulator endpoint explicitly
from settings (the Firestore client finds ``FIRESTORE_EMULATOR_HOST`` by itself).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol

from bale.clock import now
from bale.errors import Unavailable
from bale.settings import Settings
from bale.store.guard import Guard, is_outage

log = logging.getLogger("bale.storage")


class BlobExists(Exception):
    """A create-only write found an object already at that path."""


class BlobMissing(Exception):
    """No object at that path."""


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """One object as a listing sees it: enough to delete exactly that state of it."""

    path: str
    #: When its bytes or metadata last changed (a touch moves it).
    updated: dt.datetime
    generation: int
    #: Bumped by every metadata change (a touch), not by reads.
    metageneration: int


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class BlobStore(Protocol):
    """Immutable file storage. Paths are opaque strings chosen by services."""

    def create(self, path: str, fileobj: IO[bytes], *, size: int, content_type: str) -> int:
        """Write a new object, failing with BlobExists if one is there; return its generation."""

    def writer(self, path: str, *, content_type: str) -> AbstractContextManager[_Writer]:
        """A new object written as a stream, create-only like :meth:`create`, holding at most
        a fixed chunk in memory. The object appears only when the block ends without an
        exception (then BlobExists if one was there already); when it raises, nothing is
        stored. For bytes whose length is known only at the end (an upstream's file)."""

    def replace(self, path: str, data: bytes, *, content_type: str) -> None:
        """Write a small object, replacing any there (caches only: never a package file)."""

    def delete(self, path: str, *, generation: int | None = None) -> None:
        """Remove an object (only that generation, when given); missing is fine."""

    def delete_unchanged(self, info: BlobInfo) -> bool:
        """Remove the object only if it is still exactly as listed (its generation and
        metageneration): False when it changed (a touch), or is gone."""

    def touch(self, path: str) -> None:
        """Change the object's metadata (never its bytes), so that a delete made on an older
        listing of it (:meth:`delete_unchanged`) is refused. BlobMissing if it is gone."""

    def list_info(self, prefix: str = "") -> builtins.list[BlobInfo]:
        """Every object under ``prefix`` with what :meth:`delete_unchanged` needs."""

    def open(self, path: str, *, size: int | None = None) -> tuple[Iterator[bytes], int]:
        """Stream an object in chunks; return (chunks, size). With the size known (from the
        file's record), no metadata request is made. Raises BlobMissing before any chunk."""

    def read(self, path: str) -> bytes:
        """Read a small object whole (METADATA files)."""

    def exists(self, path: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def signed_url(self, path: str, *, ttl: dt.timedelta) -> str | None:
        """A short-lived URL for the object, or None where the backend cannot sign at all (the
        local emulator). Raises SigningFailed where it should sign and could not."""


class SigningFailed(Unavailable):
    """Storage should have signed a URL and could not (IAM, metadata server): 503, logged."""

    #: Most causes are a missing grant or an IAM outage: not fixed by an immediate retry.
    RETRY_AFTER = 30

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(self.RETRY_AFTER)})


#: Told with every 503 of storage.
_RETRY = {"Retry-After": "5"}


@contextlib.contextmanager
def _storage_errors(path: str) -> Iterator[None]:
    """Cloud Storage's failures as Unavailable (503); a failed create-only precondition (412,
    raised by the resumable upload's own layer, not as api_core's PreconditionFailed) as
    BlobExists."""
    from google.api_core import exceptions
    from google.cloud.storage.exceptions import InvalidResponse

    try:
        yield
    except (BlobExists, Unavailable):
        raise
    except exceptions.PreconditionFailed:
        raise BlobExists(path) from None
    except InvalidResponse as exc:
        if getattr(getattr(exc, "response", None), "status_code", None) == 412:
            raise BlobExists(path) from None
        raise Unavailable(f"Storage is unavailable: {exc}", headers=_RETRY) from exc
    except exceptions.RetryError as exc:  # retries ran out (timeouts, dropped connections)
        raise Unavailable(f"Storage is unavailable: {exc.cause or exc}", headers=_RETRY) from exc
    except exceptions.GoogleAPIError as exc:
        raise Unavailable(f"Storage is unavailable: {exc}", headers=_RETRY) from exc
    except (ConnectionError, OSError) as exc:
        raise Unavailable(f"Storage is unavailable: {exc}", headers=_RETRY) from exc
    except Exception as exc:  # requests' errors, transport failures, resumable-media's
        if is_outage(exc) or exc.__class__.__module__.startswith(
            ("requests", "urllib3", "google.auth", "google.resumable_media")
        ):
            raise Unavailable(f"Storage is unavailable: {exc}", headers=_RETRY) from exc
        raise


_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _endpoint(emulator_host: str) -> str:
    """STORAGE_EMULATOR_HOST as a URL (it may be given as host:port)."""
    return emulator_host if "://" in emulator_host else "http://" + emulator_host


class GCSBlobStore:
    """BlobStore on Cloud Storage (or fake-gcs-server through its endpoint).

    Every call has a deadline, retries included: ``storage_timeout`` for writing a file's
    bytes, ``storage_read_deadline`` for everything else (each attempt gets half of it, and
    the retries the other half, so a hung attempt still leaves time for one more). Every call
    goes through the backend's :class:`~bale.store.guard.Guard`; an outage is raised as
    :class:`~bale.store.guard.BackendUnavailable` (503)."""

    CHUNK = 1024 * 1024
    #: Resumable uploads send (and hold in memory) one chunk at a time; the library's
    #: default is 100 MiB, which would put a whole large wheel in memory.
    UPLOAD_CHUNK = 8 * 1024 * 1024
    #: What a streamed write (:meth:`writer`) holds and sends at a time: a multiple of 256 KiB,
    #: as resumable uploads require. Small, because many may run at once (upstream copies).
    STREAM_CHUNK = 1024 * 1024

    def __init__(self, settings: Settings, guard: Guard | None = None) -> None:
        self._settings = settings
        self._guard = guard or Guard("Cloud Storage", settings)
        self._short_kwargs: dict[str, Any] | None = None
        self._lock = threading.Lock()
        # google-cloud-storage ships no types, so its objects are Any here.
        self._bucket: Any = None
        #: The credentials the client authenticates with (None on the emulator): signing
        #: uses them too, either their key or, without one, their identity via IAM signBlob.
        self._credentials: Any = None
        self._sign_lock = threading.Lock()

    @property
    def bucket(self) -> Any:
        """The bucket, its client made on first use."""
        if self._bucket is None:
            with self._lock:
                if self._bucket is None:
                    # No stubs: imported as a module, which ignore_missing_imports makes Any.
                    import google.cloud.storage as storage

                    s = self._settings
                    if s.storage_emulator_host:
                        from google.auth.credentials import AnonymousCredentials

                        endpoint = _endpoint(s.storage_emulator_host)
                        client = storage.Client(
                            project=s.project,
                            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth's __init__ is untyped
                            client_options={"api_endpoint": endpoint},
                            use_auth_w_custom_endpoint=False,
                        )
                    else:
                        import google.auth

                        # Made here, not by the client, so that signing can reach them.
                        credentials, _ = google.auth.default(scopes=list(storage.Client.SCOPE))
                        client = storage.Client(project=s.project, credentials=credentials)
                        self._credentials = credentials
                    self._bucket = client.bucket(s.bucket)
        return self._bucket

    def _short(self) -> dict[str, Any]:
        """``timeout`` and ``retry`` for a call other than a file's bytes (made once)."""
        if self._short_kwargs is None:
            from google.cloud.storage.retry import DEFAULT_RETRY

            half = self._settings.storage_read_deadline / 2
            self._short_kwargs = {"timeout": half, "retry": DEFAULT_RETRY.with_timeout(half)}
        return self._short_kwargs

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (local stack only; Terraform owns it in production)."""
        from google.api_core import exceptions

        try:
            self.bucket.client.create_bucket(self.bucket.name)
        except exceptions.Conflict:
            pass

    def create(self, path: str, fileobj: IO[bytes], *, size: int, content_type: str) -> int:
        from google.cloud.storage.retry import DEFAULT_RETRY

        half = self._settings.storage_timeout / 2
        blob = self.bucket.blob(path, chunk_size=self.UPLOAD_CHUNK)
        with _storage_errors(path), self._guard.call():
            # if_generation_match=0: the write succeeds only if no object exists,
            # so a file once stored can never be replaced, even by a racing upload.
            blob.upload_from_file(
                fileobj,
                size=size,
                content_type=content_type,
                if_generation_match=0,
                rewind=True,
                checksum=None,
                timeout=min(half, 60),
                retry=DEFAULT_RETRY.with_timeout(half),
            )
        return int(blob.generation)

    @contextlib.contextmanager
    def writer(self, path: str, *, content_type: str) -> Iterator[_Writer]:
        from google.cloud.storage.retry import DEFAULT_RETRY

        limit = self._settings.storage_timeout
        blob = self.bucket.blob(path, chunk_size=self.STREAM_CHUNK)
        # A resumable upload of unknown length: each full chunk is sent as it fills, and the
        # object is made only by the last one, sent on close(). Create-only, as create() is:
        # the session carries if_generation_match=0.
        out = blob.open(
            "wb",
            ignore_flush=True,
            content_type=content_type,
            if_generation_match=0,
            checksum=None,
            timeout=min(limit, 60),
            retry=DEFAULT_RETRY.with_timeout(limit),
        )
        try:
            with _storage_errors(path):
                yield out
        except BaseException:
            # Never finalised, so no object; the session is cancelled (it would expire anyway).
            with contextlib.suppress(Exception):
                out.terminate()
            raise
        with _storage_errors(path):
            out.close()

    def replace(self, path: str, data: bytes, *, content_type: str) -> None:
        from google.api_core import exceptions
        from google.cloud.storage.retry import DEFAULT_RETRY

        half = self._settings.storage_timeout / 2
        try:
            with self._guard.call():
                self.bucket.blob(path).upload_from_string(
                    data,
                    content_type=content_type,
                    timeout=min(half, 60),
                    retry=DEFAULT_RETRY.with_timeout(half),
                )
        except Unavailable:
            raise
        except Exception as exc:
            if isinstance(exc, (exceptions.GoogleAPIError, OSError)) or is_outage(exc):
                raise Unavailable(f"Storage is unavailable: {exc}", headers=_RETRY) from exc
            raise

    def delete(self, path: str, *, generation: int | None = None) -> None:
        from google.api_core import exceptions

        try:
            with self._guard.call():
                self.bucket.blob(path).delete(if_generation_match=generation, **self._short())
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            pass

    def delete_unchanged(self, info: BlobInfo) -> bool:
        from google.api_core import exceptions

        try:
            with self._guard.call():
                self.bucket.blob(info.path).delete(
                    if_generation_match=info.generation,
                    if_metageneration_match=info.metageneration,
                    **self._short(),
                )
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return False
        return True

    def touch(self, path: str) -> None:
        from google.api_core import exceptions

        blob = self.bucket.blob(path)
        # A PATCH of custom metadata: bumps the metageneration and the updated time, needs
        # storage.objects.update only (never delete, so the bytes still cannot be replaced).
        blob.metadata = {"bale-reused": now().isoformat()}
        with _storage_errors(path):
            try:
                with self._guard.call():
                    blob.patch(**self._short())
            except exceptions.NotFound:
                raise BlobMissing(path) from None

    def list_info(self, prefix: str = "") -> builtins.list[BlobInfo]:
        with self._guard.call():
            pages = self.bucket.client.list_blobs(self.bucket.name, prefix=prefix or None, **self._short())
            return [BlobInfo(b.name, b.updated, int(b.generation), int(b.metageneration)) for b in pages]

    def open(self, path: str, *, size: int | None = None) -> tuple[Iterator[bytes], int]:
        from google.api_core import exceptions

        blob = self.bucket.blob(path)
        if size is None:
            try:
                with self._guard.call():
                    blob.reload(**self._short())
            except exceptions.NotFound:
                raise BlobMissing(path) from None
            size = int(blob.size)
        total: int = size

        # Ranged GETs, one chunk each; the first is fetched now so that a missing object is a
        # 404 before any byte is sent, and a file of one chunk or less costs one request.
        # Paths are content-addressed and written once, so the ranges all read the same bytes.
        def fetch(start: int) -> bytes:
            end = min(start + self.CHUNK, total) - 1
            try:
                with self._guard.call():
                    data: bytes = blob.download_as_bytes(start=start, end=end, checksum=None, **self._short())
                return data
            except exceptions.NotFound:
                raise BlobMissing(path) from None

        first = fetch(0) if total else b""

        def chunks() -> Iterator[bytes]:
            if first:
                yield first
            pos = len(first)
            while pos < total:
                data = fetch(pos)
                if not data:
                    raise BlobMissing(f"{path} ended at {pos} of {total} bytes")
                pos += len(data)
                yield data

        return chunks(), total

    def read(self, path: str) -> bytes:
        from google.api_core import exceptions

        try:
            with self._guard.call():
                data: bytes = self.bucket.blob(path).download_as_bytes(**self._short())
            return data
        except exceptions.NotFound:
            raise BlobMissing(path) from None

    def exists(self, path: str) -> bool:
        with self._guard.call():
            return bool(self.bucket.blob(path).exists(**self._short()))

    def list(self, prefix: str = "") -> list[str]:
        return [name for name, _ in self.list_with_times(prefix)]

    def list_with_times(self, prefix: str = "") -> builtins.list[tuple[str, dt.datetime]]:
        """Every object's path and creation time (each page of the listing has its deadline)."""
        with self._guard.call():
            pages = self.bucket.client.list_blobs(self.bucket.name, prefix=prefix or None, **self._short())
            return [(blob.name, blob.time_created) for blob in pages]

    def signed_url(self, path: str, *, ttl: dt.timedelta) -> str | None:
        emulator = self._settings.storage_emulator_host
        if emulator and not self._settings.sign_on_emulator:
            return None  # fake-gcs-server has no signing key and checks no signature
        # On the emulator (sign_on_emulator), the URL names its address instead of Google's.
        where = {"api_access_endpoint": _endpoint(emulator)} if emulator else {}
        try:
            url: str = self.bucket.blob(path).generate_signed_url(
                version="v4", expiration=ttl, method="GET", **where, **self._signing_identity()
            )
            return url
        except Exception as exc:
            # Loud: every large download fails until this is fixed (a missing grant, the IAM
            # Credentials API disabled, the metadata server unreachable).
            log.error(
                "cannot sign a download URL for %s: %s: %s", path, type(exc).__name__, exc, exc_info=exc
            )
            raise SigningFailed(
                "Downloads of large files are unavailable: storage could not sign a URL. "
                "Try again later; the registry's operator has been alerted in the logs."
            ) from exc

    def _signing_identity(self) -> dict[str, str]:
        """Extra arguments of ``generate_signed_url``: none where the credentials hold a key
        (the library signs with it), else the account's address and a fresh access token.

        Cloud Run's credentials come from the metadata server and hold no key; with an email
        and a token the library signs through the IAM Credentials API (signBlob), as the
        account itself, which needs iam.serviceAccounts.signBlob on that account only.
        """
        from google.auth.credentials import Signing
        from google.auth.transport.requests import Request

        creds = self._credentials
        if creds is None:
            self.bucket  # noqa: B018  # makes the client, and with it the credentials
            creds = self._credentials
        if creds is None:  # the emulator's client is anonymous: sign as the environment's account
            import google.auth

            with self._sign_lock:
                if self._credentials is None:
                    self._credentials, _ = google.auth.default(scopes=[_CLOUD_PLATFORM])
            creds = self._credentials
        if isinstance(creds, Signing):  # a key file, or impersonated credentials
            return {}
        with self._sign_lock:
            email = getattr(creds, "service_account_email", None)
            # Compute Engine credentials say "default" until a refresh asks the metadata
            # server who they are; an expired token would be refused by signBlob.
            if not creds.valid or not email or email == "default":
                creds.refresh(Request())
                email = getattr(creds, "service_account_email", None)
            if not email or email == "default":
                raise RuntimeError(f"{type(creds).__name__} names no service account to sign as")
            token = creds.token
        return {"service_account_email": email, "access_token": token}

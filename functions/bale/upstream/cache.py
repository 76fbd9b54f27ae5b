"""The upstream's pages and files, cached so that installs survive the upstream.

Pages: parsed entries kept in Cloud Storage (``_upstream/pages/…``, see :mod:`bale.store.paths`)
and in this instance's memory. A page younger than ``upstream_page_ttl`` is used as it is;
an older one is revalidated with the upstream's ETag (a 304 costs no parsing). When the
upstream fails (down, slow, garbage), the cached page is served however old it is, and the
next try waits another TTL; with nothing cached the request fails with 502/504.

Files: copied on first download into ``_upstream/files/{upstream}/{sha256}/{filename}``,
after their bytes matched the sha256 of the page that linked them, with a create-only write
(so two instances racing on one file store it once, and a stored copy is never replaced):
a file once served is served the same forever, whatever the upstream does later.

Concurrent first requests for one page or file within an instance wait for one fetch
(striped locks, as the page cache of the Simple API does).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, Final, cast

from bale.errors import NotFound, Unavailable
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.store.blobs import BlobExists, BlobMissing
from bale.store.memory import BytesLRU
from bale.store.records import PageEntry
from bale.upstream.client import Fetched, UpstreamClient, UpstreamError
from bale.upstream.policy import UpstreamConfig
from bale.upstream.secrets import SecretSource, secret_source

log = logging.getLogger("bale.upstream")

MEMORY_PAGES: Final = 2048
#: Files (entries) of all pages kept in memory: pages are bounded by count and by size, so a
#: hostile upstream's few huge pages can't fill an instance's memory.
MEMORY_ENTRIES: Final = 200_000
MAX_RETIRED: Final = 1000
#: Copies this small are kept whole in memory, up to SMALL_FILES_BYTES in all.
SMALL_FILE: Final = 256 * 1024
SMALL_FILES_BYTES: Final = 32 * 1024 * 1024
#: Seconds a client is asked to wait when this instance copies as many files as it may.
RETRY_AFTER: Final = 5
FORMAT: Final = 1


@dataclasses.dataclass
class CachedPage:
    """An upstream page as Bale keeps it: ``state`` ok or missing (the upstream has no such
    project, cached too so that a miss is cheap)."""

    state: str
    name: str
    entries: list[PageEntry]
    etag: str | None
    fetched_at: float  # epoch seconds of the last answer from the upstream
    #: Files the upstream listed once and no longer does: not shown, but a copy Bale made is
    #: still served, so a locked install stays reproducible when the upstream deletes a file.
    retired: list[PageEntry] = dataclasses.field(default_factory=list)
    digest: str = ""
    #: The upstream's PEP 792 marker, served again (a quarantined page has no entries).
    status: str = "active"
    status_reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.state == "ok"

    def entry(self, filename: str) -> PageEntry | None:
        if self.status == "quarantined":  # PEP 792: not even a copy Bale made is served
            return None
        for e in (*self.entries, *self.retired):
            if e["f"] == filename:
                return e
        return None

    def to_bytes(self) -> bytes:
        def out(entries: list[PageEntry]) -> list[dict[str, Any]]:
            return [{**e, "t": e["t"].isoformat()} if "t" in e else dict(e) for e in entries]

        doc = {"format": FORMAT, "state": self.state, "name": self.name, "etag": self.etag}
        doc.update(fetched_at=self.fetched_at, entries=out(self.entries), retired=out(self.retired))
        doc.update(status=self.status, status_reason=self.status_reason)
        return json.dumps(doc).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedPage:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError("another cache format")

        def into(entries: list[dict[str, Any]]) -> list[PageEntry]:
            return [
                cast(PageEntry, {**e, "t": dt.datetime.fromisoformat(e["t"])} if "t" in e else e)
                for e in entries
            ]

        return cls(
            doc["state"],
            doc["name"],
            into(doc["entries"]),
            doc.get("etag"),
            float(doc["fetched_at"]),
            into(doc.get("retired") or []),
            status=doc.get("status") or "active",
            status_reason=doc.get("status_reason"),
        )

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = hashlib.sha256(
                json.dumps(
                    [self.state, self.name, self.entries, self.status, self.status_reason],
                    sort_keys=True,
                    default=str,
                ).encode()
            ).hexdigest()


class _Locks:
    def __init__(self, n: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(n)]

    def __call__(self, key: object) -> threading.Lock:
        return self._locks[hash(key) % len(self._locks)]


class _Memory:
    """This instance's recently used pages (bounded LRU)."""

    def __init__(self, max_pages: int = MEMORY_PAGES, max_entries: int = MEMORY_ENTRIES) -> None:
        self._pages: collections.OrderedDict[tuple[str, str], CachedPage] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._entries = 0
        self._max_pages = max_pages
        self._max_entries = max_entries

    @staticmethod
    def _size(page: CachedPage) -> int:
        return 1 + len(page.entries) + len(page.retired)

    def get(self, key: tuple[str, str]) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[str, str], page: CachedPage) -> None:
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._entries -= self._size(old)
            self._pages[key] = page
            self._entries += self._size(page)
            # The newest page stays, however big (it was just read; the limits bound it too).
            while len(self._pages) > 1 and (
                len(self._pages) > self._max_pages or self._entries > self._max_entries
            ):
                _, gone = self._pages.popitem(last=False)
                self._entries -= self._size(gone)

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def entries(self) -> int:
        return self._entries

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._entries = 0


class _Slots:
    """A count of copies in progress in this instance, against a limit read per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.busy = 0

    def take(self, limit: int) -> bool:
        with self._lock:
            if self.busy >= limit:
                return False
            self.busy += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.busy -= 1


class _Sizes:
    """Sizes of stored copies (bounded; a forgotten one costs a metadata request)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._sizes: dict[str, int] = {}
        self._limit = limit

    def get(self, path: str) -> int | None:
        return self._sizes.get(path)

    def put(self, path: str, size: int) -> None:
        if len(self._sizes) >= self._limit:
            self._sizes.clear()
        self._sizes[path] = size

    def clear(self) -> None:
        self._sizes.clear()


_memory = _Memory()
_sizes = _Sizes()
_small = BytesLRU(SMALL_FILES_BYTES)
_page_locks = _Locks()
_file_locks = _Locks()
_copies = _Slots()


def clear_caches() -> None:
    """Forget this instance's pages (tests clear the emulators between tests)."""
    _memory.clear()
    _sizes.clear()
    _small.clear()


class UpstreamCache:
    """The pages and files of the upstream of one index, cached."""

    def __init__(
        self,
        stores: Stores,
        settings: Settings,
        team: str,
        cfg: UpstreamConfig,
        secrets: SecretSource | None = None,
    ) -> None:
        self.stores = stores
        self.settings = settings
        self.team = team
        self.cfg = cfg
        self._secrets = secrets or secret_source(settings)

    def client(self) -> UpstreamClient:
        creds = self._secrets.get(self.team, self.cfg.credentials) if self.cfg.credentials else None
        return UpstreamClient(self.settings, self.cfg.url, creds)

    # -- pages --------------------------------------------------------------------------------
    def page(self, project: str) -> CachedPage:
        """The upstream's page of ``project``, from cache when fresh; UpstreamError when the
        upstream fails and nothing is cached."""
        key = (self.cfg.key(self.team), project)
        ttl = self.settings.upstream_page_ttl
        page = _memory.get(key)
        if page is not None and time.time() - page.fetched_at < ttl:
            return page
        with _page_locks(key):
            page = _memory.get(key)
            if page is not None and time.time() - page.fetched_at < ttl:
                return page  # another request just fetched it
            path = paths.upstream_page(self.cfg.key(self.team), project)
            if page is None:
                page = self._stored(path)
                if page is not None and time.time() - page.fetched_at < ttl:
                    _memory.put(key, page)
                    return page
            try:
                fetched = self.client().page(project, etag=page.etag if page and page.exists else None)
            except UpstreamError as exc:
                if page is None:
                    raise
                log.warning(
                    "upstream %s failed (%s); serving the cached page of %s",
                    self.cfg.url,
                    exc.message,
                    project,
                )
                # Try again after another TTL, not on every request: a hanging upstream would
                # cost each one the whole timeout.
                _memory.put(key, dataclasses.replace(page, fetched_at=time.time()))
                return page
            page = self._updated(page, fetched, project)
            _memory.put(key, page)
            try:
                self.stores.blobs.replace(path, page.to_bytes(), content_type="application/json")
            except Exception:
                log.warning("could not store the upstream page %s", path, exc_info=True)
            return page

    def cached(self, project: str) -> CachedPage | None:
        """The page of ``project`` as Bale keeps it (this instance's memory, else storage),
        without asking the upstream; None when it was never fetched."""
        page = _memory.get((self.cfg.key(self.team), project))
        return page or self._stored(paths.upstream_page(self.cfg.key(self.team), project))

    def copied(self, entries: list[PageEntry]) -> set[str]:
        """The filenames of ``entries`` Bale holds a verified copy of (one metadata request
        each: callers pass a bounded few)."""
        return {e["f"] for e in entries if self.stores.blobs.exists(self.file_path(e, False))}

    def _stored(self, path: str) -> CachedPage | None:
        try:
            return CachedPage.from_bytes(self.stores.blobs.read(path))
        except BlobMissing:
            return None
        except Exception:
            log.warning("unreadable cached upstream page %s; fetching it again", path, exc_info=True)
            return None

    @staticmethod
    def _updated(old: CachedPage | None, fetched: Fetched, project: str) -> CachedPage:
        now = time.time()
        if fetched.state == "not-modified" and old is not None:
            return dataclasses.replace(old, fetched_at=now)
        listed = {e["f"] for e in fetched.entries}
        retired: list[PageEntry] = []
        if old is not None:
            gone = [e for e in (*old.retired, *old.entries) if e["f"] not in listed]
            retired = list({e["f"]: e for e in gone}.values())[-MAX_RETIRED:]
        if fetched.state == "missing":
            return CachedPage("missing", project, [], None, now, retired)
        status, reason = fetched.status or ("active", None)
        return CachedPage(
            "ok",
            fetched.name or project,
            fetched.entries,
            fetched.etag,
            now,
            retired,
            status=status,
            status_reason=reason,
        )

    # -- files --------------------------------------------------------------------------------
    def file_path(self, entry: PageEntry, metadata: bool) -> str:
        path = paths.upstream_file(self.cfg.key(self.team), entry["h"], entry["f"])
        return paths.metadata_path(path) if metadata else path

    def open_file(self, entry: PageEntry, metadata: bool) -> tuple[Iterator[bytes], int]:
        """The file (or its METADATA) of ``entry`` as (chunks, size): the stored copy, else
        copied from the upstream first (verified against the page's sha256)."""
        if metadata and not entry.get("m"):
            raise NotFound(f"No metadata for {entry['f']!r}.")
        path = self.file_path(entry, metadata)
        try:
            return self._open(path)
        except BlobMissing:
            pass
        with _file_locks(path):
            try:
                return self._open(path)  # another request just copied it
            except BlobMissing:
                pass
            self._copy(entry, metadata, path)
        return self._open(path)

    def ensure_copy(self, entry: PageEntry, metadata: bool) -> None:
        """Make sure Bale holds a verified copy (before redirecting to a signed URL of it)."""
        if _sizes.get(self.file_path(entry, metadata)) is not None:
            return  # this instance opened or made it: copies are never removed by Bale
        chunks, _ = self.open_file(entry, metadata)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()

    def _open(self, path: str) -> tuple[Iterator[bytes], int]:
        """Open a copy. A copy never changes (content-addressed, create-only), so this instance
        remembers its size (no metadata request on later opens; never the size the upstream's
        page claims: only the bytes were verified) and keeps small ones whole in memory."""
        data = _small.get(path)
        if data is not None:
            return iter((data,)), len(data)
        chunks, total = self.stores.blobs.open(path, size=_sizes.get(path))
        _sizes.put(path, total)
        if total <= SMALL_FILE:
            data = b"".join(chunks)  # one chunk, already read by open()
            _small.put(path, data)
            return iter((data,)), len(data)
        return chunks, total

    def _copy(self, entry: PageEntry, metadata: bool, path: str) -> None:
        url = entry["u"] + ".metadata" if metadata else entry["u"]
        digest = entry["m"] if metadata else entry["h"]
        ctype = "text/plain; charset=utf-8" if metadata else "application/octet-stream"
        # Straight from the upstream into Cloud Storage, a fixed chunk at a time: nothing is
        # held whole, in memory or in /tmp (which is memory on Cloud Functions). The object
        # is made only after the last byte matched the sha256 (the upload is finalised on
        # leaving the block); a mismatch raises inside it, and nothing is stored.
        if not metadata and not _copies.take(self.settings.upstream_max_copies):
            raise Unavailable(
                f"This instance is copying {self.settings.upstream_max_copies} upstream files "
                "already; try again in a few seconds.",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        try:
            with self.stores.blobs.writer(path, content_type=ctype) as out:
                size = self.client().download(url, out, digest, metadata=metadata)
        except BlobExists:
            return  # create-only: another instance stored the same verified bytes first
        finally:
            if not metadata:
                _copies.give()
        _sizes.put(path, size)


def upstream_has(stores: Stores, settings: Settings, team: str, cfg: UpstreamConfig, project: str) -> bool:
    """Whether the upstream has a project of that name (through the page cache)."""
    return UpstreamCache(stores, settings, team, cfg).page(project).exists

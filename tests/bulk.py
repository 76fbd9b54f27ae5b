"""Test and benchmark helpers: big projects written in bulk, and a Firestore read counter.

``bulk_project`` writes what thousands of uploads would leave behind (file records, page
chunks, the project document) in the layout of :mod:`bale.packages.service`, but with Firestore
batches of at most 500 writes instead of one transaction per file, so a 10,000-file project
takes seconds. For tests and benchmarks only: uploads go through ``Packages.commit``.

``FirestoreReads`` counts the documents a Firestore client really fetches, at its RPC layer
(BatchGetDocuments and RunQuery responses), so a test can bound the reads a request costs
without replacing any part of the storage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading

from packaging.utils import canonicalize_name

BATCH = 500


def bulk_records(name: str, n: int, *, team: str = "acme", index: str = "main", yank_every: int = 0):
    """n realistic FileRecords of project ``name`` (long platform-wheel filenames)."""
    from bale.packages.service import FileRecord, chunk_of
    from bale.store.paths import blob_path

    project = canonicalize_name(name)
    mod = project.replace("-", "_")
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        version = f"{i // 100}.{i % 100}.0"
        filename = f"{mod}-{version}-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        sha = hashlib.sha256(filename.encode()).hexdigest()
        yanked = bool(yank_every) and i % yank_every == 0
        records.append(
            FileRecord(
                filename=filename,
                project=project,
                name=name,
                version=version,
                packagetype="bdist_wheel",
                python_version="cp312",
                size=1_000_000 + i,
                sha256=sha,
                md5=hashlib.md5(filename.encode()).hexdigest(),
                blake2_256=hashlib.blake2b(filename.encode(), digest_size=32).hexdigest(),
                blob_path=blob_path(team, index, project, sha, filename),
                metadata_sha256=hashlib.sha256(sha.encode()).hexdigest(),
                requires_python=">=3.9, !=3.10.*",
                upload_time=t0 + dt.timedelta(minutes=i),
                uploaded_by="bulk",
                metadata={"summary": "A big project", "requires_python": ">=3.9, !=3.10.*"},
                yanked=yanked,
                yanked_reason="broken build, use the next release" if yanked else None,
                chunk=chunk_of(filename),
            )
        )
    return records


def bulk_project(stores, name: str, n: int, *, team: str = "acme", index: str = "main", yank_every: int = 0):
    """Write an n-file project straight into Firestore; returns its records."""
    from bale.packages.service import Packages, page_entry

    packages = Packages(stores)
    records = bulk_records(name, n, team=team, index=index, yank_every=yank_every)
    project = canonicalize_name(name)
    writes = []
    for rec in records:
        writes.append((packages.file_ref(team, index, project, rec.filename), dataclasses.asdict(rec)))
    chunks: dict[int, list[dict]] = {}
    for rec in records:
        chunks.setdefault(rec.chunk, []).append(page_entry(rec))
    for k, entries in chunks.items():
        writes.append((packages.chunk_ref(team, index, project, k), {"files": entries}))
    at = records[-1].upload_time if records else dt.datetime.now(dt.UTC)
    writes.append(
        (
            packages.project_ref(team, index, project),
            {
                "name": name,
                "normalized": project,
                "serial": n,
                "file_count": n,
                "chunks": sorted(chunks),
                "updated_at": at,
            },
        )
    )
    for start in range(0, len(writes), BATCH):
        batch = stores.db.batch()
        for ref, data in writes[start : start + BATCH]:
            batch.set(ref, data)
        batch.commit()
    # And into the index's catalog, as the upload that creates a project does.
    from google.cloud import firestore

    from bale.packages.service import catalog_chunk_of
    from bale.tenancy.service import Tenancy

    k = catalog_chunk_of(project)
    batch = stores.db.batch()
    batch.set(
        packages.catalog_ref(team, index, k),
        {"projects": firestore.ArrayUnion([{"n": project, "name": name}])},
        merge=True,
    )
    batch.update(
        Tenancy(stores).index_ref(team, index),
        {"catalog_chunks": firestore.ArrayUnion([k]), "catalog_serial": firestore.Increment(1)},
    )
    batch.commit()
    return records


class FirestoreReads:
    """Count documents fetched through one Firestore client while active (thread-safe).

    Wraps the client's GAPIC ``batch_get_documents`` (document gets, ``get_all``,
    transactional reads) and ``run_query`` (queries); every document a response carries,
    found or missing, counts as one read, as Firestore bills them. An empty query counts one.
    ``calls`` counts the RPCs (round trips) themselves.
    """

    METHODS = ("batch_get_documents", "run_query")

    def __init__(self, db, probe=None):
        """``probe``: a Stores' DocumentProbe, whose reads count too: one round trip per call,
        one document per path, found or not, as Firestore bills them."""
        self.api = db._firestore_api
        self.probe = probe
        self.count = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._saved: dict[str, object] = {}

    def _add(self, n: int) -> None:
        with self._lock:
            self.count += n

    def _call(self) -> None:
        with self._lock:
            self.calls += 1

    def reset(self) -> int:
        with self._lock:
            n, self.count = self.count, 0
            return n

    def take(self) -> tuple[int, int]:
        """(round trips, documents) since the last take, and start again from zero."""
        with self._lock:
            out = (self.calls, self.count)
            self.calls = self.count = 0
            return out

    def __enter__(self) -> FirestoreReads:
        api = self.api
        orig_get = api.batch_get_documents
        orig_query = api.run_query

        def batch_get_documents(*args, **kwargs):
            self._call()
            for resp in orig_get(*args, **kwargs):
                if resp._pb.WhichOneof("result"):
                    self._add(1)
                yield resp

        def run_query(*args, **kwargs):
            self._call()
            docs = 0
            for resp in orig_query(*args, **kwargs):
                if resp._pb.HasField("document"):
                    docs += 1
                    self._add(1)
                yield resp
            if docs == 0:
                self._add(1)

        for name in self.METHODS:
            if name in vars(api):
                self._saved[name] = vars(api)[name]
        api.batch_get_documents = batch_get_documents
        api.run_query = run_query
        if self.probe is not None:
            orig_probe = self.probe.get

            def probe_get(*args, **kwargs):
                self._call()
                found = orig_probe(*args, **kwargs)
                self._add(1)
                return found

            self.probe.get = probe_get
            orig_many = self.probe.get_many

            def probe_get_many(paths, *args, **kwargs):
                self._call()
                found = orig_many(paths, *args, **kwargs)
                self._add(len(paths))
                return found

            self.probe.get_many = probe_get_many
        return self

    def __exit__(self, *exc) -> None:
        for name in self.METHODS:
            if name in self._saved:
                setattr(self.api, name, self._saved[name])
            else:
                delattr(self.api, name)
        if self.probe is not None:
            vars(self.probe).pop("get", None)
            vars(self.probe).pop("get_many", None)

"""Faults injected at a Google client's edge (never into our own storage code)."""

from __future__ import annotations

import contextlib
import os
import signal


class DeletesFail:
    """Cloud Storage refusing deletes, as it did while the functions' service account lacked
    storage.objects.delete: wraps a BlobStore, raises what the GCS client raises then
    (403 Forbidden) on delete, and passes every other call through to fake-gcs-server."""

    def __init__(self, blobs):
        self._blobs = blobs

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def delete(self, path, *, generation=None):
        from google.api_core import exceptions

        raise exceptions.Forbidden(f"DELETE {path}: caller does not have storage.objects.delete access")


@contextlib.contextmanager
def paused(emulator):
    """The emulator's whole process group stopped (SIGSTOP), as a hung backend: connections
    are still accepted by the kernel, nothing answers. Always continued on the way out."""
    pgid = os.getpgid(emulator.proc.pid)
    os.killpg(pgid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pgid, signal.SIGCONT)


class PausesAfterBlobs:
    """Wraps a BlobStore: once an upload's blobs are written (its METADATA, the second
    create), the Firestore emulator is stopped, so the upload's commit meets a hung Firestore.
    ``resume()`` continues it. Every call goes to fake-gcs-server."""

    def __init__(self, blobs, firestore):
        self._blobs = blobs
        self._firestore = firestore
        self._pgid = os.getpgid(firestore.proc.pid)
        self.stopped = False

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def create(self, path, fileobj, *, size, content_type):
        gen = self._blobs.create(path, fileobj, size=size, content_type=content_type)
        if path.endswith(".metadata") and not self.stopped:
            os.killpg(self._pgid, signal.SIGSTOP)
            self.stopped = True
        return gen

    def resume(self):
        if self.stopped:
            os.killpg(self._pgid, signal.SIGCONT)
            self.stopped = False


class CommitsFail:
    """Wraps the Firestore client: every commit, a batch's or a transaction's, raises
    DeadlineExceeded without reaching the emulator (a commit that timed out before it landed);
    everything else (a transaction's begin, reads and rollback, the clean-up's read) goes to
    the emulator."""

    def __init__(self, db):
        self._db = db
        self.failed = 0

    def __getattr__(self, name):
        return getattr(self._db, name)

    def batch(self, *args, **kwargs):
        from google.api_core import exceptions

        batch = self._db.batch(*args, **kwargs)

        def commit(*_a, **_k):
            self.failed += 1
            raise exceptions.DeadlineExceeded("commit: deadline exceeded (injected)")

        batch.commit = commit
        return batch

    def transaction(self, *args, **kwargs):
        from google.api_core import exceptions

        tx = self._db.transaction(*args, **kwargs)

        def commit(*_a, **_k):
            self.failed += 1
            raise exceptions.DeadlineExceeded("commit: deadline exceeded (injected)")

        tx._commit = commit  # what @firestore.transactional calls to commit
        return tx

"""Faults injected at a Google client's edge (never into our own storage code)."""

from __future__ import annotations


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

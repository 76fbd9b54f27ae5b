"""Where Bale keeps things: Firestore for records, Cloud Storage for files.

* ``backends.py``: ``Stores`` (the lazily made clients of one ``Settings``) and ``get_stores``.
* ``blobs.py``: the ``BlobStore`` interface and ``GCSBlobStore``.
* ``paths.py``: every Firestore document path and blob path, as pure functions.
* ``records.py``: ``from_snapshot``, a stored document as a record dataclass.
"""

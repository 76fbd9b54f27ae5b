"""Where Bale keeps things: Firestore for records, Cloud Storage for files.

* ``backends.py``: ``Stores`` (the lazily made clients of one ``Settings``) and the blob store.
"""

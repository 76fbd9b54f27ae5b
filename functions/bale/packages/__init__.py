"""What an index holds.

* ``distributions.py``: checks of an uploaded file (name, archive, METADATA, classifiers); pure.
* ``service.py``: file records, project pages, the catalog; commit, yank, delete.
"""

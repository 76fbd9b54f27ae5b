"""The Simple API (PEP 503/691) and downloads, one concern per module:

* ``views.py``: the entry point (:func:`~views.handle`), which dispatches on the endpoint
  :mod:`bale.routes` matches, and the page cache's use (:func:`~views.clear_caches`);
* ``routing.py``: slug validation (invalid → 404) and redirects;
* ``negotiate.py``: ``Accept`` negotiation (HTML or JSON) and the page response (gzip, ETag, 304);
* ``render.py``: the project page and project list bodies, pure functions of their data;
* ``cache.py``: :class:`~cache.Rendered` pages and the per-process :class:`~cache.PageCache`;
* ``download.py``: files and their ``.metadata``, through the file's record;
* ``integrity.py``: PEP 740's provenance of a file; ``viewpages.py``: a view's pages and files.
"""

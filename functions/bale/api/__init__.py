"""HTTP entry points, thin: parse the request, call a service, map errors in one place.

* ``http.py``: error mapping (``plain_errors``), security headers, path splitting.
* ``upload.py``: ``POST /v1/upload/{team}/{index}/`` (PyPI's legacy upload API).
* ``simple/``: the Simple API pages and file downloads.
* ``oidc.py``: ``/_/oidc/*``, Trusted Publishing's token exchange.
"""

"""API tokens: what a request may do.

* ``credentials.py``: the token in an HTTP request (Basic ``__token__`` or Bearer).
* ``service.py``: the ``Token`` record, its scopes, and the ``Tokens`` service.
"""

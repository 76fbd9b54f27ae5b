"""Trusted Publishing: CI identities exchanged for short-lived upload tokens.

* ``publishers.py``: enrolled publishers (the record and its repository).
* ``providers/``: each CI provider's claim rules, and the registry of them.
* ``trusted.py``: verifying an OIDC token and minting or burning Bale tokens.
"""

"""Trusted Publishing: CI identities exchanged for short-lived upload tokens.

* ``publishers.py``: enrolled publishers and the providers' claim rules.
* ``trusted.py``: verifying an OIDC token and minting or burning Bale tokens.
"""

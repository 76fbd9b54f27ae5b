"""Stand-ins for the services Bale talks to that have no local emulator.

Our own storage is never faked (Firestore and Cloud Storage are the real emulators, see
tests/conftest.py); these play the outside parties, over real HTTP, each hosted on a
:class:`fakes.server.Server`:

* :mod:`fakes.oidc_issuer`: OpenID Connect issuers shaped like GitHub Actions, GitLab CI/CD
  and Google, with real keys, discovery documents, JWKS and GitHub's runner token endpoint
  (Trusted Publishing: tests/conftest.py ``oidc_issuers``).
* :mod:`fakes.google_oauth`: Google's OAuth 2.0 authorization and token endpoints, for the
  dashboard's "Sign in with Google" (tests/web/conftest.py ``google``).
* :mod:`fakes.upstream`: a PEP 691/503 index playing a Bale index's upstream (PyPI), counting
  requests and serving faults on demand (down, bad JSON, huge pages, slow drip, wrong hashes)
  (tests/functions/test_upstream.py; pypiserver plays a real third-party one there too).
* :mod:`fakes.server`: a threaded WSGI server on 127.0.0.1 in a background thread, for the
  fakes above. The registry itself is served by ``bale_tools.devserver`` (the real stack).
"""

"""Cloud Functions entry points (functions-framework targets).

Deployed from one source archive, with ``--entry-point`` set to ``upload``,
``simple`` or ``oidc`` (``bale dev`` serves those three on one port with the same
URL map as production), and ``advisories_refresh``, which Cloud Scheduler calls
daily and no URL map routes to. Each entry point stays thin: the work is in
``bale``.
"""

import functions_framework
from flask import Request, Response

from bale.serving import wait_briefly_for_request_bytes

# In the gunicorn worker that serves these functions: no pool thread waits seconds for a
# connection that has not sent its request yet (see bale.serving).
wait_briefly_for_request_bytes()


@functions_framework.http
def upload(request: Request) -> Response:
    """POST /v1/upload/{team}/{index}/ (PyPI's legacy upload API)."""
    from bale.api import upload as upload_api

    return upload_api.handle(request)


@functions_framework.http
def simple(request: Request) -> Response:
    """GET /simple/{team}/{index}/[{project}/], /files/... downloads and /integrity/... (PEP 740)."""
    from bale.api.simple import views as simple_api

    return simple_api.handle(request)


@functions_framework.http
def oidc(request: Request) -> Response:
    """/_/oidc/audience, /_/oidc/mint-token, /_/oidc/burn-token (Trusted Publishing)."""
    from bale.api import oidc as oidc_api

    return oidc_api.handle(request)


@functions_framework.http
def advisories_refresh(request: Request) -> Response:
    """POST from Cloud Scheduler (its service account's ID token): reload OSV's PyPI advisories."""
    from bale.api import advisories as advisories_api

    return advisories_api.handle(request)

"""POST from Cloud Scheduler: the daily refresh of the public advisories (``advisories_refresh``).

Not on the load balancer's URL map: Scheduler calls the function's own URL with a Google ID
token of its service account, which Cloud Run's invoker check and then
:func:`bale.access.require_scheduler` accept. The answer is JSON: 200 with what the run did
(``loaded`` or ``unchanged``); 5xx when nothing could be loaded, so Scheduler retries. The work
is in :mod:`bale.advisories.refresh`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, Response

from bale import access
from bale.advisories import refresh
from bale.api.http import as_bale_error, harden
from bale.errors import BaleError
from bale.settings import Settings, get_settings
from bale.store.backends import get_stores

log = logging.getLogger("bale.advisories.refresh")


def _json(data: Mapping[str, object], status: int) -> Response:
    resp = Response(json.dumps(data, default=str) + "\n", status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return harden(resp)


def _google_key(settings: Settings) -> Callable[[str], Any]:
    """The Google issuer's signing key of a kid (its JWKS, cached as Trusted Publishing's)."""

    def key(kid: str) -> Any:
        import jwt

        from bale.publishing.trusted import jwks_client

        try:
            return jwks_client(settings.google_oidc_issuer).get_signing_key(kid).key
        except jwt.PyJWKClientError as exc:
            raise jwt.InvalidTokenError(f"no key {kid!r} at {settings.google_oidc_issuer}: {exc}") from None

    return key


def handle(request: Request) -> Response:
    if request.method != "POST":
        return _json({"message": "POST only (Cloud Scheduler's call)."}, 405)
    settings = get_settings()
    try:
        access.require_scheduler(request, settings, _google_key(settings))
    except BaleError as exc:
        # Past Cloud Run's own check only a misconfigured caller gets here (the scheduler's
        # account is not BALE_ADVISORIES_INVOKER): the advisories would go stale unnoticed.
        refresh.emit(
            "ERROR", f"advisories refresh refused: {exc.message}", {"status": "refused", "code": exc.status}
        )
        return _json({"message": exc.message}, exc.status)
    try:
        out = refresh.run(get_stores(), settings)
    except refresh.RefreshFailed as exc:
        refresh.emit("ERROR", f"advisories refresh failed: {exc}", {"status": "failed", "message": str(exc)})
        return _json({"status": "failed", "message": str(exc)}, exc.status)
    except Exception as exc:
        mapped = as_bale_error(exc)
        if mapped is None:
            log.exception("advisories refresh failed")
            mapped = BaleError("The advisories refresh failed; the last loaded advisories stay.")
        else:
            log.error("advisories refresh failed: %r", exc, exc_info=True)
        return _json({"status": "failed", "message": mapped.message}, max(mapped.status, 500))
    return _json(out.as_record(), 200)

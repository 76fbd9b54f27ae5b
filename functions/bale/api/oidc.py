"""Trusted Publishing endpoints, as ``uv publish --trusted-publishing`` speaks them.

    GET  /_/oidc/audience     -> {"audience": ...}
    POST /_/oidc/mint-token   {"token": <OIDC JWT>[, "team": ..., "index": ...]} -> {"token": ...}
    POST /_/oidc/burn-token   {"token": <minted token>} -> {"burned": true}

Errors are JSON in PyPI's shape, ``{"message", "errors": [{"code", "description"}]}``,
422 for a refused token; uv prints the body, so descriptions say which claim did not match.
The work is in :mod:`bale.publishing.trusted`.
"""

from __future__ import annotations

import json
import logging

from flask import Request, Response
from werkzeug.exceptions import HTTPException

from bale.api.http import route_parts
from bale.errors import BaleError
from bale.publishing.trusted import PublishingError, TrustedPublishing
from bale.settings import get_settings
from bale.store.backends import get_stores

log = logging.getLogger("bale.oidc")

PREFIX = "/_/oidc/"
MAX_BODY = 64 * 1024  # an OIDC token is a few KiB


def _json(data: dict, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(data) + "\n", status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _error(status: int, code: str, description: str, headers: dict | None = None) -> Response:
    return _json(
        {"message": description, "errors": [{"code": code, "description": description}]}, status, headers
    )


def _payload(request: Request) -> dict:
    request.max_content_length = MAX_BODY
    try:
        raw = request.get_data(cache=False)
    except HTTPException:
        raise PublishingError("invalid-payload", "The request body is too large.", status=413) from None
    try:
        # uv sends JSON with or without a Content-Type; parse the body either way.
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise PublishingError("invalid-payload", 'The body is not JSON; send {"token": "..."}.') from None
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"].strip():
        raise PublishingError("invalid-payload", 'The body must be a JSON object {"token": "..."}.')
    for key in ("team", "index"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise PublishingError("invalid-payload", f"{key!r} must be a string.")
    return body


def _route(request: Request) -> Response:
    parts = route_parts(request.path, PREFIX)
    endpoint = parts[0] if len(parts) == 1 else None
    methods = {"audience": "GET", "mint-token": "POST", "burn-token": "POST"}
    if endpoint not in methods:
        return _error(
            404, "not-found", "Not found: use /_/oidc/audience, /_/oidc/mint-token or /_/oidc/burn-token."
        )
    allowed = methods[endpoint]
    if request.method != allowed and not (allowed == "GET" and request.method == "HEAD"):
        return _error(405, "method-not-allowed", f"Use {allowed} for /_/oidc/{endpoint}.", {"Allow": allowed})

    settings = get_settings()
    if endpoint == "audience":
        return _json({"audience": settings.oidc_audience})
    body = _payload(request)
    service = TrustedPublishing(get_stores(settings), settings)
    if endpoint == "mint-token":
        minted = service.mint(
            body["token"].strip(), team=body.get("team") or None, index=body.get("index") or None
        )
        rec = minted.record
        answer = {
            "success": True,
            "token": minted.token,
            "expires": int(rec.expires_at.timestamp()) if rec.expires_at else None,
        }
        scopes = rec.scopes()
        if len(scopes) == 1:
            # Where it may upload, when that is one index (always, when the request names one).
            # Several: not told, since CI logs can be public and the other grants may be other
            # teams' (their indexes and projects are theirs to tell).
            answer.update(team=rec.team, index=rec.index, projects=rec.projects)
        return _json(answer)
    token = service.burn(body["token"].strip())
    return _json({"success": True, "burned": token.id})


def handle(request: Request) -> Response:
    from bale.api.http import harden

    return harden(_handle(request))


def _handle(request: Request) -> Response:
    try:
        return _route(request)
    except PublishingError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.path, exc.status, exc.message)
        return _json(exc.body(), exc.status)
    except BaleError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.path, exc.status, exc.message)
        return _error(exc.status, "error", exc.message, exc.headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal-error", "Internal server error; no token was minted. Please retry.")

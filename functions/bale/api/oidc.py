"""Trusted Publishing endpoints, as ``uv publish --trusted-publishing`` speaks them.

    GET  /_/oidc/audience     -> {"audience": ...}
    POST /_/oidc/mint-token   {"token": <OIDC JWT>[, "team": ..., "index": ...]} -> {"token": ...}
    POST /_/oidc/burn-token   {"token": <minted token>} -> {"burned": true}
    POST /_/oidc/read-token   {"token": <OIDC JWT>} -> {"token": ..., "expires": ...}  (Trusted Access)

Errors are JSON in PyPI's shape, ``{"message", "errors": [{"code", "description"}]}``,
422 for a refused token; uv prints the body, so descriptions say which claim did not match.
The work is in :mod:`bale.publishing.trusted`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import IO

from flask import Request, Response
from werkzeug.exceptions import ClientDisconnected, MethodNotAllowed, NotFound

from bale.api.http import as_bale_error
from bale.errors import BaleError, PublishingError
from bale.routes import match, rule_for
from bale.settings import get_settings
from bale.store.backends import get_stores

log = logging.getLogger("bale.oidc")

MAX_BODY = 64 * 1024  # an OIDC token is a few KiB
#: How much of a too-large body is read and thrown away so that the client, still sending, reads
#: the 413 (a server that closes with unread bytes makes the client see a reset instead). Past
#: this the connection is closed: nothing more is read.
MAX_DRAIN = 1024 * 1024
_CHUNK = 64 * 1024
#: Set in the WSGI environ when the request's body was not (or could not be) read to its end.
_UNREAD = "bale.oidc.body_unread"

JSON = dict[str, object]


def _json(
    data: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    resp = Response(json.dumps(data) + "\n", status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _error(status: int, code: str, description: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json(
        {"message": description, "errors": [{"code": code, "description": description}]}, status, headers
    )


def _read(stream: IO[bytes], limit: int) -> bytes:
    """Up to ``limit`` bytes of the body, in chunks: never more in memory than that."""
    parts: list[bytes] = []
    got = 0
    while got < limit and (chunk := stream.read(min(_CHUNK, limit - got))):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _body(request: Request) -> bytes:
    """The body, read here with a bound rather than through ``request.max_content_length``.

    functions-framework's ``read_request`` after-request hook calls ``request.get_data()`` once
    the response is built; with ``max_content_length`` set and a larger body that call raises
    RequestEntityTooLarge, and the 413 becomes a 500 on a connection left hanging. So: read at
    most MAX_BODY + 1 bytes, and for a larger body read and discard up to MAX_DRAIN more (the
    hook then finds the stream at its end); a body still not at its end is marked unread, and
    the response is one the hook leaves alone and that closes the connection (see handle).
    """
    stream = request.stream
    try:
        raw = _read(stream, MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            if len(_read(stream, MAX_DRAIN)) >= MAX_DRAIN and stream.read(1):
                request.environ[_UNREAD] = True
            raise PublishingError(
                "invalid-payload",
                f"The request body is too large; the limit is {MAX_BODY} bytes.",
                status=413,
            )
    except ClientDisconnected:
        # The client hung up mid-body: nobody reads this answer, but it is not a server error.
        request.environ[_UNREAD] = True
        raise PublishingError("invalid-payload", "The request body ended early.", status=400) from None
    return raw


def _payload(request: Request) -> dict[str, str | None]:
    raw = _body(request)
    try:
        # uv sends JSON with or without a Content-Type; parse the body either way.
        body: object = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise PublishingError("invalid-payload", 'The body is not JSON; send {"token": "..."}.') from None
    except RecursionError:
        # json's parser recurses once per nesting level: '[' * 30000 exhausts the stack.
        raise PublishingError(
            "invalid-payload", 'The body is nested too deeply; send {"token": "..."}.'
        ) from None
    if not isinstance(body, dict):
        raise PublishingError("invalid-payload", 'The body must be a JSON object {"token": "..."}.')
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        raise PublishingError("invalid-payload", 'The body must be a JSON object {"token": "..."}.')
    if not token.isascii():
        # A JWT (and a minted token) is base64url and dots; anything else (a lone surrogate
        # among them, which no codec encodes) is refused before it reaches a parser.
        raise PublishingError(
            "invalid-token", "The token contains characters other than ASCII; it is not a JWT."
        )
    payload: dict[str, str | None] = {"token": token.strip()}
    for key in ("team", "index"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise PublishingError("invalid-payload", f"{key!r} must be a string.")
        payload[key] = value or None
    return payload


def _route(request: Request) -> Response:
    try:
        route, _ = match(request.path, request.method)
    except MethodNotAllowed as exc:
        # Each endpoint takes one method (HEAD comes with GET, and is not named).
        allowed = sorted(set(exc.valid_methods or ["GET"]) - {"HEAD"})
        rule = rule_for(request.path, allowed[0])
        if rule.endpoint.target == "oidc":
            methods = ", ".join(allowed)
            return _error(405, "method-not-allowed", f"Use {methods} for {rule.rule}.", {"Allow": methods})
        route = None
    except NotFound:
        route = None
    if route is None or route.target != "oidc":
        return _error(
            404,
            "not-found",
            "Not found: use /_/oidc/audience, /_/oidc/mint-token, /_/oidc/burn-token or /_/oidc/read-token.",
        )
    endpoint = route.name

    settings = get_settings()
    if endpoint == "audience":
        return _json({"audience": settings.oidc_audience})
    body = _payload(request)
    token = body["token"]
    assert token is not None
    if endpoint == "read-token":
        if body["team"] or body["index"]:
            raise PublishingError(
                "invalid-payload", 'Send only {"token": "..."}: the enrollment decides what it reads.'
            )
        from bale.publishing.trusted_access import TrustedAccess

        got = TrustedAccess(get_stores(settings), settings).exchange(token)
        expires = got.record.expires_at
        return _json(
            {"success": True, "token": got.token, "expires": int(expires.timestamp()) if expires else None}
        )
    # Imported here: the audience (asked by every `uv publish`) needs neither pyjwt nor the providers.
    from bale.publishing.trusted import TrustedPublishing

    service = TrustedPublishing(get_stores(settings), settings)
    if endpoint == "mint-token":
        minted = service.mint(token, team=body["team"], index=body["index"])
        rec = minted.record
        answer: JSON = {
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
    burned = service.burn(token)
    return _json({"success": True, "burned": burned.id})


def handle(request: Request) -> Response:
    from bale.api.http import harden

    resp = harden(_handle(request))
    if request.environ.get(_UNREAD):
        _close_unread(resp)
    return resp


def _close_unread(resp: Response) -> None:
    """An answer for a request whose body was left unread: it closes the connection (the unread
    bytes must not be taken for the next request) and is sent as an iterable, so that
    functions-framework's read_request hook, which skips streamed responses, does not try to
    read (and buffer, or fail on) what is left of the body."""
    data = resp.get_data()

    def once() -> Iterator[bytes]:
        yield data

    resp.response = once()
    resp.headers["Content-Length"] = str(len(data))
    resp.headers["Connection"] = "close"


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
    except Exception as exc:
        mapped = as_bale_error(exc)
        if mapped is not None:
            log.warning("%s %s -> %s: %r", request.method, request.path, mapped.status, exc)
            return _error(mapped.status, "unavailable", mapped.message, mapped.headers)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal-error", "Internal server error; no token was minted. Please retry.")

"""HTTP plumbing shared by the entry points: one place maps errors to responses.

A backend outage (a deadline passed, Firestore or Cloud Storage unreachable, a guard's slots
full or its breaker open: :func:`bale.store.guard.is_outage`) is a 503 with ``Retry-After``
and a plain message, never a 500: :func:`as_bale_error` decides, for every entry point."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from flask import Request, Response

from bale.errors import BaleError
from bale.store.guard import is_outage, outage_error

log = logging.getLogger("bale")

_UNSAFE = re.compile(r"[^\x20-\x7e]")

P = ParamSpec("P")


def status_line(code: int, message: str) -> str:
    """'400 <message>': uv and twine print the reason phrase, so it carries the message."""
    reason = _UNSAFE.sub(" ", message)[:400].strip() or "Error"
    return f"{code} {reason}"


def text_error(exc: BaleError) -> Response:
    resp = Response(exc.message + "\n", mimetype="text/plain")
    resp.status = status_line(exc.status, exc.message)
    for k, v in exc.headers.items():
        resp.headers[k] = v
    return resp


#: On every API response. The functions share the dashboard's origin (one host behind the
#: load balancer) and serve bytes users uploaded: no response may be sniffed into HTML, run a
#: script or be framed. (Simple API pages need none of that: links only.)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}


def harden(resp: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def as_bale_error(exc: Exception) -> BaleError | None:
    """The answer for an exception a handler did not expect: a 503 for a backend outage, None
    for anything else (a bug: logged and answered 500)."""
    if isinstance(exc, BaleError):
        return exc
    if is_outage(exc):
        return outage_error(exc)
    return None


def plain_errors(
    fn: Callable[Concatenate[Request, P], Response],
) -> Callable[Concatenate[Request, P], Response]:
    """Turn BaleError into a plain-text response; anything else into a logged 500."""

    @functools.wraps(fn)
    def wrapper(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return harden(fn(request, *args, **kwargs))
        except BaleError as exc:
            if exc.status >= 500:
                log.warning("%s %s -> %s: %s", request.method, request.path, exc.status, exc.message)
            return harden(text_error(exc))
        except Exception as exc:
            mapped = as_bale_error(exc)
            if mapped is not None:
                log.warning("%s %s -> %s: %r", request.method, request.path, mapped.status, exc)
                return harden(text_error(mapped))
            log.exception("unhandled error on %s %s", request.method, request.path)
            return harden(text_error(BaleError("Internal server error; nothing was stored. Please retry.")))

    return wrapper

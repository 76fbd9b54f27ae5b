"""Credentials in requests: HTTP Basic ``__token__:<token>`` or ``Authorization: Bearer``, and
for a browser reading the Simple API, the dashboard's browser-token cookie."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from bale.errors import Unauthorized

#: The cookie in which the dashboard keeps a signed-in person's read-only browser token (kind
#: ``browser``), so the Simple API opens in the browser. The Simple API accepts it for GET and
#: HEAD only, and only when the request has no Authorization header; uploads never read it.
BROWSER_COOKIE: Final = "bale_browser"


def token_from_header(authorization: str | None) -> str | None:
    """Return the token a request carries, None if it carries none."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("Malformed Basic credentials.") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthorized("Malformed Basic credentials.")
        if user != "__token__":
            # pip/uv send whatever the user typed; say clearly what we expect.
            raise Unauthorized("Use the username __token__ and a Bale API token as the password.")
        return password or None
    raise Unauthorized(f"Unsupported authorization scheme {scheme!r}; use Basic or Bearer.")

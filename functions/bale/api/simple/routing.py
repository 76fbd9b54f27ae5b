"""Paths, slugs and authorization, shared by the Simple API's pages and its downloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import quote

from flask import Request, Response

from bale.errors import BadRequest, BaleError, Forbidden, NotFound, Unauthorized
from bale.names import validate_index, validate_team
from bale.settings import Settings, get_settings
from bale.store.backends import Stores, get_stores
from bale.tokens.cache import TokenCache
from bale.tokens.credentials import BROWSER_COOKIE, token_from_header
from bale.tokens.service import REALM, Token, TokenKind, Tokens

SIMPLE: Final = "/simple"
FILES: Final = "/files"
#: The dashboard's sign-in page (same host), where a browser without credentials is sent.
SIGNIN: Final = "/signin"


def slug_or_404(check: Callable[[str], str], value: str) -> str:
    """``check(value)`` (a validator of :mod:`bale.names` or a filename check), with an invalid
    value answered 404: a URL naming something that cannot exist names nothing, so it is
    not found rather than a bad request."""
    try:
        return check(value)
    except BadRequest as exc:
        raise NotFound(exc.message) from None


def index_slugs(team: str, index: str) -> tuple[str, str]:
    """The team and index of a URL, validated; 404 if either cannot exist."""
    return slug_or_404(validate_team, team), slug_or_404(validate_index, index)


def redirect(request: Request, path: str) -> Response:
    """A 301 to ``path`` under this app, keeping the query string."""
    location = request.script_root + path
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    resp = Response(f"Moved to {location}\n", status=301, mimetype="text/plain")
    resp.headers["Location"] = location
    return resp


#: Tokens this instance authenticated in the last ``Settings.token_cache_seconds`` (reads only).
_tokens = TokenCache()


def clear_token_cache() -> None:
    """Forget every cached token (tests clear the emulators between tests)."""
    _tokens.clear()


def services() -> tuple[Settings, Stores]:
    settings = get_settings()
    return settings, get_stores(settings)


def authorize(
    request: Request,
    stores: Stores,
    team: str,
    index: str,
    project: str | None = None,
    also: Sequence[Any] = (),
) -> tuple[Token, list[Any]]:
    """The request's token, if it may read ``team/index`` (and ``project``); else 401/403.

    The documents ``also`` (the project, or a file record) are fetched in the same round
    trip as the token (and, for a person's token, the team's roster), but nothing about them
    is used unless this passes, so the answer for a token of another team, index or project
    never depends on what exists. Returns the token and the snapshots of ``also``.
    """
    tokens = Tokens(stores)
    token, extra = _credentials(request, tokens, also, team)
    _check_read(tokens, token, team, index, project)
    return token, extra


def authorize_cached(
    request: Request, stores: Stores, team: str, index: str, project: str | None = None
) -> Token | None:
    """The request's token, if this instance authenticated it less than
    ``token_cache_seconds`` ago and it may read ``team/index`` (and ``project``), Forbidden if
    it may not; None if it is not cached (the caller then reads it with :func:`authorize`, in
    the same round trip as the documents it needs). No Firestore read either way."""
    raw, cookie = _presented(request)
    if not raw:
        return None
    token = _tokens.get(raw, team, stores.settings.token_cache_seconds)
    if token is None or (cookie and token.kind != TokenKind.BROWSER):
        return None
    _check_read(Tokens(stores), token, team, index, project)
    return token


def _check_read(tokens: Tokens, token: Token, team: str, index: str, project: str | None) -> None:
    why = token.why_not("read", team, index, project)
    if why:
        raise Forbidden(why)
    # A person's token reads only while its owner is a member of the team (the roster came in
    # the same round trip as the token).
    why = tokens.owner_refusal(token, "read", team, index)
    if why:
        raise Forbidden(why)


def _presented(request: Request) -> tuple[str | None, bool]:
    """The raw token a request presents (None: none, or malformed) and whether it came in the
    browser cookie. Parses only: authentication is the caller's."""
    header = request.headers.get("Authorization")
    if header:
        try:
            return token_from_header(header), False
        except Unauthorized:
            return None, False
    return request.cookies.get(BROWSER_COOKIE) or None, True


def _sign_in(request: Request) -> BaleError:
    """A browser's page navigation without a (valid) credential goes to sign-in and back."""
    location = request.script_root + SIGNIN + "?next=" + quote(request.script_root + request.path, safe="/")
    return BaleError(f"Sign in at {location}", status=302, headers={"Location": location})


def _credentials(request: Request, tokens: Tokens, also: Sequence[Any], team: str) -> tuple[Token, list[Any]]:
    """The request's token: from the Authorization header, else (a browser signed in to the
    dashboard) the browser cookie. Installers (uv, pip, curl) get 401 with the challenge they
    need to send credentials; only a browser's navigation (``Sec-Fetch-Mode: navigate``) is
    redirected to sign in. The cookie is read here only: this module serves GET and HEAD."""
    header = request.headers.get("Authorization")
    cookie = None if header else request.cookies.get(BROWSER_COOKIE)
    navigate = request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"
    if not cookie:
        if not header and navigate:
            raise _sign_in(request)
        try:
            raw = token_from_header(header)
            token, extra = tokens.authenticate_with(raw, also, team=team)
        except Unauthorized as exc:
            exc.headers["WWW-Authenticate"] = REALM
            raise
        assert raw is not None  # authenticate_with refuses a missing token
        _tokens.put(raw, team, token)
        return token, list(extra)
    try:
        token, extra = tokens.authenticate_with(cookie, also, team=team)
        if token.kind != TokenKind.BROWSER:
            raise Unauthorized("The browser cookie holds no browser token; sign in to the dashboard again.")
    except Unauthorized as exc:
        if navigate:  # expired or revoked (signed out): sign in again, and come back
            raise _sign_in(request) from None
        exc.headers["WWW-Authenticate"] = REALM
        raise
    _tokens.put(cookie, team, token)
    return token, list(extra)

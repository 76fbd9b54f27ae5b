"""Paths, slugs and authorization, shared by the Simple API's pages and its downloads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from flask import Request, Response

from bale.errors import BadRequest, Forbidden, NotFound
from bale.names import validate_index, validate_team
from bale.settings import Settings, get_settings
from bale.store.backends import Stores, get_stores
from bale.tokens.service import Token, Tokens

SIMPLE: Final = "/simple"
FILES: Final = "/files"


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
    token, extra = tokens.from_request_with(request.headers.get("Authorization"), also, team=team)
    why = token.why_not("read", team, index, project)
    if why:
        raise Forbidden(why)
    # A person's token reads only while its owner is a member of the team (the roster came in
    # the same round trip as the token).
    why = tokens.owner_refusal(token, "read", team, index)
    if why:
        raise Forbidden(why)
    return token, extra

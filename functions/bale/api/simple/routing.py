"""Slugs and redirects, shared by the Simple API's pages and its downloads (which path is which
is :mod:`bale.routes`'s to declare; who may read them, :mod:`bale.access`'s to decide)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Request, Response

from bale.errors import BadRequest, NotFound
from bale.names import validate_index, validate_team
from bale.settings import Settings, get_settings
from bale.store.backends import Stores, get_stores


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

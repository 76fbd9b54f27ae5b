"""The services a dashboard request uses, and the access checks every view goes through.

Views never talk to Firestore or Firebase directly: they call Bale's services
(:class:`~bale.tenancy.Tenancy`, :class:`~bale.tokens.Tokens`,
:class:`~bale.packages.Packages`, the publisher service) reached from here.
"""

from __future__ import annotations

import functools

from flask import current_app, flash, g, redirect, request, url_for
from packaging.utils import canonicalize_name

from bale import access
from bale.errors import BaleError
from bale.services import ServiceSet
from bale.settings import Settings
from bale.store.backends import get_stores

from .identity import Identity, User


class Services(ServiceSet):
    """Per-app access to Bale's services; Google clients are made on first use."""

    def __init__(self, settings: Settings, identity: Identity):
        self._settings = settings
        self.identity = identity

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def stores(self):
        return get_stores(self.settings)

    def project_docs(self, team: str, index: str, names: list[str]) -> dict[str, dict]:
        """The project documents (counts, dates) of ``names`` in one batched read, by name.

        Here rather than in a view: views never read Firestore themselves.
        """
        packages = self.packages
        refs = [packages.project_ref(team, index, n) for n in names]
        return {s.id: s.to_dict() for s in self.stores.db.get_all(refs) if s.exists} if refs else {}

    def advisory_notes(
        self, team: str, index: str, name: str, status: str, entries: list, now, *, proxied: bool = False
    ):
        """A project page's advisories per version and the views hiding releases because of
        them (``entries``: its page entries; ``proxied``: the index answers it from its
        upstream). One query for the team's index documents (its views, their upstreams), then
        one batched read of the public summary, the team's own advisories and the project's
        documents in the views' sources that could win it."""
        from bale.advisories.private import read
        from bale.store import paths
        from bale.views.service import view_of

        from .advisory_notes import advisory_views, notes, sources_to_probe, wins

        docs = {str(d.get("name")): d for d in self.tenancy.list_indexes(team)}
        found_views = [v for d in docs.values() if (v := view_of(team, d)) is not None]
        views = advisory_views(team, index, sorted(found_views, key=lambda v: v.name))
        normalized = canonicalize_name(name)
        probe = {s: paths.project(team, s, normalized) for s in sources_to_probe(views, index, proxied)}
        # The refresh record rides along, for the page's "as of" line: no extra round trip.
        found = read(
            self.stores, team, [index], [normalized], also=[*probe.values(), paths.advisories_refresh()]
        )
        held = {s for s, p in probe.items() if found.also.get(p) is not None}
        winning = [wins(v, index, held, proxied, docs, normalized) for v in views]
        return notes(found, index, name, status, entries, views, winning, now)


def flash_refusal(exc: BaleError) -> None:
    """Show a refusal (4xx) on the page; a server error (5xx) propagates, to be logged as one.

    Call in an ``except BaleError`` block.
    """
    if exc.status >= 500:
        raise exc
    flash(exc.message, "error")


def services() -> Services:
    return current_app.extensions["bale"]


def current_user() -> User | None:
    return g.get("user")


def _to_signin():
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def signed_in(view):
    """Signed-out visitors go to the sign-in page, and come back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return _to_signin()
        return view(*args, **kwargs)

    return wrapper


def team_member(view):
    """Members of the team only; to anyone else the team does not exist (404)."""

    @functools.wraps(view)
    def wrapper(*args, team: str, **kwargs):
        user = current_user()
        if user is None:
            return _to_signin()
        # Who may see a team (its indexes, packages, members) is bale.access's to decide.
        role = access.team_role(services().stores, team, user.email)
        g.team, g.role = team, role
        return view(*args, team=team, **kwargs)

    return wrapper


def team_admin(view):
    """Team admins only, for every method. Others get 403, whether or not the team exists."""

    @functools.wraps(view)
    def wrapper(*args, team: str, **kwargs):
        user = current_user()
        if user is None:
            return _to_signin()
        role = access.team_role(services().stores, team, user.email, admin=True)
        g.team, g.role = team, role
        return view(*args, team=team, **kwargs)

    return wrapper

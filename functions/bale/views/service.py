"""View records: a name in the team's index namespace, ordered sources, an optional filter.

A view is stored as the index document of its name, marked by a ``view`` field::

    teams/{team}/indexes/{view}   {name, created_at, writers: [], view: {sources: [index, ...],
                                   filter: text | None}}

so that one name is never both an index and a view (creating either refuses a taken name),
and everything that scopes by index name (tokens ``--index VIEW``, Trusted Access accessors)
scopes to a view as it does to an index. A view's sources are the team's indexes, never views
(so resolution is one level deep and has no cycles).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

from bale.clock import now
from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_index, validate_team
from bale.store.backends import Stores
from bale.tenancy.service import Tenancy
from bale.views.filters import Filter, compile_filter

#: A view reads at most this many sources (each costs one small read per page).
MAX_SOURCES: Final = 8


@dataclasses.dataclass(frozen=True, slots=True)
class View:
    """A view as stored: ``sources`` in the order they win, ``filter`` its text or None."""

    team: str
    name: str
    sources: tuple[str, ...]
    filter: str | None

    @property
    def compiled(self) -> Filter | None:
        return compile_filter(self.filter) if self.filter else None

    def describe(self) -> str:
        where = ", ".join(self.sources)
        return f"{self.team}/{self.name}: sources {where}" + (
            f"; filter {self.filter}" if self.filter else ""
        )


def view_of(team: str, index_doc: dict[str, Any] | None) -> View | None:
    """The view an index document holds, or None for a plain index (or no document)."""
    doc = index_doc or {}
    spec = doc.get("view")
    if not isinstance(spec, dict):
        return None
    return View(team, str(doc.get("name")), tuple(spec.get("sources") or ()), spec.get("filter") or None)


def refuse_upload(view: View) -> BadRequest:
    """The answer to an upload sent to a view: it names the indexes to upload to instead."""
    return BadRequest(
        f"{view.team}/{view.name} is a view (read-only) over {', '.join(view.sources)}; "
        f"upload to one of those indexes instead."
    )


class Views:
    """Create, read, change and delete a team's views; every change is audited here."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.tenancy = Tenancy(stores)

    def get(self, team: str, name: str) -> View:
        doc = self.tenancy.index_ref(team, name).get()
        view = view_of(team, doc.to_dict() if doc.exists else None)
        if view is None:
            raise NotFound(f"No view {team}/{name}" + (" (it is an index)." if doc.exists else "."))
        return view

    def list(self, team: str) -> list[View]:
        self.tenancy.get_team(team)
        found = (view_of(team, d) for d in self.tenancy.list_indexes(team))
        return sorted((v for v in found if v is not None), key=lambda v: v.name)

    def create(
        self, team: str, name: str, sources: Sequence[str], filter_text: str | None, *, actor: str = "cli"
    ) -> View:
        from google.api_core import exceptions

        team, name = validate_team(team), validate_index(name)
        self.tenancy.get_team(team)
        spec = self._spec(team, name, sources, filter_text)
        doc = {"name": name, "created_at": now(), "writers": [], "view": spec}
        try:
            self.tenancy.index_ref(team, name).create(doc)
        except exceptions.AlreadyExists:
            raise Conflict(
                f"{team}/{name} already exists (an index or a view); choose another name."
            ) from None
        view = View(team, name, tuple(spec["sources"]), spec["filter"])
        self.tenancy.audit(team, actor, "create-view", view.describe())
        return view

    def update(
        self,
        team: str,
        name: str,
        sources: Sequence[str] | None = None,
        filter_text: str | None = None,
        *,
        clear_filter: bool = False,
        actor: str = "cli",
    ) -> View:
        """Change a view's sources (when given) and filter (when given, or cleared)."""
        current = self.get(team, name)
        new_filter = None if clear_filter else (filter_text if filter_text is not None else current.filter)
        spec = self._spec(team, name, sources if sources else current.sources, new_filter)
        self.tenancy.index_ref(team, name).update({"view": spec})
        view = View(team, name, tuple(spec["sources"]), spec["filter"])
        self.tenancy.audit(team, actor, "update-view", view.describe())
        return view

    def delete(self, team: str, name: str, *, actor: str = "cli") -> View:
        """Delete a view and revoke the team's tokens scoped to it (Trusted Access accessors
        are :meth:`Readers.drop_index`'s, a layer up). A grant names the view by its name
        alone: left in place, it would open whatever index or view takes the name next."""
        from bale.tokens.service import Tokens

        view = self.get(team, name)
        tokens = Tokens(self.stores)
        for token in tokens.list(team, include_revoked=False):
            if token.team == team and token.index == name and not token.grants:
                tokens.revoke(team, token.id, actor=actor)
        self.tenancy.index_ref(team, name).delete()
        self.tenancy.audit(team, actor, "delete-view", view.describe())
        return view

    def _spec(self, team: str, name: str, sources: Sequence[str], filter_text: str | None) -> dict[str, Any]:
        if not sources:
            raise BadRequest(
                "A view needs at least one source index (--source INDEX, in the order they win)."
            )
        if len(sources) > MAX_SOURCES:
            raise BadRequest(f"A view reads at most {MAX_SOURCES} sources; {len(sources)} were given.")
        names = [validate_index(s) for s in sources]
        if len(set(names)) != len(names):
            raise BadRequest(f"A source is named twice: {', '.join(names)}.")
        if name in names:
            raise BadRequest(f"A view cannot be its own source ({name}).")
        for source in names:
            snap = self.tenancy.index_ref(team, source).get()
            if not snap.exists:
                raise BadRequest(f"No index {team}/{source} to use as a source.")
            if view_of(team, snap.to_dict()) is not None:
                raise BadRequest(f"{team}/{source} is a view; a view's sources are indexes.")
        text = filter_text.strip() if filter_text else None
        if text:
            compile_filter(text)  # refused here, with the column, never when serving
        return {"sources": names, "filter": text or None}

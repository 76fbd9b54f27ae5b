"""What a project page says about advisories: the ones affecting each version (public and the
team's own in this index), and the team's views that hide a release because of them.

A view is named for a release when its filter uses an advisory field, this index serves the
project in it (by viewpages' rule: sources' own projects in order, then their upstreams), and
its filter hides a file of the release
with the advisories counted but keeps it without them: hidden *because of* them, not for its
age or name. The verdict comes from the view filter itself (bale.views.filters, through the
same preview the Views tab uses), so the page and the Simple API cannot disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from packaging.utils import canonicalize_name

from bale.advisories.osv import stored_affects
from bale.advisories.private import AdvisoryRead, fixed_in
from bale.api.simple.viewpages import Facts, preview
from bale.store import paths
from bale.views.filters import ADVISORY_FIELDS
from bale.views.service import View

#: The daily refresh's record older than this many days is shown as stale on the page.
STALE_DAYS = 2

#: Where a public advisory is read about: OSV's page knows every PYSEC, GHSA and OSV id.
OSV = "https://osv.dev/vulnerability/"


@dataclasses.dataclass(frozen=True)
class Shown:
    id: str
    summary: str
    score: float | None
    fixed: list[str]
    private: bool

    @property
    def url(self) -> str:
        """OSV's page for a public advisory; a private one's own entry on this page."""
        return f"#adv-{self.id}" if self.private else f"{OSV}{self.id}"

    @property
    def severity(self) -> str:
        if self.score is None:
            return "unknown"
        return (
            "critical"
            if self.score >= 9
            else "high"
            if self.score >= 7
            else "medium"
            if self.score >= 4
            else "low"
        )


@dataclasses.dataclass(frozen=True)
class Hidden:
    view: str
    filter: str


@dataclasses.dataclass
class Notes:
    by_version: dict[str, list[Shown]]
    hidden: dict[str, list[Hidden]]
    private: list[dict[str, Any]]
    withdrawn: list[dict[str, Any]]
    #: When the scheduled refresh last loaded the public advisories (None: no refresh recorded,
    #: as when they were loaded from the CLI), and whether that is longer ago than the daily
    #: job and its retries allow.
    refreshed_at: dt.datetime | None = None
    stale_days: int = 0


def affects(entry: dict[str, Any]) -> str:
    """Which releases a team's own advisory names: its specifier set and exact versions."""
    return ", ".join(
        x for x in (entry.get("specifier"), *(f"=={v}" for v in entry.get("versions") or ())) if x
    )


def advisory_views(team: str, index: str, views: list[View]) -> list[View]:
    """The views whose sources include ``index`` and whose filter uses an advisory field."""
    out = []
    for v in views:
        compiled = v.compiled if index in v.sources else None
        if compiled is not None and compiled.fields & ADVISORY_FIELDS:
            out.append(v)
    return out


def sources_to_probe(views: list[View], index: str, proxied: bool) -> list[str]:
    """The sources whose project documents say whether ``index`` wins the project in each view:
    the earlier ones for the index's own project; every one for a project it proxies (a source's
    own project wins over any upstream)."""
    return sorted({s for v in views for s in (v.sources if proxied else v.sources[: v.sources.index(index)])})


def wins(
    view: View, index: str, held: set[str], proxied: bool, index_docs: dict[str, dict[str, Any]], name: str
) -> bool:
    """Whether ``index`` is the source that serves ``name`` in ``view`` (``held``: the sources
    that hold it as their own), by the rule viewpages applies."""
    if not proxied:
        return not held & set(view.sources[: view.sources.index(index)])
    if held & set(view.sources):
        return False
    from bale.upstream.policy import config_of, is_private

    for s in view.sources[: view.sources.index(index)]:
        doc = index_docs.get(s)
        if config_of(doc) is not None and not is_private(doc, name, False):
            return False  # an earlier upstream answers the name first
    return True


def _shown(entry: dict[str, Any]) -> Shown:
    return Shown(
        id=str(entry.get("id")),
        summary=str(entry.get("summary") or ""),
        score=entry.get("score"),
        fixed=fixed_in(entry),
        private=bool(entry.get("private")),
    )


def notes(
    found: AdvisoryRead,
    index: str,
    name: str,
    status: str,
    entries: list[Any],
    views: list[View],
    winning: list[bool],
    now: dt.datetime,
) -> Notes:
    """The page's advisory notes from one batched read (``found``) and the project's page
    entries (``v``, ``f``, ``t``); ``winning[i]``: whether ``index`` serves the project in
    ``views[i]``."""
    normalized = canonicalize_name(name)
    advisories = found.of(normalized, index)
    by_version = {
        v: sorted(
            (_shown(a) for a in advisories if stored_affects(a, v)), key=lambda s: (-(s.score or 0), s.id)
        )
        for v in {e["v"] for e in entries}
    }
    hidden: dict[str, list[Hidden]] = {}
    for view, served in zip(views, winning, strict=True):
        if not served:
            continue  # another source serves the project in this view: these files are not in it
        compiled = view.compiled
        counted = preview(compiled, name, entries, now, Facts(status, advisories))
        without = preview(compiled, name, entries, now, Facts(status, ()))
        for (v, _, keep, _), (_, _, keep_without, _) in zip(counted, without, strict=True):
            if not keep and keep_without and all(h.view != view.name for h in hidden.get(v, [])):
                hidden.setdefault(v, []).append(Hidden(view.name, view.filter or ""))
    doc = found.private.get((index, normalized), {})
    refreshed = (found.also.get(paths.advisories_refresh()) or {}).get("loaded_at")
    age = (now - refreshed).days if isinstance(refreshed, dt.datetime) else 0
    return Notes(
        by_version={v: s for v, s in by_version.items() if s},
        hidden=hidden,
        private=list(doc.get("advisories") or ()),
        withdrawn=list(doc.get("withdrawn") or ()),
        refreshed_at=refreshed if isinstance(refreshed, dt.datetime) else None,
        stale_days=age if age >= STALE_DAYS else 0,
    )

"""Views through the Simple API: a project page is its first source's, under the view's filter.

For each project name the first source that holds it wins, private first and never merged:
the sources' own projects in the view's order, then (if none holds it) the upstream of the
first source that has one and does not keep the name private. Only the winner's files are
shown, and of those only the ones the filter keeps (:mod:`bale.views.filters`); what it hides
is absent from both formats and 404 as a file or ``.metadata``. Yanks, upload times, core
metadata, project status (PEP 792) and provenance pass through as the source renders them; every
link is under the view's own path (files, ``.metadata``, and ``/integrity/TEAM/VIEW/...``), so
a token scoped to the view follows them all.

Cost of a warm page: one version probe per source until the winner (the same probe as a plain
page), all in one round trip (:func:`_holding`). The view's definition is trusted for as long
as a checked token is (``BALE_TOKEN_CACHE_SECONDS``); after that one small read of the view's
document (its update time) says whether the definition this instance holds is current. The
rendered page is cached under the view's version, the winner and its version; a filter on ages
also under the minute, so a release that ages past a floor appears within a minute. A filter
on advisory fields (``release.cve_max_score``, ...) adds one batched read per request, the
project's public advisory summary and the team's own advisories for it in each source, whose
update times join the tag; no other view reads them.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from flask import Request, Response

from bale import clock
from bale.advisories.osv import stored_affects
from bale.advisories.private import read as read_advisories
from bale.api.simple import pages
from bale.api.simple.cache import FileRef, PageVersion, Rendered
from bale.api.simple.negotiate import Format, page_response
from bale.api.simple.render import file_base, render_project, render_project_list
from bale.errors import NotFound
from bale.packages import status as project_status
from bale.packages.service import Packages
from bale.provenance.store import integrity_base
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import PageEntry
from bale.tenancy.service import Tenancy
from bale.upstream.policy import UpstreamConfig, config_of, is_private, visible
from bale.views.filters import ADVISORY_FIELDS, Filter, Subject
from bale.views.service import View, view_of

#: Pages kept per instance (each is a few KiB; a view over many projects churns the oldest).
MAX_PAGES: Final = 2048
_AGE_FIELDS: Final = {"package.age_days", "release.age_days"}


@dataclasses.dataclass(frozen=True)
class Known:
    stamp: tuple[int, int]  # the view document's update time
    view: View
    compiled: Filter | None
    checked: float  # time.monotonic() of the read that found it current


@dataclasses.dataclass(frozen=True)
class ViewPage:
    """A rendered view page and what its files are: blobs of a private source, or the names
    of an upstream's files (served by the upstream's path) with the source that brings them."""

    version: str
    rendered: Rendered
    source: str
    upstream: UpstreamConfig | None = None
    upstream_files: frozenset[str] = frozenset()


_lock = threading.Lock()
_views: dict[tuple[str, str], Known] = {}
_pages: collections.OrderedDict[tuple[str, str, str], ViewPage] = collections.OrderedDict()


def clear_caches() -> None:
    with _lock:
        _views.clear()
        _pages.clear()


def known(team: str, index: str) -> bool:
    """Whether this instance has seen ``team/index`` as a view (then its warm path skips the
    project probe a plain index needs)."""
    return (team, index) in _views


def current(
    stores: Stores, team: str, index: str, doc: dict[str, Any] | None = None, *, trust: float = 0
) -> Known | None:
    """The view named ``team/index`` as it is now (one small read), or None if it is not one.
    ``doc``: its document when the caller has just read it whole. ``trust``: seconds for which
    a definition this instance read is used without reading it again (the warm path passes the
    token cache's: a change to a view shows as soon as a revoked token stops working)."""
    with _lock:
        have = _views.get((team, index))
    if have is not None and trust > 0 and time.monotonic() - have.checked < trust:
        return have
    found = stores.probe.get(paths.index(team, index), ("name",))
    if found is None:
        with _lock:
            _views.pop((team, index), None)
        return None
    if have is not None and have.stamp == found.update_time:
        have = dataclasses.replace(have, checked=time.monotonic())
        with _lock:
            _views[(team, index)] = have
        return have
    if doc is None:
        snap = Tenancy(stores).index_ref(team, index).get()
        doc = snap.to_dict() if snap.exists else None
    view = view_of(team, doc)
    if view is None:
        with _lock:
            _views.pop((team, index), None)
        return None
    # The stamp is the probe's, which is no newer than the document read after it: a change
    # between the two makes the next request read again, never keep a stale definition.
    entry = Known(found.update_time, view, view.compiled, time.monotonic())
    with _lock:
        _views[(team, index)] = entry
    return entry


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a filter may ask of a project beyond its files: its PEP 792 status and its
    advisories (public and the team's own in the winning source, read only for a filter that
    uses those fields)."""

    status: str = "active"
    advisories: tuple[dict[str, Any], ...] = ()


def advisory_facts(
    stores: Stores, compiled: Filter | None, project: str, team: str, sources: Sequence[str]
) -> tuple[dict[str, tuple[dict[str, Any], ...]], str]:
    """The project's advisories as each source would hold it (public ones and the team's own
    in that source) and a tag of their version (for the page cache): one batched read when the
    filter uses an advisory field, none otherwise."""
    if compiled is None or not compiled.fields & ADVISORY_FIELDS:
        return {}, ""
    found = read_advisories(stores, team, sources, [project])
    return {s: found.of(project, s) for s in sources}, found.tag


def _scores(advs: list[dict[str, Any]]) -> float | None:
    # An advisory without a score makes the maximum unknown: a score floor then hides the release.
    if any(a.get("score") is None for a in advs):
        return None
    return max((float(a["score"]) for a in advs), default=0.0)


def _subjects(name: str, entries: list[PageEntry], facts: Facts = Facts()) -> list[tuple[PageEntry, Subject]]:
    """Each entry with what the filter judges it on: the release's and the project's first
    upload (known times only; None when no file of it has one), and its advisories."""
    first_release: dict[str, dt.datetime] = {}
    for e in entries:
        t = e.get("t")
        if t is not None and (e["v"] not in first_release or t < first_release[e["v"]]):
            first_release[e["v"]] = t
    first = min(first_release.values(), default=None)
    package_score = _scores(list(facts.advisories))
    per_release: dict[str, tuple[float | None, frozenset[str]]] = {}
    for v in {e["v"] for e in entries}:
        hits = [a for a in facts.advisories if stored_affects(a, v)]
        ids = frozenset(i for a in hits for i in [a.get("id"), *(a.get("aliases") or ())] if i)
        per_release[v] = (_scores(hits), ids)
    return [
        (
            e,
            Subject(
                name,
                e["v"],
                e["f"],
                e.get("t"),
                first_release.get(e["v"]),
                first,
                per_release[e["v"]][0],
                package_score,
                per_release[e["v"]][1],
                facts.status,
            ),
        )
        for e in entries
    ]


def kept(
    compiled: Filter | None, name: str, entries: list[PageEntry], now: dt.datetime, facts: Facts = Facts()
) -> list[PageEntry]:
    """The entries the filter keeps (all of them without a filter)."""
    if compiled is None:
        return entries
    return [e for e, s in _subjects(name, entries, facts) if compiled.keeps(s, now)]


def preview(
    compiled: Filter | None, name: str, entries: list[PageEntry], now: dt.datetime, facts: Facts = Facts()
) -> list[tuple[str, str, bool, list[str]]]:
    """(version, filename, kept, why hidden) for each entry: the dashboard's preview."""
    rows = []
    for e, s in _subjects(name, entries, facts):
        keep = compiled is None or compiled.keeps(s, now)
        rows.append((e["v"], e["f"], keep, [] if keep or compiled is None else compiled.explain(s, now)))
    return rows


def page(settings: Settings, stores: Stores, known_view: Known, project: str) -> ViewPage:
    """The view's page of ``project`` at this moment (rendered once per version); 404 when
    no source holds the name."""
    view = known_view.view
    team = view.team
    now = clock.now()
    minute = ""
    if known_view.compiled is not None and known_view.compiled.fields & _AGE_FIELDS:
        minute = f":{int(now.timestamp() // 60)}"
    stamp = f"{known_view.stamp[0]}.{known_view.stamp[1]}"
    key = (team, view.name, project)
    base = file_base(settings.base_url, team, view.name, project)
    advisories, adv_tag = advisory_facts(stores, known_view.compiled, project, team, view.sources)
    minute += adv_tag
    with _lock:
        last = _pages.get(key)
    for source, version in _holding(stores, team, view.sources, project, last):
        tag = f"{stamp}:{source}:{version[0]}:{version[1]}{minute}"
        with _lock:
            hit = _pages.get(key)
        if hit is not None and hit.version == tag:
            return hit
        found = Packages(stores).page(team, source, project)
        if found is None:  # deleted between the probe and the read: the next source may hold it
            continue
        facts = Facts(found.status, advisories.get(source, ()))
        shown = kept(known_view.compiled, found.name, found.files, now, facts)
        rendered = render_project(
            found.name,
            found.normalized,
            found.serial,
            shown,
            base,
            (found.serial, tag),
            # Under the view's path: a token scoped to the view may not read the source's.
            integrity=integrity_base(settings.base_url, team, view.name, project),
            status=found.status,
            status_reason=found.status_reason,
        )
        files = {
            e["f"]: FileRef(
                paths.blob_path(team, source, project, e["h"], e["f"]), e["h"], e["s"], e.get("m")
            )
            for e in shown
        }
        return _keep(key, ViewPage(tag, dataclasses.replace(rendered, files=files), source))
    return _upstream_page(settings, stores, known_view, project, key, base, stamp, minute, now, advisories)


def _holding(
    stores: Stores, team: str, sources: tuple[str, ...], project: str, last: ViewPage | None
) -> Iterator[tuple[str, PageVersion]]:
    """The sources that hold ``project`` now, in the view's order, with its version in each.

    Every source before the winner is read on every request (a project new in an earlier
    source wins at once; no source's lack of it is remembered), in one round trip: the sources
    up to the one that won last time (``last``: this instance's page), or all of them. Where
    the first source won, that is its single probe, as for a plain index. Only when none of
    those holds it now are the rest read, in a second round trip."""
    upto = len(sources)
    if last is not None and last.upstream is None and last.source in sources:
        upto = sources.index(last.source) + 1
    start = 0
    while start < len(sources):
        chunk = sources[start:upto]
        for source, version in zip(chunk, pages.current_versions(stores, team, chunk, project), strict=True):
            if version is not None:
                yield source, version
        start, upto = upto, len(sources)


def _upstream_page(
    settings: Settings,
    stores: Stores,
    known_view: Known,
    project: str,
    key: tuple[str, str, str],
    base: str,
    stamp: str,
    minute: str,
    now: dt.datetime,
    advisories: dict[str, tuple[dict[str, Any], ...]] | None = None,
) -> ViewPage:
    # Imported here, as for a plain index: a view of private indexes never loads the client.
    from bale.upstream.cache import UpstreamCache

    view = known_view.view
    tenancy = Tenancy(stores)
    for source in view.sources:
        snap = tenancy.index_ref(view.team, source).get()
        doc = snap.to_dict() if snap.exists else None
        cfg = config_of(doc)
        if cfg is None or is_private(doc, project, False):
            continue
        up = UpstreamCache(stores, settings, view.team, cfg).page(project)
        if not up.exists:
            continue
        cooled = visible(up.entries, cfg, project, now)
        tag = f"{stamp}:{source}:up:{up.digest}:{len(cooled)}:{cfg.min_age}{minute}"
        with _lock:
            hit = _pages.get(key)
        if hit is not None and hit.version == tag:
            return hit
        facts = Facts(up.status or "active", (advisories or {}).get(source, ()))
        shown = kept(known_view.compiled, up.name, cooled, now, facts)
        rendered = render_project(
            up.name, project, 0, shown, base, (0, tag), status=up.status, status_reason=up.status_reason
        )
        return _keep(key, ViewPage(tag, rendered, source, cfg, frozenset(e["f"] for e in shown)))
    raise NotFound(
        f"No project {project!r} in {view.team}/{view.name} (a view of {', '.join(view.sources)})."
    )


def _keep(key: tuple[str, str, str], entry: ViewPage) -> ViewPage:
    with _lock:
        _pages[key] = entry
        _pages.move_to_end(key)
        while len(_pages) > MAX_PAGES:
            _pages.popitem(last=False)
    return entry


def respond(request: Request, entry: ViewPage, fmt: Format, content_type: str) -> Response:
    r = entry.rendered
    return page_response(request, r.bodies[fmt], r.digests[fmt], content_type, r.serial, r.gzipped.get(fmt))


def file_of(
    settings: Settings, stores: Stores, known_view: Known, project: str, filename: str, want_metadata: bool
) -> tuple[ViewPage, FileRef | None]:
    """The view's page and the file's ref (None for an upstream's file, served by the upstream's
    path from ``page.source``); 404 for a file the page does not show."""
    view = known_view.view
    entry = page(settings, stores, known_view, project)
    missing = NotFound(
        f"No file {filename + ('.metadata' if want_metadata else '')!r} in {view.team}/{view.name}/{project}."
    )
    # A quarantined page lists no file: say why rather than "no file".
    project_status.refuse_download(
        project, f"{view.team}/{view.name}", entry.rendered.status, entry.rendered.status_reason
    )
    if entry.upstream is not None:
        if filename not in entry.upstream_files:
            raise missing
        return entry, None
    ref = entry.rendered.files.get(filename)
    if ref is None or (want_metadata and not ref.metadata_sha256):
        raise missing
    return entry, ref


def project_list(stores: Stores, view: View, limited: list[str] | None, fmt: Format) -> tuple[bytes, int]:
    """The view's projects: every project of its sources' catalogs, once (upstreams' names are
    not listed, as for a plain index). Returns the body and a serial."""
    packages = Packages(stores)
    tenancy = Tenancy(stores)
    seen: dict[str, str] = {}
    hidden: set[str] = set()
    serial = 0
    for source in view.sources:
        snap = tenancy.index_ref(view.team, source).get()
        if not snap.exists:
            continue
        doc = snap.to_dict() or {}
        serial += int(doc.get("catalog_serial") or 0)
        quarantined = set(doc.get("quarantined") or ())
        for p in packages.catalog(view.team, source, doc):
            if p["normalized"] not in seen:
                seen[p["normalized"]] = p["name"]
                # The first source that holds a name is the view's page of it: left out when
                # that source quarantines it, as the source's own list does.
                if p["normalized"] in quarantined:
                    hidden.add(p["normalized"])
    shown = {n: name for n, name in seen.items() if n not in hidden}
    names = (
        sorted(shown.items()) if limited is None else [(n, shown[n]) for n in sorted(limited) if n in shown]
    )
    body = render_project_list([{"name": name, "normalized": n} for n, name in names], serial, fmt)
    return body, serial


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def preview_rows(
    settings: Settings, stores: Stores, view: View, project: str, now: dt.datetime
) -> tuple[str, list[tuple[str, str, bool, list[str]]]]:
    """For the dashboard's preview: the source that wins ``project`` (``"index"`` or
    ``"index (upstream)"``) and, for each of its files, whether the view's filter keeps it and
    why not. 404 when no source holds the name."""
    compiled = view.compiled
    packages = Packages(stores)
    advisories, _ = advisory_facts(stores, compiled, project, view.team, view.sources)
    for source in view.sources:
        found = packages.page(view.team, source, project)
        if found is not None:
            facts = Facts(found.status, advisories.get(source, ()))
            return source, preview(compiled, found.name, found.files, now, facts)
    from bale.upstream.cache import UpstreamCache

    tenancy = Tenancy(stores)
    for source in view.sources:
        snap = tenancy.index_ref(view.team, source).get()
        doc = snap.to_dict() if snap.exists else None
        cfg = config_of(doc)
        if cfg is None or is_private(doc, project, False):
            continue
        up = UpstreamCache(stores, settings, view.team, cfg).page(project)
        if up.exists:
            return f"{source} (upstream)", preview(
                compiled,
                up.name,
                visible(up.entries, cfg, project, now),
                now,
                Facts(up.status or "active", advisories.get(source, ())),
            )
    raise NotFound(f"No project {project!r} in any source of {view.team}/{view.name}.")

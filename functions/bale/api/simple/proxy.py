"""Upstream projects through the Simple API: pages and files of names the index doesn't hold.

Reached only after :func:`bale.upstream.policy.is_private` said the name is not the index's
own, and after the same token check as private pages (so a proxied page is as private as the
index). The page is rendered by :mod:`.render` like Bale's own, with file links below the
index URL; the cooldown applies to pages and downloads alike.
"""

from __future__ import annotations

import logging

from flask import Request, Response

from bale.api.simple.cache import PageCache, PageKey, PageVersion
from bale.api.simple.negotiate import Format, page_response
from bale.api.simple.render import file_base, render_project
from bale.clock import now
from bale.errors import NotFound
from bale.settings import Settings
from bale.store.backends import Stores
from bale.upstream import cache as upstream_cache
from bale.upstream.cache import UpstreamCache
from bale.upstream.policy import UpstreamConfig, cooldown_note, visible

log = logging.getLogger("bale.simple")

_pages = PageCache(max_bytes=32 * 1024 * 1024)


def clear_caches() -> None:
    _pages.clear()
    upstream_cache.clear_caches()


def project_page(
    request: Request,
    settings: Settings,
    stores: Stores,
    team: str,
    index: str,
    project: str,
    cfg: UpstreamConfig,
    fmt: Format,
    content_type: str,
) -> Response:
    page = UpstreamCache(stores, settings, team, cfg).page(project)
    if not page.exists:
        raise NotFound(f"No project {project!r} in {team}/{index} or its upstream.")
    shown = visible(page.entries, cfg, project, now())
    base = file_base(settings.base_url, team, index, project)
    key: PageKey = (base, team, index, "upstream:" + project)
    # What the page shows changes with the upstream's page, the cooldown settings, and files
    # aging past the cooldown (only ever more of them, so their number tells).
    version: PageVersion = (0, f"{page.digest}:{len(shown)}:{cfg.min_age}:{project in cfg.exempt}")
    entry = _pages.get(key, version)
    if entry is None:
        note = cooldown_note(page.entries, cfg, project, now()) if len(shown) < len(page.entries) else None
        if note and not shown:
            # uv and pip show neither the note nor an empty page's cause: the operator's log
            # does (once per page version and instance, as it is rendered).
            log.warning("%s/%s: %s", team, index, note)
        entry = render_project(
            page.name,
            project,
            0,
            shown,
            base,
            version,
            status=page.status,
            status_reason=page.status_reason,
            note=note,
        )
        _pages.put(key, entry)
    return page_response(
        request, entry.bodies[fmt], entry.digests[fmt], content_type, 0, entry.gzipped.get(fmt)
    )

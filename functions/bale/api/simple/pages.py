"""Private project pages, rendered once per version of the project and kept per instance.

A page is rendered from the project document and its chunks, and cached under the project's
version (its ``serial`` and the document's update time: every upload, yank and delete writes
the project document in the same commit as the files it changes). A request may use a cached
page only after reading the project's current version, so a page is never older than what
Firestore holds. The same cached page also says which files are live at that version, which is
all a download needs (:mod:`bale.api.simple.download`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

from bale.api.simple.cache import FileRef, PageCache, PageKey, PageVersion, Rendered, page_version
from bale.api.simple.render import file_base, render_project
from bale.errors import NotFound
from bale.packages.service import Packages
from bale.provenance.store import integrity_base
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.store.probe import Probe

#: The project document's fields a version check reads (its update time comes with them).
VERSION_FIELDS: Final = ("serial",)

PAGES = PageCache()


def key_of(settings: Settings, team: str, index: str, project: str) -> PageKey:
    return (file_base(settings.base_url, team, index, project), team, index, project)


def version_of(snap: Any) -> PageVersion:
    """The version of a project page, from a snapshot of the whole project document."""
    ts = snap.update_time.timestamp_pb()
    return page_version(int(snap.get("serial")), ts.seconds, ts.nanos)


def current_version(stores: Stores, team: str, index: str, project: str) -> PageVersion | None:
    """The project's version now (one unary read of two fields), None if it does not exist."""
    return _version(stores.probe.get(paths.project(team, index, project), VERSION_FIELDS))


def current_versions(
    stores: Stores, team: str, indexes: Sequence[str], project: str
) -> list[PageVersion | None]:
    """The project's version now in each of ``indexes`` (None where it does not exist), in one
    round trip: one unary read for one index, one batched read for more."""
    if len(indexes) == 1:
        return [current_version(stores, team, indexes[0], project)]
    found = stores.probe.get_many([paths.project(team, i, project) for i in indexes], VERSION_FIELDS)
    return [_version(f) for f in found]


def _version(found: Probe | None) -> PageVersion | None:
    if found is None:
        return None
    seconds, nanos = found.update_time
    return page_version(int(found.fields["serial"].integer_value), seconds, nanos)


def cached(settings: Settings, team: str, index: str, project: str, version: PageVersion) -> Rendered | None:
    """This instance's page of the project at ``version``, if it has rendered it."""
    return PAGES.get(key_of(settings, team, index, project), version)


def page_of(settings: Settings, stores: Stores, team: str, index: str, project: str, snap: Any) -> Rendered:
    """The project's page at the version of ``snap`` (a snapshot of its existing document):
    from the cache, or read (its chunks) and rendered once, however many ask at once."""
    key = key_of(settings, team, index, project)
    version = version_of(snap)
    entry = PAGES.get(key, version)
    if entry is not None:
        return entry
    with PAGES.fill_lock(key):
        entry = PAGES.get(key, version)  # another request may have just rendered it
        if entry is not None:
            return entry
        page = Packages(stores).page(team, index, project, proj=snap.to_dict())
        if page is None:  # pragma: no cover - proj is given, so page() always has one
            raise NotFound(f"No project {project!r} in {team}/{index}.")
        rendered = render_project(
            page.name,
            page.normalized,
            page.serial,
            page.files,
            key[0],
            version,
            integrity=integrity_base(settings.base_url, team, index, project),
            status=page.status,
            status_reason=page.status_reason,
        )
        refs = {
            e["f"]: FileRef(paths.blob_path(team, index, project, e["h"], e["f"]), e["h"], e["s"], e.get("m"))
            for e in page.files
        }
        entry = dataclasses.replace(rendered, files=refs)
        PAGES.put(key, entry)
        return entry

"""PEP 740's Integrity API: ``GET /integrity/{team}/{index}/{project}/{version}/{filename}/provenance``.

The file's provenance object (``application/vnd.pypi.integrity.v1+json``), read with the same
authorization as the file itself: the token, the file's record, its provenance and the project's
document come in one batched read, and nothing about them is used unless the token may read the
project. 404 for a file with no provenance, a deleted file, a version that is not the file's, or
a quarantined project (PEP 792: none of its files is offered, so neither is their provenance).

A view's pages link provenance under the view's own path (``/integrity/TEAM/VIEW/...``), so a
token scoped to the view can follow them: the file is the one the view's page shows (from
the source that wins the project, if the filter keeps it; else 404), and its provenance is
that source's.
"""

from __future__ import annotations

from flask import Request, Response
from packaging.version import InvalidVersion, Version

from bale import access
from bale.api.simple import viewpages
from bale.api.simple.routing import index_slugs, redirect, services, slug_or_404
from bale.errors import NotFound
from bale.names import check_filename, validate_project
from bale.packages import status as project_status
from bale.packages.service import FileRecord, Packages
from bale.provenance.store import INTEGRITY_TYPE
from bale.routes import INTEGRITY
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.tenancy.service import Tenancy
from bale.views.service import view_of


def _version_or_404(value: str) -> str:
    """The URL's version, which must be one: it is echoed in a redirect's Location (a newline
    there was a 500) and compared with the file's."""
    try:
        Version(value)
    except InvalidVersion:
        raise NotFound(f"{value!r} is not a version.") from None
    return value


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def provenance(
    request: Request, team: str, index: str, project: str, version: str, filename: str
) -> Response:
    """The provenance of a file, at the route's values (not yet validated)."""
    team, index = index_slugs(team, index)
    given, project = project, slug_or_404(validate_project, project)
    version, filename = _version_or_404(version), slug_or_404(check_filename, filename)
    if project != given:
        return redirect(request, f"{INTEGRITY}/{team}/{index}/{project}/{version}/{filename}/provenance")
    settings, stores = services()
    packages = Packages(stores)
    f_ref = packages.file_ref(team, index, project, filename)
    p_ref = stores.db.document(paths.provenance(team, index, project, filename))
    proj_ref = packages.project_ref(team, index, project)
    _, (f_snap, p_snap, proj_snap) = access.require(
        request, stores, "read", team, index, project, also=[f_ref, p_ref, proj_ref]
    )
    if not f_snap.exists:
        # Only where the index holds no such file (one more read): is it a view's?
        source = _view_source(settings, stores, team, index, project, filename)
        if source is not None:
            f_ref = packages.file_ref(team, source, project, filename)
            p_ref = stores.db.document(paths.provenance(team, source, project, filename))
            proj_ref = packages.project_ref(team, source, project)
            snaps = {s.reference.path: s for s in stores.db.get_all([f_ref, p_ref, proj_ref])}
            f_snap, p_snap, proj_snap = snaps[f_ref.path], snaps[p_ref.path], snaps[proj_ref.path]
    # PEP 792: a quarantined project offers nothing, its files' provenance included (it names
    # the files and who built them, as a page would).
    if proj_snap.exists:
        project_status.refuse_download(project, f"{team}/{index}", *project_status.of(proj_snap.to_dict()))
    rec = FileRecord(**(f_snap.to_dict() or {})) if f_snap.exists else None
    if rec is None or rec.deleted_at is not None or not _same_version(version, rec.version):
        raise NotFound(f"No file {filename!r} of {project} {version} in {team}/{index}.")
    stored = p_snap.to_dict() if p_snap.exists else None
    if not stored or not isinstance(stored.get("json"), str):
        raise NotFound(f"{filename} has no provenance: it was uploaded without attestations.")
    body = stored["json"].encode()
    resp = Response(b"" if request.method == "HEAD" else body, status=200)
    resp.headers["Content-Type"] = INTEGRITY_TYPE
    resp.headers["Content-Length"] = str(len(body))
    # Immutable like the file: written once, with it.
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    # Like the file: what one credential read is not another's (or an anonymous request's).
    resp.headers["Vary"] = "Authorization, Cookie"
    return resp


def _view_source(
    settings: Settings, stores: Stores, team: str, index: str, project: str, filename: str
) -> str | None:
    """The source index whose ``filename`` the view ``team/index`` shows for ``project``; None
    when ``team/index`` is not a view. 404 for a file the view's page does not show (the
    filter hides it, another source wins the project) or one it brings from an upstream
    (which has no provenance here)."""
    snap = Tenancy(stores).index_ref(team, index).get()
    doc = snap.to_dict() if snap.exists else None
    if view_of(team, doc) is None:
        return None
    known = viewpages.current(stores, team, index, doc)
    if known is None:  # changed into an index between the two reads
        return None
    page, ref = viewpages.file_of(settings, stores, known, project, filename, False)
    if ref is None:
        raise NotFound(f"{filename} has no provenance: it is an upstream's file.")
    return page.source

"""The Simple API (PEP 503 HTML, PEP 691 JSON) and file downloads: what pip and uv read.

Routes (``bale dev`` and the production load balancer send both prefixes here)::

    GET /simple/{team}/{index}/                         the projects a token may read
    GET /simple/{team}/{index}/{project}/               one project's files
    GET /files/{team}/{index}/{project}/{filename}      a file, streamed or redirected to GCS
    GET /files/{team}/{index}/{project}/{filename}.metadata   its METADATA (PEP 658/714)
    GET /integrity/{team}/{index}/{project}/{version}/{filename}/provenance   PEP 740

Every index is private: each request carries a read-capable token (HTTP Basic
``__token__:<token>`` or ``Authorization: Bearer``). The token's scope is
checked before anything about the project is read, so a token for another
team, index or project gets the same 403 whether the project exists or not.

The hot path is a project page. Its cost in Firestore is two document reads
whatever the number of files: the token and the project document, whose
``serial`` says whether the page this instance rendered earlier is still
current. Only when it is not (a cold instance, or a new upload or yank) are the
page's chunks read, all in one ``get_all`` (see :mod:`bale.packages.service`), and the
page rendered (and gzipped) once in both formats. Responses carry a strong
``ETag`` (a hash of the representation) so clients revalidate with
``If-None-Match`` and get 304, and ``Cache-Control: private``: a page is only
for the token holder, never for a shared cache.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from flask import Request, Response
from werkzeug.exceptions import HTTPException

from bale import access
from bale.access import Principal
from bale.api.http import plain_errors
from bale.api.simple import download as download_module
from bale.api.simple import pages, viewpages
from bale.api.simple.cache import Rendered
from bale.api.simple.download import download
from bale.api.simple.integrity import provenance
from bale.api.simple.negotiate import Format, negotiate, page_response
from bale.api.simple.render import render_project_list
from bale.api.simple.routing import index_slugs, redirect, services, slug_or_404
from bale.errors import BadRequest, BaleError, NotFound
from bale.names import validate_index, validate_project, validate_team
from bale.packages.service import Packages, unquarantined
from bale.routes import FILES, INTEGRITY, SIMPLE, UPLOAD, match, prefix_of
from bale.settings import get_settings
from bale.store.backends import Stores
from bale.tenancy.service import Tenancy
from bale.upstream.policy import config_of, is_private
from bale.views.service import view_of


def clear_caches() -> None:
    """Forget cached pages and tokens (tests clear the emulators between tests)."""
    pages.PAGES.clear()
    viewpages.clear_caches()
    access.clear_cache()
    download_module.clear_caches()
    if "bale.api.simple.proxy" in sys.modules:
        sys.modules["bale.api.simple.proxy"].clear_caches()
    # A file download alone loads the upstream cache without the proxy module.
    if "bale.upstream.cache" in sys.modules:
        sys.modules["bale.upstream.cache"].clear_caches()


# -- entry point --------------------------------------------------------------------------------
#: The 404 for a path below a prefix of this function that names nothing: where its paths are.
WHERE = {
    SIMPLE: "The Simple API is at /simple/TEAM/INDEX/ and /simple/TEAM/INDEX/PROJECT/.",
    FILES: "Files are at /files/TEAM/INDEX/PROJECT/FILENAME.",
    INTEGRITY: "Provenance is at /integrity/TEAM/INDEX/PROJECT/VERSION/FILENAME/provenance.",
}


@plain_errors
def handle(request: Request) -> Response:
    """The Cloud Function: every /simple/, /files/ and /integrity/ request (errors as plain text)."""
    if request.method not in ("GET", "HEAD"):
        raise BaleError(_read_only(request), status=405, headers={"Allow": "GET, HEAD"})
    try:
        endpoint, values = match(request.path, request.method)
    except HTTPException:
        endpoint, values = None, {}
    if endpoint is None or endpoint.target != "simple" or endpoint.name == "below":
        raise NotFound(WHERE.get(prefix_of(request.path) or "", "Not found."))
    if endpoint.name == "provenance":
        return provenance(request, **values)
    if endpoint.name == "files":
        return download(request, **values)
    if endpoint.name == "file":
        return download(request, **values, prefix=SIMPLE)
    return _simple(request, values["team"], values["index"], values.get("project"))


def _read_only(request: Request) -> str:
    """The 405's message. A POST to an index URL is an upload sent to the wrong place (twine
    given the index URL as its repository): name the upload URL, which twine and uv print."""
    message = f"Method {request.method} is not allowed here; the Simple API is read-only."
    if request.method != "POST":
        return message
    try:
        endpoint, values = match(request.path, "GET")
    except HTTPException:
        return message
    if endpoint.target != "simple" or endpoint.name not in ("index", "project", "file", "below"):
        return message
    try:
        team, index = validate_team(values["team"]), validate_index(values["index"])
    except BadRequest:
        return message
    base = get_settings().base_url or request.host_url.rstrip("/")
    return f"{message} Upload to {base}{UPLOAD}/{team}/{index}/ instead."


# -- /simple/ -----------------------------------------------------------------------------------
def _simple(request: Request, team: str, index: str, name: str | None) -> Response:
    team, index = index_slugs(team, index)
    project: str | None = None
    if name is not None:
        project = slug_or_404(validate_project, name)
        # Both redirects depend on the URL alone, so they say nothing about what exists.
        if project != name or not request.path.endswith("/"):
            return redirect(request, f"{SIMPLE}/{team}/{index}/{project}/")
    elif not request.path.endswith("/"):
        return redirect(request, f"{SIMPLE}/{team}/{index}/")

    settings, stores = services()
    packages = Packages(stores)
    if project is None:
        principal, (index_snap,) = access.require(
            request, stores, "read", team, index, also=[Tenancy(stores).index_ref(team, index)]
        )
        fmt, content_type = negotiate(request)
        if not index_snap.exists:
            raise NotFound(f"No index {team}/{index}.")
        view = view_of(team, index_snap.to_dict())
        if view is not None:
            body, serial = viewpages.project_list(
                stores, view, access.visible_projects(principal, team, index), fmt
            )
            return page_response(request, body, viewpages.digest(body), content_type, serial)
        return _project_list(request, stores, principal, team, index, fmt, content_type, index_snap.to_dict())
    # Warm: a token this instance checked moments ago, and the project's version in one small
    # read; the page rendered at that version, if this instance has it, is the answer.
    snap = None
    if access.require_cached(request, stores, team, index, project) is not None:
        # A view this instance knows: its own small read and one probe per source.
        known_view = (
            viewpages.current(stores, team, index, trust=settings.token_cache_seconds)
            if viewpages.known(team, index)
            else None
        )
        if known_view is not None:
            fmt, content_type = negotiate(request)
            return viewpages.respond(
                request, viewpages.page(settings, stores, known_view, project), fmt, content_type
            )
        version = pages.current_version(stores, team, index, project)
        fmt, content_type = negotiate(request)
        entry = pages.cached(settings, team, index, project, version) if version is not None else None
        if entry is not None:
            return _page(request, entry, fmt, content_type)
        if version is not None:  # a new version (or a cold page): read the whole document
            snap = packages.project_ref(team, index, project).get()
    else:
        _, (snap,) = access.require(
            request, stores, "read", team, index, project, also=[packages.project_ref(team, index, project)]
        )
        fmt, content_type = negotiate(request)
    if snap is None or not snap.exists:
        # Only for a name the index does not hold: is there an upstream? (One more read, so a
        # private page keeps costing two.)
        index_snap = Tenancy(stores).index_ref(team, index).get()
        index_doc = index_snap.to_dict() if index_snap.exists else None
        known_view = viewpages.current(stores, team, index, index_doc) if view_of(team, index_doc) else None
        if known_view is not None:
            return viewpages.respond(
                request, viewpages.page(settings, stores, known_view, project), fmt, content_type
            )
        cfg = config_of(index_doc)
        # Private first, never merged: a name the index holds (or reserved) never reaches here.
        if cfg is not None and not is_private(index_doc, project, False):
            # Imported here, like the upstream client it needs: private pages never load them.
            from bale.api.simple import proxy

            return proxy.project_page(request, settings, stores, team, index, project, cfg, fmt, content_type)
        raise NotFound(f"No project {project!r} in {team}/{index}.")
    return _page(request, pages.page_of(settings, stores, team, index, project, snap), fmt, content_type)


def _page(request: Request, entry: Rendered, fmt: Format, content_type: str) -> Response:
    return page_response(
        request, entry.bodies[fmt], entry.digests[fmt], content_type, entry.serial, entry.gzipped.get(fmt)
    )


def _project_list(
    request: Request,
    stores: Stores,
    principal: Principal,
    team: str,
    index: str,
    fmt: Format,
    content_type: str,
    index_doc: dict[str, Any],
) -> Response:
    packages = Packages(stores)
    limited = access.visible_projects(principal, team, index)
    projects: list[dict[str, Any]]
    if limited is None:
        # The catalog: a bounded number of reads, however many projects the index holds.
        projects = packages.catalog(team, index, index_doc)
    else:
        # A token limited to some projects sees only those (and costs only their reads).
        refs = [packages.project_ref(team, index, p) for p in limited]
        snaps = stores.db.get_all(refs, field_paths=["name", "normalized"])
        found = (s.to_dict() for s in snaps if s.exists)
        projects = sorted((d for d in found if d is not None), key=lambda d: d["normalized"])
    projects = unquarantined(projects, index_doc)
    # Moves whenever a project is added to the index or enters or leaves quarantine.
    serial = int(index_doc.get("catalog_serial") or 0)
    body = render_project_list(projects, serial, fmt)
    return page_response(request, body, hashlib.sha256(body).hexdigest(), content_type, serial)

"""An index's projects, and one project's versions, files and description."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, redirect, render_template, request, url_for
from packaging.utils import canonicalize_name

from bale.clock import now
from bale.errors import BadRequest, NotFound
from bale.names import check_filename, validate_index, validate_project
from bale.packages.versions import is_prerelease, version_key
from bale.upstream.policy import config_of

from . import readme
from .advisory_notes import affects
from .services import services, team_member

bp = Blueprint("projects", __name__, url_prefix="/teams/<team>/indexes/<index>")

#: Projects per page of an index's listing.
PAGE_SIZE = 100


@dataclasses.dataclass
class BuiltBy:
    """A file's provenance as the project page shows it: who built it, from what, and a link."""

    source: str  # OWNER/REPO, a GitLab project path, or a service account
    config: str | None  # the workflow or CI config file
    commit: str | None
    url: str | None  # the commit (or repository) on GitHub/GitLab: https only


def built_by(summary: dict | None) -> BuiltBy | None:
    """What a file record's provenance summary (bale.provenance.verify.summarize) shows."""
    if not summary:
        return None
    url = summary.get("source_url") or summary.get("repository_url")
    # The URL comes from the verified signing certificate; still, only ever link https.
    if not isinstance(url, str) or not url.startswith("https://"):
        url = None
    return BuiltBy(
        source=summary.get("repository") or summary.get("service_account") or "?",
        config=summary.get("workflow") or summary.get("ci_config_path"),
        commit=summary.get("commit"),
        url=url,
    )


def project_links(meta: dict) -> list[tuple[str, str]]:
    """The project's URLs (Project-URL, then Home-page) as (label, url): http(s) only, since
    they come from the uploader's metadata and a javascript: link would run on this site."""
    pairs = list((meta.get("project_urls") or {}).items())
    if meta.get("home_page"):
        pairs.append(("Homepage", meta["home_page"]))
    out: list[tuple[str, str]] = []
    for label, url in pairs:
        web = isinstance(url, str) and url.lower().startswith(("https://", "http://"))
        if web and url not in (u for _, u in out):
            out.append((str(label), url))
    return out


def uploader(label: str) -> str:
    """Who uploaded a file, as its record names them. Records made before tokens were named
    say only "cli", which is where a team token was made, not who used it."""
    if label == "cli":
        return "a team token made with the bale CLI"
    return label


def _index(team: str, index: str) -> dict:
    try:
        validate_index(index)
    except BadRequest:
        raise NotFound(f"No index {team}/{index}.") from None
    doc = services().tenancy.require_index(team, index)
    if isinstance(doc.get("view"), dict):
        # A view holds no projects of its own: they are its sources' (the team page links
        # views to the Views tab, not here).
        sources = ", ".join(doc["view"].get("sources") or [])
        raise NotFound(f"{team}/{index} is a view over {sources}: its projects are in those indexes.")
    return doc


@dataclasses.dataclass
class Release:
    version: str
    files: list
    yanked: bool
    yanked_reason: str | None
    upload_time: object

    @property
    def prerelease(self) -> bool:
        return is_prerelease(self.version)


def releases(files) -> list[Release]:
    """Files grouped by version, newest version first; deleted files left out."""
    by_version: dict[str, list] = {}
    for f in files:
        if f.deleted_at is None:
            by_version.setdefault(f.version, []).append(f)
    out = []
    for version, fs in by_version.items():
        fs.sort(key=lambda f: (f.packagetype != "bdist_wheel", f.filename))
        yanked = all(f.yanked for f in fs)
        reason = next((f.yanked_reason for f in fs if f.yanked and f.yanked_reason), None)
        out.append(Release(version, fs, yanked, reason, min(f.upload_time for f in fs)))
    return sorted(out, key=lambda r: version_key(r.version), reverse=True)


def latest(rels: list[Release]) -> Release | None:
    """The release to describe: newest final release that is not yanked, as PyPI picks it."""
    for pick in (
        lambda r: not r.yanked and not r.prerelease,
        lambda r: not r.yanked,
        lambda r: True,
    ):
        for r in rels:
            if pick(r):
                return r
    return None


def index_url(team: str, index: str) -> str:
    base = services().settings.base_url or request.host_url.rstrip("/")
    return f"{base}/simple/{team}/{index}/"


@bp.get("/")
@team_member
def index(team: str, index: str):
    meta = _index(team, index)
    packages = services().packages
    # Names from the catalog (a few reads whatever the index's size), filtered and paged here;
    # then one batched read of the shown page's project documents, for their counts and dates.
    names = packages.catalog(team, index, meta)
    q = (request.args.get("q") or "").strip()
    if q:
        needle = canonicalize_name(q)
        names = [p for p in names if needle in p["normalized"] or q.lower() in p["name"].lower()]
    pages = max(1, -(-len(names) // PAGE_SIZE))
    try:
        page = min(max(1, int(request.args.get("page") or 1)), pages)
    except ValueError:
        page = 1
    shown = names[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    # With an upstream, a searched name the index does not hold is answered from there: link
    # its page (Bale lists no upstream projects: their cache is shared, a catalog would leak).
    upstream = config_of(meta)
    lookup = None
    if upstream and q:
        try:
            lookup = validate_project(q)
        except BadRequest:
            lookup = None
        if lookup and any(p["normalized"] == lookup for p in names):
            lookup = None
    docs = services().project_docs(team, index, [p["normalized"] for p in shown])
    projects = [{**p, **docs.get(p["normalized"], {}), "name": p["name"]} for p in shown]
    return render_template(
        "projects/index.html",
        index=index,
        meta=meta,
        projects=projects,
        total=len(names),
        page=page,
        pages=pages,
        q=q,
        index_url=index_url(team, index),
        upload_url=index_url(team, index).replace("/simple/", "/v1/upload/", 1),
        uv_name=f"{team}-{index}",
        uv_env=f"{team}_{index}".upper().replace("-", "_"),
        upstream=upstream,
        lookup=lookup,
    )


@bp.get("/projects/<project>/")
@team_member
def project(team: str, index: str, project: str):
    index_doc = _index(team, index)
    try:
        normalized = validate_project(project)
    except BadRequest:
        raise NotFound(f"No project {project!r} in {team}/{index}.") from None
    if normalized != project:
        return redirect(url_for(".project", team=team, index=index, project=normalized), code=301)
    pkgs = services().packages
    proj = pkgs.project_doc(team, index, normalized)
    if proj is None:
        # Not the index's own: maybe answered from its upstream. Show what Bale holds of it.
        proxied = services().upstreams.proxied(team, index, normalized, index_doc)
        if proxied is None:
            raise NotFound(f"No project {project!r} in {team}/{index}.")
        page = proxied.page if proxied.page is not None and proxied.page.exists else None
        advisories = services().advisory_notes(
            team,
            index,
            page.name if page else normalized,
            (page.status if page else None) or "active",
            proxied.shown,
            now(),
            proxied=True,
        )
        return render_template(
            "projects/proxied.html",
            index=index,
            project=normalized,
            up=proxied,
            versions=proxied_versions(proxied),
            index_url=index_url(team, index),
            advisories=advisories,
            affects=affects,
        )
    files = pkgs.files(team, index, normalized)
    rels = releases(files)
    current = latest(rels)
    entries = [{"v": f.version, "f": f.filename, "t": f.upload_time} for f in files if f.deleted_at is None]
    advisories = services().advisory_notes(
        team, index, proj["name"], proj.get("status") or "active", entries, now()
    )
    meta = {}
    if current:
        meta = next(
            (f.metadata for f in current.files if f.metadata.get("description")), current.files[0].metadata
        )
    return render_template(
        "projects/project.html",
        index=index,
        proj=proj,
        releases=rels,
        current=current,
        meta=meta,
        description=readme.render(meta.get("description"), meta.get("description_content_type")),
        index_url=index_url(team, index),
        built_by=built_by,
        uploader=uploader,
        links=project_links(meta),
        advisories=advisories,
        affects=affects,
    )


def proxied_versions(up) -> list[tuple[str, list[dict]]]:
    """An upstream project's files by version, newest first, as the cooldown lets them through
    (hidden ones are counted in the note, not listed)."""
    by_version: dict[str, list[dict]] = {}
    for e in up.shown:
        by_version.setdefault(e["v"], []).append(e)
    return sorted(by_version.items(), key=lambda kv: version_key(kv[0]), reverse=True)


@bp.get("/projects/<project>/files/<filename>")
@team_member
def download(team: str, index: str, project: str, filename: str):
    """A file, for a signed-in member: the Simple API's files want a token, which a browser
    has not got. Served from the file's record (a deleted file is gone), as the API serves it."""
    from bale.api.simple.download import serve_blob

    _index(team, index)
    try:
        normalized = validate_project(project)
    except BadRequest:
        raise NotFound(f"No project {project!r} in {team}/{index}.") from None
    try:
        check_filename(filename)
    except BadRequest:
        raise NotFound(f"No file {filename!r} in {team}/{index}/{normalized}.") from None
    rec = services().packages.file(team, index, normalized, filename)
    if rec is None or rec.deleted_at is not None:
        raise NotFound(f"No file {filename!r} in {team}/{index}/{normalized}.")
    resp = serve_blob(request, services().stores, rec, want_metadata=False)
    resp.headers["Content-Disposition"] = f'attachment; filename="{rec.filename}"'
    return resp

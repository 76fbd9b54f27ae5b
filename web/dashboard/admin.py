"""Team administration: members, write access, API tokens, trusted publishers, yanking, indexes.

Every view here is wrapped in :func:`team_admin`, so the server refuses non-admins on
every method, whatever the page showed them. Every change is recorded once in the team's
audit log with the signed-in email as the actor, by the service that makes it (the views
pass ``actor``; they never write audit entries themselves, so the CLI's changes land the same way).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bale.access import writer_refusal
from bale.clock import now
from bale.errors import BadRequest, BaleError
from bale.names import validate_index, validate_project
from bale.tenancy.service import ROLES, Role

from .services import current_user, flash_refusal, services, team_admin

bp = Blueprint("admin", __name__, url_prefix="/teams/<team>/admin")

#: Token lifetimes offered in the form (value: label); "never" is allowed but not the default.
EXPIRIES = {"7d": "7 days", "30d": "30 days", "90d": "90 days", "365d": "1 year", "never": "Never"}
#: A role as a sentence says it ("alice is now an admin of acme").
_A_ROLE = {Role.ADMIN: "an admin", Role.MEMBER: "a member"}


def _actor() -> str:
    return current_user().email


def _names(raw: str) -> list[str]:
    """'a, b c' -> ['a', 'b', 'c']."""
    return [p for p in re.split(r"[\s,]+", raw or "") if p]


def _back(endpoint: str, team: str, **kw):
    return redirect(url_for(endpoint, team=team, **kw), code=303)


def _attempt(fn, *, ok: str, endpoint: str, team: str, **kw):
    """Run a change; say how it went on the page it came from (errors included, not a 500)."""
    try:
        fn()
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(ok, "ok")
    return _back(endpoint, team, **kw)


def _index_names(team: str, *, views: bool = True) -> list[str]:
    """The team's index names; ``views=False`` leaves out its views, which hold no files, so
    no writers, upstream or publishers (tokens and accessors do scope to them)."""
    return sorted(
        i["name"]
        for i in services().tenancy.list_indexes(team)
        if views or not isinstance(i.get("view"), dict)
    )


# -- overview and indexes ----------------------------------------------------------------


@bp.get("/")
@team_admin
def overview(team: str):
    return render_template("admin/overview.html", indexes=_index_names(team, views=False))


@bp.post("/indexes")
@team_admin
def create_index(team: str):
    name = (request.form.get("index") or "").strip()
    return _attempt(
        lambda: services().tenancy.create_index(team, name, actor=_actor()),
        ok=f"Created index {team}/{name}.",
        endpoint=".overview",
        team=team,
    )


# -- upstreams -----------------------------------------------------------------------------


def _min_age(raw: str) -> int:
    raw = (raw or "").strip()
    if raw in ("", "0"):
        return 0
    from bale.tokens.service import parse_duration

    return int(parse_duration(raw).total_seconds())


@bp.get("/upstream")
@team_admin
def upstream(team: str):
    ups = services().upstreams
    indexes = [(name, ups.get(team, name)) for name in _index_names(team, views=False)]
    return render_template(
        "admin/upstream.html", indexes=indexes, default_url=services().settings.default_upstream_url
    )


@bp.post("/upstream")
@team_admin
def set_upstream(team: str):
    f = request.form
    index = (f.get("index") or "").strip()
    off = f.get("action") == "off"

    def change() -> None:
        services().upstreams.set_upstream(
            team,
            index,
            url=(f.get("url") or "").strip() or None,
            min_age=_min_age(f.get("min_age") or ""),
            credentials=(f.get("credentials") or "").strip() or None,
            off=off,
            actor=_actor(),
        )

    if f.get("action") == "check":
        _flash_probe(team, index)
        return _back(".upstream", team)
    ok = f"{team}/{index} has no upstream now." if off else f"Upstream of {team}/{index} saved."
    back = _attempt(change, ok=ok, endpoint=".upstream", team=team)
    if not off and services().upstreams.get(team, index).get("url"):
        _flash_probe(team, index)
    return back


def _flash_probe(team: str, index: str) -> None:
    """Ask the index's upstream once and show what it serves; warn when the cooldown would
    hide everything (an upstream that gives no upload times)."""
    try:
        ups = services().upstreams
        found = ups.probe(team, index)
        min_age = ups.get(team, index)["min_age"]
    except BaleError as exc:
        flash_refusal(exc)
        return
    # "warn", not "error": the change went through; this is news about the upstream.
    if found is None:
        flash(f"{team}/{index} has no upstream to check.", "warn")
        return
    flash(" ".join(found.lines()), "ok" if found.answers else "warn")
    if warning := found.warning(min_age):
        flash(warning, "warn")


@bp.post("/upstream/names")
@team_admin
def set_upstream_name(team: str):
    f = request.form
    index, which, name = (f.get("index") or "").strip(), f.get("list") or "", (f.get("name") or "").strip()
    on = f.get("action") != "remove"
    try:
        name = services().upstreams.set_listed(team, index, which, name, on, actor=_actor())
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(f"{name}: {'added to' if on else 'removed from'} {which} in {team}/{index}.", "ok")
    return _back(".upstream", team)


# -- members -------------------------------------------------------------------------------


@bp.get("/members")
@team_admin
def members(team: str):
    members = sorted(services().tenancy.members(team), key=lambda m: (ROLES.index(m.role), m.email))
    return render_template("admin/members.html", members=members)


@bp.post("/members")
@team_admin
def set_member(team: str):
    email = (request.form.get("email") or "").strip().lower()
    role = request.form.get("role") or "member"
    return _attempt(
        lambda: services().tenancy.set_member(team, email, role, actor=_actor()),
        ok=f"{email} is now {_A_ROLE.get(role, 'a member')} of {team}.",
        endpoint=".members",
        team=team,
    )


@bp.post("/members/remove")
@team_admin
def remove_member(team: str):
    email = (request.form.get("email") or "").strip().lower()
    return _attempt(
        lambda: services().tenancy.remove_member(team, email, actor=_actor()),
        ok=f"Removed {email} from {team}.",
        endpoint=".members",
        team=team,
    )


# -- write access ----------------------------------------------------------------------------


@bp.get("/access")
@team_admin
def access(team: str):
    tenancy = services().tenancy
    indexes = sorted(
        (i for i in tenancy.list_indexes(team) if not isinstance(i.get("view"), dict)),
        key=lambda i: i["name"],
    )
    members = sorted(tenancy.members(team), key=lambda m: m.email)
    return render_template("admin/access.html", indexes=indexes, members=members)


@bp.post("/access")
@team_admin
def set_access(team: str):
    index = request.form.get("index") or ""
    email = (request.form.get("email") or "").strip().lower()
    allowed = request.form.get("allowed") == "yes"
    tenancy = services().tenancy

    def change():
        why = writer_refusal(email, tenancy.role_of(team, email), team) if allowed else None
        if why:
            raise BadRequest(why)
        tenancy.set_writer(team, index, email, allowed, actor=_actor())

    return _attempt(
        change,
        ok=f"{email} {'may now' if allowed else 'may no longer'} upload to {team}/{index}.",
        endpoint=".access",
        team=team,
    )


# -- API tokens ------------------------------------------------------------------------------


def _tokens_page(team: str, *, created=None, secret=None, status=200):
    tokens = services().tokens.list(team)
    return (
        render_template(
            "admin/tokens.html",
            tokens=tokens,
            member_logins=services().tokens.member_logins(team),
            indexes=_index_names(team),
            expiries=EXPIRIES,
            created=created,
            secret=secret,
            now=now(),
            heading=f"API tokens of {team}",
            about=(
                f"Every token that works in {team}, whoever made it: members' own tokens, those "
                "made with bale admin create-token for CI, and those Trusted Publishing minted. "
                "As an admin you can revoke any of them. A token you create here is yours, as under "
                "My tokens: it carries your rights and stops working if you leave the team."
            ),
            create_endpoint="admin.create_token",
            revoke_endpoint="admin.revoke_token",
        ),
        status,
    )


@bp.get("/tokens")
@team_admin
def tokens(team: str):
    return _tokens_page(team)


def token_from_form(team: str, created_by: str, check=None):
    """Create the token the tokens form asks for: (secret, token, expiry choice). ``check``
    (index, permission) may refuse first, with a BaleError; so does everything else.

    The token is ``created_by``'s own (its owner): it carries their rights as they are at
    each request, and stops working if they leave the team."""
    from bale.tokens.service import parse_duration

    form = request.form
    index, permission = form.get("index") or "", form.get("permission") or ""
    expiry = form.get("expires") or "30d"
    if expiry not in EXPIRIES:
        raise BadRequest(f"Unknown expiry {expiry!r}.")
    if check:
        check(index, permission)
    secret, token = services().tokens.create(
        team,
        index,
        permission,
        projects=_names(form.get("projects", "")) or None,
        expires_in=None if expiry == "never" else parse_duration(expiry),
        created_by=created_by,
        owner=created_by,
        actor=created_by,
        description=(form.get("description") or "").strip()[:200],
    )
    return secret, token, expiry


@bp.post("/tokens")
@team_admin
def create_token(team: str):
    try:
        secret, token, _expiry = token_from_form(team, _actor())
    except BaleError as exc:
        flash_refusal(exc)
        return _tokens_page(team, status=exc.status)
    # Shown in this response only: it is not stored anywhere it could be shown again.
    return _tokens_page(team, created=token, secret=secret)


@bp.post("/tokens/<token_id>/revoke")
@team_admin
def revoke_token(team: str, token_id: str):
    def revoke():
        services().tokens.revoke(team, token_id, actor=_actor())

    return _attempt(revoke, ok=f"Revoked token {token_id}.", endpoint=".tokens", team=team)


@bp.post("/logins/<login_id>/revoke")
@team_admin
def revoke_member_login(team: str, login_id: str):
    """A member's ``bale login`` token stops working in this team (not in their other teams)."""

    def revoke():
        services().tokens.revoke_member_login(team, login_id, actor=_actor())

    return _attempt(revoke, ok=f"Revoked sign-in token {login_id} in {team}.", endpoint=".tokens", team=team)


# -- trusted publishers ----------------------------------------------------------------------


def _publisher_service():
    return services().publishers


@bp.get("/publishers")
@team_admin
def publishers(team: str):
    pubs = _publisher_service().list(team)
    from bale.publishing.providers import PROVIDERS

    return render_template(
        "admin/publishers.html", publishers=pubs, providers=PROVIDERS, indexes=_index_names(team, views=False)
    )


@bp.post("/publishers")
@team_admin
def add_publisher(team: str):
    form = request.form
    provider = form.get("provider") or "github"
    fields = {
        "github": ("repository", "workflow", "environment"),
        "gitlab": ("repository", "ci_config_path", "environment"),
        "google": ("service_account",),
        "oidc": ("issuer",),
    }.get(provider, ())
    # Each provider has its own fieldset, so names carry the provider: github-repository.
    values: dict[str, Any] = {f: (form.get(f"{provider}-{f}") or "").strip() or None for f in fields}
    if provider == "oidc":
        values["claims"] = [
            line.strip() for line in (form.get("oidc-claims") or "").splitlines() if line.strip()
        ]
    projects = _names(form.get("projects", ""))
    index = form.get("index") or ""
    try:
        pub = _publisher_service().add(team, index, provider, projects, actor=_actor(), **values)
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(f"Added trusted publisher {pub.label} for {team}/{index}.", "ok")
    return _back(".publishers", team)


@bp.post("/publishers/<publisher_id>/delete")
@team_admin
def remove_publisher(team: str, publisher_id: str):
    return _attempt(
        lambda: _publisher_service().remove(team, publisher_id, actor=_actor()),
        ok=f"Removed trusted publisher {publisher_id}.",
        endpoint=".publishers",
        team=team,
    )


# -- yanking ---------------------------------------------------------------------------------


@bp.post("/yank")
@team_admin
def yank(team: str):
    form = request.form
    index, project, version = form.get("index") or "", form.get("project") or "", form.get("version") or ""
    yanked = form.get("action") != "unyank"
    reason = (form.get("reason") or "").strip()[:200] or None

    def change():
        validate_index(index)
        services().tenancy.require_index(team, index)
        if yanked and not reason:
            # The confirmation step: a yank from the page needs the words installers will see.
            raise BadRequest(f"Nothing yanked: give a reason for yanking {version} (installers see it).")
        services().packages.set_yanked(team, index, project, version, yanked, reason, actor=_actor())

    return _release_change(
        team, index, project, change, lambda: f"{'Yanked' if yanked else 'Unyanked'} {project} {version}."
    )


def _release_change(team: str, index: str, project: str, change, ok, warning=None):
    """Run a change to a release; flash ``ok()`` (and ``warning()``, if it says anything) or the
    refusal; back to the project's page."""
    try:
        change()
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(ok(), "ok")
        if warning and (said := warning()):
            flash(said, "error")
    try:
        return _back("projects.project", team, index=validate_index(index), project=validate_project(project))
    except BadRequest:
        return _back(".overview", team)


# -- project status (PEP 792) ----------------------------------------------------------------


@bp.post("/project-status")
@team_admin
def project_status(team: str):
    form = request.form
    index, project = form.get("index") or "", form.get("project") or ""
    state = form.get("status") or ""
    reason = (form.get("reason") or "").strip() or None
    stored: list[str] = []

    def change():
        validate_index(index)
        services().tenancy.require_index(team, index)
        stored.extend(
            str(x or "")
            for x in services().packages.set_status(team, index, project, state, reason, actor=_actor())
        )

    return _release_change(
        team,
        index,
        project,
        change,
        lambda: f"{project} is now {stored[0]}" + (f" ({stored[1]})." if stored[1] else "."),
    )


# -- the team's own advisories ---------------------------------------------------------------


def _private_advisories():
    from bale.advisories.private import PrivateAdvisories

    return PrivateAdvisories(services().stores)


@bp.post("/advisory-add")
@team_admin
def advisory_add(team: str):
    """Add one of the team's own advisories from the project page (as `bale admin advisory add`)."""
    form = request.form
    index, project = form.get("index") or "", form.get("project") or ""
    advisory_id = (form.get("id") or "").strip()

    def change():
        validate_index(index)
        _private_advisories().add(
            team,
            index,
            project,
            advisory_id,
            summary=form.get("summary") or "",
            affected=(form.get("affected") or "").strip() or None,
            versions=_names(form.get("versions") or ""),
            severity=(form.get("severity") or "").strip() or None,
            actor=_actor(),
        )

    return _release_change(
        team, index, project, change, lambda: f"Added advisory {advisory_id} to {project}."
    )


@bp.post("/advisory-withdraw")
@team_admin
def advisory_withdraw(team: str):
    form = request.form
    index, project = form.get("index") or "", form.get("project") or ""
    advisory_id = (form.get("id") or "").strip()

    def change():
        validate_index(index)
        _private_advisories().withdraw(team, index, project, advisory_id, actor=_actor())

    return _release_change(
        team, index, project, change, lambda: f"Withdrew advisory {advisory_id}; its id stays taken."
    )


# -- deleting --------------------------------------------------------------------------------


@bp.post("/delete")
@team_admin
def delete(team: str):
    """Delete a version's files (or one file) for good, once the admin typed the version."""
    form = request.form
    index, project, version = form.get("index") or "", form.get("project") or "", form.get("version") or ""
    filename = (form.get("filename") or "").strip() or None
    gone = []
    failed = []

    def change():
        validate_index(index)
        services().tenancy.require_index(team, index)
        if (form.get("confirm") or "").strip() != version:
            raise BadRequest(f"Nothing deleted: type the version ({version}) to confirm.")
        deleted = services().packages.delete(team, index, project, version, filename=filename, actor=_actor())
        gone.extend(deleted)
        failed.extend(deleted.failed_blobs)

    def warning():
        if failed:
            return (
                f"The files are deleted (never served again), but {len(failed)} of their stored "
                f"object{'s' if len(failed) != 1 else ''} could not be removed from storage: "
                f"{', '.join(failed)}. Check the storage permissions; the audit log lists them."
            )
        return None

    return _release_change(
        team,
        index,
        project,
        change,
        lambda: f"Deleted {len(gone)} file{'s' if len(gone) != 1 else ''} of {project} {version}.",
        warning,
    )

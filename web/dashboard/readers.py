"""Team > Trusted Access: the CI workloads that may read the team's indexes with their OIDC
identity (enroll, list, remove). Admins only; the service checks the actor's role again and
writes the audit entry."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from bale.errors import BaleError
from bale.publishing.readers import READER_PROVIDERS

from .services import current_user, flash_refusal, services, team_admin

bp = Blueprint("readers", __name__, url_prefix="/teams/<team>/admin/trusted-access")

TITLES = {
    "github": "GitHub Actions",
    "gitlab": "GitLab CI/CD",
    "google": "Google Cloud",
    "oidc": "Generic OIDC",
}


def _back(team: str):
    return redirect(url_for("readers.list_readers", team=team), code=303)


@bp.get("")
@team_admin
def list_readers(team: str):
    indexes = sorted(i["name"] for i in services().tenancy.list_indexes(team))
    return render_template(
        "readers/list.html",
        readers=services().readers.list(team),
        providers={p: TITLES[p] for p in READER_PROVIDERS},
        indexes=indexes,
    )


@bp.post("")
@team_admin
def add_reader(team: str):
    form = request.form
    provider = form.get("provider") or "github"

    def field(name: str) -> str | None:
        # Each provider has its own fieldset, so names carry the provider: github-repository.
        return (form.get(f"{provider}-{name}") or "").strip() or None

    claims = [line.strip() for line in (form.get("oidc-claims") or "").splitlines() if line.strip()]
    everything = form.get("scope") == "all"
    try:
        reader = services().readers.add(
            team,
            provider,
            repository=field("repository"),
            subject=field("subject"),
            issuer=field("issuer"),
            service_account=field("service_account"),
            claims=claims if provider == "oidc" else None,
            indexes=[] if everything else form.getlist("index"),
            all_indexes=everything,
            settings=services().settings,
            actor=current_user().email,
        )
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(f"Added trusted accessor {reader.label}: it may read {reader.scope}.", "ok")
    return _back(team)


@bp.post("/<reader_id>/delete")
@team_admin
def remove_reader(team: str, reader_id: str):
    try:
        reader = services().readers.remove(team, reader_id, actor=current_user().email)
    except BaleError as exc:
        flash_refusal(exc)
    else:
        flash(f"Removed trusted accessor {reader.label}.", "ok")
    return _back(team)

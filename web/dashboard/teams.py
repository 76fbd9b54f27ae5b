"""My teams, and one team's page: its indexes, members and audit log."""

from __future__ import annotations

from flask import Blueprint, render_template

from .services import current_user, services, team_member

bp = Blueprint("teams", __name__)


@bp.get("/")
def home():
    user = current_user()
    if user is None:
        return render_template("teams/welcome.html")
    return render_template("teams/home.html", teams=services().tenancy.teams_of(user.email))


@bp.get("/teams/<team>/")
@team_member
def team(team: str):
    tenancy = services().tenancy
    indexes = sorted(tenancy.list_indexes(team), key=lambda i: i["name"])
    members = sorted(tenancy.members(team), key=lambda m: (m.role != "admin", m.email))
    return render_template(
        "teams/team.html",
        indexes=indexes,
        members=members,
        audit=tenancy.audit_log(team, limit=50),
    )

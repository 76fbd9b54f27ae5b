"""My teams, and one team's page: its indexes, members and audit log."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from bale.errors import BadRequest
from bale.tenancy.service import ROLES

from .projects import index_url
from .services import current_user, services, team_member

bp = Blueprint("teams", __name__)

#: Audit entries per page of the team page.
AUDIT_PAGE = 50


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
    members = sorted(tenancy.members(team), key=lambda m: (ROLES.index(m.role), m.email))
    # The audit log pages backwards in time: ?before=<the last shown entry's time, to the
    # microsecond Firestore keeps>. Two entries at one exact microsecond, split across
    # pages, would lose the second: rare enough for a log read by people.
    before = None
    if raw := request.args.get("before"):
        try:
            before = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise BadRequest(f"before={raw!r} is not a time (ISO 8601).") from None
        if before.tzinfo is None:
            before = before.replace(tzinfo=dt.UTC)
    audit = tenancy.audit_log(team, limit=AUDIT_PAGE + 1, before=before)
    older = audit[AUDIT_PAGE - 1]["at"] if len(audit) > AUDIT_PAGE else None
    return render_template(
        "teams/team.html",
        indexes=indexes,
        members=members,
        audit=audit[:AUDIT_PAGE],
        older=older,
        before=before,
        index_url=index_url,
    )

"""Team > Views: the team's views (sources, filter) and a preview of what a view's filter keeps
and hides for a project, and why. Admins only; views are made and changed with
`bale admin view …`, whose service audits the change."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from bale.api.simple.viewpages import preview_rows
from bale.clock import now
from bale.errors import BaleError
from bale.names import validate_project
from bale.views.service import Views

from .services import flash_refusal, services, team_admin

bp = Blueprint("views", __name__, url_prefix="/teams/<team>/admin/views")


@bp.get("")
@team_admin
def list_views(team: str):
    views = Views(services().stores).list(team)
    chosen = request.args.get("view") or (views[0].name if views else "")
    project = (request.args.get("project") or "").strip()
    source, rows = None, None
    if project and chosen:
        try:
            view = Views(services().stores).get(team, chosen)
            source, rows = preview_rows(
                services().settings, services().stores, view, validate_project(project), now()
            )
        except BaleError as exc:
            flash_refusal(exc)
    return render_template(
        "views/list.html", views=views, chosen=chosen, project=project, source=source, rows=rows
    )

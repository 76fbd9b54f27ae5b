"""`bale admin project list|files|status` (flat: list-projects, list-files, set-project-status)."""

from __future__ import annotations

import click

from bale.errors import NotFound
from bale.names import validate_project
from bale.packages import status as project_status
from bale.packages.distributions import normalized_filename, parse_filename
from bale.packages.versions import version_key
from bale_tools.cli_common import ACTOR, Admin, pass_admin


@click.group()
def project() -> None:
    """What an index holds."""


@project.command("list")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def list_projects(a: Admin, team, index_name) -> None:
    """List an index's projects with their file counts."""
    index_doc = a.tenancy.require_plain_index(team, index_name)
    packages = a.packages
    names = packages.catalog(team, index_name, index_doc)
    refs = [packages.project_ref(team, index_name, p["normalized"]) for p in names]
    docs = {s.id: s.to_dict() for s in a.stores.db.get_all(refs) if s.exists} if refs else {}
    click.echo(f"{'PROJECT':40}  {'FILES':>6}  UPDATED")
    for p in names:
        d = docs.get(p["normalized"], {})
        updated = d["updated_at"].isoformat(timespec="minutes") if d.get("updated_at") else "-"
        click.echo(f"{p['name']:40}  {d.get('file_count', 0):>6}  {updated}")


@project.command("files")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@pass_admin
def list_files(a: Admin, team, index_name, project_name) -> None:
    """List a project's files: version, size, hash, uploader, state (and a name not normalized)."""
    a.tenancy.require_plain_index(team, index_name)
    packages = a.packages
    name = validate_project(project_name)
    if packages.project_doc(team, index_name, name) is None:
        raise NotFound(f"No project {name!r} in {team}/{index_name}.")
    files = sorted(packages.files(team, index_name, name), key=lambda f: (version_key(f.version), f.filename))
    click.echo(f"{'VERSION':12}  {'FILE':60}  {'SIZE':>10}  {'SHA256':12}  {'UPLOADED':16}  {'BY':30}  STATE")
    for f in files:
        if f.deleted_at:
            state = "deleted"
        elif f.yanked:
            state = "yanked" + (f": {f.yanked_reason}" if f.yanked_reason else "")
        else:
            state = "available"
        expected = normalized_filename(parse_filename(f.filename))
        if expected != f.filename:
            # Stored before Bale refused such names: still served, but a new upload would be
            # refused, and uv skips the file when it reads the page.
            state += f"; name not normalized ({expected})"
        click.echo(
            f"{f.version:12}  {f.filename:60}  {f.size:>10}  {f.sha256[:12]:12}  "
            f"{f.upload_time.isoformat(timespec='minutes'):16}  {f.uploaded_by:30}  {state}"
        )


@project.command("status")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@click.argument("state", metavar="[STATE]", required=False, type=click.Choice(project_status.STATUSES))
@click.option("--reason", help="Shown to installers beside the status (pypi:project-status-reason).")
@pass_admin
def set_status(a: Admin, team, index_name, project_name, state, reason) -> None:
    """Show or set a project's status (PEP 792): active, archived (no new uploads), quarantined
    (no uploads, no files listed or served) or deprecated."""
    a.tenancy.require_plain_index(team, index_name)
    name = validate_project(project_name)
    if state is None:
        doc = a.packages.project_doc(team, index_name, name)
        if doc is None:
            raise NotFound(f"No project {name!r} in {team}/{index_name}.")
        now_status, now_reason = project_status.of(doc)
        click.echo(
            f"{name} in {team}/{index_name}: {now_status}" + (f" ({now_reason})" if now_reason else "")
        )
        return
    # The package service records the change in the audit log under this actor.
    stored, why = a.packages.set_status(team, index_name, name, state, reason, actor=ACTOR)
    click.echo(f"{name} in {team}/{index_name} is now {stored}" + (f" ({why})" if why else ""))

"""`bale admin member list|add|remove|set-role|grant-write|revoke-write` (flat: list-members, ...)."""

from __future__ import annotations

import click

from bale.errors import NotFound
from bale.tenancy.service import ROLES
from bale_tools.cli_common import ACTOR, Admin, pass_admin


@click.group()
def member() -> None:
    """A team's members, their roles and where they may upload."""


@member.command("list")
@click.argument("team")
@pass_admin
def list_members(a: Admin, team) -> None:
    """List a team's members, their roles and the indexes they may upload to."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    writes: dict[str, list[str]] = {}
    for ix in sorted(tenancy.list_indexes(team), key=lambda d: d["name"]):
        for email in ix.get("writers") or []:
            writes.setdefault(email, []).append(ix["name"])
    click.echo(f"{'EMAIL':40}  {'ROLE':6}  UPLOADS TO")
    for m in sorted(tenancy.members(team), key=lambda m: m.email):
        where = "every index" if m.role == "admin" else (", ".join(writes.get(m.email, [])) or "-")
        click.echo(f"{m.email:40}  {m.role:6}  {where}")


@member.command("add")
@click.argument("team")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@pass_admin
def add_member(a: Admin, team, email, role) -> None:
    """Add a person to a team."""
    from bale.errors import Conflict

    tenancy = a.tenancy
    tenancy.get_team(team)
    current = tenancy.role_of(team, email)
    if current is not None:
        raise Conflict(f"{email} is already a member of {team} ({current}); change it with set-role.")
    tenancy.set_member(team, email, role, actor=ACTOR)
    click.echo(f"Added {email} to {team} as {role}")


@member.command("remove")
@click.argument("team")
@click.argument("email")
@pass_admin
def remove_member(a: Admin, team, email) -> None:
    """Remove a person from a team (never its last admin)."""
    a.tenancy.remove_member(team, email, actor=ACTOR)
    click.echo(f"Removed {email} from {team}")


@member.command("set-role")
@click.argument("team")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@pass_admin
def set_role(a: Admin, team, email, role) -> None:
    """Change a member's role (the last admin stays an admin)."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    if tenancy.role_of(team, email) is None:
        raise NotFound(f"{email} is not a member of {team}; add them with add-member.")
    tenancy.set_member(team, email, role, actor=ACTOR)
    click.echo(f"{email} is now {role} of {team}")


def _set_writer(a: Admin, team: str, index_name: str, email: str, allowed: bool) -> None:
    tenancy = a.tenancy
    tenancy.set_writer(team, index_name, email, allowed, actor=ACTOR)
    role = tenancy.role_of(team, email)
    if allowed:
        click.echo(f"{email} may upload to {team}/{index_name}")
    else:
        click.echo(f"{email} may no longer upload to {team}/{index_name}")
    # Write access is a member's; say when this change alone does not decide it.
    if role is None and allowed:
        click.echo(
            f"note: {email} is not a member of {team}: it takes effect once they are (add-member).", err=True
        )
    elif role == "admin":
        click.echo(f"note: {email} is an admin of {team} and uploads to every index regardless.", err=True)


@member.command("grant-write")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("email")
@pass_admin
def grant_write(a: Admin, team, index_name, email) -> None:
    """Let a member upload to an index (admins upload everywhere)."""
    _set_writer(a, team, index_name, email, True)


@member.command("revoke-write")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("email")
@pass_admin
def revoke_write(a: Admin, team, index_name, email) -> None:
    """Take back a member's upload access to an index."""
    _set_writer(a, team, index_name, email, False)

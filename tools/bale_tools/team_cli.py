"""`bale admin team create` (flat: create-team)."""

from __future__ import annotations

import click

from bale_tools.cli_common import ACTOR, Admin, pass_admin


@click.group()
def team() -> None:
    """Teams."""


@team.command("create")
@click.argument("team")
@click.option("--admin", "admin_email", required=True, metavar="EMAIL", help="The team's first admin.")
@pass_admin
def create_team(a: Admin, team, admin_email) -> None:
    """Create a team, its main index and its first admin."""
    a.tenancy.create_team(team, admin_email, actor=ACTOR)
    click.echo(f"Created team {team} with index {team}/main; admin: {admin_email}")

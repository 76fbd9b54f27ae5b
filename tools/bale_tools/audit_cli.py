"""`bale admin audit`: a team's audit log."""

from __future__ import annotations

import click

from bale_tools.cli_common import Admin, pass_admin


@click.command()
@click.argument("team")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many entries, newest first.",
)
@pass_admin
def audit(a: Admin, team, limit) -> None:
    """Show a team's audit log: time, actor, action, detail."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    click.echo(f"{'TIME (UTC)':20}  {'ACTOR':30}  {'ACTION':16}  DETAIL")
    for e in tenancy.audit_log(team, limit):
        at = e["at"].strftime("%Y-%m-%d %H:%M:%S") if e.get("at") else "-"
        click.echo(f"{at:20}  {e.get('actor', ''):30}  {e.get('action', ''):16}  {e.get('detail', '')}")

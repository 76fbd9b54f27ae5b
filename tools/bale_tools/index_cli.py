"""`bale admin index create|rebuild-catalog` (flat: create-index, rebuild-catalog)."""

from __future__ import annotations

import click

from bale_tools.cli_common import ACTOR, Admin, _plural, pass_admin


@click.group()
def index() -> None:
    """A team's indexes."""


@index.command("create")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def create_index(a: Admin, team, index_name) -> None:
    """Create another index in a team."""
    a.tenancy.create_index(team, index_name, actor=ACTOR)
    click.echo(f"Created index {team}/{index_name}")


@index.command("rebuild-catalog")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def rebuild_catalog(a: Admin, team, index_name) -> None:
    """Re-list every project of an index in its catalog (the Simple API's project list); always safe."""
    a.tenancy.require_plain_index(team, index_name)
    projects = a.packages.backfill_catalog(team, index_name)
    click.echo(f"The catalog of {team}/{index_name} lists its {_plural(len(projects), 'project')}.")

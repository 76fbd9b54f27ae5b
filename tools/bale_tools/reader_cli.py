"""`bale admin reader add|list|remove` (flat: add-reader, ...): trusted accessors."""

from __future__ import annotations

import click

from bale.publishing.readers import READER_PROVIDERS
from bale_tools.cli_common import ACTOR, Admin, pass_admin


@click.group()
def reader() -> None:
    """Trusted accessors (CI workloads that read indexes with OIDC: Trusted Access)."""


@reader.command("add")
@click.argument("team")
@click.option("--provider", required=True, type=click.Choice(list(READER_PROVIDERS)))
@click.option(
    "--repository",
    metavar="PATTERN",
    help="github: OWNER/REPO pattern (acme/* or acme/widgets); gitlab: group/project pattern; "
    "oidc: a pattern for the token's repository claim. '*' stays within one path segment.",
)
@click.option("--subject", metavar="PATTERN", help="A pattern the token's sub claim must match.")
@click.option("--issuer", metavar="URL", help="oidc: the issuer URL, as the token's iss claim spells it.")
@click.option(
    "--claim", "claims", multiple=True, metavar="NAME=PATTERN", help="oidc: a claim to match (repeatable)."
)
@click.option("--service-account", metavar="EMAIL", help="google: the service account's email.")
@click.option("--index", "indexes", multiple=True, metavar="NAME", help="An index it may read (repeatable).")
@click.option("--all-indexes", is_flag=True, help="Every index of the team (as it is at each exchange).")
@pass_admin
def add_reader(
    a: Admin, team, provider, repository, subject, issuer, claims, service_account, indexes, all_indexes
) -> None:
    """Let CI workloads read indexes with their OIDC token (Trusted Access): no stored secret."""
    r = a.readers.add(
        team,
        provider,
        repository=repository,
        subject=subject,
        issuer=issuer,
        claims=list(claims),
        service_account=service_account,
        indexes=list(indexes),
        all_indexes=all_indexes,
        settings=a.settings,
        actor=ACTOR,
    )
    click.echo(f"Added trusted accessor {r.id}: {r.label} may read {r.scope} of {r.team}")


@reader.command("list")
@click.argument("team")
@pass_admin
def list_readers(a: Admin, team) -> None:
    """List a team's trusted accessors."""
    click.echo(f"{'ID':16}  {'ACCESSOR':60}  INDEXES")
    for r in a.readers.list(team):
        click.echo(f"{r.id:16}  {r.label:60}  {r.scope}")


@reader.command("remove")
@click.argument("team")
@click.argument("reader_id")
@pass_admin
def remove_reader(a: Admin, team, reader_id) -> None:
    """Remove a trusted accessor by its ID (tokens it already got live out their hour)."""
    r = a.readers.remove(team, reader_id, actor=ACTOR)
    click.echo(f"Removed trusted accessor {r.id} ({r.label})")

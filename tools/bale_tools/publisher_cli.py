"""`bale admin publisher add|list|remove` (flat: add-publisher, ...): trusted publishers."""

from __future__ import annotations

import click

from bale.publishing.providers import PROVIDERS
from bale_tools.cli_common import ACTOR, Admin, pass_admin


@click.group()
def publisher() -> None:
    """Trusted publishers (CI workflows that publish with OIDC)."""


@publisher.command("add")
@click.argument("team")
@click.option("--index", "index_name", required=True, metavar="INDEX")
@click.option("--provider", required=True, type=click.Choice(list(PROVIDERS)))
@click.option(
    "--project", "projects", multiple=True, metavar="NAME", help="A project it may publish (repeatable)."
)
@click.option("--repository", help="github: OWNER/REPO; gitlab: the project path, group/project.")
@click.option(
    "--workflow", metavar="FILE", help="github: workflow file name in .github/workflows/, e.g. publish.yml."
)
@click.option("--environment", metavar="ENV", help="github/gitlab: only this deployment environment.")
@click.option("--ci-config-path", metavar="PATH", help="gitlab: the CI file (default .gitlab-ci.yml).")
@click.option("--service-account", metavar="EMAIL", help="google: the service account's email.")
@click.option(
    "--subject", metavar="ID", help="google: the service account's unique ID (optional); oidc: a sub pattern."
)
@click.option("--issuer", metavar="URL", help="oidc: the issuer URL, as the token's iss claim spells it.")
@click.option(
    "--claim", "claims", multiple=True, metavar="NAME=PATTERN", help="oidc: a claim to match (repeatable)."
)
@pass_admin
def add_publisher(
    a: Admin,
    team,
    index_name,
    provider,
    projects,
    repository,
    workflow,
    environment,
    ci_config_path,
    service_account,
    subject,
    issuer,
    claims,
) -> None:
    """Let a CI workflow publish projects of an index with its OIDC token (Trusted Publishing)."""
    pub = a.publishers.add(
        team,
        index_name,
        provider,
        list(projects),
        repository=repository,
        workflow=workflow,
        environment=environment,
        ci_config_path=ci_config_path,
        service_account=service_account,
        subject=subject,
        issuer=issuer,
        claims=list(claims),
        actor=ACTOR,
    )
    click.echo(
        f"Added trusted publisher {pub.id}: {pub.label} may publish {', '.join(pub.projects)} to {pub.team}/{pub.index}"
    )


@publisher.command("list")
@click.argument("team")
@click.option("--index", "index_name", metavar="INDEX", help="Only this index.")
@pass_admin
def list_publishers(a: Admin, team, index_name) -> None:
    """List a team's trusted publishers."""
    click.echo(f"{'ID':16}  {'INDEX':12}  {'PUBLISHER':50}  PROJECTS")
    for p in a.publishers.list(team, index_name):
        click.echo(f"{p.id:16}  {p.index:12}  {p.label:50}  {','.join(p.projects)}")


@publisher.command("remove")
@click.argument("team")
@click.argument("publisher_id")
@pass_admin
def remove_publisher(a: Admin, team, publisher_id) -> None:
    """Remove a trusted publisher by its ID."""
    pub = a.publishers.remove(team, publisher_id, actor=ACTOR)
    click.echo(f"Removed trusted publisher {pub.id} ({pub.label})")

"""`bale admin advisory add|list|withdraw` (flat: add-advisory, list-advisories,
withdraw-advisory): a team's own advisories for its projects."""

from __future__ import annotations

import click

from bale_tools.cli_common import ACTOR, Admin, pass_admin


def _private(a: Admin):
    from bale.advisories.private import PrivateAdvisories

    return PrivateAdvisories(a.stores)


def _affects(entry: dict) -> str:
    # "|" (or), not PEP 440's comma (and): a release is affected when the specifier set or any
    # listed version says so, and "==1.4.2,==1.4.1" reads as a set no release satisfies.
    return "|".join(
        x for x in (entry.get("specifier"), *(f"=={v}" for v in entry.get("versions") or ())) if x
    )


def _score(entry: dict) -> str:
    return f"{entry['score']:.1f}" if entry.get("score") is not None else "-"


@click.group(short_help="A team's own advisories for its projects.")
def advisory() -> None:
    """A team's own advisories for its projects: they count with the public ones in views
    (release.cve_max_score, release.advisories), `advisories check` and the dashboard."""


@advisory.command("add")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@click.option(
    "--id", "advisory_id", required=True, help="The advisory's id, unique in the team (e.g. ACME-2026-1)."
)
@click.option(
    "--affected", metavar="SPECIFIERS", help='The affected releases, a PEP 440 specifier set (e.g. "<1.4.2").'
)
@click.option(
    "--version",
    "versions",
    multiple=True,
    metavar="VERSION",
    help="An affected release by its exact version (repeatable).",
)
@click.option(
    "--severity", metavar="CVSS_VECTOR", help="A CVSS 3.x or 4.0 vector; without one the score is unknown."
)
@click.option("--summary", required=True, help="One line saying what is wrong.")
@pass_admin
def add_advisory(
    a: Admin, team, index_name, project_name, advisory_id, affected, versions, severity, summary
) -> None:
    """Add an advisory for PROJECT in TEAM/INDEX. Views filtering on advisory fields hide the
    affected releases at once; the id stays the team's for good, even once withdrawn."""
    entry = _private(a).add(
        team,
        index_name,
        project_name,
        advisory_id,
        summary=summary,
        affected=affected,
        versions=versions,
        severity=severity,
        actor=ACTOR,
    )
    click.echo(
        f"Added {entry['id']} to {team}/{index_name}: affects {_affects(entry)}, score {_score(entry)}"
    )


@advisory.command("list")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="[PROJECT]", required=False)
@pass_admin
def list_advisories(a: Admin, team, index_name, project_name) -> None:
    """List the team's advisories in INDEX (of one PROJECT, or all), withdrawn ones included."""
    rows = _private(a).listing(team, index_name, project_name)
    if not rows:
        click.echo(
            f"No advisories of {team}'s own in {team}/{index_name}"
            + (f" for {project_name}." if project_name else ".")
        )
        return
    click.echo(f"{'ID':20}  {'PROJECT':24}  {'AFFECTS':20}  {'SCORE':>5}  {'STATE':10}  SUMMARY")
    for r in rows:
        state = "withdrawn" if r.withdrawn else "active"
        click.echo(
            f"{r.entry['id']:20}  {r.project:24}  {_affects(r.entry):20}  {_score(r.entry):>5}  {state:10}  {r.entry['summary']}"
        )


@advisory.command("withdraw")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@click.argument("advisory_id", metavar="ID")
@pass_admin
def withdraw_advisory(a: Admin, team, index_name, project_name, advisory_id) -> None:
    """Withdraw an advisory: it stops counting at once; its id is not reused."""
    entry = _private(a).withdraw(team, index_name, project_name, advisory_id, actor=ACTOR)
    click.echo(f"Withdrew {entry['id']} ({team}/{index_name}/{project_name}); its id stays taken.")

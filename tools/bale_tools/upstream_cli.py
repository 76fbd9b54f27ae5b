"""`bale admin upstream set|show|reserve|allow-shadow|exempt` (flat: set-upstream, ...)."""

from __future__ import annotations

import click

from bale.upstream.client import PROBE_PROJECT
from bale_tools.cli_common import ACTOR, Admin, Duration, pass_admin


# short_help: click cuts a help text at its first ". ", which "e.g." would be.
@click.group(short_help="An index's upstream (PyPI by default) and its cooldown.")
def upstream() -> None:
    """An index's upstream (PyPI, or another index): private first, with a cooldown on fresh releases."""


def _min_age(ctx, param, value):
    """A cooldown: a duration (3d, 12h), or 0 for none."""
    if value in (None, "0"):
        return 0
    return int(Duration().convert(value, param, ctx).total_seconds())


@upstream.command("set")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.option(
    "--url", help="The upstream's PEP 691/503 index URL (default: BALE_DEFAULT_UPSTREAM_URL, PyPI)."
)
@click.option(
    "--min-age",
    callback=_min_age,
    metavar="DURATION",
    help="Hide upstream files younger than this (e.g. 3d); 0 or absent: no cooldown.",
)
@click.option(
    "--credentials", metavar="NAME", help="Stored credentials to send to the upstream (docs/deploy.md)."
)
@click.option("--off", is_flag=True, help="Turn the upstream off: unknown names are 404 again.")
@click.option(
    "--probe",
    "probe_project",
    default=PROBE_PROJECT,
    show_default=True,
    metavar="PROJECT",
    help="The project whose page is fetched once to check the upstream.",
)
@click.option(
    "--no-probe", is_flag=True, help="Save without asking the upstream (e.g. not reachable from here)."
)
@pass_admin
def set_upstream(a: Admin, team, index_name, url, min_age, credentials, off, probe_project, no_probe) -> None:
    """Give an index an upstream (or turn it --off).

    Then asks the upstream for one project's page and says whether it answers, serves PEP 691
    JSON and gives upload times, and warns when the cooldown would hide everything."""
    used = a.upstreams.set_upstream(
        team, index_name, url=url, min_age=min_age, credentials=credentials, off=off, actor=ACTOR
    )
    if used is None:
        click.echo(f"{team}/{index_name} has no upstream now.")
        return
    wait = f", cooldown {min_age}s" if min_age else ", no cooldown"
    click.echo(f"{team}/{index_name} now answers names it does not hold from {used}{wait}.")
    if no_probe:
        return
    found = a.upstreams.probe(team, index_name, probe_project)
    if found is None:  # pragma: no cover - it was just set
        return
    for line in found.lines():
        click.echo(line)
    if warning := found.warning(min_age or 0):
        click.echo(warning, err=True)


@upstream.command("show")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def show_upstream(a: Admin, team, index_name) -> None:
    """Show an index's upstream settings and lists."""
    info = a.upstreams.get(team, index_name)
    click.echo(f"url:          {info['url'] or '-'}")
    click.echo(f"min-age:      {info['min_age']}s")
    click.echo(f"credentials:  {info['credentials'] or '-'}")
    for key in ("reserved", "allow_shadow", "exempt"):
        click.echo(f"{key.replace('_', '-') + ':':13} {', '.join(info[key]) or '-'}")


def _listing(which: str, doc: str):
    @click.argument("team")
    @click.argument("index_name", metavar="INDEX")
    @click.argument("project_name", metavar="PROJECT")
    @click.option("--remove", is_flag=True, help="Take the name off the list.")
    @pass_admin
    def command(a: Admin, team, index_name, project_name, remove) -> None:
        name = a.upstreams.set_listed(team, index_name, which, project_name, not remove, actor=ACTOR)
        click.echo(f"{name}: {'no longer ' if remove else ''}{which} in {team}/{index_name}.")

    command.__doc__ = doc
    return upstream.command(which)(command)


_listing("reserve", "Make a name private before its first upload: the upstream is never asked about it.")
_listing("allow-shadow", "Allow the first upload of a name the upstream has (it then hides the upstream's).")
_listing("exempt", "Show a project's upstream files whatever their age (an urgent fix).")

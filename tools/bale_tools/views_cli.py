"""`bale admin view create|show|update|delete|list` (flat: create-view, show-view, ...)."""

from __future__ import annotations

import click

ACTOR = "cli"


def _views(a):
    from bale.views.service import Views

    return Views(a.stores)


def _echo(view) -> None:
    click.echo(f"View {view.team}/{view.name}")
    click.echo(f"  sources (first holding a project wins): {', '.join(view.sources)}")
    click.echo(f"  filter: {view.filter or '(none: every file of the winning source)'}")


@click.group(short_help="Views: one index URL over several indexes, under a filter.")
def view() -> None:
    """Views: one read-only index URL over a team's indexes, in order, under a filter."""


@view.command("create")
@click.argument("team")
@click.argument("view_name", metavar="VIEW")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    metavar="INDEX",
    help="A source index, in the order they win (repeatable).",
)
@click.option(
    "--filter", "filter_text", metavar="EXPR", help="What the view shows, e.g. 'release.age_days >= 7'."
)
@click.pass_obj
def create_view(a, team, view_name, sources, filter_text) -> None:
    """Create a view named VIEW (a name no index of the team has)."""
    _echo(_views(a).create(team, view_name, list(sources), filter_text, actor=ACTOR))


@view.command("show")
@click.argument("team")
@click.argument("view_name", metavar="VIEW")
@click.pass_obj
def show_view(a, team, view_name) -> None:
    """Show a view's sources and filter."""
    _echo(_views(a).get(team, view_name))


@view.command("list")
@click.argument("team")
@click.pass_obj
def list_views(a, team) -> None:
    """List a team's views."""
    views = _views(a).list(team)
    if not views:
        click.echo(f"No views in {team}: bale admin view create {team} VIEW --source INDEX [--filter EXPR]")
        return
    click.echo(f"{'VIEW':24}  {'SOURCES (IN ORDER)':40}  FILTER")
    for v in views:
        click.echo(f"{v.name:24}  {', '.join(v.sources):40}  {v.filter or '-'}".rstrip())


@view.command("update")
@click.argument("team")
@click.argument("view_name", metavar="VIEW")
@click.option(
    "--source", "sources", multiple=True, metavar="INDEX", help="Replace the sources (repeatable, in order)."
)
@click.option("--filter", "filter_text", metavar="EXPR", help="Replace the filter.")
@click.option("--no-filter", is_flag=True, help="Remove the filter.")
@click.pass_obj
def update_view(a, team, view_name, sources, filter_text, no_filter) -> None:
    """Change a view's sources or filter."""
    if no_filter and filter_text is not None:
        raise click.UsageError("Give --filter or --no-filter, not both.")
    if not sources and filter_text is None and not no_filter:
        raise click.UsageError(
            "Nothing to change: give --source INDEX (repeatable), --filter EXPR or --no-filter."
        )
    _echo(
        _views(a).update(
            team, view_name, list(sources) or None, filter_text, clear_filter=no_filter, actor=ACTOR
        )
    )


@view.command("delete")
@click.argument("team")
@click.argument("view_name", metavar="VIEW")
@click.pass_obj
def delete_view(a, team, view_name) -> None:
    """Delete a view (its sources and their files stay as they are). Tokens scoped to it are
    revoked, and Trusted Access accessors stop reading it."""
    from bale.publishing.publishers import Publishers
    from bale.publishing.readers import Readers

    v = _views(a).delete(team, view_name, actor=ACTOR)
    readers = Readers(a.stores).drop_index(v.team, v.name, actor=ACTOR)
    # None can be added to a view now; one from before would publish to a later index of the name.
    publishers = Publishers(a.stores)
    for pub in publishers.list(v.team, v.name):
        publishers.remove(v.team, pub.id, actor=ACTOR)
        click.echo(f"  removed trusted publisher {pub.id} ({pub.label})")
    click.echo(f"Deleted view {v.team}/{v.name}")
    for r in readers:
        click.echo(f"  trusted accessor {r.id} now reads: {r.scope or '(nothing: removed)'}")

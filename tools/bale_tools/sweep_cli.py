"""`bale admin sweep`: remove what uploads left behind."""

from __future__ import annotations

import click

from bale_tools.cli_common import ACTOR, Admin, Duration, _plural, pass_admin


@click.command()
@click.option(
    "--older-than",
    type=Duration(),
    default="24h",
    show_default=True,
    help="Leave unreferenced blobs younger than this (by their last update): an upload may "
    "be between its blobs and its record.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_admin
def sweep(a: Admin, older_than, dry_run) -> None:
    """Remove package blobs no file record references: orphans of failed uploads, and the
    bytes of deleted files. Needs delete access to the bucket."""
    from bale.packages.sweep import sweep as run_sweep

    # The service writes the audit entries, one per team, as ACTOR.
    result = run_sweep(a.stores, older_than=older_than, dry_run=dry_run, actor=ACTOR)
    for s in result.swept:
        state = "would remove" if dry_run else "removed" if s.removed else "kept (changed since listed)"
        click.echo(f"{state:28}  {s.why:8}  {s.path}")
    for path in result.unknown:
        click.echo(f"{'left alone (not a package)':28}  {'':8}  {path}")
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {_plural(result.removed, 'blob')}; looked at {result.seen}: {result.kept} referenced, "
        f"{result.young} unreferenced but younger than {older_than}, {len(result.unknown)} not a package"
    )

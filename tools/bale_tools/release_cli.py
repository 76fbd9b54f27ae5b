"""`bale admin release yank|unyank|delete` (flat: yank, unyank, delete)."""

from __future__ import annotations

import click

from bale_tools.cli_common import ACTOR, Admin, _plural, pass_admin


@click.group()
def release() -> None:
    """Yank, unyank or delete a version."""


def _release_args(f):
    for name, metavar in reversed(
        (("team", "TEAM"), ("index_name", "INDEX"), ("project_name", "PROJECT"), ("version", "VERSION"))
    ):
        f = click.argument(name, metavar=metavar)(f)
    return f


def _yank(a: Admin, team, index_name, project_name, version, yanked: bool, reason: str | None) -> None:
    a.tenancy.require_plain_index(team, index_name)
    # actor= is the package service's (it writes the audit entry).
    n = a.packages.set_yanked(team, index_name, project_name, version, yanked, reason, actor=ACTOR)
    word = "Yanked" if yanked else "Unyanked"
    click.echo(f"{word} {project_name} {version} in {team}/{index_name} ({_plural(n, 'file')})")


@release.command("yank")
@_release_args
@click.option("--reason", help="Shown to installers (PEP 592).")
@pass_admin
def yank(a: Admin, team, index_name, project_name, version, reason) -> None:
    """Yank every file of a version: installers skip it unless pinned."""
    _yank(a, team, index_name, project_name, version, True, reason)


@release.command("unyank")
@_release_args
@pass_admin
def unyank(a: Admin, team, index_name, project_name, version) -> None:
    """Unyank every file of a version."""
    _yank(a, team, index_name, project_name, version, False, None)


@release.command("delete")
@_release_args
@click.option("--filename", help="Only this file of the version.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_admin
def delete(a: Admin, team, index_name, project_name, version, filename, yes) -> None:
    """Delete every file of a version, or one file, for good: the filenames can never be used again."""
    what = filename or f"every file of {project_name} {version}"
    if not yes:
        try:
            sure = click.confirm(
                f"Delete {what} from {team}/{index_name}? This cannot be undone and the filenames "
                "can never be used again",
                default=False,
                err=True,
            )
        except click.Abort:  # no answer: stdin closed, as in a script
            sure = False
        if not sure:
            click.echo(f"Not deleted. Deleting {what} cannot be undone; pass --yes to confirm.", err=True)
            click.get_current_context().exit(1)
    a.tenancy.require_plain_index(team, index_name)
    # The package service records the deletion (tombstones and audit entry) under this actor.
    gone = a.packages.delete(team, index_name, project_name, version, filename=filename, actor=ACTOR)
    for rec in gone:
        click.echo(f"Deleted {rec.filename}")
    click.echo(f"Deleted {_plural(len(gone), 'file')} of {project_name} {version} from {team}/{index_name}")
    if gone.failed_blobs:
        # The records are tombstones already (nothing serves these bytes), but storage keeps them.
        click.echo(
            "error: could not remove from storage (remove them by hand or retry): "
            + ", ".join(gone.failed_blobs),
            err=True,
        )
        click.get_current_context().exit(1)

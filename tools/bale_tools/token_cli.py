"""`bale admin token create|list|revoke|logins|revoke-login` (flat: create-token, ...)."""

from __future__ import annotations

import sys

import click

from bale.tokens.service import PERMISSIONS
from bale_tools.cli_common import ACTOR, Admin, Duration, pass_admin


@click.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("team")
@click.option("--index", "index_name", required=True, metavar="INDEX")
@click.option("--permission", required=True, type=click.Choice(PERMISSIONS))
@click.option(
    "--project", "projects", multiple=True, metavar="NAME", help="Limit to this project (repeatable)."
)
@click.option("--expires-in", type=Duration(), help="e.g. 30d, 12h, 15m.")
@click.option("--description", default="", help="What the token is for.")
@click.option(
    "--owner",
    metavar="EMAIL",
    help="A person's token: it carries that member's rights and stops when they lose them.",
)
@pass_admin
def create_token(a: Admin, team, index_name, permission, projects, expires_in, description, owner) -> None:
    """Create an API token; the token is printed alone on the last line of stdout."""
    # owner= and actor= are the token service's (the service writes the audit entry).
    secret, tok = a.tokens.create(
        team,
        index_name,
        permission,
        projects=list(projects) or None,
        expires_in=expires_in,
        created_by=ACTOR,
        description=description,
        owner=owner,
        actor=ACTOR,
    )
    scope = ", ".join(tok.projects) if tok.projects else "all projects"
    until = tok.expires_at.isoformat(timespec="seconds") if tok.expires_at else "never"
    whose = f" for {owner}" if owner else ""
    click.echo(
        f"Token {tok.id}{whose}: {tok.permission} on {tok.team}/{tok.index} ({scope}); expires {until}.",
        err=True,
    )
    click.echo("It is shown only once:", err=True)
    sys.stderr.flush()
    click.echo(secret)


@token.command("list")
@click.argument("team")
@pass_admin
def list_tokens(a: Admin, team) -> None:
    """List a team's tokens."""
    rows = a.tokens.list(team)
    click.echo(
        f"{'ID':17}  {'INDEX':12}  {'PERM':7}  {'OWNER':24}  {'PROJECTS':20}  {'EXPIRES':20}  {'LAST USED':20}  STATE"
    )
    for t in rows:
        state = "revoked" if t.revoked_at else "active"
        # A person's token carries that person's rights; a team token (no owner) the team's.
        owner = t.person or "-"
        click.echo(
            f"{t.id:17}  {t.index:12}  {t.permission:7}  {owner:24}  {(','.join(t.projects) if t.projects else '*'):20}  "
            f"{(t.expires_at.isoformat(timespec='minutes') if t.expires_at else 'never'):20}  "
            f"{(t.last_used_at.isoformat(timespec='minutes') if t.last_used_at else 'never'):20}  {state}"
        )


@token.command("revoke")
@click.argument("team")
@click.argument("token_id")
@pass_admin
def revoke_token(a: Admin, team, token_id) -> None:
    """Revoke a token by its ID."""
    a.tokens.revoke(team, token_id, actor=ACTOR)
    click.echo(f"Revoked token {token_id}")


@token.command("logins")
@click.argument("team")
@pass_admin
def list_member_logins(a: Admin, team) -> None:
    """List the bale login tokens of a team's members (each carries its member's rights)."""
    click.echo(f"{'ID':17}  {'MEMBER':28}  {'PERM':7}  {'EXPIRES':17}  {'STATE':8}  DESCRIPTION")
    for t in a.tokens.member_logins(team):
        state = "revoked" if t.revoked_at else "active"
        until = t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never"
        click.echo(
            f"{t.id:17}  {t.owner or '-':28}  {t.permission:7}  {until:17}  {state:8}  {t.description}"
        )


@token.command("revoke-login")
@click.argument("team")
@click.argument("token_id")
@pass_admin
def revoke_member_login(a: Admin, team, token_id) -> None:
    """Revoke a member's bale login token in TEAM (their other teams are not affected)."""
    if a.tokens.revoke_member_login(team, token_id, actor=ACTOR):
        click.echo(f"Revoked sign-in token {token_id} in {team}")
    else:
        click.echo(f"Sign-in token {token_id} was already revoked in {team}")

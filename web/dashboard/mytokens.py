"""A member's own API tokens: read tokens for any index of the team, upload tokens where the
member has write access (team admins grant it per index; admins may write everywhere).

A member's tokens are theirs (``owner``): every request re-checks the member's rights as they
are then, so removing them from the team stops all their tokens, and revoking their write
access stops their upload tokens uploading.

A member's ``bale login`` tokens are person-wide (one credential per host, for every team they
belong to): each team's "My tokens" lists them, and revoking one there revokes it everywhere.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from bale import access
from bale.clock import now
from bale.errors import BaleError, Forbidden, NotFound
from bale.tokens.service import TokenKind

from .admin import EXPIRIES, _attempt, _index_names, token_from_form
from .services import current_user, flash_refusal, services, team_member

bp = Blueprint("mytokens", __name__, url_prefix="/teams/<team>/tokens")


def _page(team: str, *, created=None, secret=None, status=200):
    me = current_user().email
    indexes = _index_names(team)
    tokens = services().tokens
    mine = [t for t in tokens.list(team) if access.owns(t, me)]
    mine += tokens.personal(me, kinds=frozenset({TokenKind.LOGIN}))
    mine.sort(key=lambda t: t.created_at or now(), reverse=True)
    return (
        render_template(
            "admin/tokens.html",
            tokens=mine,
            indexes=indexes,
            writable=[i for i in indexes if access.may_upload(services().stores, team, i, me)],
            expiries=EXPIRIES,
            created=created,
            secret=secret,
            now=now(),
            heading=f"Your API tokens for {team}",
            about=(
                "Only your own tokens: those you created here and your bale login sessions. Each "
                "carries your rights as they are at each request, so it stops uploading if you lose "
                f"write access and stops working if you leave {team}. Team admins see every "
                "member's tokens, and the team's CI tokens, under API tokens."
            ),
            create_endpoint="mytokens.create",
            revoke_endpoint="mytokens.revoke",
        ),
        status,
    )


@bp.get("/")
@team_member
def mine(team: str):
    return _page(team)


@bp.post("/")
@team_member
def create(team: str):
    me = current_user().email

    def may_create(index: str, permission: str) -> None:
        why = access.own_token_refusal(services().stores, me, permission, team, index)
        if why:
            raise Forbidden(why)

    try:
        secret, token, _ = token_from_form(team, me, check=may_create)
    except BaleError as exc:
        flash_refusal(exc)
        return _page(team, status=exc.status)
    return _page(team, created=token, secret=secret)


@bp.post("/<token_id>/revoke")
@team_member
def revoke(team: str, token_id: str):
    me = current_user().email

    def revoke_own():
        token = services().tokens.get(token_id)
        if token.person_wide and access.owns(token, me):
            services().tokens.revoke_personal(me, token_id)
            return
        if token.team != team or not access.owns(token, me):
            raise NotFound(f"You have no token {token_id} in {team}.")
        services().tokens.revoke(team, token_id, actor=me)

    return _attempt(revoke_own, ok=f"Revoked token {token_id}.", endpoint=".mine", team=team)

"""Every kind of token against every permission and route, decided by bale.access alone.

One row per (token, route): the permission that route's entry point asks for, and what
``access.refusal`` answers (None: allowed; else a fragment of the sentence the client sees).
The roster travels with the principal, so the decision reads nothing: the stores are None, and
a row that needed a read would fail with ValueError.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bale import access
from bale.tenancy.service import ROSTER_VERSION, Roster
from bale.tokens.service import EVERYWHERE, Permission, Token, TokenKind

ALICE, BOB, CAROL, DAVE = "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"
#: acme's roster: alice is an admin, bob and carol members; dave left the team.
ROSTER = Roster("acme", {"roster": ROSTER_VERSION, "admins": [ALICE], "members": [BOB, CAROL]})
#: acme/main's writers: bob may upload there, carol may not.
WRITERS = [BOB]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def team_token(permission: str, projects: list[str] | None = None, **kw) -> Token:
    return Token(
        id="tabc", team="acme", index="main", permission=Permission(permission), projects=projects, **kw
    )


def person_token(owner: str, permission: str) -> Token:
    return dataclasses.replace(team_token(permission), id="pabc", owner=owner, created_by=owner)


def person_wide(owner: str, kind: TokenKind) -> Token:
    permission = Permission.UPLOAD if kind == TokenKind.LOGIN else Permission.READ
    return Token(
        id="pabc",
        team=EVERYWHERE,
        index=EVERYWHERE,
        permission=permission,
        projects=None,
        kind=kind,
        owner=owner,
        created_by=owner,
    )


def minted(grants: list[dict] | None = None) -> Token:
    return Token(
        id="tabc",
        team="acme",
        index="main",
        permission=Permission.PUBLISH,
        projects=["widgets"],
        kind=TokenKind.OIDC,
        publisher="github.com/acme/widgets",
        grants=grants,
    )


def trusted_access(grants: list[dict] | None = None) -> Token:
    return Token(
        id="tabc",
        team="acme",
        index="main",
        permission=Permission.READ,
        projects=None,
        kind=TokenKind.ACCESS,
        publisher="trusted accessor github:acme/*",
        grants=grants,
    )


TOKENS: dict[str, Token] = {
    "team read": team_token("read"),
    "team upload": team_token("upload"),
    "team publish": team_token("publish"),
    "team read, widgets only": team_token("read", ["widgets"]),
    "team upload, widgets only": team_token("upload", ["widgets"]),
    "team read (legacy hex id)": dataclasses.replace(team_token("read"), id="0123456789abcdef"),
    "person admin upload": person_token(ALICE, "upload"),
    "person writer upload": person_token(BOB, "upload"),
    "person member upload": person_token(CAROL, "upload"),
    "person member read": person_token(CAROL, "read"),
    "person former member read": person_token(DAVE, "read"),
    "person legacy api (created_by email)": dataclasses.replace(team_token("read"), created_by=CAROL),
    "login (writer)": person_wide(BOB, TokenKind.LOGIN),
    "login (member)": person_wide(CAROL, TokenKind.LOGIN),
    "login (stranger)": person_wide(DAVE, TokenKind.LOGIN),
    "login (writer), revoked in acme by an admin": dataclasses.replace(
        person_wide(BOB, TokenKind.LOGIN), revoked_teams={"acme": T0}
    ),
    "browser (member)": person_wide(CAROL, TokenKind.BROWSER),
    "browser (stranger)": person_wide(DAVE, TokenKind.BROWSER),
    "trusted publishing": minted(),
    "trusted publishing, two teams": minted(
        [
            {"team": "acme", "index": "main", "projects": ["widgets"], "publisher": "gh"},
            {"team": "beta", "index": "prod", "projects": ["gizmos"], "publisher": "gh"},
        ]
    ),
    "trusted access": trusted_access(),
    "trusted access, two teams": trusted_access(
        [
            {"team": "acme", "index": "main", "projects": None, "publisher": "trusted accessor a"},
            {"team": "globex", "index": "main", "projects": None, "publisher": "trusted accessor b"},
        ]
    ),
    # A record that says upload (it never should) still only reads.
    "trusted access, upload on record": dataclasses.replace(trusted_access(), permission=Permission.UPLOAD),
}

#: Each route the entry points serve: the permission it asks for, the team/index/project.
ROUTES: dict[str, tuple[Permission, str, str, str | None]] = {
    "GET /simple/acme/main/": (Permission.READ, "acme", "main", None),
    "GET /simple/acme/main/widgets/": (Permission.READ, "acme", "main", "widgets"),
    "GET /simple/acme/main/gadgets/": (Permission.READ, "acme", "main", "gadgets"),
    "GET /files/acme/main/widgets/...": (Permission.READ, "acme", "main", "widgets"),
    "GET /integrity/acme/main/widgets/...": (Permission.READ, "acme", "main", "widgets"),
    "POST /v1/upload/acme/main/ (widgets)": (Permission.UPLOAD, "acme", "main", "widgets"),
    "POST /v1/upload/acme/main/ (gadgets)": (Permission.UPLOAD, "acme", "main", "gadgets"),
    "GET /simple/globex/main/": (Permission.READ, "globex", "main", None),
    "POST /v1/upload/globex/main/ (widgets)": (Permission.UPLOAD, "globex", "main", "widgets"),
}

OK = None
READ_ONLY = "can only read"
UPLOAD_ONLY = "can only upload"
NOT_HERE = "not globex/main"
NOT_FOR = "This token is not for globex/main"
LIMITED = "limited to widgets"
GONE = "no longer a member of acme"
NO_WRITE = "no longer has write access to acme/main"
NOT_MEMBER_GLOBEX = "no longer a member of globex"
ACCESS_READS = "Trusted Access token can only read"

# Columns in the order of ROUTES.
R = list(ROUTES)
TABLE: dict[str, list[str | None]] = {
    #                                 list  widgets gadgets file  integ  up-w       up-g       gx-list     gx-up
    "team read": [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "team upload": [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE],
    "team publish": [UPLOAD_ONLY] * 5 + [OK, OK, NOT_HERE, NOT_HERE],
    "team read, widgets only": [OK, OK, LIMITED, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "team upload, widgets only": [OK, OK, LIMITED, OK, OK, OK, LIMITED, NOT_HERE, NOT_HERE],
    "team read (legacy hex id)": [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "person admin upload": [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE],
    "person writer upload": [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE],
    "person member upload": [OK, OK, OK, OK, OK, NO_WRITE, NO_WRITE, NOT_HERE, NOT_HERE],
    "person member read": [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "person former member read": [GONE] * 5 + [READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "person legacy api (created_by email)": [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE],
    "login (writer)": [OK, OK, OK, OK, OK, OK, OK, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX],
    "login (member)": [OK, OK, OK, OK, OK, NO_WRITE, NO_WRITE, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX],
    "login (stranger)": [GONE] * 7 + [NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX],
    "login (writer), revoked in acme by an admin": ["revoked in acme by a team admin"] * 7
    + [NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX],
    "browser (member)": [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_MEMBER_GLOBEX, READ_ONLY],
    "browser (stranger)": [GONE] * 5 + [READ_ONLY, READ_ONLY, NOT_MEMBER_GLOBEX, READ_ONLY],
    "trusted publishing": ["Trusted Publishing token can only upload"] * 5
    + [OK, LIMITED, NOT_HERE, NOT_HERE],
    "trusted publishing, two teams": ["Trusted Publishing token can only upload"] * 5
    + [OK, LIMITED, NOT_FOR, NOT_FOR],
    "trusted access": [OK] * 5 + [ACCESS_READS, ACCESS_READS, NOT_HERE, NOT_HERE],
    "trusted access, two teams": [OK] * 5 + [ACCESS_READS, ACCESS_READS, OK, ACCESS_READS],
    "trusted access, upload on record": [OK] * 5 + [ACCESS_READS, ACCESS_READS, NOT_HERE, NOT_HERE],
}

#: The rosters read with the token: acme's for acme's routes; globex has none of these people.
ROSTERS = {
    "acme": ROSTER,
    "globex": Roster("globex", {"roster": ROSTER_VERSION, "admins": [], "members": []}),
}


def test_the_table_covers_every_token_kind_and_route():
    kinds = {t.kind for t in TOKENS.values()}
    assert kinds == set(TokenKind)  # a new kind of token needs its rows here
    assert set(TABLE) == set(TOKENS)
    assert all(len(row) == len(ROUTES) for row in TABLE.values())


@pytest.mark.parametrize(
    ("name", "route"), [(n, r) for n in TOKENS for r in ROUTES], ids=lambda v: v if isinstance(v, str) else ""
)
def test_who_may_do_what(name: str, route: str):
    permission, team, index, project = ROUTES[route]
    principal = access.Principal(TOKENS[name], ROSTERS[team])
    why = access.refusal(principal, permission, team, index, project, writers=WRITERS)
    want = TABLE[name][R.index(route)]
    if want is None:
        assert why is None, f"{name} on {route}: refused: {why}"
    else:
        assert why is not None and want in why, f"{name} on {route}: {why!r}, wanted {want!r}"


def test_a_person_without_the_roster_read_is_never_decided_blind():
    """The roster of another team (or none) cannot answer for this one: the decision reads it."""
    principal = access.Principal(person_token(BOB, "upload"), Roster("globex", None))
    with pytest.raises(ValueError, match="roster of acme"):
        access.refusal(principal, Permission.READ, "acme", "main")
    # No team document at all: nobody is a member, and no read is needed to say so.
    gone = access.Principal(person_token(BOB, "upload"), Roster("acme", None))
    assert "no longer a member of acme" in (access.refusal(gone, Permission.READ, "acme", "main") or "")


def test_a_principal_expires_with_its_token():
    assert access.Principal(team_token("read", expires_at=T0)).expires_at == T0

"""Every kind of token against every permission and route, decided by bale.access alone.

One row per (token, route): the permission that route's entry point asks for, and what
``access.refusal`` answers (None: allowed; else a fragment of the sentence the client sees).
The roster travels with the principal, so the decision reads nothing: the stores are None, and
a row that needed a read would fail with ValueError.

Then what a token may do to itself or for whom (burn, log out, be one's own), and what a person
may do by hand in a team (by their role): the decisions bale.access took over from the
publishing services and the dashboard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bale import access
from bale.tenancy.service import ROSTER_VERSION, Roster, roster_role
from bale.tokens.service import EVERYWHERE, Permission, Token, TokenKind

ALICE, BOB, CAROL, DAVE = "alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"
#: acme's roster: alice is an admin, bob and carol members; dave left the team.
ROSTER = Roster("acme", {"roster": ROSTER_VERSION, "admins": [ALICE], "members": [BOB, CAROL]})
#: The writers of acme's indexes: bob may upload to main, carol may not; ``everything`` is a
#: view (read-only: nobody is its writer, and the upload handler refuses any upload to it after
#: access has answered).
WRITERS = {"main": [BOB], "everything": []}
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
    # Tokens scoped to a view (``--index VIEW``, a Trusted Accessor enrolled for the view): a view
    # is scoped by its name as an index is.
    "team read, view everything": dataclasses.replace(team_token("read"), index="everything"),
    "team upload, view everything": dataclasses.replace(team_token("upload"), index="everything"),
    "trusted access, view everything": dataclasses.replace(trusted_access(), index="everything"),
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
    "GET /simple/acme/everything/ (a view)": (Permission.READ, "acme", "everything", None),
    "POST /v1/upload/acme/everything/ (widgets)": (Permission.UPLOAD, "acme", "everything", "widgets"),
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
NOT_MAIN = "not acme/main"
NOT_VIEW = "not acme/everything"
NOT_FOR_VIEW = "This token is not for acme/everything"
NO_WRITE_VIEW = "no longer has write access to acme/everything"
REVOKED = "revoked in acme by a team admin"
TP_UPLOADS = "Trusted Publishing token can only upload"

R = list(ROUTES)
# fmt: off
TABLE: dict[str, list[str | None]] = {
    # Columns in the order of ROUTES: list, widgets, gadgets, file, integrity, upload widgets,
    # upload gadgets, globex list, globex upload, view list, view upload.
    "team read":                                   [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team upload":                                 [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team publish":                                [UPLOAD_ONLY, UPLOAD_ONLY, UPLOAD_ONLY, UPLOAD_ONLY, UPLOAD_ONLY, OK, OK, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team read, widgets only":                     [OK, OK, LIMITED, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team upload, widgets only":                   [OK, OK, LIMITED, OK, OK, OK, LIMITED, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team read (legacy hex id)":                   [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person admin upload":                         [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person writer upload":                        [OK, OK, OK, OK, OK, OK, OK, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person member upload":                        [OK, OK, OK, OK, OK, NO_WRITE, NO_WRITE, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person member read":                          [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person former member read":                   [GONE, GONE, GONE, GONE, GONE, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "person legacy api (created_by email)":        [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "login (writer)":                              [OK, OK, OK, OK, OK, OK, OK, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX, OK, NO_WRITE_VIEW],
    "login (member)":                              [OK, OK, OK, OK, OK, NO_WRITE, NO_WRITE, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX, OK, NO_WRITE_VIEW],
    "login (stranger)":                            [GONE, GONE, GONE, GONE, GONE, GONE, GONE, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX, GONE, GONE],
    "login (writer), revoked in acme by an admin": [REVOKED, REVOKED, REVOKED, REVOKED, REVOKED, REVOKED, REVOKED, NOT_MEMBER_GLOBEX, NOT_MEMBER_GLOBEX, REVOKED, REVOKED],
    "browser (member)":                            [OK, OK, OK, OK, OK, READ_ONLY, READ_ONLY, NOT_MEMBER_GLOBEX, READ_ONLY, OK, READ_ONLY],
    "browser (stranger)":                          [GONE, GONE, GONE, GONE, GONE, READ_ONLY, READ_ONLY, NOT_MEMBER_GLOBEX, READ_ONLY, GONE, READ_ONLY],
    "trusted publishing":                          [TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, OK, LIMITED, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "trusted publishing, two teams":               [TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, TP_UPLOADS, OK, LIMITED, NOT_FOR, NOT_FOR, NOT_FOR_VIEW, NOT_FOR_VIEW],
    "trusted access":                              [OK, OK, OK, OK, OK, ACCESS_READS, ACCESS_READS, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "trusted access, two teams":                   [OK, OK, OK, OK, OK, ACCESS_READS, ACCESS_READS, OK, ACCESS_READS, NOT_FOR_VIEW, NOT_FOR_VIEW],
    "trusted access, upload on record":            [OK, OK, OK, OK, OK, ACCESS_READS, ACCESS_READS, NOT_HERE, NOT_HERE, NOT_VIEW, NOT_VIEW],
    "team read, view everything":                  [NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_HERE, NOT_HERE, OK, READ_ONLY],
    # Access lets it upload to the view's name; the upload handler then answers 400 (a view).
    "team upload, view everything":                [NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_HERE, NOT_HERE, OK, OK],
    "trusted access, view everything":             [NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_MAIN, NOT_HERE, NOT_HERE, OK, ACCESS_READS],
}
# fmt: on

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
    why = access.refusal(principal, permission, team, index, project, writers=WRITERS.get(index))
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


# -- what a token may do to itself, and whose it is ----------------------------------------

BURNS_ONLY_MINTED = "Only tokens minted by Trusted Publishing can be burned"
LOGIN_ONLY = "Only a bale login token can revoke itself"
#: Each token: may ``/_/oidc/burn-token`` burn it, may it log itself out (``bale logout``), and
#: is it bob's own, carol's own (their "My tokens" list it and let them revoke it)?
SELF: dict[str, tuple[str | None, str | None, bool, bool]] = {
    "team read": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team upload": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team publish": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team read, widgets only": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team upload, widgets only": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team read (legacy hex id)": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "person admin upload": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "person writer upload": (BURNS_ONLY_MINTED, LOGIN_ONLY, True, False),
    "person member upload": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, True),
    "person member read": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, True),
    "person former member read": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "person legacy api (created_by email)": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, True),
    "login (writer)": (BURNS_ONLY_MINTED, OK, True, False),
    "login (member)": (BURNS_ONLY_MINTED, OK, False, True),
    "login (stranger)": (BURNS_ONLY_MINTED, OK, False, False),
    "login (writer), revoked in acme by an admin": (BURNS_ONLY_MINTED, OK, True, False),
    "browser (member)": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, True),
    "browser (stranger)": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "trusted publishing": (OK, LOGIN_ONLY, False, False),
    "trusted publishing, two teams": (OK, LOGIN_ONLY, False, False),
    "trusted access": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "trusted access, two teams": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "trusted access, upload on record": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team read, view everything": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "team upload, view everything": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
    "trusted access, view everything": (BURNS_ONLY_MINTED, LOGIN_ONLY, False, False),
}


def _answers(why: str | None, want: str | None) -> bool:
    return why is None if want is None else why is not None and want in why


def test_the_token_table_covers_every_token():
    assert set(SELF) == set(TOKENS)


@pytest.mark.parametrize("name", list(TOKENS))
def test_what_a_token_may_do_to_itself_and_whose_it_is(name: str):
    token = TOKENS[name]
    burn, logout, bobs, carols = SELF[name]
    assert _answers(access.burn_refusal(token), burn), f"{name} burn: {access.burn_refusal(token)!r}"
    assert _answers(access.logout_refusal(token), logout), f"{name} logout: {access.logout_refusal(token)!r}"
    assert (access.owns(token, BOB), access.owns(token, CAROL)) == (bobs, carols), name


def test_a_login_token_without_an_owner_cannot_log_out():
    """A record that lost its owner (it never should) revokes no one's token."""
    token = dataclasses.replace(person_wide(BOB, TokenKind.LOGIN), owner=None)
    assert LOGIN_ONLY in (access.logout_refusal(token) or "")


# -- what a person may do by hand in a team ------------------------------------------------

ADMINS_ONLY = "Only an admin of acme can change its trusted accessors"
NOT_A_MEMBER = "is not a member of acme; add them as a member first"
NO_WRITE_STAGING = "no longer has write access to acme/staging"
#: acme/staging's writers: nobody (an admin writes everywhere all the same).
STAGING_WRITERS: list[str] = []
#: Each person, by their role in acme (read from the roster): may they read acme/main, upload to
#: acme/main and to acme/staging (and so make themselves an upload token there in "My tokens"),
#: be made a writer of an index, and enroll or remove a trusted accessor?
# fmt: off
PEOPLE: dict[str, tuple[str | None, str | None, str | None, str | None, str | None]] = {
    #       read  upload main  upload staging     be made a writer  trusted accessors
    ALICE: (OK,   OK,          OK,                OK,               OK),
    BOB:   (OK,   OK,          NO_WRITE_STAGING,  OK,               ADMINS_ONLY),
    CAROL: (OK,   NO_WRITE,    NO_WRITE_STAGING,  OK,               ADMINS_ONLY),
    DAVE:  (GONE, GONE,        GONE,              NOT_A_MEMBER,     ADMINS_ONLY),
}
# fmt: on


@pytest.mark.parametrize("person", list(PEOPLE))
def test_what_a_person_may_do_in_a_team(person: str):
    role_now = roster_role(ROSTER.doc, person)  # as the roster read with their token says
    read, upload_main, upload_staging, writer, accessors = PEOPLE[person]
    got = (
        access.person_refusal(person, role_now, Permission.READ, "acme", "main"),
        access.person_refusal(person, role_now, Permission.UPLOAD, "acme", "main", WRITERS["main"]),
        access.person_refusal(person, role_now, Permission.UPLOAD, "acme", "staging", STAGING_WRITERS),
        access.writer_refusal(person, role_now, "acme"),
        access.admin_refusal(person, role_now, "acme", "change its trusted accessors"),
    )
    want = (read, upload_main, upload_staging, writer, accessors)
    for column, (why, wanted) in enumerate(zip(got, want, strict=True)):
        assert _answers(why, wanted), f"{person}, column {column}: {why!r}, wanted {wanted!r}"


def test_the_operator_administers_every_team_without_a_role():
    """``bale admin`` with the service account's own credentials is no person: it may."""
    assert access.admin_refusal(access.OPERATOR, None, "acme", "change its trusted accessors") is None
    # A person named like the operator's actor is still a person: only the exact actor passes.
    assert (
        access.admin_refusal("cli@example.com", None, "acme", "do this")
        == "Only an admin of acme can do this."
    )

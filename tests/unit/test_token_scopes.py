"""bale.tokens.service.Token: what a token may do, decided without Firestore.

Tokens are built directly, as ``Tokens`` reads them back: project names already normalized.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bale import access
from bale.errors import BadRequest
from bale.tokens.service import Token, parse_duration, token_format_problem

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def token(permission="upload", team="acme", index="main", projects=None, **kw) -> Token:
    return Token(
        id="0123456789abcdef", team=team, index=index, permission=permission, projects=projects, **kw
    )


def test_an_index_wide_read_token_reads_every_project_and_uploads_nothing():
    t = token("read")
    assert access.can(t, "read", "acme", "main")
    assert access.can(t, "read", "acme", "main", "anything")
    assert not access.can(t, "upload", "acme", "main", "anything")
    assert access.scope_refusal(t, "upload", "acme", "main") == (
        "This token can only read acme/main; uploading needs an upload token."
    )


def test_an_upload_token_also_reads():
    t = token("upload")
    assert access.can(t, "upload", "acme", "main", "widgets") and access.can(
        t, "read", "acme", "main", "widgets"
    )


@pytest.mark.parametrize("team, index", [("acme", "staging"), ("beta", "main"), ("beta", "staging")])
def test_a_token_is_good_for_its_own_index_only(team, index):
    t = token("upload")
    assert not access.can(t, "read", team, index)
    assert access.scope_refusal(t, "read", team, index) == f"This token is for acme/main, not {team}/{index}."


def test_a_project_limited_token():
    t = token("upload", projects=["my-pkg", "widgets"])
    # Names compare normalized (PEP 503), whatever spelling the request uses.
    for spelling in ("my-pkg", "My_Pkg", "MY.PKG", "my__pkg"):
        assert access.can(t, "upload", "acme", "main", spelling), spelling
    why = access.scope_refusal(t, "upload", "acme", "main", "gadgets")
    assert why == "This token may not upload project 'gadgets'; it is limited to my-pkg, widgets."
    assert access.scope_refusal(t, "read", "acme", "main", "gadgets").startswith(
        "This token may not read project 'gadgets'"
    )
    # The index itself (its project list) is readable; the list shows only the token's projects.
    assert access.can(t, "read", "acme", "main")
    assert t.projects_for("acme", "main") == ["my-pkg", "widgets"]


def test_scopes_and_projects_for_a_plain_token():
    assert token(projects=None).scopes() == [("acme", "main", None)]
    assert token(projects=None).projects_for("acme", "main") is None  # None: every project
    assert token(projects=["a"]).projects_for("acme", "main") == ["a"]
    assert token(projects=None).projects_for("acme", "staging") == []  # nothing elsewhere
    assert token(projects=None).projects_for("beta", "main") == []


GRANTS = [
    {
        "team": "acme",
        "index": "main",
        "projects": ["widgets"],
        "publisher": "github:o/r:p.yml",
        "description": "acme's",
    },
    {
        "team": "beta",
        "index": "prod",
        "projects": ["gadgets", "gizmos"],
        "publisher": "github:o/r:p.yml (environment x)",
        "description": "beta's",
    },
    {
        "team": "beta",
        "index": "test",
        "projects": ["gadgets"],
        "publisher": "github:o/r:p.yml (environment x)",
    },
]


def multi(**kw) -> Token:
    """A Trusted Publishing token of a workflow enrolled by two teams (three indexes)."""
    return token(
        "upload",
        projects=["widgets"],
        kind="trusted",
        publisher="github:o/r:p.yml",
        description="acme's",
        grants=GRANTS,
        teams=["acme", "beta"],
        **kw,
    )


def test_a_multi_grant_token_is_good_for_each_grant_and_only_its_projects():
    t = multi()
    assert t.scopes() == [
        ("acme", "main", ["widgets"]),
        ("beta", "prod", ["gadgets", "gizmos"]),
        ("beta", "test", ["gadgets"]),
    ]
    assert access.can(t, "upload", "acme", "main", "widgets")
    assert access.can(t, "upload", "beta", "prod", "gizmos")
    assert access.can(t, "upload", "beta", "test", "gadgets")
    assert not access.can(t, "upload", "acme", "main", "gadgets")  # beta's project, not in acme's grant
    assert not access.can(t, "upload", "beta", "test", "gizmos")
    assert t.projects_for("beta", "prod") == ["gadgets", "gizmos"]
    assert t.projects_for("acme", "staging") == []


def test_a_multi_grant_token_does_not_tell_a_stranger_whose_it_is():
    why = access.scope_refusal(multi(), "upload", "gamma", "main")
    assert why == "This token is not for gamma/main."
    assert "acme" not in why and "beta" not in why


def test_a_plain_token_is_its_own_view():
    t = token(last_used_at=T0)
    assert t.view_for("acme") is t


def test_each_team_sees_only_its_grants_of_a_shared_token():
    t = multi(last_used_at=T0)
    beta = t.view_for("beta")
    assert (beta.team, beta.index) == ("beta", "prod, test")
    assert beta.projects == ["gadgets", "gizmos"]
    assert beta.grants == GRANTS[1:]
    assert beta.teams == ["beta"]
    assert beta.description == "beta's"
    assert beta.publisher == "github:o/r:p.yml (environment x)"  # one publisher, not repeated
    assert beta.last_used_at is None  # when acme's uploads ran is not beta's to see
    assert beta.revoked_at is None
    acme = t.view_for("acme")
    assert (acme.index, acme.projects, acme.description) == ("main", ["widgets"], "acme's")
    assert "beta" not in repr(acme.grants)
    # The original is untouched.
    assert t.grants == GRANTS and t.last_used_at == T0


def test_a_team_that_revoked_its_grants_sees_the_token_revoked_and_the_other_does_not():
    t = multi(revoked_teams={"beta": T0})
    assert t.view_for("beta").revoked_at == T0
    assert t.view_for("acme").revoked_at is None


def test_labels_name_the_publisher_of_the_grant_or_the_creator():
    # The person whose token it is; a team token by its id and description, and who made it
    # ("cli" alone, as uploads once said, names no one).
    assert token(owner="bob@example.com", created_by="bob@example.com").label == "bob@example.com"
    assert (
        token(created_by="alice@example.com", description="laptop").label
        == "token 0123456789abcdef (laptop), made by alice@example.com"
    )
    assert token(created_by="cli").label == "token 0123456789abcdef, made by cli"
    assert token().label == "token 0123456789abcdef"
    t = multi()
    assert t.label == "trusted publisher github:o/r:p.yml"
    assert t.label_for("beta", "prod") == "trusted publisher github:o/r:p.yml (environment x)"
    assert t.label_for("gamma", "main") == t.label


@pytest.mark.parametrize(
    "text, delta",
    [
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        ("15m", dt.timedelta(minutes=15)),
        ("90s", dt.timedelta(seconds=90)),
        ("2w", dt.timedelta(days=14)),
        (" 7 d ", dt.timedelta(days=7)),
    ],
)
def test_parse_duration(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", None, "30", "d", "1.5h", "-1d", "10y", "30 days", "1d2h", "3D"])
def test_parse_duration_refuses_the_rest(text):
    with pytest.raises(BadRequest, match="Invalid duration"):
        parse_duration(text)


def test_parse_duration_must_be_positive():
    with pytest.raises(BadRequest, match="positive"):
        parse_duration("0d")


# -- person-wide tokens (bale login, the dashboard's browser cookie) -----------------------------
def test_a_login_token_matches_every_team_and_index_its_owner_decides_the_rest():
    t = token("upload", team="*", index="*", kind="login", owner="bob@example.com")
    assert t.person_wide and t.person == "bob@example.com"
    for team, index in [("acme", "main"), ("beta", "staging")]:
        assert access.can(t, "read", team, index, "widgets") and access.can(
            t, "upload", team, index, "widgets"
        )
        assert t.projects_for(team, index) is None  # every project: the project list is not cut
    # Without an owner, "*" is no wildcard: nobody mints such a token, and it matches nothing.
    stray = token("upload", team="*", index="*")
    assert not stray.person_wide and not access.can(stray, "read", "acme", "main")


def test_a_browser_token_reads_everywhere_and_uploads_nowhere():
    t = token("read", team="*", index="*", kind="browser", owner="bob@example.com")
    assert access.can(t, "read", "acme", "main") and access.can(t, "read", "beta", "x", "p")
    assert access.scope_refusal(t, "upload", "acme", "main") == (
        "This token can only read acme/main; uploading needs an upload token."
    )


GOOD_SHAPE = "bale_0123456789abcdef_" + "A" * 43


@pytest.mark.parametrize(
    "raw, says",
    [
        (
            GOOD_SHAPE[:-5],
            "starts with 'bale_' but is malformed or truncated (60 characters, a Bale token has 65)",
        ),
        (GOOD_SHAPE + "xyz", "malformed or truncated (68 characters"),
        ("bale_0123456789ABCDEF_" + "A" * 43, "malformed or truncated; copy it whole."),
        ("pypi-AgEIcHlwaS5vcmc", "a Bale token starts with 'bale_'."),
        ("ghp_abc", "a Bale token starts with 'bale_'."),
    ],
)
def test_a_token_of_the_wrong_shape_is_told_apart_from_one_without_the_prefix(raw, says):
    assert len(GOOD_SHAPE) == 65
    assert says in token_format_problem(raw)

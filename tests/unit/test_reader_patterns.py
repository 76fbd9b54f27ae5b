"""Trusted Access patterns (bale.publishing.patterns) and reader claim rules, without emulators."""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.publishing import patterns
from bale.publishing.readers import Reader, check, parse_claims, validate_issuer


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("acme/*", "acme/widgets", True),
        ("acme/*", "acme-evil/widgets", False),
        ("acme/*", "acme/x/y", False),
        ("acme/*", "acme/", False),
        ("acme/*", "acme", False),
        ("acme/*", "xacme/widgets", False),
        ("acme/widgets", "acme/widgets", True),
        ("acme/widgets", "acme/widgetsx", False),
        ("acme/web-*", "acme/web-api", True),
        ("acme/web-*", "acme/api-web", False),
        ("acme/*-svc", "acme/a-svc", True),
        ("acme/a.b", "acme/aXb", False),  # '.' is literal, not a regex wildcard
        ("acme/*/ci", "acme/group/ci", True),
        ("acme/*/ci", "acme/a/b/ci", False),
        ("repo:acme/*:ref:refs/heads/main", "repo:acme/x:ref:refs/heads/main", True),
        ("repo:acme/*:ref:refs/heads/main", "repo:acme/x:ref:refs/heads/dev", False),
    ],
)
def test_matches(pattern, value, expected):
    assert patterns.matches(patterns.validate(pattern), value) is expected


def test_case():
    assert patterns.matches("acme/*", "ACME/Widgets", ignore_case=True)
    assert not patterns.matches("acme/*", "ACME/Widgets")


def test_non_strings_never_match():
    assert not patterns.matches("acme/*", None)
    assert not patterns.matches("acme/*", ["acme/x"])
    assert not patterns.matches("acme/*", "")


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "*/*",
        "*/*/*",
        "**",
        "",
        "  ",
        "acme/[ab]*",
        "acme/?",
        "acme//x",
        "/acme",
        "acme/",
        "acme/**",
        "a\\b",
    ],
)
def test_refused_patterns(pattern):
    with pytest.raises(BadRequest):
        patterns.validate(pattern)


@pytest.mark.parametrize("pattern", ["*/widgets", "ac*/widgets", "acme", "*"])
def test_owner_must_be_literal(pattern):
    with pytest.raises(BadRequest):
        patterns.check_owner_literal(pattern)


def test_owner_literal_accepts():
    assert patterns.check_owner_literal(" acme/* ") == "acme/*"


def test_claims_parse_and_refuse():
    assert parse_claims(["repository=acme/*", "ref=refs/heads/main"]) == {
        "repository": "acme/*",
        "ref": "refs/heads/main",
    }
    for bad in (["repository"], ["aud=bale"], ["jti=x"], ["x=*"], ["bad name=x"], ["a=x", "a=y"]):
        with pytest.raises(BadRequest):
            parse_claims(bad)


def test_issuer_urls():
    assert (
        validate_issuer("https://ghes.example.com/_services/token/")
        == "https://ghes.example.com/_services/token"
    )
    assert validate_issuer("http://127.0.0.1:8080/ghes") == "http://127.0.0.1:8080/ghes"
    for bad in (
        "http://ghes.example.com",
        "ftp://x",
        "https://",
        "https://u:p@x.example",
        "https://x.example/?a=1",
    ):
        with pytest.raises(BadRequest):
            validate_issuer(bad)


def _reader(**kw):
    return Reader(id="r1", team="acme", **kw)


def test_check_github_says_which_claim_without_the_pattern():
    r = _reader(provider="github", repository="acme/secret-*", subject="repo:acme/*:environment:ci")
    assert check(r, {"repository": "acme/secret-x", "sub": "repo:acme/secret-x:environment:ci"}) == []
    why = check(r, {"repository": "acme/public", "sub": "repo:acme/public:ref:refs/heads/main"})
    assert len(why) == 2
    assert "repository 'acme/public'" in why[0] and "sub " in why[1]
    assert not any("secret-" in w for w in why)


def test_check_generic_claims_and_issuer():
    r = _reader(
        provider="oidc",
        issuer="https://ghes.example",
        claims={"repository": "acme/*", "ref": "refs/heads/main"},
    )
    ok = {"iss": "https://ghes.example", "repository": "acme/x", "ref": "refs/heads/main"}
    assert check(r, ok) == []
    assert check(r, ok | {"ref": "refs/heads/dev"}) == [
        "ref 'refs/heads/dev' does not match the enrolled pattern"
    ]
    assert check(r, {k: v for k, v in ok.items() if k != "ref"}) == [
        "the token has no 'ref' claim, which the enrollment matches"
    ]
    assert "iss" in check(r, ok | {"iss": "https://other.example"})[0]


def test_check_google():
    r = _reader(provider="google", service_account="ci@p.iam.gserviceaccount.com")
    assert check(r, {"email": "CI@p.iam.gserviceaccount.com", "email_verified": True}) == []
    assert len(check(r, {"email": "x@p.iam.gserviceaccount.com", "email_verified": False})) == 2


# -- the generic provider, as Trusted Publishing uses it ------------------------------------
def test_generic_publisher_enroll_check_and_no_identity():
    from bale.publishing.providers import PROVIDERS
    from bale.publishing.publishers import Publisher
    from bale.settings import Settings

    prov = PROVIDERS["oidc"]
    assert prov.issuer(Settings()) == ""  # never taken for a configured issuer
    with pytest.raises(BadRequest):
        prov.enroll({"issuer": "https://ghes.example"})  # no claim to match
    with pytest.raises(BadRequest):
        prov.enroll({"issuer": "https://ghes.example", "claims": ["repository=*/*"]})
    rec = prov.enroll(
        {"issuer": "https://ghes.example/", "claims": ["repository=acme/widgets"], "subject": "repo:acme/*"}
    )
    assert rec == {
        "issuer": "https://ghes.example",
        "claims": {"repository": "acme/widgets", "sub": "repo:acme/*"},
        "lookup": "oidc:https://ghes.example",
    }
    pub = Publisher(id="p1", team="acme", index="main", provider="oidc", projects=["w"], **rec)
    claims = {"iss": "https://ghes.example", "repository": "acme/widgets", "sub": "repo:acme/widgets"}
    assert prov.check(pub, claims, Settings()) == []
    why = prov.check(pub, claims | {"repository": "acme/other"}, Settings())
    assert why == ["repository 'acme/other' does not match the enrolled pattern"]
    assert prov.identity(pub, claims) == {}  # so uploads through it take no attestations
    assert pub.label == "oidc:https://ghes.example (repository=acme/widgets, sub=repo:acme/*)"

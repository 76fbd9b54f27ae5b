"""Trusted Publishing: the /_/oidc/ endpoints, the publisher service and its CLI.

Tokens come from local issuers with real keys (tests/fakes/oidc_issuer.py); the registry verifies
them through the issuers' discovery documents and JWKS, exactly as against GitHub.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import jwt
import pytest
import requests

from clients import uv_publish
from factories import make_wheel

REPO = "octo-org/widgets"
PROJECT = "sprocket"


def mint(stack, token: str, **extra) -> requests.Response:
    return requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": token, **extra}, timeout=30)


def burn(stack, token: str) -> requests.Response:
    return requests.post(f"{stack.url}/_/oidc/burn-token", json={"token": token}, timeout=30)


def refused(resp: requests.Response, code: str, *needles: str) -> str:
    """Assert a 422 in PyPI's shape whose descriptions contain every needle; return them."""
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert set(body) == {"message", "errors"}
    assert {e["code"] for e in body["errors"]} == {code}, body
    text = " ".join(e["description"] for e in body["errors"])
    for needle in needles:
        assert needle in text, text
    return text


def add(stack, provider="github", projects=(PROJECT,), index="main", team="acme", **fields):
    from bale.publishing.publishers import Publishers

    if provider == "github":
        fields = {"repository": REPO, "workflow": "publish.yml"} | fields
    return Publishers(stack.stores).add(team, index, provider, list(projects), **fields)


@pytest.fixture
def github(stack, oidc_issuers):
    """A GitHub publisher for octo-org/widgets' publish.yml, and its issuer."""
    return oidc_issuers.github, add(stack)


def scopes(stack, token):
    from bale.tokens.service import Tokens

    return Tokens(stack.stores).authenticate(token).scopes()


def upload(stack, token, tmp_path, project=PROJECT, version="1.0"):
    whl = make_wheel(tmp_path, project, version)
    return uv_publish(f"{stack.url}/v1/upload/acme/main/", token, whl)


# -- endpoints ------------------------------------------------------------------------
def test_audience_and_routing(stack):
    r = requests.get(f"{stack.url}/_/oidc/audience", timeout=10)
    assert r.status_code == 200 and r.json() == {"audience": "bale"}
    r = requests.post(f"{stack.url}/_/oidc/audience", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = requests.get(f"{stack.url}/_/oidc/mint-token", timeout=10)
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "method-not-allowed"
    assert requests.get(f"{stack.url}/_/oidc/nope", timeout=10).status_code == 404


def test_malformed_requests(stack, oidc_issuers):
    r = requests.post(f"{stack.url}/_/oidc/mint-token", data=b"not json", timeout=10)
    refused(r, "invalid-payload", "not JSON")
    refused(requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": 5}, timeout=10), "invalid-payload")
    refused(mint(stack, "not.a.jwt"), "invalid-token", "not a valid JWT")


# -- the happy path ------------------------------------------------------------------
@pytest.mark.e2e
def test_github_mint_is_scoped_short_lived_and_burnable(stack, github, tmp_path):
    from bale.publishing.publishers import Publishers
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens

    issuer, pub = github
    assert pub.repository_owner_id is None
    r = mint(stack, issuer.sign())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["team"], body["index"], body["projects"]) == ("acme", "main", [PROJECT])
    minted = body["token"]

    record = Tokens(stack.stores).get(minted.split("_")[1])
    assert (record.kind, record.permission, record.projects) == ("oidc", "publish", [PROJECT])
    assert record.publisher == f"github:{REPO}:publish.yml"
    lifetime = record.expires_at - record.created_at
    assert lifetime == dt.timedelta(seconds=stack.settings.minted_token_ttl) == dt.timedelta(minutes=15)
    # The owner's immutable ID is pinned at first use.
    assert Publishers(stack.stores).get("acme", pub.id).repository_owner_id == "1001"
    assert any(e["action"] == "mint-token" for e in Tenancy(stack.stores).audit_log("acme"))

    ok = upload(stack, minted, tmp_path)
    assert ok.returncode == 0, ok.stderr
    other = upload(stack, minted, tmp_path, project="gadget")
    assert other.returncode != 0
    assert "403" in other.stderr and "'gadget'" in other.stderr

    r = burn(stack, minted)
    assert r.status_code == 200, r.text
    assert Tokens(stack.stores).get(record.id).revoked_at is not None
    again = upload(stack, minted, tmp_path, version="2.0")
    assert again.returncode != 0 and "401" in again.stderr
    refused(burn(stack, minted), "invalid-token", "revoked")


@pytest.mark.parametrize("legacy", [False, True], ids=["minted", "minted-before-publish"])
def test_trusted_publishing_tokens_only_publish(stack, github, tmp_path, legacy):
    """A CI job's token uploads and nothing else: every read route refuses it with a 403 that
    says so (tokens minted as ``upload`` before the ``publish`` permission, too)."""
    from bale.tokens.service import Tokens

    issuer, _ = github
    if legacy:
        minted, _ = Tokens(stack.stores).create(
            "acme",
            "main",
            "upload",
            projects=[PROJECT],
            created_by="oidc:github",
            kind="oidc",
            publisher=f"github:{REPO}:publish.yml",
            check_index=False,
        )
    else:
        minted = mint(stack, issuer.sign()).json()["token"]
    ok = upload(stack, minted, tmp_path)
    assert ok.returncode == 0, ok.stderr
    whl = f"{PROJECT}-1.0-py3-none-any.whl"
    for path in (
        "/simple/acme/main/",
        f"/simple/acme/main/{PROJECT}/",
        f"/simple/acme/main/{PROJECT}/{whl}",
        f"/simple/acme/main/{PROJECT}/{whl}.metadata",
        f"/files/acme/main/{PROJECT}/{whl}",
    ):
        r = requests.get(stack.url + path, headers={"Authorization": f"Bearer {minted}"}, timeout=30)
        assert r.status_code == 403, (path, r.status_code)
        assert (
            "Trusted Publishing token can only upload to acme/main; it cannot list, read or download"
            in r.text
        )
    # The bytes are there for a read token.
    r = requests.get(
        stack.url + f"/simple/acme/main/{PROJECT}/{whl}", auth=("__token__", stack.token("read")), timeout=30
    )
    assert r.status_code == 200


def test_burn_refuses_api_tokens(stack):
    from bale.tokens.service import Tokens

    api = stack.token()
    refused(burn(stack, api), "invalid-token", "Only tokens minted by Trusted Publishing")
    assert Tokens(stack.stores).authenticate(api).revoked_at is None


def test_publishers_in_one_index_mint_for_all_their_projects(stack, github):
    issuer, _ = github
    add(stack, projects=["cog", "Sprocket.Extra"], environment="release")
    r = mint(stack, issuer.sign(issuer.claims(environment="release")))
    assert r.status_code == 200, r.text
    assert r.json()["projects"] == ["cog", PROJECT, "sprocket-extra"]


def test_a_workload_in_several_indexes_gets_one_grant_per_index(stack, github, tenancy, tmp_path):
    """uv cannot say where it will upload, so the token is good for each index the workload is
    enrolled in, for exactly the projects enrolled there; naming an index narrows it."""
    issuer, _ = github
    tenancy.create_index("acme", "staging")
    add(stack, index="staging", projects=["cog"])
    r = mint(stack, issuer.sign())
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert "index" not in r.json()  # several: not named (they may be other teams')
    assert scopes(stack, token) == [("acme", "main", [PROJECT]), ("acme", "staging", ["cog"])]
    assert upload(stack, token, tmp_path, PROJECT).returncode == 0
    whl = make_wheel(tmp_path, "cog", "1.0")
    assert uv_publish(f"{stack.url}/v1/upload/acme/staging/", token, whl).returncode == 0
    # Each grant keeps its own projects.
    r2 = uv_publish(f"{stack.url}/v1/upload/acme/main/", token, whl)
    assert r2.returncode != 0 and "may not upload project 'cog'" in r2.stderr
    r2 = uv_publish(f"{stack.url}/v1/upload/acme/staging/", token, make_wheel(tmp_path, PROJECT, "2.0"))
    assert r2.returncode != 0 and f"may not upload project '{PROJECT}'" in r2.stderr

    r = mint(stack, issuer.sign(), team="acme", index="staging")
    assert r.status_code == 200, r.text
    assert (r.json()["index"], r.json()["projects"]) == ("staging", ["cog"])
    assert scopes(stack, r.json()["token"]) == [("acme", "staging", ["cog"])]
    refused(mint(stack, issuer.sign(), team="acme", index="nope"), "invalid-publisher", "acme/nope")


def test_another_team_enrolling_the_same_workflow_cannot_break_or_reach_ours(
    stack, github, tenancy, tmp_path
):
    """Any team may enroll any repository for its own projects. globex enrolling acme's
    workflow (even with a wrong pinned owner, or for an index it then deletes) must neither
    stop acme's publishing nor give globex anything of acme's."""
    from bale.publishing.publishers import Publishers

    issuer, _ = github
    tenancy.create_team("globex", "gina@example.com")
    add(stack, team="globex", projects=["gizmo"])
    tenancy.create_index("globex", "doomed")
    add(stack, team="globex", index="doomed", projects=["gadget"])
    tenancy.create_index("globex", "pinned")
    wrong = add(stack, team="globex", index="pinned", projects=["gear"])
    Publishers(stack.stores)._col().document(wrong.id).update({"repository_owner_id": "666"})
    tenancy.index_ref("globex", "doomed").delete()  # there is no index deletion yet: by hand

    r = mint(stack, issuer.sign())
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert "globex" not in r.text and "gizmo" not in r.text  # the answer may end up in public CI logs
    assert scopes(stack, token) == [("acme", "main", [PROJECT]), ("globex", "main", ["gizmo"])]
    assert upload(stack, token, tmp_path, PROJECT).returncode == 0  # acme's publishing works
    r2 = uv_publish(f"{stack.url}/v1/upload/acme/main/", token, make_wheel(tmp_path, "gizmo", "1.0"))
    assert r2.returncode != 0 and "may not upload project 'gizmo'" in r2.stderr
    r2 = uv_publish(f"{stack.url}/v1/upload/globex/main/", token, make_wheel(tmp_path, PROJECT, "3.0"))
    assert r2.returncode != 0 and f"may not upload project '{PROJECT}'" in r2.stderr
    r2 = uv_publish(f"{stack.url}/v1/upload/initech/main/", token, make_wheel(tmp_path, PROJECT, "3.0"))
    assert "This token is not for initech/main" in r2.stderr and "globex" not in r2.stderr
    # Each team's audit log shows its own grant only, and no team learns of the run.
    acme_log = [e["detail"] for e in tenancy.audit_log("acme") if e["action"] == "mint-token"]
    globex_log = [e["detail"] for e in tenancy.audit_log("globex") if e["action"] == "mint-token"]
    assert acme_log and all("gizmo" not in d for d in acme_log) and PROJECT in acme_log[0]
    assert globex_log and all(PROJECT not in d for d in globex_log) and "gizmo" in globex_log[0]
    # The run is the workload's: every team that enrolled it is told, so none can erase it.
    assert all("run_id=" in d for d in acme_log + globex_log)

    # Each team lists the token as its own grant, with its own publishers only.
    from bale.tokens.service import Tokens

    tokens = Tokens(stack.stores)
    token_id = token.split("_")[1]
    (mine,) = [t for t in tokens.list("acme") if t.id == token_id]
    (theirs,) = [t for t in tokens.list("globex") if t.id == token_id]
    acme_pub = [p.id for p in Publishers(stack.stores).list("acme")]
    globex_pubs = [p.id for p in Publishers(stack.stores).list("globex")]
    assert (mine.index, mine.projects) == ("main", [PROJECT]) and (theirs.index, theirs.projects) == (
        "main",
        ["gizmo"],
    )
    assert not [g for g in globex_pubs if g in mine.description] and acme_pub[0] in mine.description
    assert not [a for a in acme_pub if a in theirs.description]
    # The file acme received names acme's publisher, not globex's.
    from bale.packages.service import Packages

    (rec,) = Packages(stack.stores).files("acme", "main", PROJECT)
    assert rec.uploaded_by == f"trusted publisher {mine.publisher}"

    # globex revokes: its grant goes, acme's stays.
    tokens.revoke("globex", token_id)
    assert [t.revoked_at is not None for t in tokens.list("globex") if t.id == token_id] == [True]
    assert [t.revoked_at is None for t in tokens.list("acme") if t.id == token_id] == [True]
    assert upload(stack, token, tmp_path, PROJECT, "4.0").returncode == 0
    r2 = uv_publish(f"{stack.url}/v1/upload/globex/main/", token, make_wheel(tmp_path, "gizmo", "1.0"))
    assert (
        r2.returncode != 0 and "This token is for acme/main, not globex/main" in r2.stderr
    )  # one grant left
    # Burning (the holder, at the end of its job) revokes it everywhere.
    assert burn(stack, token).status_code == 200
    assert upload(stack, token, tmp_path, PROJECT, "5.0").returncode != 0


# -- refusals: the workload -------------------------------------------------------------
def test_another_repository_is_refused_without_naming_anyones_publishers(stack, github):
    issuer, _ = github
    claims = issuer.claims(repository="octo-org/other")
    text = refused(mint(stack, issuer.sign(claims)), "invalid-publisher", "repository 'octo-org/other'")
    assert "No trusted publisher" in text
    for secret in ("acme", PROJECT, "publish.yml"):
        assert secret not in mint(stack, issuer.sign(issuer.claims(repository="octo-org/other"))).text


def test_another_workflow_is_refused(stack, github):
    issuer, _ = github
    r = mint(stack, issuer.sign(issuer.claims(workflow="other.yml")))
    text = refused(r, "invalid-publisher", "workflow 'other.yml' is not the enrolled 'publish.yml'")
    assert "acme" not in text and PROJECT not in text


def test_a_workflow_of_another_repository_is_refused(stack, github):
    issuer, _ = github
    claims = issuer.claims(job_workflow_ref="evil-org/tools/.github/workflows/publish.yml@refs/heads/main")
    refused(mint(stack, issuer.sign(claims)), "invalid-publisher", "job_workflow_ref", "is not a workflow of")


def test_environment_must_match_when_enrolled(stack, oidc_issuers):
    issuer = oidc_issuers.github
    add(stack, environment="release")
    refused(
        mint(stack, issuer.sign(issuer.claims(environment="staging"))),
        "invalid-publisher",
        "environment 'staging' is not the enrolled 'release'",
    )
    refused(mint(stack, issuer.sign()), "invalid-publisher", "environment", "requires 'release'")
    # Compared case-insensitively, as PyPI does.
    assert mint(stack, issuer.sign(issuer.claims(environment="Release"))).status_code == 200


def test_a_changed_repository_owner_id_is_refused(stack, github):
    issuer, _ = github
    assert mint(stack, issuer.sign()).status_code == 200  # pins 1001
    r = mint(stack, issuer.sign(issuer.claims(repository_owner_id="6666")))
    refused(r, "invalid-publisher", "repository_owner_id '6666' is not the enrolled '1001'")


def test_an_enrolled_owner_id_is_checked_from_the_start(stack, oidc_issuers):
    issuer = oidc_issuers.github
    add(stack, repository_owner_id="5555")
    refused(
        mint(stack, issuer.sign()),
        "invalid-publisher",
        "repository_owner_id '1001' is not the enrolled '5555'",
    )


def test_a_removed_publisher_mints_nothing(stack, github):
    from bale.publishing.publishers import Publishers

    issuer, pub = github
    Publishers(stack.stores).remove("acme", pub.id)
    refused(mint(stack, issuer.sign()), "invalid-publisher", "No trusted publisher is enrolled")


# -- refusals: the token -----------------------------------------------------------------
def test_expired_token_is_refused(stack, github):
    issuer, _ = github
    t = int(time.time())
    claims = issuer.claims(iat=t - 900, nbf=t - 900, exp=t - 120)
    refused(mint(stack, issuer.sign(claims)), "invalid-token", "expired", "(claim exp)")


def test_small_clock_skew_is_tolerated(stack, github):
    issuer, _ = github
    t = int(time.time())
    claims = issuer.claims(iat=t + 10, nbf=t + 10, exp=t - 10 + 300)
    assert mint(stack, issuer.sign(claims)).status_code == 200
    claims = issuer.claims(iat=t + 300, nbf=t + 300, exp=t + 600)
    refused(mint(stack, issuer.sign(claims)), "invalid-token", "not valid yet")


def test_wrong_audience_is_refused(stack, github):
    issuer, _ = github
    refused(
        mint(stack, issuer.sign(issuer.claims(aud="pypi"))),
        "invalid-token",
        "audience (aud) 'pypi'",
        "'bale'",
    )


def _unsigned(claims: dict, header: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}."


def test_alg_none_is_refused(stack, github):
    issuer, _ = github
    token = _unsigned(issuer.claims(), {"alg": "none", "typ": "JWT", "kid": "key-1"})
    refused(mint(stack, token), "invalid-token", "algorithm (alg) 'none' is not allowed")


def test_hmac_token_is_refused(stack, github):
    issuer, _ = github
    token = jwt.encode(
        issuer.claims(), "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers={"kid": "key-1"}
    )
    refused(mint(stack, token), "invalid-token", "algorithm (alg) 'HS256' is not allowed")


def test_algorithm_must_be_the_one_the_key_is_for(stack, github):
    issuer, _ = github
    token = issuer.sign(alg="RS512")  # the JWKS says key-1 is an RS256 key
    refused(
        mint(stack, token), "invalid-token", "algorithm (alg) 'RS512' is not the one its key 'key-1' is for"
    )


def test_unknown_signing_key_is_refused(stack, github):
    issuer, _ = github
    issuer.add_key("rogue", publish=False)
    refused(mint(stack, issuer.sign(kid="rogue")), "invalid-token", "signing key (kid) 'rogue'")


def test_forged_signature_is_refused(stack, github):
    from cryptography.hazmat.primitives.asymmetric import rsa

    issuer, _ = github
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = issuer.sign(key=forger, kid="key-1")  # claims a published kid, signed by another key
    refused(mint(stack, token), "invalid-token", "signature does not verify")


def test_untrusted_issuer_is_refused(stack, github):
    issuer, _ = github
    token = issuer.sign(issuer.claims(iss="https://token.actions.example.com"))
    refused(
        mint(stack, token), "invalid-token", "issuer (iss) 'https://token.actions.example.com' is not trusted"
    )


def test_missing_github_claim_is_refused(stack, github):
    issuer, _ = github
    refused(
        mint(stack, issuer.sign(issuer.claims(job_workflow_ref=None))), "invalid-token", "'job_workflow_ref'"
    )


def test_replayed_jti_is_refused(stack, github):
    issuer, _ = github
    token = issuer.sign()
    assert mint(stack, token).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    refused(mint(stack, token), "invalid-token", "already used", jti)
    doc = next(iter(stack.stores.db.collection("oidc_jti").stream())).to_dict()
    assert doc["jti"] == jti and doc["expires_at"] > dt.datetime.now(dt.UTC)


def test_rotated_key_is_fetched_on_unknown_kid(stack, github, monkeypatch):
    from bale.publishing import trusted as trusted_publishing

    monkeypatch.setattr(trusted_publishing, "JWKS_REFRESH_COOLDOWN", 0.0)
    issuer, _ = github
    assert mint(stack, issuer.sign()).status_code == 200  # caches the JWKS with key-1 only
    issuer.add_key("key-2", kind="ec")
    r = mint(stack, issuer.sign(kid="key-2"))
    assert r.status_code == 200, r.text


# -- other providers ---------------------------------------------------------------------
def test_gitlab_publisher(stack, oidc_issuers):
    issuer = oidc_issuers.gitlab
    add(stack, "gitlab", repository="acme-group/widgets", environment="production")
    r = mint(stack, issuer.sign(issuer.claims(environment="production")))
    assert r.status_code == 200, r.text
    assert r.json()["projects"] == [PROJECT]

    claims = issuer.claims(environment="production", ci_config_path="ci/release.yml")
    refused(
        mint(stack, issuer.sign(claims)),
        "invalid-publisher",
        "CI config 'ci/release.yml' (ci_config_ref_uri) is not the enrolled '.gitlab-ci.yml'",
    )
    claims = issuer.claims(environment="production", namespace_id="78")
    refused(
        mint(stack, issuer.sign(claims)), "invalid-publisher", "namespace_id '78' is not the enrolled '77'"
    )
    refused(
        mint(stack, issuer.sign(issuer.claims(project_path="acme-group/other"))),
        "invalid-publisher",
        "project_path 'acme-group/other'",
    )


def test_google_publisher(stack, oidc_issuers):
    issuer = oidc_issuers.google
    add(stack, "google", service_account="Publisher@acme-prod.iam.gserviceaccount.com")
    token = issuer.sign()
    assert "jti" not in jwt.decode(token, options={"verify_signature": False})
    r = mint(stack, token)
    assert r.status_code == 200, r.text
    refused(mint(stack, token), "invalid-token", "already used")  # no jti: the token's hash

    refused(
        mint(stack, issuer.sign(issuer.claims(email_verified=False))), "invalid-publisher", "email_verified"
    )
    refused(
        mint(stack, issuer.sign(issuer.claims(sub="999"))),
        "invalid-publisher",
        "sub '999' is not the enrolled",
    )
    refused(
        mint(stack, issuer.sign(issuer.claims(email="other@acme-prod.iam.gserviceaccount.com"))),
        "invalid-publisher",
        "email 'other@acme-prod.iam.gserviceaccount.com'",
    )


def test_a_token_of_one_provider_does_not_match_another(stack, oidc_issuers):
    # A GitLab token naming a path that is enrolled as a GitHub repository finds nothing.
    add(stack, repository="acme-group/widgets")
    issuer = oidc_issuers.gitlab
    refused(mint(stack, issuer.sign()), "invalid-publisher", "No trusted publisher", "GitLab")


# -- enrollment ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields, message",
    [
        ({"repository": "octo-org"}, "Invalid GitHub repository 'octo-org'"),
        ({"repository": "octo-org/widgets/extra"}, "Invalid GitHub repository"),
        ({"repository": "octo org/widgets"}, "Invalid GitHub repository"),
        ({"workflow": ".github/workflows/publish.yml"}, "without a directory"),
        ({"workflow": "publish.sh"}, "ending in .yml or .yaml"),
        ({"workflow": ""}, "needs --workflow"),
        ({"projects": ["bad name!"]}, "Invalid project name 'bad name!'"),
        ({"projects": []}, "at least one project"),
        ({"index": "nope"}, "No index acme/nope"),
        ({"provider": "jenkins"}, "Unknown provider 'jenkins'"),
    ],
)
def test_enrollment_is_validated(stack, fields, message):
    from bale.errors import BaleError

    kw = {"provider": "github"} | fields
    with pytest.raises(BaleError) as exc:
        add(stack, **kw)
    assert message in exc.value.message


def test_enrollment_validates_other_providers(stack):
    from bale.errors import BaleError

    for kw, message in [
        ({"repository": "widgets"}, "Invalid GitLab project path"),
        ({"repository": "acme-group/widgets", "ci_config_path": "../x.yml"}, "Invalid CI config path"),
    ]:
        with pytest.raises(BaleError) as exc:
            add(stack, "gitlab", **kw)
        assert message in exc.value.message
    with pytest.raises(BaleError) as exc:
        add(stack, "google", service_account="not-an-email")
    assert "Invalid email address" in exc.value.message


def test_enrollment_records_and_scopes_by_team(stack, tenancy):
    from bale.errors import Conflict, NotFound
    from bale.publishing.publishers import Publishers

    pub = add(stack, projects=["Sprocket", "cog"], environment="release")
    assert (pub.projects, pub.repository_owner_id, pub.created_by) == (["cog", "sprocket"], None, "cli")
    with pytest.raises(Conflict):
        add(stack, environment="RELEASE")
    tenancy.create_team("globex", "bob@example.com")
    service = Publishers(stack.stores)
    assert service.list("globex") == []
    with pytest.raises(NotFound):
        service.remove("globex", pub.id)  # another team's publisher is not found, not removed
    assert [p.id for p in service.list("acme")] == [pub.id]
    actions = [e["action"] for e in tenancy.audit_log("acme")]
    assert "add-publisher" in actions


def test_cli_add_list_remove_publisher(stack, capsys):
    from bale.publishing.publishers import Publishers
    from bale_tools.cli import main

    assert (
        main(
            [
                "admin",
                "add-publisher",
                "acme",
                "--index",
                "main",
                "--provider",
                "github",
                "--repository",
                REPO,
                "--workflow",
                "publish.yml",
                "--environment",
                "release",
                "--project",
                "Sprocket",
                "--project",
                "cog",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Added trusted publisher" in out and "cog, sprocket" in out and "acme/main" in out
    pub_id = out.split("publisher ", 1)[1].split(":", 1)[0]
    [pub] = Publishers(stack.stores).list("acme")
    assert (pub.id, pub.environment, pub.workflow) == (pub_id, "release", "publish.yml")

    assert (
        main(
            [
                "admin",
                "add-publisher",
                "acme",
                "--index",
                "main",
                "--provider",
                "gitlab",
                "--repository",
                "acme-group/sub/widgets",
                "--project",
                "cog",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "admin",
                "add-publisher",
                "acme",
                "--index",
                "main",
                "--provider",
                "google",
                "--service-account",
                "ci@acme-prod.iam.gserviceaccount.com",
                "--project",
                "cog",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["admin", "list-publishers", "acme"]) == 0
    listing = capsys.readouterr().out
    assert pub_id in listing and f"github:{REPO}:publish.yml (environment release)" in listing
    assert "gitlab:acme-group/sub/widgets:.gitlab-ci.yml" in listing
    assert "google:ci@acme-prod.iam.gserviceaccount.com" in listing

    assert (
        main(
            [
                "admin",
                "add-publisher",
                "acme",
                "--index",
                "main",
                "--provider",
                "github",
                "--repository",
                REPO,
                "--workflow",
                "ci/publish.yml",
                "--project",
                "x",
            ]
        )
        == 1
    )
    assert "without a directory" in capsys.readouterr().err

    assert main(["admin", "remove-publisher", "acme", pub_id]) == 0
    assert "Removed trusted publisher" in capsys.readouterr().out
    assert pub_id not in {p.id for p in Publishers(stack.stores).list("acme")}
    assert main(["admin", "remove-publisher", "acme", pub_id]) == 1
    assert f"No publisher {pub_id} in team acme" in capsys.readouterr().err


def test_what_other_teams_enroll_is_bounded(stack, github, tenancy):
    """A team enrolling a workflow in many indexes adds at most MAX_INDEXES_PER_TEAM grants to
    its token, and a publisher lists at most MAX_PROJECTS projects: the token stays small and
    the mint fast, so no team can make another team's mint fail."""
    from bale.errors import BadRequest
    from bale.publishing.publishers import MAX_PROJECTS
    from bale.publishing.trusted import MAX_INDEXES_PER_TEAM

    issuer, _ = github
    tenancy.create_team("globex", "gina@example.com")
    for i in range(MAX_INDEXES_PER_TEAM + 3):
        tenancy.create_index("globex", f"i{i:02d}")
        add(stack, team="globex", index=f"i{i:02d}", projects=[f"p{j}" for j in range(MAX_PROJECTS)])
    with pytest.raises(BadRequest, match=f"at most {MAX_PROJECTS} projects"):
        add(stack, team="globex", index="main", projects=[f"p{j}" for j in range(MAX_PROJECTS + 1)])
    r = mint(stack, issuer.sign())
    assert r.status_code == 200, r.text
    got = scopes(stack, r.json()["token"])
    assert got[0] == ("acme", "main", [PROJECT])
    assert [i for t, i, _ in got if t == "globex"] == [f"i{i:02d}" for i in range(MAX_INDEXES_PER_TEAM)]

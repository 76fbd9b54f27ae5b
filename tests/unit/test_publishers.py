"""bale.publishing.providers and publishers: enrolling a publisher and matching an OIDC token's claims to it.

Claims are written out here as each CI writes them; no issuer, no signature, no Firestore.
"""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.publishing.providers import get_provider
from bale.publishing.providers.github import GitHubActions
from bale.publishing.providers.gitlab import GitLabCI
from bale.publishing.providers.google import GoogleCloud
from bale.publishing.publishers import Publisher
from bale.settings import Settings

SETTINGS = Settings()
GITHUB, GITLAB, GOOGLE = GitHubActions(), GitLabCI(), GoogleCloud()


def publisher(provider: str, **fields) -> Publisher:
    return Publisher(id="p1", team="acme", index="main", provider=provider, projects=["widgets"], **fields)


# -- GitHub Actions -----------------------------------------------------------------------------
def test_github_enroll():
    rec = GITHUB.enroll(
        {"repository": " Octo-Org/Widgets ", "workflow": "publish.yml", "environment": " pypi "}
    )
    assert rec == {
        "repository": "Octo-Org/Widgets",
        "workflow": "publish.yml",
        "environment": "pypi",
        "repository_owner_id": None,
        "lookup": "github:octo-org/widgets",
    }
    rec = GITHUB.enroll(
        {"repository": "o/r", "workflow": "release.yaml", "environment": "", "repository_owner_id": 1001}
    )
    assert (rec["environment"], rec["repository_owner_id"]) == (None, "1001")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"workflow": "publish.yml"}, "needs --repository"),
        ({"repository": "octo-org", "workflow": "publish.yml"}, "Invalid GitHub repository"),
        ({"repository": "octo/org/widgets", "workflow": "publish.yml"}, "Invalid GitHub repository"),
        ({"repository": "-octo/widgets", "workflow": "publish.yml"}, "Invalid GitHub repository"),
        ({"repository": "octo/..", "workflow": "publish.yml"}, "Invalid GitHub repository"),
        ({"repository": "o/r"}, "needs --workflow"),
        ({"repository": "o/r", "workflow": ".github/workflows/publish.yml"}, "Invalid workflow"),
        ({"repository": "o/r", "workflow": "publish.txt"}, "Invalid workflow"),
        ({"repository": "o/r", "workflow": "publish.yml", "repository_owner_id": "octo"}, "it is a number"),
        ({"repository": "o/r", "workflow": "publish.yml", "environment": "a\nb"}, "Invalid environment"),
        ({"repository": "o/r", "workflow": "publish.yml", "environment": "x" * 256}, "Invalid environment"),
    ],
)
def test_github_enroll_refuses(fields, message):
    with pytest.raises(BadRequest, match=message):
        GITHUB.enroll(fields)


def gh_claims(**over) -> dict:
    repo = over.pop("repo", "octo-org/widgets")
    workflow = over.pop("workflow", "publish.yml")
    claims = {
        "repository": repo,
        "repository_owner_id": "1001",
        "ref": "refs/heads/main",
        "sha": "a" * 40,
        "job_workflow_ref": f"{repo}/.github/workflows/{workflow}@refs/heads/main",
        "sub": f"repo:{repo}:ref:refs/heads/main",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


GH = publisher("github", repository="octo-org/widgets", workflow="publish.yml")


def test_github_good_claims_match():
    assert GITHUB.check(GH, gh_claims(), SETTINGS) == []
    assert (
        GITHUB.check(GH, gh_claims(repo="Octo-Org/Widgets"), SETTINGS) == []
    )  # GitHub names are case-insensitive
    assert (
        GITHUB.check(
            GH,
            gh_claims(job_workflow_ref="octo-org/widgets/.github/workflows/publish.yml@" + "a" * 40),
            SETTINGS,
        )
        == []
    )  # pinned to the sha


def test_github_wrong_repository():
    errors = GITHUB.check(GH, gh_claims(repo="evil-org/widgets"), SETTINGS)
    assert "repository 'evil-org/widgets' is not the enrolled 'octo-org/widgets'" in errors
    assert any("is not a workflow of the enrolled repository" in e for e in errors)


def test_github_other_workflow_of_the_repository():
    assert GITHUB.check(GH, gh_claims(workflow="ci.yml"), SETTINGS) == [
        "workflow 'ci.yml' is not the enrolled 'publish.yml'"
    ]
    # A workflow in a subdirectory is not the enrolled file either.
    assert GITHUB.check(GH, gh_claims(workflow="sub/publish.yml"), SETTINGS) == [
        "workflow 'sub/publish.yml' is not the enrolled 'publish.yml'"
    ]


def test_github_reusable_workflow_from_another_repository_is_refused():
    ref = "evil-org/tools/.github/workflows/publish.yml@refs/heads/main"
    errors = GITHUB.check(GH, gh_claims(job_workflow_ref=ref), SETTINGS)
    assert errors == [
        f"job_workflow_ref {ref!r} is not a workflow of the enrolled repository 'octo-org/widgets'"
    ]


@pytest.mark.parametrize(
    "ref",
    [
        "octo-org/widgets/.github/workflows/publish.yml",
        "octo-org/widgets/.github/workflows/publish.yml@",
        None,
    ],
)
def test_github_workflow_ref_needs_a_ref(ref):
    errors = GITHUB.check(GH, gh_claims(job_workflow_ref=ref), SETTINGS)
    assert len(errors) == 1 and "has no @REF" in errors[0]


def test_github_workflow_ref_must_run_at_the_tokens_ref_or_sha():
    ref = "octo-org/widgets/.github/workflows/publish.yml@refs/heads/evil"
    assert GITHUB.check(GH, gh_claims(job_workflow_ref=ref), SETTINGS) == [
        f"job_workflow_ref {ref!r} does not run at the token's ref or sha"
    ]


def test_github_environment():
    pinned = publisher("github", repository="octo-org/widgets", workflow="publish.yml", environment="PyPI")
    assert GITHUB.check(pinned, gh_claims(environment="pypi"), SETTINGS) == []
    assert GITHUB.check(pinned, gh_claims(), SETTINGS) == [
        "environment: the token has none, but the publisher requires 'PyPI'"
    ]
    assert GITHUB.check(pinned, gh_claims(environment="staging"), SETTINGS) == [
        "environment 'staging' is not the enrolled 'PyPI'"
    ]
    # No environment enrolled: any, or none, is accepted.
    assert GITHUB.check(GH, gh_claims(environment="anything"), SETTINGS) == []


def test_github_owner_id_pin():
    pinned = publisher(
        "github", repository="octo-org/widgets", workflow="publish.yml", repository_owner_id="1001"
    )
    assert GITHUB.check(pinned, gh_claims(), SETTINGS) == []
    for other in ("9999", None):
        (error,) = GITHUB.check(pinned, gh_claims(repository_owner_id=other), SETTINGS)
        assert error.startswith(f"repository_owner_id {other or ''!r} is not the enrolled '1001'")
    # Not pinned yet: any owner id passes here (the first use pins it).
    assert GITHUB.check(GH, gh_claims(repository_owner_id="9999"), SETTINGS) == []


def test_github_key_and_label():
    assert GITHUB.key_from_claims({"repository": "Octo-Org/Widgets"}) == "octo-org/widgets"
    assert GITHUB.key_from_claims({"repository": 7}) is None
    assert GITHUB.key_from_claims({}) is None
    env = publisher("github", repository="o/r", workflow="p.yml", environment="pypi")
    assert env.label == "github:o/r:p.yml (environment pypi)"
    assert GH.label == "github:octo-org/widgets:publish.yml"


# -- GitLab CI/CD -------------------------------------------------------------------------------
def test_gitlab_enroll():
    rec = GITLAB.enroll({"repository": "/Acme-Group/Sub/Widgets/"})
    assert rec == {
        "repository": "Acme-Group/Sub/Widgets",
        "ci_config_path": ".gitlab-ci.yml",
        "environment": None,
        "namespace_id": None,
        "lookup": "gitlab:acme-group/sub/widgets",
    }
    rec = GITLAB.enroll({"repository": "g/p", "ci_config_path": "/ci/release.yaml", "namespace_id": "77"})
    assert (rec["ci_config_path"], rec["namespace_id"]) == ("ci/release.yaml", "77")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "needs --repository"),
        ({"repository": "widgets"}, "Invalid GitLab project path"),
        ({"repository": "g/p", "ci_config_path": "ci/../x.yml"}, "Invalid CI config path"),
        ({"repository": "g/p", "ci_config_path": "ci.txt"}, "Invalid CI config path"),
        ({"repository": "g/p", "namespace_id": "group"}, "it is a number"),
    ],
)
def test_gitlab_enroll_refuses(fields, message):
    with pytest.raises(BadRequest, match=message):
        GITLAB.enroll(fields)


GL = publisher("gitlab", repository="acme-group/widgets", ci_config_path=".gitlab-ci.yml")


def gl_claims(host="gitlab.com", path="acme-group/widgets", config=".gitlab-ci.yml", **over) -> dict:
    claims = {
        "project_path": path,
        "namespace_id": "77",
        "ci_config_ref_uri": f"{host}/{path}//{config}@refs/heads/main",
    } | over
    return {k: v for k, v in claims.items() if v is not None}


def test_gitlab_good_claims_match():
    assert GITLAB.check(GL, gl_claims(), SETTINGS) == []


def test_gitlab_self_hosted_instance_host_is_in_the_config_uri():
    self_hosted = Settings(gitlab_oidc_issuer="https://git.example.com/gitlab/")
    assert GITLAB.check(GL, gl_claims(host="git.example.com/gitlab"), self_hosted) == []
    # A token naming gitlab.com's project of the same path is not this instance's.
    (error,) = GITLAB.check(GL, gl_claims(host="gitlab.com"), self_hosted)
    assert "is not in the enrolled project" in error


def test_gitlab_wrong_project():
    errors = GITLAB.check(GL, gl_claims(path="evil/widgets"), SETTINGS)
    assert "project_path 'evil/widgets' is not the enrolled 'acme-group/widgets'" in errors
    assert any("is not in the enrolled project" in e for e in errors)


def test_gitlab_wrong_config_file():
    assert GITLAB.check(GL, gl_claims(config="other.yml"), SETTINGS) == [
        "CI config 'other.yml' (ci_config_ref_uri) is not the enrolled '.gitlab-ci.yml'"
    ]


def test_gitlab_config_uri_needs_a_ref():
    (error,) = GITLAB.check(
        GL, gl_claims(ci_config_ref_uri="gitlab.com/acme-group/widgets//.gitlab-ci.yml"), SETTINGS
    )
    assert "has no @REF" in error


def test_gitlab_namespace_pin_and_environment():
    pinned = publisher(
        "gitlab",
        repository="acme-group/widgets",
        ci_config_path=".gitlab-ci.yml",
        namespace_id="77",
        environment="production",
    )
    assert GITLAB.check(pinned, gl_claims(environment="production"), SETTINGS) == []
    errors = GITLAB.check(pinned, gl_claims(namespace_id="78"), SETTINGS)
    assert len(errors) == 2
    assert errors[0].startswith("namespace_id '78' is not the enrolled '77'")
    assert errors[1] == "environment: the token has none, but the publisher requires 'production'"


# -- Google Cloud -------------------------------------------------------------------------------
SA = "publisher@acme-prod.iam.gserviceaccount.com"


def test_google_enroll():
    assert GOOGLE.enroll({"service_account": " Publisher@Acme-Prod.iam.gserviceaccount.com "}) == {
        "service_account": SA,
        "subject": None,
        "lookup": f"google:{SA}",
    }
    assert GOOGLE.enroll({"service_account": SA, "subject": 1122})["subject"] == "1122"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "needs --service-account"),
        ({"service_account": "not-an-email"}, "Invalid email"),
        ({"service_account": SA, "subject": "abc"}, "it is a number"),
    ],
)
def test_google_enroll_refuses(fields, message):
    with pytest.raises(BadRequest, match=message):
        GOOGLE.enroll(fields)


GG = publisher("google", service_account=SA)


def g_claims(**over) -> dict:
    return {"email": SA, "email_verified": True, "sub": "112233"} | over


def test_google_claims():
    assert GOOGLE.check(GG, g_claims(), SETTINGS) == []
    assert GOOGLE.check(GG, g_claims(email=SA.upper()), SETTINGS) == []
    assert GOOGLE.check(GG, g_claims(email="other@x.iam.gserviceaccount.com"), SETTINGS) == [
        f"email 'other@x.iam.gserviceaccount.com' is not the enrolled service account {SA!r}"
    ]
    # Only a real boolean true counts as verified.
    for unverified in (False, "true", None):
        assert GOOGLE.check(GG, g_claims(email_verified=unverified), SETTINGS) == [
            "email_verified is not true"
        ]
    pinned = publisher("google", service_account=SA, subject="112233")
    assert GOOGLE.check(pinned, g_claims(), SETTINGS) == []
    (error,) = GOOGLE.check(pinned, g_claims(sub="999"), SETTINGS)
    assert error.startswith("sub '999' is not the enrolled '112233'")
    assert GG.label == f"google:{SA}"


def test_a_token_of_one_provider_never_matches_another_providers_publisher():
    # A GitLab token against a GitHub publisher: nothing it carries says the right things.
    assert GITHUB.check(GH, gl_claims(), SETTINGS)
    assert GITLAB.check(GL, gh_claims(), SETTINGS)
    assert GOOGLE.check(GG, gh_claims(), SETTINGS)


def test_get_provider():
    assert get_provider("gitlab") is not None and get_provider("gitlab").name == "gitlab"
    with pytest.raises(BadRequest, match="Unknown provider 'jenkins'"):
        get_provider("jenkins")


# -- the identity a minted token records, which attestations are verified against ---------------
def test_each_provider_names_the_identity_attestations_must_carry():
    from bale.provenance.identity import Identity

    gh = GitHubActions().identity(publisher("github", repository="octo-org/widgets", workflow="publish.yml"))
    assert gh == {"provider": "github", "repository": "octo-org/widgets", "workflow": "publish.yml"}
    gl = GitLabCI().identity(publisher("gitlab", repository="grp/sub/proj", ci_config_path="ci/release.yml"))
    assert gl == {"provider": "gitlab", "repository": "grp/sub/proj", "ci_config_path": "ci/release.yml"}
    go = GoogleCloud().identity(publisher("google", service_account="ci@p.iam.gserviceaccount.com"))
    assert go == {"provider": "google", "service_account": "ci@p.iam.gserviceaccount.com"}
    # Round trip through the token record, and PEP 740's publisher objects.
    assert Identity.from_dict(gh).publisher_object() == {
        "kind": "GitHub",
        "repository": "octo-org/widgets",
        "workflow": "publish.yml",
    }
    assert Identity.from_dict(gl).publisher_object()["workflow_filepath"] == "ci/release.yml"
    assert Identity.from_dict(go).publisher_object() == {
        "kind": "Google",
        "email": "ci@p.iam.gserviceaccount.com",
    }
    assert Identity.from_dict(None) is None and Identity.from_dict({}) is None


def test_the_identity_is_spelled_as_the_token_spells_it():
    """Names match case-insensitively at mint time, but Sigstore's policies compare a signing
    certificate's repository exactly: the token's identity must carry the provider's spelling,
    not the enrollment's, or the real publisher's attestations fail verification."""
    gh = publisher("github", repository="Octo-Org/Widgets", workflow="publish.yml")
    assert (
        GitHubActions().identity(gh, {"repository": "octo-org/widgets"})["repository"] == "octo-org/widgets"
    )
    # A claim naming something else is never taken over the enrollment.
    assert GitHubActions().identity(gh, {"repository": "evil/widgets"})["repository"] == "Octo-Org/Widgets"
    gl = publisher("gitlab", repository="Grp/Proj", ci_config_path=".gitlab-ci.yml")
    assert GitLabCI().identity(gl, {"project_path": "grp/proj"})["repository"] == "grp/proj"
    go = publisher("google", service_account="ci@p.iam.gserviceaccount.com")
    assert GoogleCloud().identity(go, {"email": "CI@p.iam.gserviceaccount.com"})["service_account"] == (
        "CI@p.iam.gserviceaccount.com"
    )

"""Trusted Access end to end: a CI job's OIDC token becomes a read token, and real uv installs
with it; no secret is stored anywhere.

The issuers are local ones with real keys (tests/fakes/oidc_issuer.py); the job is shaped like a
GitHub Actions one: the runner's token endpoint, the bale-oidc action's script in ``mode: read``
writing to $GITHUB_OUTPUT, then ``uv sync`` with ``UV_INDEX_<NAME>_USERNAME/_PASSWORD``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from clients import BIN, run, uv_publish
from factories import make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / ".github" / "actions" / "bale-oidc" / "mint.sh"
UV = BIN / "uv"


def read_token(stack, jwt_: str, **extra) -> requests.Response:
    return requests.post(f"{stack.url}/_/oidc/read-token", json={"token": jwt_, **extra}, timeout=30)


def refused(resp: requests.Response, *needles: str) -> str:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert set(body) == {"message", "errors"}, body
    text = " ".join(e["description"] for e in body["errors"])
    for needle in needles:
        assert needle in text, text
    return text


def enroll(stack, provider="github", team="acme", **kw):
    from bale.publishing.readers import Readers

    if provider == "github":
        kw.setdefault("repository", "octo-org/*")
    if "indexes" not in kw and "all_indexes" not in kw:
        kw["indexes"] = ["main"]
    return Readers(stack.stores).add(team, provider, **kw)


@pytest.fixture
def private(stack, tmp_path):
    """secretlib 1.0 in acme/main, private like every index."""
    dist = tmp_path / "dist"
    dist.mkdir()
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), make_wheel(dist, "secretlib", "1.0"))
    assert r.returncode == 0, r.stderr
    return stack


def index_status(stack, token, team="acme", index="main") -> int:
    return requests.get(
        f"{stack.url}/simple/{team}/{index}/", auth=("__token__", token), timeout=30
    ).status_code


# -- the job --------------------------------------------------------------------------------
def test_github_shaped_job_uv_syncs_private_packages_with_no_secret(
    private, oidc_issuers, tmp_path, client_env
):
    """The Done-when: the action's read mode, then `uv sync` of a project needing secretlib."""
    from bale.tenancy.service import Tenancy

    stack = private
    enroll(stack)
    issuer = oidc_issuers.github
    out = tmp_path / "github_output"
    out.touch()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "BALE_"))},
        "GITHUB_OUTPUT": str(out),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        "BALE_REGISTRY_URL": stack.url,
        "BALE_TEAM": "acme",
        "BALE_MODE": "read",
    }
    r = subprocess.run(["bash", str(ACTION)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["index-url"] == f"{stack.url}/simple/acme/main/"
    assert outputs["username"] == "__token__"
    token = outputs["token"]
    assert token.startswith("bale_") and "::add-mask::" + token in r.stdout

    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[project]\nname = 'app'\nversion = '0'\nrequires-python = '>=3.11'\ndependencies = ['secretlib']\n"
        "[tool.uv]\npackage = false\n"
        f"[[tool.uv.index]]\nname = 'acme'\nurl = '{outputs['index-url']}'\ndefault = true\n"
    )
    uv_env = client_env | {
        "UV_INDEX_ACME_USERNAME": outputs["username"],
        "UV_INDEX_ACME_PASSWORD": token,
        "UV_PYTHON": sys.executable,
    }
    uv_env.pop("UV_NO_CONFIG")  # the project's own pyproject.toml names the index
    r = run([UV, "sync", "--no-cache"], env=uv_env, cwd=project)
    assert r.returncode == 0, r.stderr
    code = "import secretlib; print(secretlib.__version__)"
    got = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True
    )
    assert got.stdout.strip() == "1.0", got.stderr
    # Nothing was stored: the lock file names the index, never the token.
    assert token not in (project / "uv.lock").read_text()

    # Audited in acme: who (repository, workflow, subject) and which run.
    entry = next(e for e in Tenancy(stack.stores).audit_log("acme") if e["action"] == "read-token")
    for needle in (
        "repository=octo-org/widgets",
        "job_workflow_ref=",
        "sub=repo:octo-org/widgets",
        "run_id=424242",
        "main",
    ):
        assert needle in entry["detail"], entry
    assert "trusted accessor github:octo-org/*" in entry["actor"]


def test_read_token_reads_only_its_indexes_for_an_hour_and_never_writes(private, oidc_issuers, tmp_path):
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens

    stack = private
    Tenancy(stack.stores).create_index("acme", "staging")
    Tenancy(stack.stores).create_index("acme", "secret")
    enroll(stack, indexes=["main", "staging"])
    resp = read_token(stack, oidc_issuers.github.sign())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    token = body["token"]
    assert 3500 < body["expires"] - time.time() <= 3600
    rec = Tokens(stack.stores).authenticate(token)
    assert rec.permission == "read" and rec.kind == "access"
    assert sorted(i for _, i, _ in rec.scopes()) == ["main", "staging"]
    assert index_status(stack, token) == 200
    assert index_status(stack, token, index="staging") == 200
    assert index_status(stack, token, index="secret") == 403
    # An upload with it is refused, by the real client.
    whl = make_wheel(tmp_path, "secretlib", "2.0")
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", token, whl)
    assert r.returncode != 0 and "can only read" in r.stderr, r.stderr
    # It mints nothing: it is not an OIDC token, and cannot be burned or exchanged.
    assert (
        requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": token}, timeout=30).status_code == 422
    )
    assert (
        requests.post(f"{stack.url}/_/oidc/read-token", json={"token": token}, timeout=30).status_code == 422
    )
    r = requests.post(f"{stack.url}/_/oidc/burn-token", json={"token": token}, timeout=30)
    assert r.status_code == 422 and "Trusted Publishing" in r.text


def test_all_indexes(private, oidc_issuers):
    from bale.tenancy.service import Tenancy

    Tenancy(private.stores).create_index("acme", "staging")
    enroll(private, all_indexes=True, indexes=None)
    token = read_token(private, oidc_issuers.github.sign()).json()["token"]
    assert index_status(private, token, index="staging") == 200
    assert index_status(private, token) == 200


# -- refusals ---------------------------------------------------------------------------
def test_another_repository_and_pattern_edges(private, oidc_issuers, tenancy):
    stack = private
    enroll(stack, repository="acme/*")
    # Another team enrolls a pattern of the same owner: never shown to the caller.
    tenancy.create_team("rival", "eve@example.com")
    enroll(stack, team="rival", repository="acme/hidden-*")
    gh = oidc_issuers.github
    ok = read_token(stack, gh.sign(gh.claims(repository="acme/widgets")))
    assert ok.status_code == 200, ok.text
    refused(
        read_token(stack, gh.sign(gh.claims(repository="acme-evil/x"))), "No trusted accessor", "acme-evil/x"
    )
    text = refused(
        read_token(stack, gh.sign(gh.claims(repository="acme/x/y"))), "repository 'acme/x/y' does not match"
    )
    refused(read_token(stack, gh.sign()), "No trusted accessor is enrolled", "octo-org/widgets")
    assert "rival" not in text and "hidden" not in text and "acme/*" not in text


def test_one_workload_enrolled_by_two_teams_reads_both_and_each_log_tells_its_own(
    private, oidc_issuers, tenancy
):
    tenancy.create_team("rival", "eve@example.com")
    enroll(private)
    enroll(private, team="rival")
    token = read_token(private, oidc_issuers.github.sign()).json()["token"]
    assert index_status(private, token) == 200
    assert index_status(private, token, team="rival") == 200
    for team, other in (("acme", "rival"), ("rival", "acme")):
        [entry] = [e for e in tenancy.audit_log(team) if e["action"] == "read-token"]
        assert "reads main" in entry["detail"] and other not in entry["detail"] + entry["actor"]


def test_subject_pattern(private, oidc_issuers):
    enroll(private, subject="repo:octo-org/*:environment:ci")
    gh = oidc_issuers.github
    refused(read_token(private, gh.sign()), "sub 'repo:octo-org/widgets:ref:refs/heads/main' does not match")
    ok = read_token(private, gh.sign(gh.claims(sub="repo:octo-org/widgets:environment:ci")))
    assert ok.status_code == 200, ok.text


def test_expired_replayed_and_wrong_audience(private, oidc_issuers):
    enroll(private)
    gh = oidc_issuers.github
    now = int(time.time())
    refused(read_token(private, gh.sign(gh.claims(exp=now - 120, iat=now - 600, nbf=now - 600))), "expired")
    refused(read_token(private, gh.sign(gh.claims(aud="not-bale"))), "audience (aud) 'not-bale'")
    once = gh.sign()
    assert read_token(private, once).status_code == 200
    refused(read_token(private, once), "already used")
    # A token spent on a read cannot then publish either (one jti, one exchange).
    assert (
        requests.post(f"{private.url}/_/oidc/mint-token", json={"token": once}, timeout=30).status_code == 422
    )


def test_gitlab_project_paths_and_a_google_service_account(private, oidc_issuers):
    gl, google = oidc_issuers.gitlab, oidc_issuers.google
    enroll(private, provider="gitlab", repository="acme-group/*")
    enroll(private, provider="google", service_account="publisher@acme-prod.iam.gserviceaccount.com")
    assert read_token(private, gl.sign()).status_code == 200  # acme-group/widgets
    refused(
        read_token(private, gl.sign(gl.claims(project_path="acme-group/sub/widgets"))),
        "project_path 'acme-group/sub/widgets' does not match",
    )
    refused(
        read_token(private, gl.sign(gl.claims(project_path="acme-groupx/widgets"))), "No trusted accessor"
    )
    ok = read_token(private, google.sign())
    assert ok.status_code == 200, ok.text
    assert index_status(private, ok.json()["token"]) == 200
    refused(
        read_token(private, google.sign(google.claims(email_verified=False))), "email_verified is not true"
    )


def test_owner_id_is_pinned_at_the_first_exchange(private, oidc_issuers):
    from bale.publishing.readers import Readers

    r = enroll(private)
    gh = oidc_issuers.github
    assert read_token(private, gh.sign()).status_code == 200
    assert Readers(private.stores).get("acme", r.id).owner_id == "1001"
    # The owner name deleted and registered again: same name, another account.
    refused(read_token(private, gh.sign(gh.claims(repository_owner_id="9999"))), "repository_owner_id '9999'")


def test_unenrolled_generic_issuer_is_never_contacted(private, oidc_issuers):
    ghes = oidc_issuers.ghes
    refused(read_token(private, ghes.sign()), "is not trusted here")
    assert ghes.fetched == []


def test_body_is_only_the_token(private, oidc_issuers):
    enroll(private)
    r = read_token(private, oidc_issuers.github.sign(), team="acme")
    assert r.status_code == 422 and "Send only" in r.text


# -- generic OIDC: a GitHub Enterprise Server -------------------------------------------------
def test_github_enterprise_through_the_generic_provider(private, oidc_issuers, tmp_path, client_env):
    ghes = oidc_issuers.ghes
    enroll(
        private,
        provider="oidc",
        issuer=ghes.url,
        repository="octo-org/*",
        claims=["enterprise=acme-corp", "ref=refs/heads/main"],
    )
    refused(read_token(private, ghes.sign(ghes.claims(enterprise="evil-corp"))), "enterprise 'evil-corp'")
    refused(read_token(private, oidc_issuers.github.sign()), "No trusted accessor")  # github.com is not GHES
    resp = read_token(private, ghes.sign())
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    venv = tmp_path / "venv"
    assert run([UV, "venv", "--python", sys.executable, venv], env=client_env).returncode == 0
    host = private.url.split("://", 1)[1]
    r = run(
        [
            UV,
            "pip",
            "install",
            "--no-cache",
            "--python",
            venv / "bin" / "python",
            "--index-url",
            f"http://__token__:{token}@{host}/simple/acme/main/",
            "secretlib",
        ],
        env=client_env,
    )
    assert r.returncode == 0, r.stderr
    assert (venv / "bin" / "python").exists()


# -- enrollment ---------------------------------------------------------------------------
def test_only_admins_enroll_and_changes_are_audited(stack, tenancy):
    from bale.errors import BadRequest, Forbidden
    from bale.publishing.readers import Readers

    readers = Readers(stack.stores)
    tenancy.set_member("acme", "bob@example.com", "member")
    with pytest.raises(Forbidden):
        readers.add("acme", "github", repository="acme/*", indexes=["main"], actor="bob@example.com")
    for bad in ("*", "*/*", "acme*/x", "acme/[a]"):
        with pytest.raises(BadRequest):
            readers.add("acme", "github", repository=bad, indexes=["main"], actor="alice@example.com")
    with pytest.raises(BadRequest):
        readers.add("acme", "github", repository="acme/*", actor="alice@example.com")  # no index choice
    r = readers.add("acme", "github", repository="acme/*", indexes=["main"], actor="alice@example.com")
    assert [x.id for x in readers.list("acme")] == [r.id]
    with pytest.raises(Forbidden):
        readers.remove("acme", r.id, actor="bob@example.com")
    readers.remove("acme", r.id, actor="alice@example.com")
    assert readers.list("acme") == []
    actions = [(e["actor"], e["action"]) for e in tenancy.audit_log("acme")]
    assert ("alice@example.com", "add-reader") in actions and (
        "alice@example.com",
        "remove-reader",
    ) in actions


# -- the CLI --------------------------------------------------------------------------------
@pytest.fixture
def bale(stores):
    from click.testing import CliRunner

    from bale import settings as settings_mod
    from bale_tools.cli import cli

    runner = CliRunner()

    def invoke(*args):
        settings_mod.get_settings.cache_clear()
        try:
            return runner.invoke(cli, ["admin", *args], catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return invoke


def test_cli_add_list_remove_and_the_exchange_follows(bale, private, oidc_issuers):
    r = bale("add-reader", "acme", "--provider", "github", "--repository", "*/*", "--index", "main")
    assert r.exit_code == 1 and "would match everything" in r.stderr, r.output
    r = bale("reader", "add", "acme", "--provider", "github", "--repository", "octo-org/*")
    assert r.exit_code == 1 and "--all-indexes" in r.stderr, r.output
    r = bale(
        "reader",
        "add",
        "acme",
        "--provider",
        "oidc",
        "--issuer",
        "http://ghes.example",
        "--claim",
        "x=y",
        "--all-indexes",
    )
    assert r.exit_code == 1 and "https://" in r.stderr, r.output
    r = bale("add-reader", "acme", "--provider", "github", "--repository", "octo-org/*", "--index", "main")
    assert r.exit_code == 0, r.output
    reader_id = re.search(r"trusted accessor ([0-9a-f]{16})", r.output).group(1)
    r = bale(
        "reader",
        "add",
        "acme",
        "--provider",
        "oidc",
        "--issuer",
        oidc_issuers.ghes.url,
        "--claim",
        "repository=octo-org/*",
        "--subject",
        "repo:octo-org/*:*",
        "--all-indexes",
    )
    assert r.exit_code == 0, r.output
    listing = bale("reader", "list", "acme").output
    assert reader_id in listing and "github:octo-org/*" in listing and "all indexes" in listing
    assert f"oidc:{oidc_issuers.ghes.url}" in listing
    assert read_token(private, oidc_issuers.github.sign()).status_code == 200
    r = bale("remove-reader", "acme", reader_id)
    assert r.exit_code == 0 and reader_id in r.output
    assert reader_id not in bale("list-readers", "acme").output
    refused(read_token(private, oidc_issuers.github.sign()), "No trusted accessor")


# -- generic OIDC for Trusted Publishing ------------------------------------------------------
def test_github_enterprise_publishes_through_the_generic_provider(bale, stack, oidc_issuers, tmp_path):
    from clients import uv_publish as publish

    ghes = oidc_issuers.ghes
    r = bale(
        "add-publisher",
        "acme",
        "--index",
        "main",
        "--provider",
        "oidc",
        "--project",
        "gizmo",
        "--issuer",
        ghes.url,
        "--claim",
        "repository=octo-org/widgets",
        "--claim",
        "job_workflow_ref=octo-org/widgets/.github/workflows/publish.yml@refs/heads/*",
    )
    assert r.exit_code == 0, r.output
    mint = lambda jwt_: requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": jwt_}, timeout=30)  # noqa: E731
    text = refused(mint(ghes.sign(ghes.claims(repository="octo-org/other"))), "repository 'octo-org/other'")
    assert "gizmo" not in text and "octo-org/widgets'" not in text
    resp = mint(ghes.sign())
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    r = publish(f"{stack.url}/v1/upload/acme/main/", token, whl)
    assert r.returncode == 0, r.stderr
    # Its token carries no signer identity: attestations are refused, saying why.
    from factories import wheel_bytes, wheel_name
    from uploads import form_for, post

    data = wheel_bytes("gizmo", "1.1")
    form, files = form_for(wheel_name("gizmo", "1.1"), data, name="gizmo", version="1.1")
    form["attestations"] = "[{}]"
    r = post(stack, form, files, token=mint(ghes.sign()).json()["token"])
    assert r.status_code == 400 and "Attestation refused" in r.text, r.text

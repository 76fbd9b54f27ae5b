"""Trusted Publishing end to end: the real `uv publish --trusted-publishing always`, over TLS.

uv always reaches ``https://{publish host}/_/oidc/…``, so the registry is served a second
time, over HTTPS with a certificate from a throwaway CA that uv trusts through
SSL_CERT_FILE. The runner's token endpoint is the local GitHub issuer's (plain HTTP, as
uv's ACTIONS_ID_TOKEN_REQUEST_URL may be).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
from pathlib import Path

import pytest

from clients import BIN, run, twine_upload
from factories import make_sdist, make_wheel

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REPO = "octo-org/widgets"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A CA and a server certificate for localhost and 127.0.0.1, made with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Bale test CA"))
        .issuer_name(name("Bale test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "cert.pem").write_bytes(cert.public_bytes(pem))
    (d / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return d


@pytest.fixture(scope="session")
def _tls_server(base_settings, tls_files):
    from bale_tools.devserver import Server, build_app

    server = Server(
        build_app(base_settings), certfile=tls_files / "cert.pem", keyfile=tls_files / "key.pem"
    ).start()
    yield server
    server.stop()


@pytest.fixture
def https_stack(_tls_server, stack):
    assert _tls_server.url.startswith("https://localhost:")
    return _tls_server.url


def uv_trusted_publish(url: str, issuer, tls_files, *files, extra_env=None):
    env = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        "SSL_CERT_FILE": str(tls_files / "ca.pem"),
        **(extra_env or {}),
    }
    return run(
        [BIN / "uv", "publish", "--trusted-publishing", "always", "--publish-url", url, *files], env=env
    )


def test_uv_publishes_with_trusted_publishing(https_stack, stack, oidc_issuers, tls_files, tmp_path):
    from bale.packages.service import Packages
    from bale.publishing.publishers import Publishers
    from bale.tokens.service import Tokens

    Publishers(stack.stores).add("acme", "main", "github", ["gizmo"], repository=REPO, workflow="publish.yml")
    issuer = oidc_issuers.github
    dist = tmp_path / "dist"
    dist.mkdir()
    files = [make_wheel(dist, "gizmo", "1.0"), make_sdist(dist, "gizmo", "1.0")]

    r = uv_trusted_publish(f"{https_stack}/v1/upload/acme/main/", issuer, tls_files, *files)
    assert r.returncode == 0, r.stdout + r.stderr

    # uv asked the runner for a token with the audience the registry announced …
    assert [q["audience"] for q in issuer.requests] == ["bale"]
    # … the files landed, uploaded by the publisher …
    landed = {f.filename: f for f in Packages(stack.stores).files("acme", "main", "gizmo")}
    assert set(landed) == {p.name for p in files}
    assert all(f.uploaded_by == f"trusted publisher github:{REPO}:publish.yml" for f in landed.values())
    # … with one minted token, which uv burned when it was done.
    [minted] = [t for t in Tokens(stack.stores).list("acme") if t.kind == "oidc"]
    assert minted.revoked_at is not None
    assert minted.projects == ["gizmo"]


def test_uv_shows_which_claim_did_not_match(https_stack, stack, oidc_issuers, tls_files, tmp_path):
    from bale.publishing.publishers import Publishers

    Publishers(stack.stores).add("acme", "main", "github", ["gizmo"], repository=REPO, workflow="release.yml")
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    r = uv_trusted_publish(f"{https_stack}/v1/upload/acme/main/", oidc_issuers.github, tls_files, whl)
    assert r.returncode != 0
    assert "422" in r.stderr
    assert "workflow 'publish.yml' is not the enrolled 'release.yml'" in r.stderr


def test_uv_cannot_publish_a_project_outside_the_publisher(
    https_stack, stack, oidc_issuers, tls_files, tmp_path
):
    from bale.packages.service import Packages
    from bale.publishing.publishers import Publishers
    from bale.tokens.service import Tokens

    Publishers(stack.stores).add("acme", "main", "github", ["gizmo"], repository=REPO, workflow="publish.yml")
    whl = make_wheel(tmp_path, "doohickey", "1.0")
    r = uv_trusted_publish(f"{https_stack}/v1/upload/acme/main/", oidc_issuers.github, tls_files, whl)
    assert r.returncode != 0
    assert "403" in r.stderr and "'doohickey'" in r.stderr
    assert Packages(stack.stores).files("acme", "main", "doohickey") == []
    # uv burns the minted token on failure too.
    [minted] = Tokens(stack.stores).list("acme")
    assert minted.kind == "oidc" and minted.revoked_at is not None


def test_bale_oidc_action_mints_for_twine(stack, oidc_issuers, tmp_path):
    """The composite action's script, run as a GitHub runner would, then twine with its output."""
    from bale.packages.service import Packages
    from bale.publishing.publishers import Publishers
    from bale.tenancy.service import Tenancy

    tenancy = Tenancy(stack.stores)
    tenancy.create_index("acme", "staging")
    for index in ("main", "staging"):  # enrolled twice: the action's inputs pick the index
        Publishers(stack.stores).add(
            "acme", index, "github", ["gizmo"], repository=REPO, workflow="publish.yml"
        )
    issuer = oidc_issuers.github
    out = tmp_path / "github_output"
    out.touch()
    script = ROOT / ".github" / "actions" / "bale-oidc" / "mint.sh"
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(out),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        "BALE_REGISTRY_URL": stack.url + "/",
        "BALE_TEAM": "acme",
        "BALE_INDEX": "staging",
    }
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["url"] == f"{stack.url}/v1/upload/acme/staging/"
    assert outputs["token"].startswith("bale_")
    assert f"::add-mask::{outputs['token']}" in r.stdout  # masked before anything could print it

    whl = make_wheel(tmp_path, "gizmo", "2.0")
    t = twine_upload(outputs["url"], outputs["token"], whl)
    assert t.returncode == 0, t.stdout + t.stderr
    assert [f.filename for f in Packages(stack.stores).files("acme", "staging", "gizmo")] == [whl.name]

    # A refusal is an ::error:: annotation carrying the server's description.
    issuer.overrides = {"workflow": "other.yml"}
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0
    assert "::error" in r.stdout and "workflow 'other.yml' is not the enrolled 'publish.yml'" in r.stdout


def test_bale_oidc_action_takes_pyx_input_names(stack, oidc_issuers, tmp_path):
    """A pyx-auth-action step keeps its `workspace` and `registry` inputs: only `uses:` and
    the URL change."""
    from bale.publishing.publishers import Publishers
    from bale.tenancy.service import Tenancy

    action = (ROOT / ".github" / "actions" / "bale-oidc" / "action.yml").read_text()
    assert "\n  workspace:\n" in action and "\n  registry:\n" in action  # inputs
    assert "BALE_WORKSPACE: ${{ inputs.workspace }}" in action
    assert "BALE_REGISTRY: ${{ inputs.registry }}" in action
    Tenancy(stack.stores).create_index("acme", "staging")
    Publishers(stack.stores).add(
        "acme", "staging", "github", ["gizmo"], repository=REPO, workflow="publish.yml"
    )
    issuer = oidc_issuers.github
    out = tmp_path / "github_output"
    out.touch()
    script = ROOT / ".github" / "actions" / "bale-oidc" / "mint.sh"
    env = {
        **os.environ,
        "GITHUB_OUTPUT": str(out),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
        "BALE_REGISTRY_URL": stack.url,
        "BALE_TEAM": "",
        "BALE_INDEX": "",
        "BALE_WORKSPACE": "acme",
        "BALE_REGISTRY": "staging",
    }
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["url"] == f"{stack.url}/v1/upload/acme/staging/"
    # Both names, disagreeing: refused before anything is minted.
    r = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={**env, "BALE_TEAM": "globex"}, timeout=60
    )
    assert r.returncode != 0 and "team 'globex' and workspace 'acme' disagree" in r.stdout


def test_uv_publishes_from_gitlab(https_stack, stack, oidc_issuers, tls_files, tmp_path):
    """On GitLab, uv reads the ID token from <AUDIENCE>_ID_TOKEN (the job's `id_tokens:`)."""
    from bale.packages.service import Packages
    from bale.publishing.publishers import Publishers
    from bale.tokens.service import Tokens

    Publishers(stack.stores).add("acme", "main", "gitlab", ["gizmo"], repository="acme-group/widgets")
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    env = {
        "GITLAB_CI": "true",
        "BALE_ID_TOKEN": oidc_issuers.gitlab.sign(),
        "SSL_CERT_FILE": str(tls_files / "ca.pem"),
    }
    r = run(
        [
            BIN / "uv",
            "publish",
            "--trusted-publishing",
            "always",
            "--publish-url",
            f"{https_stack}/v1/upload/acme/main/",
            whl,
        ],
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    [f] = Packages(stack.stores).files("acme", "main", "gizmo")
    assert f.uploaded_by == "trusted publisher gitlab:acme-group/widgets:.gitlab-ci.yml"
    [minted] = Tokens(stack.stores).list("acme")
    assert minted.kind == "oidc" and minted.revoked_at is not None

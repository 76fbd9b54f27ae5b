"""PEP 740 provenance end to end: the real `uv publish --trusted-publishing always` uploads
`<dist>.publish.attestation` files beside the distributions; Bale verifies them (offline,
against a throwaway Sigstore trust root: tests/fakes/sigstore_root.py), stores them with the
file, and serves them through the Integrity API and the Simple API. Every refusal is a 400
naming the failed check, with nothing stored."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests
import test_trusted_publishing_e2e as trusted_e2e

from clients import uv_publish
from factories import make_sdist, make_wheel
from fakes.sigstore_root import PUBLISH_V1, TestSigstore

pytestmark = pytest.mark.e2e

# The registry over TLS and uv's Trusted Publishing run, shared with the Trusted Publishing tests.
tls_files, _tls_server, https_stack = trusted_e2e.tls_files, trusted_e2e._tls_server, trusted_e2e.https_stack
uv_trusted_publish = trusted_e2e.uv_trusted_publish

REPO = "octo-org/widgets"
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"


@pytest.fixture
def publisher(stack):
    from bale.publishing.publishers import Publishers

    Publishers(stack.stores).add("acme", "main", "github", ["gizmo"], repository=REPO, workflow="publish.yml")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def attest(sig: TestSigstore, dist, kind: str = "publish", **kw):
    """Write ``<dist>.<kind>.attestation`` beside ``dist``. uv uploads an attestation with the
    distribution it names when both are among the files it is given (``uv publish dist/*``)."""
    att = sig.attest(dist.name, sha256(dist), **kw)
    path = dist.parent / f"{dist.name}.{kind}.attestation"
    path.write_text(json.dumps(att))
    return path


def with_attestations(*dists):
    """The files ``uv publish dist/*`` would get: each distribution and its attestations."""
    return [p for d in dists for p in (d, *sorted(d.parent.glob(d.name + ".*.attestation")))]


def nothing_stored(stack, project="gizmo"):
    from bale.packages.service import Packages

    packages = Packages(stack.stores)
    return (
        packages.files("acme", "main", project) == []
        and packages.project_doc("acme", "main", project) is None
    )


def test_uv_publish_stores_and_serves_provenance(
    https_stack, stack, test_sigstore, oidc_issuers, tls_files, publisher, tmp_path
):
    from pypi_attestations import GitHubPublisher, Provenance
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    from bale.packages.service import Packages
    from bale.tokens.service import Tokens

    dist = tmp_path / "dist"
    dist.mkdir()
    whl, sdist = make_wheel(dist, "gizmo", "1.0"), make_sdist(dist, "gizmo", "1.0")
    attest(test_sigstore, whl)
    attest(test_sigstore, sdist)

    r = uv_trusted_publish(
        f"{https_stack}/v1/upload/acme/main/", oidc_issuers.github, tls_files, *with_attestations(whl, sdist)
    )
    assert r.returncode == 0, r.stdout + r.stderr

    # The minted token recorded the publisher's identity, which the attestations were checked against.
    [minted] = [t for t in Tokens(stack.stores).list("acme") if t.kind == "oidc"]
    assert minted.identity == {"provider": "github", "repository": REPO, "workflow": "publish.yml"}
    records = {f.filename: f for f in Packages(stack.stores).files("acme", "main", "gizmo")}
    assert set(records) == {whl.name, sdist.name}
    for rec in records.values():
        assert rec.provenance["repository"] == REPO and rec.provenance["workflow"] == "publish.yml"
        assert rec.provenance["commit"] == "0123456789abcdef0123456789abcdef01234567"

    read = stack.token("read")
    auth = ("__token__", read)
    page = requests.get(
        f"{stack.url}/simple/acme/main/gizmo/",
        auth=auth,
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    ).json()
    assert float(page["meta"]["api-version"]) >= 1.3
    urls = {f["filename"]: f["provenance"] for f in page["files"]}
    assert urls[whl.name] == f"{stack.url}/integrity/acme/main/gizmo/1.0/{whl.name}/provenance"
    html = requests.get(f"{stack.url}/simple/acme/main/gizmo/", auth=auth).text
    assert f'data-provenance="{urls[whl.name]}"' in html

    # The Integrity API serves PEP 740's provenance object, which the library verifies on its
    # own (its verifier over the test root, the publisher as PyPI would name it) against the
    # bytes Bale serves.
    verifier = Verifier(trusted_root=TrustedRoot.from_file(test_sigstore.root_path))
    for dist_file in (whl, sdist):
        resp = requests.get(urls[dist_file.name], auth=auth)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"] == INTEGRITY_TYPE
        provenance = Provenance.model_validate_json(resp.content)
        [bundle] = provenance.attestation_bundles
        assert bundle.publisher == GitHubPublisher(repository=REPO, workflow="publish.yml")
        [att] = bundle.attestations
        _, payload = verifier.verify_dsse(att.to_bundle(), bundle.publisher._as_policy())
        [subject] = json.loads(payload)["subject"]
        served = requests.get(f"{stack.url}/simple/acme/main/gizmo/{dist_file.name}", auth=auth).content
        assert subject == {"name": dist_file.name, "digest": {"sha256": hashlib.sha256(served).hexdigest()}}


def test_integrity_api_authorization_and_404s(stack, tmp_path):
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token("upload"), whl).returncode == 0
    url = f"{stack.url}/integrity/acme/main/gizmo/1.0/{whl.name}/provenance"
    read = ("__token__", stack.token("read"))
    r = requests.get(url, auth=read)
    assert r.status_code == 404 and "no provenance" in r.text
    page = requests.get(
        f"{stack.url}/simple/acme/main/gizmo/",
        auth=read,
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    ).json()
    assert page["files"][0]["provenance"] is None
    assert "data-provenance" not in requests.get(f"{stack.url}/simple/acme/main/gizmo/", auth=read).text
    assert requests.get(url).status_code == 401
    other = ("__token__", stack.token("read", projects=["other"]))
    assert requests.get(url, auth=other).status_code == 403
    assert requests.get(url, auth=("__token__", stack.token("publish"))).status_code == 403
    assert requests.get(url.replace("/1.0/", "/2.0/"), auth=read).status_code == 404
    assert requests.get(url.replace(whl.name, "gizmo-9.0.tar.gz"), auth=read).status_code == 404


def _tampered(sig, dist):
    path = attest(sig, dist)
    att = json.loads(path.read_text())
    raw = bytearray(base64.b64decode(att["envelope"]["signature"]))
    raw[10] ^= 0xFF
    att["envelope"]["signature"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(att))


def _other_workflow(sig, dist):
    attest(sig, dist, workflow="release.yml")


def _other_repository(sig, dist):
    attest(sig, dist, repository="evil-org/widgets")


def _other_digest(sig, dist):
    att = sig.attest(dist.name, "0" * 64)
    (dist.parent / f"{dist.name}.publish.attestation").write_text(json.dumps(att))


def _two_of_one_type(sig, dist):
    attest(sig, dist, "publish")
    attest(sig, dist, "again", predicate_type=PUBLISH_V1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_tampered, "bad signature"),
        (_other_workflow, "wrong workflow: it was signed by workflow release.yml"),
        (
            _other_repository,
            "wrong repository: it was signed by a workflow of https://github.com/evil-org/widgets",
        ),
        (_other_digest, "wrong digest"),
        (_two_of_one_type, f"more than one attestation of type {PUBLISH_V1}"),
    ],
)
def test_bad_attestations_are_refused(
    https_stack, stack, test_sigstore, oidc_issuers, tls_files, publisher, tmp_path, make, message
):
    from bale.store import paths

    whl = make_wheel(tmp_path, "gizmo", "1.0")
    make(test_sigstore, whl)
    r = uv_trusted_publish(
        f"{https_stack}/v1/upload/acme/main/", oidc_issuers.github, tls_files, *with_attestations(whl)
    )
    assert r.returncode != 0
    assert "400" in r.stderr and message in r.stderr, r.stderr
    assert nothing_stored(stack)
    assert not stack.stores.db.document(paths.provenance("acme", "main", "gizmo", whl.name)).get().exists


def test_production_root_rejects_test_attestations(
    https_stack, stack, _test_sigstore, oidc_issuers, tls_files, publisher, tmp_path
):
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    attest(_test_sigstore[0], whl)
    r = uv_trusted_publish(
        f"{https_stack}/v1/upload/acme/main/", oidc_issuers.github, tls_files, *with_attestations(whl)
    )
    assert r.returncode != 0
    assert "400" in r.stderr and "bad signature" in r.stderr, r.stderr
    assert nothing_stored(stack)


def test_attestations_with_a_persons_token_are_refused(stack, test_sigstore, tmp_path):
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    attest(test_sigstore, whl)
    token = stack.token("upload", owner="alice@example.com")
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", token, *with_attestations(whl))
    assert r.returncode != 0
    assert "400" in r.stderr and "only on uploads made with a Trusted Publishing token" in r.stderr, r.stderr
    assert nothing_stored(stack)
    # Without them the same token uploads.
    r = uv_publish(
        f"{stack.url}/v1/upload/acme/main/", token, *with_attestations(whl), extra=["--no-attestations"]
    )
    assert r.returncode == 0, r.stderr


def test_real_attestations_verify_with_the_pypi_attestations_cli(
    https_stack, stack, oidc_issuers, tls_files, tmp_path
):
    """A real release (gitlab-oidc-project 0.0.3 and its real publish attestation, made on GitLab
    CI/CD and logged in the public Rekor: tests/assets/attestations/NOTICE), published by the
    real uv through Trusted Publishing from GitLab and verified by Bale against Sigstore's
    bundled production root; then `pypi-attestations verify pypi --offline` accepts what Bale
    serves."""
    import shutil
    from pathlib import Path

    from bale.publishing.publishers import Publishers
    from clients import BIN, run

    assets = Path(__file__).resolve().parents[1] / "assets" / "attestations"
    name = "gitlab_oidc_project-0.0.3.tar.gz"
    repo = "facutuesca/gitlab-oidc-project"
    Publishers(stack.stores).add("acme", "main", "gitlab", ["gitlab-oidc-project"], repository=repo)
    dist = tmp_path / "dist"
    dist.mkdir()
    for f in (name, name + ".publish.attestation"):
        shutil.copy(assets / f, dist / f)
    env = {
        "GITLAB_CI": "true",
        "BALE_ID_TOKEN": oidc_issuers.gitlab.sign(oidc_issuers.gitlab.claims(project_path=repo)),
        "SSL_CERT_FILE": str(tls_files / "ca.pem"),
    }
    argv = [BIN / "uv", "publish", "--trusted-publishing", "always", "--publish-url"]
    r = run([*argv, f"{https_stack}/v1/upload/acme/main/", *with_attestations(dist / name)], env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    auth = ("__token__", stack.token("read"))
    served = tmp_path / "served"
    served.mkdir()
    body = requests.get(f"{stack.url}/simple/acme/main/gitlab-oidc-project/{name}", auth=auth).content
    (served / name).write_bytes(body)
    prov = requests.get(
        f"{stack.url}/integrity/acme/main/gitlab-oidc-project/0.0.3/{name}/provenance", auth=auth
    )
    assert prov.status_code == 200 and prov.headers["Content-Type"] == INTEGRITY_TYPE
    assert json.loads(prov.content)["attestation_bundles"][0]["publisher"]["kind"] == "GitLab"
    (served / "provenance.json").write_bytes(prov.content)

    # The CLI's offline mode reads sigstore's trust root from its own cache: keep that in tmp.
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    cli = [
        BIN / "pypi-attestations",
        "verify",
        "pypi",
        "--offline",
        "--provenance-file",
        served / "provenance.json",
    ]
    ok = run([*cli, "--repository", f"https://gitlab.com/{repo}", served / name], env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK: {name}" in ok.stdout + ok.stderr
    # The CLI can fail: another repository is refused.
    bad = run([*cli, "--repository", "https://gitlab.com/octo-org/widgets", served / name], env=env)
    assert bad.returncode != 0

"""PEP 740 provenance against a hostile publisher (adversarial review of issue 16): uploads in
the legacy API's form, as uv sends them, with a token minted by Trusted Publishing from the
local OIDC issuer and attestations signed under the throwaway Sigstore root; the Integrity
API's answers for odd URLs and other teams' tokens. Every refusal is a clear 4xx and leaves
nothing behind."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from factories import sdist_bytes

pytestmark = pytest.mark.e2e

NAME = "gizmo-1.0.tar.gz"
REPO = "octo-org/widgets"


def mint(stack, oidc_issuers, repository=REPO, **claims) -> str:
    """Enroll ``repository`` (spelled so) for gizmo in acme/main; mint a token from the
    issuer's GitHub token (whose claims spell it ``REPO``)."""
    from bale.publishing.publishers import Publishers
    from bale.publishing.trusted import TrustedPublishing
    from bale.settings import get_settings

    Publishers(stack.stores).add(
        "acme", "main", "github", ["gizmo"], repository=repository, workflow="publish.yml"
    )
    raw = (
        oidc_issuers.github.sign(oidc_issuers.github.claims(**claims))
        if claims
        else oidc_issuers.github.sign()
    )
    return TrustedPublishing(stack.stores, get_settings()).mint(raw).token


def upload(stack, token, data: bytes, attestations, *, name=NAME, extra=()):
    fields = [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", "gizmo"),
        ("version", "1.0"),
        ("filetype", "sdist"),
    ]
    if attestations is not None:
        fields.append(
            ("attestations", attestations if isinstance(attestations, str) else json.dumps(attestations))
        )
    return requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        auth=("__token__", token),
        data=[*fields, *extra],
        files={"content": (name, data, "application/octet-stream")},
        timeout=60,
    )


def nothing_left(stack, data: bytes, project="gizmo", filename=NAME) -> bool:
    """No file record, no project, no provenance document, no blob."""
    from bale.packages.service import Packages
    from bale.store import paths

    packages = Packages(stack.stores)
    blob = paths.blob_path("acme", "main", project, hashlib.sha256(data).hexdigest(), filename)
    return (
        packages.files("acme", "main", project) == []
        and packages.project_doc("acme", "main", project) is None
        and not stack.stores.db.document(paths.provenance("acme", "main", project, filename)).get().exists
        and not stack.stores.blobs.exists(blob)
    )


def test_an_enrollment_spelled_in_another_case_still_verifies(stack, oidc_issuers, test_sigstore):
    """GitHub names are case-insensitive: a publisher enrolled as Octo-Org/Widgets mints for the
    real octo-org/widgets, and that workflow's attestations (whose certificate spells the
    repository as GitHub does) verify. Was: 400 "wrong workflow"."""
    token = mint(stack, oidc_issuers, repository="Octo-Org/Widgets")
    data = sdist_bytes("gizmo", "1.0")
    r = upload(stack, token, data, [test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())])
    assert r.status_code == 200, r.text
    prov = requests.get(
        f"{stack.url}/integrity/acme/main/gizmo/1.0/{NAME}/provenance",
        auth=("__token__", stack.token("read")),
    )
    assert prov.status_code == 200
    assert prov.json()["attestation_bundles"][0]["publisher"]["repository"] == REPO


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        (json.dumps([{}] * 15_000), "not a valid PEP 740 attestation"),
        ("[" + " " * 70_000 + "]", "larger than 65536 bytes"),
        ("x" * (6 * 1024 * 1024), "larger than 65536 bytes"),
    ],
    ids=["deep", "thousands", "over-64k", "6MiB"],
)
def test_size_bombs_are_a_quick_400_with_nothing_left(stack, oidc_issuers, test_sigstore, field, message):
    token = mint(stack, oidc_issuers)
    data = sdist_bytes("gizmo", "1.0")
    r = upload(stack, token, data, field)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert message in r.text
    assert r.elapsed.total_seconds() < 5
    assert nothing_left(stack, data)


def test_more_than_one_attestations_field_is_refused(stack, oidc_issuers, test_sigstore):
    """A second ``attestations`` field was silently ignored (only the first was read)."""
    token = mint(stack, oidc_issuers)
    data = sdist_bytes("gizmo", "1.0")
    good = [test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())]
    r = upload(stack, token, data, good, extra=[("attestations", "[]")])
    assert r.status_code == 400 and "one attestations field" in r.text, r.text
    assert nothing_left(stack, data)


def test_attestations_as_a_file_part_are_refused(stack, oidc_issuers, test_sigstore):
    """Attestations sent as a file part were silently ignored: the upload stored no provenance
    though the publisher meant to give one."""
    token = mint(stack, oidc_issuers)
    data = sdist_bytes("gizmo", "1.0")
    good = json.dumps([test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())])
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        auth=("__token__", token),
        data={":action": "file_upload", "protocol_version": "1", "name": "gizmo", "version": "1.0"},
        files={
            "content": (NAME, data, "application/octet-stream"),
            "attestations": ("attestations.json", good, "application/json"),
        },
        timeout=60,
    )
    assert r.status_code == 400 and "as a form field" in r.text, r.text
    assert nothing_left(stack, data)


def test_a_persons_token_with_attestations_leaves_nothing(stack, test_sigstore):
    data = sdist_bytes("gizmo", "1.0")
    att = [test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())]
    for token in (stack.token("upload", owner="alice@example.com"), stack.token("upload")):
        r = upload(stack, token, data, att)
        assert r.status_code == 400 and "only on uploads made with a Trusted Publishing token" in r.text
        assert nothing_left(stack, data)


# -- the Integrity API ---------------------------------------------------------------------------
@pytest.fixture
def attested(stack, oidc_issuers, test_sigstore):
    token = mint(stack, oidc_issuers)
    data = sdist_bytes("gizmo", "1.0")
    r = upload(stack, token, data, [test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())])
    assert r.status_code == 200, r.text
    return f"{stack.url}/integrity/acme/main/gizmo/1.0/{NAME}/provenance"


@pytest.mark.parametrize(
    "path",
    [
        # A version that is not one, on the path that redirects a non-normalized project name:
        # was a 500 (a newline in the Location header).
        f"/integrity/acme/main/Gizmo/1.0%0d%0aX-Evil:%201/{NAME}/provenance",
        f"/integrity/acme/main/Gizmo/..%2f..%2f/{NAME}/provenance",
        f"/integrity/acme/main/gizmo/1.0%0d%0a/{NAME}/provenance",
        f"/integrity/acme/main/gizmo/1.0/..%2f{NAME}/provenance",
        f"/integrity/acme/main/gizmo/1.0/{NAME}/..%2f..%2f..%2fprovenance",
        f"/integrity/acme/main/gizmo/1.0/{NAME}/provenance/..",
        "/integrity/acme/main/gizmo/1.0/%2e%2e/provenance",
        f"/integrity/acme/main/gizmo/1.0/{NAME}%00/provenance",
    ],
)
def test_odd_integrity_urls_are_404(stack, attested, path):
    r = requests.get(stack.url + path, auth=("__token__", stack.token("read")), allow_redirects=False)
    assert r.status_code == 404, (r.status_code, r.text)
    assert "X-Evil" not in r.headers


def test_integrity_api_answers_as_the_file_does(stack, attested, tenancy):
    """Other teams', indexes' and projects' read tokens, publish tokens, browser cookies and no
    token get, for the provenance, exactly what they get for the file."""
    import datetime as dt

    from bale.tokens.service import Permission, TokenKind, Tokens

    tenancy.create_team("evil", "mallory@example.com")
    file_url = f"{stack.url}/simple/acme/main/gizmo/{NAME}"
    for who in ("alice@example.com", "mallory@example.com"):
        cookie, _ = Tokens(stack.stores).create_personal(
            who, TokenKind.BROWSER, Permission.READ, expires_in=dt.timedelta(hours=1)
        )
        jar = {"bale_browser": cookie}
        a, b = requests.get(attested, cookies=jar), requests.get(file_url, cookies=jar, allow_redirects=False)
        assert a.status_code == b.status_code == (200 if who.startswith("alice") else 403), (who, a.text)
        # A browser cookie never counts beside an Authorization header, nor a publish token's.
        publish = {"Authorization": f"Bearer {stack.token('publish')}"}
        assert requests.get(attested, cookies=jar, headers=publish).status_code == 403
    # Cached like the file: per credential.
    r = requests.get(attested, auth=("__token__", stack.token("read")))
    assert "Authorization" in r.headers["Vary"] and "Cookie" in r.headers["Vary"]
    cases = {
        "own read": stack.token("read"),
        "other project": stack.token("read", projects=["other"]),
        "publish": stack.token("publish"),
        "other team": stack.token("read", team="evil"),
        "person outside": stack.token("read", team="evil", owner="mallory@example.com"),
    }
    for what, token in cases.items():
        auth = ("__token__", token)
        a, b = requests.get(attested, auth=auth), requests.get(file_url, auth=auth, allow_redirects=False)
        assert a.status_code == (200 if what == "own read" else b.status_code), (
            what,
            a.status_code,
            b.status_code,
        )
    assert requests.get(attested).status_code == requests.get(file_url).status_code == 401


def test_a_deleted_file_has_no_provenance(stack, attested):
    from bale.packages.service import Packages

    read = ("__token__", stack.token("read"))
    assert requests.get(attested, auth=read).status_code == 200
    Packages(stack.stores).delete("acme", "main", "gizmo", "1.0", actor="test")
    r = requests.get(attested, auth=read)
    assert r.status_code == 404 and "gizmo-1.0.tar.gz" in r.text


def test_an_attestation_replayed_by_another_teams_publisher_is_refused(
    stack, oidc_issuers, test_sigstore, tenancy
):
    """acme's file and its attestation (signed by octo-org/widgets' workflow), uploaded byte for
    byte to another team's index by that team's own enrolled workflow: the attestation names a
    publisher the token was not minted for. (The same workflow uploading the same bytes to
    another index it is enrolled in is accepted: the provenance is true there too.)"""
    from bale.publishing.publishers import Publishers
    from bale.publishing.trusted import TrustedPublishing
    from bale.settings import get_settings

    data = sdist_bytes("gizmo", "1.0")
    att = [test_sigstore.attest(NAME, hashlib.sha256(data).hexdigest())]
    assert upload(stack, mint(stack, oidc_issuers), data, att).status_code == 200
    tenancy.create_team("evil", "mallory@example.com")
    Publishers(stack.stores).add(
        "evil", "main", "github", ["gizmo"], repository="evil-org/widgets", workflow="publish.yml"
    )
    raw = oidc_issuers.github.sign(oidc_issuers.github.claims(repository="evil-org/widgets"))
    token = TrustedPublishing(stack.stores, get_settings()).mint(raw, team="evil").token
    r = requests.post(
        f"{stack.url}/v1/upload/evil/main/",
        auth=("__token__", token),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "name": "gizmo",
            "version": "1.0",
            "attestations": json.dumps(att),
        },
        files={"content": (NAME, data, "application/octet-stream")},
        timeout=60,
    )
    assert r.status_code == 400 and "wrong repository" in r.text, r.text
    from bale.packages.service import Packages

    assert Packages(stack.stores).files("evil", "main", "gizmo") == []

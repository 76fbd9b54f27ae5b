"""The project page says, per file, who built it (from its verified PEP 740 provenance), or
that it has none."""

from __future__ import annotations

import hashlib
import json

import requests

from clients import uv_publish
from factories import make_wheel, sdist_bytes


def test_project_page_shows_who_built_each_file(sign_in, stack, oidc_issuers, test_sigstore, tmp_path):
    from bale.publishing.publishers import Publishers
    from bale.publishing.trusted import TrustedPublishing
    from bale.settings import get_settings

    # One file uploaded by a person, without provenance …
    whl = make_wheel(tmp_path, "gizmo", "1.0")
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token("upload"), whl).returncode == 0
    # … and one by the enrolled workflow, with a publish attestation (the legacy API's form,
    # as uv sends it).
    Publishers(stack.stores).add(
        "acme", "main", "github", ["gizmo"], repository="octo-org/widgets", workflow="publish.yml"
    )
    minted = TrustedPublishing(stack.stores, get_settings()).mint(oidc_issuers.github.sign())
    data = sdist_bytes("gizmo", "1.0")
    name = "gizmo-1.0.tar.gz"
    att = test_sigstore.attest(name, hashlib.sha256(data).hexdigest())
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        auth=("__token__", minted.token),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "name": "gizmo",
            "version": "1.0",
            "filetype": "sdist",
            "attestations": json.dumps([att]),
        },
        files={"content": (name, data, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text

    page = sign_in("alice@example.com").get("/teams/acme/indexes/main/projects/gizmo/").get_data(as_text=True)
    # One <tbody> per file: its name (the download link), then its details.
    rows = {
        row.split('class="filename"', 1)[1].split(">", 1)[1].split("</a>")[0]: row
        for row in page.split('<tbody class="file">')[1:]
    }
    built = rows[name]
    assert "built by" in built
    assert (
        '<a href="https://github.com/octo-org/widgets/commit/0123456789abcdef0123456789abcdef01234567" '
        'rel="noopener">octo-org/widgets</a>, publish.yml, <code title="0123456789abcdef0123456789abcdef01234567">'
        "0123456789ab</code>"
    ) in built
    assert "no provenance" in rows[whl.name] and "built by" not in rows[whl.name]


def test_hostile_certificate_strings_are_escaped_and_links_are_https_only(
    sign_in, stack, oidc_issuers, test_sigstore
):
    """The commit comes from the signing certificate: whatever it holds is shown escaped, and
    the page never links anything but https."""
    from bale.publishing.publishers import Publishers
    from bale.publishing.trusted import TrustedPublishing
    from bale.settings import get_settings

    Publishers(stack.stores).add(
        "acme", "main", "github", ["gizmo"], repository="octo-org/widgets", workflow="publish.yml"
    )
    minted = TrustedPublishing(stack.stores, get_settings()).mint(oidc_issuers.github.sign())
    data = sdist_bytes("gizmo", "1.0")
    name = "gizmo-1.0.tar.gz"
    hostile = '"><script>alert(1)</script><a href="javascript:alert(2)">'
    att = test_sigstore.attest(name, hashlib.sha256(data).hexdigest(), sha=hostile)
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        auth=("__token__", minted.token),
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "name": "gizmo",
            "version": "1.0",
            "attestations": json.dumps([att]),
        },
        files={"content": (name, data, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    page = sign_in("alice@example.com").get("/teams/acme/indexes/main/projects/gizmo/").get_data(as_text=True)
    assert "<script>alert(1)" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)" in page
    cell = page.split('<td data-label="Provenance" class="provenance">', 1)[1].split("</td>", 1)[0]
    hrefs = [part.split('"', 1)[0] for part in cell.split('href="')[1:]]
    assert hrefs and all(h.startswith("https://github.com/octo-org/widgets/") for h in hrefs), hrefs

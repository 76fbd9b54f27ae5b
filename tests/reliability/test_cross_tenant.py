"""Cross-tenant matrix: every endpoint x a foreign team's token -> no data returned.

acme publishes a project; globex holds every kind of token it can get for its own
index. No request made with a globex token may return acme's names, files, hashes or
bytes, and none may change acme's data.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from factories import wheel_bytes, wheel_name
from uploads import form_for

SECRET_PROJECT = "acme-secret-sauce"
VERSION = "3.1.4"


@pytest.fixture
def acme_data(stack):
    data = wheel_bytes(SECRET_PROJECT, VERSION, payload=b"# the recipe\n")
    form, files = form_for(wheel_name(SECRET_PROJECT, VERSION), data)
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        data=form,
        files=files,
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return data


@pytest.fixture
def globex_tokens(stack, tenancy):
    tenancy.create_team("globex", "g@example.com")
    return {
        "read": stack.token("read", team="globex"),
        "upload": stack.token("upload", team="globex"),
        "scoped": stack.token("upload", team="globex", projects=[SECRET_PROJECT]),
    }


FILENAME = wheel_name(SECRET_PROJECT, VERSION)
ENDPOINTS = [
    ("GET", "/simple/acme/main/", None),
    ("GET", "/simple/acme/main/", "application/vnd.pypi.simple.v1+json"),
    ("GET", f"/simple/acme/main/{SECRET_PROJECT}/", None),
    ("GET", f"/simple/acme/main/{SECRET_PROJECT}/", "application/vnd.pypi.simple.v1+json"),
    ("GET", "/simple/acme/main/no-such-project/", None),
    ("HEAD", f"/simple/acme/main/{SECRET_PROJECT}/", None),
    ("GET", f"/files/acme/main/{SECRET_PROJECT}/{FILENAME}", None),
    ("GET", f"/files/acme/main/{SECRET_PROJECT}/{FILENAME}.metadata", None),
    ("GET", f"/files/acme/main/{SECRET_PROJECT}/nope-1.0-py3-none-any.whl", None),
    ("POST", "/v1/upload/acme/main/", None),
]


def _leaks(body: bytes, data: bytes) -> list[str]:
    found = []
    digest = hashlib.sha256(data).hexdigest()
    for needle in (SECRET_PROJECT, "secret_sauce", VERSION, digest, "the recipe"):
        if needle.encode() in body:
            found.append(needle)
    if data in body:
        found.append("file bytes")
    return found


@pytest.mark.parametrize("kind", ["read", "upload", "scoped"])
@pytest.mark.parametrize("method,path,accept", ENDPOINTS, ids=[f"{m} {p} {a or ''}" for m, p, a in ENDPOINTS])
def test_foreign_token_gets_nothing(stack, acme_data, globex_tokens, kind, method, path, accept):
    from bale.packages.service import Packages

    token = globex_tokens[kind]
    headers = {"Authorization": f"Bearer {token}"}
    if accept:
        headers["Accept"] = accept
    kwargs = {}
    if method == "POST":
        other = wheel_bytes(SECRET_PROJECT, "9.9")
        kwargs["data"], kwargs["files"] = form_for(wheel_name(SECRET_PROJECT, "9.9"), other)
    r = requests.request(
        method, stack.url + path, headers=headers, allow_redirects=False, timeout=30, **kwargs
    )
    assert r.status_code in (403, 404), (r.status_code, r.text[:200])
    assert _leaks(r.content, acme_data) == []
    assert "Location" not in r.headers
    # acme is unchanged: one file, the original.
    files = Packages(stack.stores).files("acme", "main", SECRET_PROJECT)
    assert [f.filename for f in files] == [FILENAME]


def test_foreign_answer_does_not_depend_on_existence(stack, acme_data, globex_tokens):
    """A 403 for a project that exists and one that doesn't must look the same."""
    h = {"Authorization": f"Bearer {globex_tokens['read']}"}
    a = requests.get(f"{stack.url}/simple/acme/main/{SECRET_PROJECT}/", headers=h, timeout=30)
    b = requests.get(f"{stack.url}/simple/acme/main/no-such-project/", headers=h, timeout=30)
    assert (a.status_code, a.text) == (b.status_code, b.text)


def test_name_redirect_depends_on_the_url_alone(stack, acme_data, globex_tokens):
    """Non-normalized names redirect before auth, identically whether the project exists or not."""
    h = {"Authorization": f"Bearer {globex_tokens['read']}"}
    a = requests.get(
        f"{stack.url}/simple/acme/main/Acme_Secret.Sauce/", headers=h, allow_redirects=False, timeout=30
    )
    b = requests.get(
        f"{stack.url}/simple/acme/main/No_Such.Project/", headers=h, allow_redirects=False, timeout=30
    )
    assert (a.status_code, b.status_code) == (301, 301)
    assert a.headers["Location"] == "/simple/acme/main/acme-secret-sauce/"
    assert b.headers["Location"] == "/simple/acme/main/no-such-project/"
    assert requests.get(stack.url + a.headers["Location"], headers=h, timeout=30).status_code == 403


def test_foreign_minted_token_cannot_be_burned_into_acme(stack, acme_data, globex_tokens):
    """burn-token only accepts Trusted Publishing tokens; an API token is refused, not revoked."""
    from bale.tokens.service import Tokens

    acme_token = stack.token("read")
    r = requests.post(
        f"{stack.url}/_/oidc/burn-token",
        data=json.dumps({"token": acme_token}),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code >= 400
    assert Tokens(stack.stores).authenticate(acme_token).revoked_at is None


def test_own_token_still_works(stack, acme_data):
    """The matrix above is not passing because everything is refused."""
    r = requests.get(
        f"{stack.url}/simple/acme/main/{SECRET_PROJECT}/",
        headers={"Authorization": f"Bearer {stack.token('read')}"},
        timeout=30,
    )
    assert r.status_code == 200 and FILENAME in r.text

"""Hostile team, index and project names over real HTTP: refused, never aliased or redirected.

A newline before the end (``$`` in a partial match) or a non-ASCII letter that folds onto an
ASCII one (the Kelvin sign, ``re.IGNORECASE`` without ``re.ASCII``) once passed the checks.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from factories import wheel_bytes, wheel_name


def _get(stack, path, token):
    return requests.get(
        stack.url + path, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False, timeout=30
    )


@pytest.mark.parametrize(
    "path",
    [
        "/simple/acme%0A/main/",
        "/simple/acme/main%0A/",
        "/simple/%E2%84%AAcme/main/",  # Kelvin sign for the k of a team name
        "/simple/acme/main/%E2%84%AAelvin/",  # Kelvin sign: once a 301 to /kelvin/
        "/simple/acme/main/%C5%BFpam/",  # long s: once a 301 to /spam/
        "/simple/acme/main/kelvin%0A/",
        "/files/acme/main/%E2%84%AAelvin/kelvin-1.0-py3-none-any.whl",
        "/files/acme%0A/main/kelvin/kelvin-1.0-py3-none-any.whl",
    ],
)
def test_simple_refuses_hostile_names(stack, path):
    token = stack.token("read")
    r = _get(stack, path, token)
    assert r.status_code == 404, (r.status_code, r.headers.get("Location"), r.text)
    assert "Location" not in r.headers


def test_kelvin_project_is_not_an_alias_of_the_ascii_one(stack):
    """The real project exists; the Kelvin-sign spelling must not reach it by any route."""
    token = stack.token("upload")
    data = wheel_bytes("kelvin", "1.0")
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        },
        files={"content": (wheel_name("kelvin", "1.0"), data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    read = stack.token("read")
    assert _get(stack, "/simple/acme/main/kelvin/", read).status_code == 200
    assert _get(stack, "/simple/acme/main/Kelvin/", read).status_code == 301  # ASCII: normalized
    r = _get(stack, "/simple/acme/main/%E2%84%AAelvin/", read)
    assert r.status_code == 404 and "Location" not in r.headers


@pytest.mark.parametrize(
    "path", ["/v1/upload/acme%0A/main/", "/v1/upload/acme/main%0A/", "/v1/upload/%E2%84%AAcme/main/"]
)
def test_upload_refuses_hostile_routes(stack, path):
    token = stack.token("upload")
    data = wheel_bytes("widget", "1.0")
    r = requests.post(
        stack.url + path,
        data={":action": "file_upload", "protocol_version": "1"},
        files={"content": (wheel_name("widget", "1.0"), data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 404, (r.status_code, r.text)
    assert stack.stores.blobs.list() == []


def test_upload_refuses_kelvin_sign_in_metadata_and_form(stack):
    token = stack.token("upload")
    data = wheel_bytes("kelvin", "2.0", metadata="Metadata-Version: 2.1\nName: \u212aelvin\nVersion: 2.0\n")
    r = requests.post(
        f"{stack.url}/v1/upload/acme/main/",
        data={":action": "file_upload", "protocol_version": "1", "name": "\u212aelvin"},
        files={"content": (wheel_name("kelvin", "2.0"), data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert stack.stores.blobs.list() == []

"""/_/oidc/mint-token on what benchmarks/fuzz.py sent it (seed 20261201): each was a 500 (one a
500 on a hanging connection) and is now a 4xx in PyPI's error shape."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests


def post(stack, body: bytes, path: str = "/_/oidc/mint-token") -> requests.Response:
    return requests.post(f"{stack.url}{path}", data=body, timeout=30)


def refused(resp: requests.Response, status: int, code: str, needle: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"message", "errors"}, body
    assert [e["code"] for e in body["errors"]] == [code], body
    assert needle in body["errors"][0]["description"], body


def test_deeply_nested_json_is_a_422(stack):
    """json.loads raised RecursionError: a 500."""
    resp = post(stack, b"[" * 30000 + b"]" * 30000)
    refused(resp, 422, "invalid-payload", "nested too deeply")
    resp = post(stack, b'{"token": ' + b"[" * 30000 + b"]" * 30000 + b"}")
    refused(resp, 422, "invalid-payload", "nested too deeply")


@pytest.mark.parametrize("path", ["/_/oidc/mint-token", "/_/oidc/burn-token"])
@pytest.mark.parametrize("token", ["\ud800", "eyJ\udcff.eyJ.sig", "eyJhbGciOiJSUzI1NiJ9.é.sig"])
def test_non_ascii_token_is_a_422(stack, path, token):
    """A lone surrogate made jwt.get_unverified_header raise UnicodeEncodeError: a 500."""
    resp = post(stack, json.dumps({"token": token}).encode(), path)
    refused(resp, 422, "invalid-token", "ASCII")


def _raw(stack, request: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send raw bytes, half-close, read the answer to EOF; (answer, seconds taken)."""
    url = urlsplit(stack.url)
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):  # socket.timeout (a hang) fails the test
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


@pytest.mark.parametrize("size", [70 * 1024, 200 * 1024, 3 * 1024 * 1024])
def test_a_body_over_64_kib_is_a_clean_413_and_the_connection_ends(stack, size):
    """The handler answered 413, then functions-framework's read_request hook re-read the body
    past request.max_content_length: RequestEntityTooLarge, a 500, and a connection left open."""
    body = b'{"token": "' + b"x" * size + b'"}'
    resp = requests.post(f"{stack.url}/_/oidc/mint-token", data=body, timeout=10)
    refused(resp, 413, "invalid-payload", "too large")
    url = urlsplit(stack.url)
    head = (
        f"POST /_/oidc/mint-token HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer, took = _raw(stack, head + body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert took < 10
    payload = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert payload["errors"][0]["code"] == "invalid-payload"


def test_a_client_hanging_up_mid_body_is_not_a_server_error(stack):
    url = urlsplit(stack.url)
    head = (
        f"POST /_/oidc/mint-token HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Content-Length: 5000\r\nConnection: close\r\n\r\n"
    ).encode()
    answer, took = _raw(stack, head + b'{"token": "abc')
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert took < 10


def test_exp_beyond_any_date_is_a_422(stack, oidc_issuers):
    """A properly signed token with exp = 2**63 passed pyjwt and made datetime.fromtimestamp in
    spend() raise OverflowError: a 500. And exp = Infinity overflowed inside pyjwt."""
    from bale.publishing.publishers import Publishers

    Publishers(stack.stores).add(
        "acme", "main", "github", ["sprocket"], repository="octo-org/widgets", workflow="publish.yml"
    )
    issuer = oidc_issuers.github
    for exp in (2**63, 10**20, float("inf")):
        token = issuer.sign(issuer.claims(exp=exp))
        resp = requests.post(f"{stack.url}/_/oidc/mint-token", json={"token": token}, timeout=30)
        assert resp.status_code == 422, (exp, resp.text)
        body = resp.json()
        assert body["errors"][0]["code"] == "invalid-token", body
        assert "exp" in body["errors"][0]["description"], body

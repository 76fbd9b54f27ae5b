"""bale.tokens.credentials: the token a request carries, Basic ``__token__`` or Bearer."""

from __future__ import annotations

import base64

import pytest

from bale.errors import Unauthorized
from bale.tokens.credentials import token_from_header

TOKEN = "bale_0123456789abcdef_" + "A" * 43


def basic(user_password: bytes | str) -> str:
    raw = user_password.encode() if isinstance(user_password, str) else user_password
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_no_token(header):
    assert token_from_header(header) is None


@pytest.mark.parametrize(
    "header, token",
    [
        (basic(f"__token__:{TOKEN}"), TOKEN),
        ("basic " + basic(f"__token__:{TOKEN}").split()[1], TOKEN),  # the scheme is case-insensitive
        ("  " + basic(f"__token__:{TOKEN}") + "  ", TOKEN),
        (f"Bearer {TOKEN}", TOKEN),
        (f"BEARER   {TOKEN}  ", TOKEN),
        (basic("__token__:a:b"), "a:b"),  # only the first colon separates the username
    ],
)
def test_the_token_is_found(header, token):
    assert token_from_header(header) == token


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", basic("__token__:")])
def test_an_empty_secret_is_no_token(header):
    assert token_from_header(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "Basic not-base64!!",
        "Basic " + base64.b64encode(b"__token__:x")[:-2].decode(),  # bad padding
        basic(b"__token__:\xff\xfe"),  # not UTF-8
        basic("no-colon-here"),
        "Basic",
    ],
)
def test_malformed_basic_credentials(header):
    with pytest.raises(Unauthorized, match="Malformed Basic credentials") as exc:
        token_from_header(header)
    assert exc.value.status == 401


@pytest.mark.parametrize("user", ["alice", "__TOKEN__", "token", ""])
def test_basic_needs_the_username___token__(user):
    with pytest.raises(Unauthorized, match="username __token__"):
        token_from_header(basic(f"{user}:{TOKEN}"))


@pytest.mark.parametrize(
    "header, scheme", [("Digest realm=x", "digest"), (f"Token {TOKEN}", "token"), (TOKEN, TOKEN.lower())]
)
def test_other_schemes_are_refused_by_name(header, scheme):
    with pytest.raises(Unauthorized) as exc:
        token_from_header(header)
    assert f"Unsupported authorization scheme {scheme!r}" in exc.value.message

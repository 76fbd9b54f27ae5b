"""The issuer key client: a refetch cooldown always, and the JWKS's declared alg by public API.

A local HTTP issuer (tests/oidc_issuer.py); no emulator.
"""

from __future__ import annotations

import inspect
import json

import jwt
import pytest

from bale.publishing import trusted as tp


@pytest.fixture
def issuer():
    from bale_tools.devserver import Server
    from fakes.oidc_issuer import Issuers

    holder: dict = {"hits": []}

    def app(environ, start_response):
        holder["hits"].append(environ.get("PATH_INFO"))
        if holder.get("jwks") is not None and environ.get("PATH_INFO", "").endswith("/jwks"):
            body = json.dumps(holder["jwks"]).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return holder["issuers"].wsgi(environ, start_response)

    server = Server(app)
    holder["issuers"] = Issuers(f"http://127.0.0.1:{server.port}")
    server.start()
    tp.clear_caches()
    yield holder
    tp.clear_caches()
    server.stop()


def test_pyjwt_has_cooldown_duration():
    # pyproject.toml requires the first pyjwt with it; no fallback is left to hide its absence.
    assert "cooldown_duration" in inspect.signature(jwt.PyJWKClient).parameters


def test_jwks_client_passes_the_cooldown(issuer):
    client = tp.jwks_client(issuer["issuers"].github.url)
    assert isinstance(client, jwt.PyJWKClient)
    assert client.cooldown_duration == tp.JWKS_REFRESH_COOLDOWN > 0


def test_unknown_kids_refetch_at_most_once_per_cooldown(issuer):
    gh = issuer["issuers"].github
    client = tp.jwks_client(gh.url)
    assert client.get_signing_key("key-1").key_id == "key-1"
    before = issuer["hits"].count("/github/jwks")
    for i in range(50):
        with pytest.raises(jwt.PyJWKClientError):
            client.get_signing_key(f"junk-{i}")
    assert issuer["hits"].count("/github/jwks") - before <= 1


def test_declared_alg_read_from_the_jwks(issuer):
    gh = issuer["issuers"].github
    client = tp.jwks_client(gh.url)
    client.get_signing_key("key-1")
    assert client.declared_alg("key-1") == "RS256"
    assert client.declared_alg("nope") is None


def test_declared_alg_absent_when_the_jwk_has_none(issuer):
    gh = issuer["issuers"].github
    jwks = gh.jwks()
    for k in jwks["keys"]:
        k.pop("alg")
    issuer["jwks"] = jwks
    client = tp.jwks_client(gh.url)
    jwk = client.get_signing_key("key-1")
    # PyJWK's public algorithm_name falls back to the key type's default: not a declaration.
    assert jwk.algorithm_name == "RS256"
    assert client.declared_alg("key-1") is None


def test_junk_jwks_payloads_declare_nothing(issuer):
    gh = issuer["issuers"].github
    good = gh.jwks()["keys"][0]
    issuer["jwks"] = {"keys": [good, "junk", {"kid": 5, "alg": "RS256"}, {"kid": "x", "alg": ["RS256"]}]}
    client = tp.jwks_client(gh.url)
    client.get_signing_key("key-1")
    assert client.declared_alg("key-1") == "RS256"
    assert client.declared_alg("x") is None

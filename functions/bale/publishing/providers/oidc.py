"""A generic OpenID Connect issuer: self-hosted CI (GitHub Enterprise Server, self-managed
GitLab, Buildkite, CircleCI, Jenkins with an OIDC plugin...).

No setting names such an issuer: an enrollment does (``--issuer URL``), with patterns
(:mod:`bale.publishing.patterns`) over the token's claims. The verifier asks whether some
enrollment names a token's issuer before fetching anything from it, so a token naming any other
URL costs us no request. Such tokens carry no identity that Sigstore's public instance certifies,
so uploads through them take no attestations (docs/provenance.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bale.errors import BadRequest
from bale.publishing import patterns
from bale.publishing.providers.base import Claims, Enrolled, Provider, ProviderName
from bale.settings import Settings

#: Claim patterns one generic enrollment may list.
MAX_CLAIMS = 10
_CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
#: Claims the verifier itself decides: a pattern over them would mean nothing or weaken it.
_RESERVED = {"iss", "aud", "exp", "nbf", "iat", "jti"}


def validate_issuer(url: str) -> str:
    """A generic issuer URL: https, or http on a loopback address (local stacks and tests)."""
    u = (url or "").strip().rstrip("/")
    if not u:
        raise BadRequest("A generic OIDC reader needs --issuer URL (the token's iss claim).")
    parts = urlsplit(u)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise BadRequest(f"Invalid issuer {u!r}: use an https:// URL.")
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        raise BadRequest(f"Invalid issuer {u!r}: give the issuer URL exactly as the iss claim spells it.")
    return u


def parse_claims(items: list[str] | tuple[str, ...] | Mapping[str, str] | None) -> dict[str, str]:
    """``NAME=PATTERN`` strings (or a mapping) as validated claim patterns."""
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items or ():
            name, sep, pattern = item.partition("=")
            if not sep:
                raise BadRequest(f"Invalid claim {item!r}: use NAME=PATTERN, e.g. repository=acme/*.")
            pairs.append((name.strip(), pattern))
    out: dict[str, str] = {}
    for name, pattern in pairs:
        if not _CLAIM_NAME.match(name):
            raise BadRequest(f"Invalid claim name {name!r}.")
        if name in _RESERVED:
            raise BadRequest(f"The {name!r} claim is checked by the verifier itself; match other claims.")
        if name in out:
            raise BadRequest(f"The claim {name!r} is given twice.")
        out[name] = patterns.validate(pattern, f"pattern for claim {name!r}")
    if len(out) > MAX_CLAIMS:
        raise BadRequest(f"An enrollment may match at most {MAX_CLAIMS} claims.")
    return out


class GenericOIDC(Provider):
    """One issuer URL (``url``); the registered instance has none and stands for them all."""

    name = ProviderName.OIDC
    key_claim = "iss"
    required_claims = ("sub",)

    def __init__(self, url: str = "") -> None:
        self.url = url.rstrip("/")
        self.title = f"OIDC issuer {self.url}" if self.url else "Generic OIDC"

    def for_issuer(self, url: str) -> GenericOIDC:
        return GenericOIDC(url)

    def issuer(self, settings: Settings) -> str:
        return self.url

    def key_from_claims(self, claims: Claims) -> str | None:
        iss = claims.get("iss")
        return iss.rstrip("/") if isinstance(iss, str) and iss else None

    def lookup(self, key: str) -> str:
        return f"{self.name.value}:{key.rstrip('/')}"

    def enroll(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        url = validate_issuer(str(fields.get("issuer") or ""))
        claims = parse_claims(fields.get("claims") or [])
        sub = str(fields.get("subject") or "").strip()
        if sub:
            claims["sub"] = patterns.validate(sub, "subject pattern")
        repo = str(fields.get("repository") or "").strip()
        if repo:
            claims["repository"] = patterns.validate(repo, "repository pattern")
        if not claims:
            raise BadRequest(
                "A generic OIDC publisher needs at least one claim to match: --subject, --repository "
                "or --claim NAME=PATTERN."
            )
        return {"issuer": url, "claims": claims, "lookup": self.lookup(url)}

    def check(self, publisher: Enrolled, claims: Claims, settings: Settings) -> list[str]:
        errors = []
        if str(claims.get("iss", "")).rstrip("/") != (publisher.issuer or ""):
            errors.append(f"iss {claims.get('iss')!r} is not the enrolled issuer")
        for name, pattern in sorted((publisher.claims or {}).items()):
            got = claims.get(name)
            if got is None:
                errors.append(f"the token has no {name!r} claim, which the publisher matches")
            elif not patterns.matches(pattern, got):
                # The pattern is not shown: every team's publishers of this issuer are candidates.
                errors.append(f"{name} {got!r} does not match the enrolled pattern")
        return errors

    def identity(self, publisher: Enrolled, claims: Claims | None = None) -> dict[str, str]:
        # No identity: Sigstore's public CA certifies none of these issuers, so there is no
        # signer an attestation could be checked against, and uploads take none.
        return {}

    def describe(self, publisher: Enrolled) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted((publisher.claims or {}).items()))
        return f"oidc:{publisher.issuer} ({shown})"

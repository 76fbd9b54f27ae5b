"""Trusted Publishing: exchange a CI's OpenID Connect token for a short-lived upload token.

The exchange, cheapest refusal first:

1. read the token's header and claims unverified, only to pick the issuer: the ``alg``
   must be asymmetric (``none`` and HMAC are refused outright) and ``iss`` one of the
   configured issuers (settings), which decides the provider;
2. find the signing key by ``kid`` in the issuer's JWKS, located through its discovery
   document (both cached per issuer; an unknown ``kid`` refetches the JWKS, at most once
   per cooldown, so key rotation works and junk tokens cannot make us hammer the issuer);
3. verify signature, ``iss``, ``aud``, ``exp``/``nbf``/``iat`` (30 s leeway) and the
   provider's required claims with pyjwt;
4. find the publishers enrolled for the workload the token names and keep those whose
   every claim matches (the refusal says which claim did not);
5. spend the token: its ``jti`` becomes a create-only ``oidc_jti`` document, so a token
   mints once (Terraform sets a TTL policy on ``expires_at``);
6. pin the owner's immutable ID on first use, then mint a ``publish`` (upload only, no reads)
   token for the publishers' index and projects, kind ``oidc``, expiring after
   ``minted_token_ttl``.

Several matching publishers in one index mint one token for the union of their projects.
A workload enrolled in several indexes (perhaps of several teams: any team may enroll any
repository for its own projects) gets one token with a grant per index, each for exactly the
projects enrolled there: uv cannot say where it is about to upload, and refusing such a
mint, or picking one index, would let one team's enrollment break another team's publishing.
The request may still name ``team`` and ``index`` (the bale-oidc action does) to narrow it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import jwt

from bale import access
from bale.clock import now
from bale.errors import BaleError, Unauthorized
from bale.errors import PublishingError as PublishingError  # re-exported: its home was here
from bale.publishing.providers import PROVIDERS
from bale.publishing.providers.base import Provider
from bale.publishing.publishers import Publisher, Publishers
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import Grant
from bale.tenancy.service import Tenancy
from bale.tokens.service import Token, Tokens

log = logging.getLogger("bale.oidc")

#: Asymmetric algorithms only: ``none`` and HS* would let anyone who knows (or guesses)
#: the verification input forge a token.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
#: Clock skew tolerated on exp, nbf and iat, in seconds.
LEEWAY = 30
#: How long a discovery document (hence the jwks_uri) is trusted before it is fetched again.
DISCOVERY_TTL = 3600.0
#: How long a JWKS is cached; an unknown kid refetches it, at most once per cooldown.
JWKS_LIFESPAN = 300.0
#: Indexes one team's publishers may add to one minted token. With MAX_PROJECTS per
#: publisher this bounds the token document (and the mint's work) per enrolling team, so no
#: team can make another team's workflow's mint fail by enrolling it over and over.
MAX_INDEXES_PER_TEAM = 5
JWKS_REFRESH_COOLDOWN = 10.0
HTTP_TIMEOUT = 10.0


# -- issuer keys ------------------------------------------------------------------
_clients: dict[str, tuple[float, IssuerKeys]] = {}
_clients_lock = threading.Lock()


def clear_caches() -> None:
    """Forget every issuer's discovery document and keys (tests; a changed issuer)."""
    with _clients_lock:
        _clients.clear()


def _unavailable(issuer: str, why: str) -> PublishingError:
    return PublishingError(
        "issuer-unavailable",
        f"Could not fetch the signing keys of {issuer}: {why}. Please retry.",
        status=503,
    )


def _fetch_json(url: str) -> dict[str, Any]:
    # No redirects: the issuer's documents must be where the issuer says they are.
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect())
    with opener.open(
        urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=HTTP_TIMEOUT
    ) as r:
        data = json.load(r)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


class IssuerKeys(jwt.PyJWKClient):
    """A PyJWKClient that also remembers the ``alg`` each key of the JWKS declares.

    PyJWK's public ``algorithm_name`` cannot tell a declared ``alg`` from the key type's
    default (RS256 for any RSA key), and the JWK's raw fields are private; ``fetch_data``
    is the documented hook that sees every JWKS fetched, raw.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._declared: dict[str, str] = {}

    def fetch_data(self) -> Any:
        data = super().fetch_data()
        keys = data.get("keys") if isinstance(data, dict) else None
        declared: dict[str, str] = {}
        for k in keys if isinstance(keys, list) else ():
            if isinstance(k, dict) and isinstance(k.get("kid"), str) and isinstance(k.get("alg"), str):
                declared[k["kid"]] = k["alg"]
        self._declared = declared  # one assignment: readers see the old map or the new one
        return data

    def declared_alg(self, kid: str) -> str | None:
        """The ``alg`` the JWKS entry for ``kid`` names, or None if it names none."""
        return self._declared.get(kid)


def jwks_client(issuer: str) -> IssuerKeys:
    """The issuer's JWKS client, found through ``{issuer}/.well-known/openid-configuration``."""
    issuer = issuer.rstrip("/")
    with _clients_lock:
        hit = _clients.get(issuer)
    if hit and time.monotonic() - hit[0] < DISCOVERY_TTL:
        return hit[1]
    try:
        doc = _fetch_json(f"{issuer}/.well-known/openid-configuration")
    except (OSError, ValueError, urllib.error.URLError) as exc:
        if hit:  # an issuer hiccup must not stop publishing with keys we already know
            log.warning("discovery for %s failed, keeping cached keys: %s", issuer, exc)
            return hit[1]
        raise _unavailable(issuer, f"discovery document: {exc}") from exc
    if str(doc.get("issuer", "")).rstrip("/") != issuer:
        raise _unavailable(issuer, f"its discovery document names issuer {doc.get('issuer')!r}")
    jwks_uri = doc.get("jwks_uri")
    scheme = urlsplit(jwks_uri).scheme if isinstance(jwks_uri, str) else ""
    if scheme not in ("https", "http") or (scheme == "http" and urlsplit(issuer).scheme == "https"):
        raise _unavailable(issuer, f"invalid jwks_uri {jwks_uri!r}")
    # cooldown_duration (pyjwt >= 2.14, required in pyproject.toml): an unknown kid refetches
    # the JWKS at most once per cooldown, so junk tokens cannot make us hammer the issuer.
    client = IssuerKeys(
        jwks_uri,
        cache_jwk_set=True,
        lifespan=JWKS_LIFESPAN,
        timeout=HTTP_TIMEOUT,
        cooldown_duration=JWKS_REFRESH_COOLDOWN,
    )
    with _clients_lock:
        _clients[issuer] = (time.monotonic(), client)
    return client


# -- verification -----------------------------------------------------------------
def _invalid(description: str) -> PublishingError:
    return PublishingError("invalid-token", description)


def _provider_for(issuer: object, settings: Settings) -> Provider | None:
    if not isinstance(issuer, str):
        return None
    for provider in PROVIDERS.values():
        configured = provider.issuer(settings).rstrip("/")
        if configured and configured == issuer.rstrip("/"):
            return provider
    return None


def _when(ts: object) -> str:
    if not isinstance(ts, (int, float, str)):
        return repr(ts)
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError):
        return repr(ts)


def verify(
    raw: str, settings: Settings, generic: Callable[[str], Provider | None] | None = None
) -> tuple[Provider, dict[str, Any]]:
    """Check an OIDC token's signature and standard claims; return its provider and claims.

    ``generic`` names the provider of an issuer no setting names (a self-hosted one that an
    enrollment trusts), or None; it is asked before anything is fetched from that issuer."""
    try:
        header = jwt.get_unverified_header(raw)
        unverified = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _invalid(f"The token is not a valid JWT: {exc}.") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise _invalid(
            f"The token's algorithm (alg) {alg!r} is not allowed; an issuer signs with one of "
            f"{', '.join(ALLOWED_ALGORITHMS)}."
        )
    iss = unverified.get("iss")
    provider = _provider_for(iss, settings)
    if provider is None and generic is not None and isinstance(iss, str) and iss:
        provider = generic(iss)
    if provider is None:
        trusted = ", ".join(p.issuer(settings) for p in PROVIDERS.values() if p.issuer(settings))
        raise _invalid(f"The token's issuer (iss) {iss!r} is not trusted here; trusted issuers: {trusted}.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid("The token's header has no key ID (kid).")
    issuer = provider.issuer(settings)
    client = jwks_client(issuer)
    try:
        jwk = client.get_signing_key(kid)
    except jwt.PyJWKClientConnectionError as exc:
        raise _unavailable(issuer, str(exc)) from exc
    except jwt.PyJWKClientError:
        raise _invalid(
            f"The token's signing key (kid) {kid!r} is not among the keys {issuer} publishes."
        ) from None
    declared = client.declared_alg(kid)
    if declared and declared != alg:
        raise _invalid(
            f"The token's algorithm (alg) {alg!r} is not the one its key {kid!r} is for ({declared})."
        )
    aud = settings.oidc_audience
    try:
        claims = jwt.decode(
            raw,
            jwk.key,
            algorithms=[alg],
            audience=aud,
            issuer=iss,
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat", *provider.required_claims]},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid(
            f"The token expired at {_when(unverified.get('exp'))} (claim exp); request a fresh one."
        ) from None
    except jwt.ImmatureSignatureError as exc:
        raise _invalid(f"The token is not valid yet ({exc}); check the runner's clock.") from None
    except jwt.InvalidAudienceError:
        raise _invalid(
            f"The token's audience (aud) {unverified.get('aud')!r} is not {aud!r}; request the token "
            "for the audience /_/oidc/audience returns."
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(
            f"The token has no {exc.claim!r} claim; a {provider.title} token carries one."
        ) from None
    except jwt.InvalidSignatureError:
        raise _invalid(f"The token's signature does not verify with the issuer's key {kid!r}.") from None
    except jwt.PyJWTError as exc:
        raise _invalid(f"The token is invalid: {exc}.") from None
    except OverflowError:
        # pyjwt int()s exp, nbf and iat and turns only ValueError into an error of its own:
        # a signed time claim of Infinity overflows.
        raise _invalid("The token's exp, nbf or iat claim is not a representable time.") from None
    exp = claims.get("exp")
    # pyjwt checks exp is an integer in the future, not that it is a time at all: 2**63 passes.
    latest = dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp() - LEEWAY
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not 0 < exp <= latest:
        raise _invalid(f"The token's expiry (claim exp) {exp!r} is not a valid time.")
    for name in provider.required_claims:
        if not isinstance(claims.get(name), (str, int)) or claims.get(name) == "":
            raise _invalid(f"The token's {name!r} claim is empty or not a string.")
    return provider, claims


def spend(stores: Stores, issuer: str, claims: dict[str, Any], raw: str) -> None:
    """Record the token as used; a second use is refused.

    The jti (or, for issuers without one, the token's hash) names a create-only document:
    Firestore refuses the second create atomically, however many instances race.
    """
    from google.api_core import exceptions

    jti = claims.get("jti")
    shown = repr(jti) if jti else "(its hash)"
    jti = str(jti) if jti else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    doc_id = hashlib.sha256(f"{issuer.rstrip('/')}\n{jti}".encode()).hexdigest()
    try:
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]) + LEEWAY, dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        # verify() refuses such an exp; this keeps spend() safe on claims from anywhere else.
        raise _invalid(f"The token's expiry (claim exp) {claims.get('exp')!r} is not a valid time.") from None
    try:
        stores.db.document(paths.spent_jti(doc_id)).create(
            {"issuer": issuer, "jti": jti, "expires_at": expires_at, "used_at": now()}
        )
    except exceptions.AlreadyExists:
        raise _invalid(
            f"This token was already used (jti {shown}); each OIDC token mints one token."
        ) from None


# -- the exchange ---------------------------------------------------------------------
@dataclasses.dataclass
class Minted:
    token: str
    record: Token
    publishers: list[Publisher]


class TrustedPublishing:
    """Mint and burn upload tokens for enrolled publishers."""

    def __init__(self, stores: Stores, settings: Settings):
        self.stores = stores
        self.settings = settings

    def mint(self, raw: str, *, team: str | None = None, index: str | None = None) -> Minted:
        """Exchange an OIDC token; ``team``/``index`` choose among matches in several indexes."""
        publishers = Publishers(self.stores)
        provider, claims = verify(raw, self.settings, generic=publishers.generic_issuer)
        candidates = publishers.candidates(provider, claims)
        who = f"{provider.title} {provider.key_claim} {claims.get(provider.key_claim)!r}"
        if not candidates:
            raise PublishingError("invalid-publisher", f"No trusted publisher is enrolled for {who}.")
        if team or index:
            candidates = [
                p for p in candidates if (not team or p.team == team) and (not index or p.index == index)
            ]
            if not candidates:
                raise PublishingError(
                    "invalid-publisher",
                    f"No trusted publisher is enrolled for {who} in {team or '*'}/{index or '*'}.",
                )
        matched, mismatches = [], []
        for pub in candidates:
            why = provider.check(pub, claims, self.settings)
            if why:
                mismatches += why
            else:
                matched.append(pub)
        if not matched:
            # Each sentence names the claim and the enrolled value, never the team, index or
            # projects: the caller proved only that it runs as this workload.
            raise PublishingError("invalid-publisher", [f"{who}: {m}" for m in mismatches])
        # Bounded work and a bounded token whatever other teams enroll: a team's first
        # MAX_INDEXES_PER_TEAM indexes (by name) count, the rest are left out.
        per_team: dict[str, set[str]] = {}
        bounded = []
        for pub in sorted(matched, key=lambda p: (p.team, p.index, p.id)):
            indexes = per_team.setdefault(pub.team, set())
            if pub.index in indexes or len(indexes) < MAX_INDEXES_PER_TEAM:
                indexes.add(pub.index)
                bounded.append(pub)
            else:
                log.warning(
                    "mint for %s: publisher %s of %s/%s left out (over %d indexes)",
                    who,
                    pub.id,
                    pub.team,
                    pub.index,
                    MAX_INDEXES_PER_TEAM,
                )
        matched = bounded
        spend(self.stores, provider.issuer(self.settings), claims, raw)
        # Each publisher stands alone from here on: one whose pinned owner differs, or whose
        # index is gone, is left out without costing the others their grant.
        tenancy = Tenancy(self.stores)
        kept, refusals = [], []
        for pub in matched:
            why = publishers.pin(pub, claims)
            if why:
                refusals += why
            elif not tenancy.index_exists(pub.team, pub.index):
                refusals.append(f"the index this publisher was enrolled for no longer exists ({pub.id})")
            elif not pub.projects:  # never mint an unscoped token: None would mean every project
                refusals.append(f"the publisher lists no projects ({pub.id})")
            else:
                kept.append(pub)
        if not kept:
            raise PublishingError("invalid-publisher", [f"{who}: {m}" for m in refusals])
        matched = kept
        # One grant per index the workload is enrolled in, each for exactly the projects its
        # publishers list there (several publishers of one index: the union of theirs).
        by_index: dict[tuple[str, str], list[Publisher]] = {}
        for pub in matched:
            by_index.setdefault((pub.team, pub.index), []).append(pub)
        # The run (id, ref, sha) is the workload's, and every team that enrolled the workload
        # is told of it: leaving it out when another team also enrolled it would let that team
        # erase it from yours.
        run = " ".join(
            f"{k}={claims[k]}" for k in ("run_id", "run_attempt", "pipeline_id", "ref", "sha") if k in claims
        )
        grants: list[Grant] = []
        for (t, i), pubs in sorted(by_index.items()):
            grants.append(
                {
                    "team": t,
                    "index": i,
                    "projects": sorted({p for pub in pubs for p in pub.projects}),
                    "publisher": ", ".join(sorted({pub.label for pub in pubs})),
                    "description": f"Trusted Publishing ({', '.join(pub.id for pub in pubs)}) {run}".strip(),
                }
            )
        try:
            secret, record = Tokens(self.stores).create(
                grants[0]["team"],
                grants[0]["index"],
                "publish",  # upload only: a publishing job never needs to read the index
                expires_in=dt.timedelta(seconds=self.settings.minted_token_ttl),
                created_by=f"oidc:{provider.name}",
                kind="oidc",
                grants=grants,
                check_index=False,  # checked above, publisher by publisher
                # Every kept publisher matched this one workload's claims, so they name the same
                # repository and workflow (or project and CI config, or service account), spelled
                # as the claims spell them (the signing certificate does too).
                identity=provider.identity(matched[0], claims),
            )
        except BaleError as exc:
            raise PublishingError("invalid-publisher", f"{who}: {exc.message}") from None
        # Each team's log tells of its own grants only.
        for g in grants:
            Tenancy(self.stores).audit(
                g["team"],
                f"trusted publisher {g['publisher']}",
                "mint-token",
                f"token {record.id} for {g['index']}: {', '.join(g['projects'] or ())} {run}".strip(),
            )
        return Minted(token=secret, record=record, publishers=matched)

    def burn(self, raw: str) -> Token:
        """Revoke a minted token (uv burns its token when it is done); API tokens are refused."""
        try:
            token = access.authenticate_raw(self.stores, raw).token
        except Unauthorized as exc:
            raise _invalid(exc.message) from None
        why = access.burn_refusal(token)
        if why:
            raise _invalid(why)
        Tokens(self.stores).revoke_everywhere(token.id)
        return token

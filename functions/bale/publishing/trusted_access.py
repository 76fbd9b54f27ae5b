"""Trusted Access: exchange a CI's OpenID Connect token for a short-lived read token.

The counterpart of Trusted Publishing (:mod:`bale.publishing.trusted`) for installs: a test job
or a Docker build that needs a team's private packages gets a read token for the indexes its
enrollment (:mod:`bale.publishing.readers`) names, instead of a long-lived secret stored in CI.

It reuses the publishing verifier as it is (issuer, JWKS, ``alg``, audience, expiry with the
same clock skew) and its single-use record of each ``jti``: an OIDC token is spent once, on a
mint or on a read, never both. The token minted here is kind ``access``, permission ``read``,
one grant per index, for at most an hour: it cannot upload (its permission), cannot be burned
or exchanged (only OIDC tokens are), and cannot make tokens (nothing takes a Bale token for
that). A workload enrolled by several teams gets one token with each team's grants; each team's
audit log tells of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from bale.errors import BaleError, PublishingError
from bale.publishing.providers.base import Provider
from bale.publishing.readers import GenericOIDC, Reader, Readers, check, lookup_for
from bale.publishing.trusted import spend, verify
from bale.settings import Settings
from bale.store.backends import Stores
from bale.store.records import Grant
from bale.tenancy.service import Tenancy
from bale.tokens.service import Token, TokenKind, Tokens

log = logging.getLogger("bale.oidc")

#: The longest a read token lives, whatever the settings say.
MAX_TTL = 3600
#: Indexes one team's readers may add to one token (bounds the token document and the work).
MAX_INDEXES_PER_TEAM = 50
#: Claims that say which run of which workflow asked, for the audit log (the ones a token has).
_RUN_CLAIMS = (
    "repository",
    "project_path",
    "workflow_ref",
    "job_workflow_ref",
    "ci_config_ref_uri",
    "sub",
    "email",
    "run_id",
    "run_attempt",
    "pipeline_id",
    "job_id",
    "ref",
    "sha",
)


@dataclasses.dataclass
class Exchanged:
    token: str
    record: Token
    readers: list[Reader]


class TrustedAccess:
    """Exchange OIDC tokens of enrolled workloads for read tokens."""

    def __init__(self, stores: Stores, settings: Settings):
        self.stores = stores
        self.settings = settings

    def _generic(self, readers: Readers) -> Any:
        def provider_for(issuer: str) -> Provider | None:
            # Only an issuer some team enrolled is ever contacted: a token naming any other
            # URL is refused before we fetch a thing from it.
            from bale.publishing.readers import validate_issuer

            try:
                url = validate_issuer(issuer)
            except BaleError:
                return None
            return GenericOIDC(url) if readers.issuer_enrolled(url) else None

        return provider_for

    def exchange(self, raw: str) -> Exchanged:
        readers = Readers(self.stores)
        provider, claims = verify(raw, self.settings, generic=self._generic(readers))
        key = lookup_for(provider, claims)
        who = f"{provider.title} {provider.key_claim} {claims.get(provider.key_claim)!r}"
        candidates = readers.candidates(key) if key else []
        if not candidates:
            raise PublishingError("invalid-accessor", f"No trusted accessor is enrolled for {who}.")
        matched: list[Reader] = []
        mismatches: list[str] = []
        for reader in candidates:
            why = check(reader, claims)
            if why:
                mismatches += why
            else:
                matched.append(reader)
        if not matched:
            # Which claim did not match, with the token's own value: never another team's
            # name, indexes or patterns (the caller only proved it runs as this workload).
            raise PublishingError("invalid-accessor", [f"{who}: {m}" for m in mismatches])
        pinned = []
        for reader in matched:
            why = readers.pin(reader, claims)
            if why:
                mismatches += why
            else:
                pinned.append(reader)
        if not pinned:
            raise PublishingError("invalid-accessor", [f"{who}: {m}" for m in mismatches])
        matched = pinned
        tenancy = Tenancy(self.stores)
        # One grant per (team, index); a reader for every index reads the team's indexes as
        # they are now (a later index is covered by the next token, an hour at most away).
        labels: dict[tuple[str, str], set[str]] = {}
        for reader in matched:
            if reader.indexes is None:
                names = sorted(str(d.get("name")) for d in tenancy.list_indexes(reader.team) if d.get("name"))
            else:
                names = [i for i in reader.indexes if tenancy.index_exists(reader.team, i)]
            for name in names:
                labels.setdefault((reader.team, name), set()).add(reader.label)
        per_team: dict[str, int] = {}
        grants: list[Grant] = []
        run = " ".join(f"{k}={claims[k]}" for k in _RUN_CLAIMS if k in claims)
        for (team, index), who_reads in sorted(labels.items()):
            per_team[team] = per_team.get(team, 0) + 1
            if per_team[team] > MAX_INDEXES_PER_TEAM:
                log.warning(
                    "read token for %s: %s/%s left out (over %d)", who, team, index, MAX_INDEXES_PER_TEAM
                )
                continue
            grants.append(
                {
                    "team": team,
                    "index": index,
                    "projects": None,
                    # No publisher: this workload publishes nothing (the description and the
                    # audit entry name the accessor).
                    "publisher": None,
                    "description": f"Trusted Access ({', '.join(sorted(who_reads))}) {run}".strip(),
                }
            )
        if not grants:
            raise PublishingError(
                "invalid-accessor", f"{who}: the indexes this workload is enrolled for no longer exist."
            )
        spend(self.stores, provider.issuer(self.settings), claims, raw)
        ttl = min(MAX_TTL, self.settings.read_token_ttl)
        try:
            secret, record = Tokens(self.stores).create(
                grants[0]["team"],
                grants[0]["index"],
                "read",
                expires_in=dt.timedelta(seconds=ttl),
                created_by=f"oidc-read:{provider.name.value}",
                kind=TokenKind.ACCESS,
                grants=grants,
                check_index=False,  # checked above, reader by reader
            )
        except BaleError as exc:
            raise PublishingError("invalid-accessor", f"{who}: {exc.message}") from None
        by_team: dict[str, list[Grant]] = {}
        for g in grants:
            by_team.setdefault(g["team"], []).append(g)
        for team, own in by_team.items():
            tenancy.audit(
                team,
                "trusted accessor "
                + ", ".join(sorted({label for g in own for label in labels[(g["team"], g["index"])]})),
                "read-token",
                f"token {record.id} reads {', '.join(g['index'] for g in own)} for {ttl // 60} min: {run}".strip(),
            )
        return Exchanged(token=secret, record=record, readers=matched)

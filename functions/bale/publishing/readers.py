"""Trusted accessors: which CI workloads may read which indexes of a team, with no stored secret.

A team admin enrolls a *Trusted Accessor* (``bale admin reader add``, the dashboard's Team >
Trusted Access): an OIDC issuer's workloads, selected by claim patterns
(:mod:`bale.publishing.patterns`), get short-lived read tokens for chosen indexes of the team
(or all of them) through ``POST /_/oidc/read-token``. The exchange is
:mod:`bale.publishing.trusted_access`; this module holds the record, the enrollment and the
claim rules.

Firestore layout::

    readers/{id}  {team, provider, lookup, issuer|None, repository|None, subject|None,
                   service_account|None, claims {name: pattern}, indexes [..]|None (all),
                   created_at, created_by}

``lookup`` is ``"<provider>:<key>"``: the lower-cased owner (GitHub) or top-level group (GitLab)
of the repository pattern, the service account (Google), or the issuer URL (generic OIDC), so
the candidates for a token are one equality query, and a pattern can never reach beyond the
owner it spells out.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Any

from bale import access
from bale.clock import now
from bale.errors import BadRequest, NotFound
from bale.names import validate_email, validate_index, validate_team
from bale.publishing import patterns
from bale.publishing.providers.base import Claims, Provider
from bale.publishing.providers.oidc import GenericOIDC as GenericOIDC  # re-exported
from bale.publishing.providers.oidc import parse_claims as parse_claims
from bale.publishing.providers.oidc import validate_issuer as validate_issuer
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import from_snapshot
from bale.tenancy.service import Tenancy

#: The providers a reader may name, as typed on the command line.
READER_PROVIDERS: tuple[str, ...] = ("github", "gitlab", "google", "oidc")
#: Indexes one enrollment may list.
MAX_INDEXES = 50


@dataclasses.dataclass
class Reader:
    """One enrolled trusted accessor. Fields its provider does not use stay None."""

    id: str
    team: str
    provider: str
    lookup: str = ""
    issuer: str | None = None  # oidc
    repository: str | None = None  # github OWNER/PATTERN, gitlab group/PATTERN; oidc: claim repository
    subject: str | None = None  # pattern over the sub claim
    service_account: str | None = None  # google
    claims: dict[str, str] = dataclasses.field(default_factory=dict)  # oidc: more claim patterns
    indexes: list[str] | None = None  # None: every index of the team
    #: github: the owner's numeric ID (repository_owner_id), pinned at the first exchange, so a
    #: deleted owner name registered again by someone else matches nothing.
    owner_id: str | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""

    @property
    def label(self) -> str:
        """A short human name, for tokens and audit records (this team's own words)."""
        what = {
            "github": f"github:{self.repository}",
            "gitlab": f"gitlab:{self.repository}",
            "google": f"google:{self.service_account}",
            "oidc": f"oidc:{self.issuer}",
        }.get(self.provider, self.provider)
        extra = [f"sub={self.subject}"] if self.subject else []
        if self.provider == "oidc" and self.repository:
            extra.insert(0, f"repository={self.repository}")
        extra += [f"{k}={v}" for k, v in sorted(self.claims.items())]
        return what + (f" ({', '.join(extra)})" if extra else "")

    @property
    def scope(self) -> str:
        return ", ".join(self.indexes) if self.indexes is not None else "all indexes"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for templates and JSON (the dashboard)."""
        return dataclasses.asdict(self) | {"label": self.label, "scope": self.scope}


# -- claim rules ------------------------------------------------------------------------
def check(reader: Reader, claims: Claims) -> list[str]:
    """Why a token's claims do not match ``reader``: one sentence per claim, [] if they do.

    Sentences name the claim and the token's own value, never the enrolled pattern: another
    team may have enrolled the same owner, and its patterns are its own business."""
    errors: list[str] = []

    def want(claim: str, pattern: str | None, *, ignore_case: bool = False) -> None:
        if pattern is None:
            return
        got = claims.get(claim)
        if got is None:
            errors.append(f"the token has no {claim!r} claim, which the enrollment matches")
        elif not patterns.matches(pattern, got, ignore_case=ignore_case):
            errors.append(f"{claim} {got!r} does not match the enrolled pattern")

    if reader.provider == "github":
        want("repository", reader.repository, ignore_case=True)
        want("sub", reader.subject)
    elif reader.provider == "gitlab":
        want("project_path", reader.repository, ignore_case=True)
        want("sub", reader.subject)
    elif reader.provider == "google":
        email = claims.get("email")
        if not isinstance(email, str) or email.casefold() != (reader.service_account or "").casefold():
            errors.append(f"email {email!r} is not the enrolled service account")
        if claims.get("email_verified") is not True:
            errors.append("email_verified is not true")
    elif reader.provider == "oidc":
        if str(claims.get("iss", "")).rstrip("/") != (reader.issuer or ""):
            errors.append(f"iss {claims.get('iss')!r} is not the enrolled issuer")
        want("repository", reader.repository)
        want("sub", reader.subject)
        for name, pattern in sorted(reader.claims.items()):
            want(name, pattern)
    else:
        errors.append(f"unknown provider {reader.provider!r}")
    return errors


def lookup_for(provider: Provider, claims: Claims) -> str | None:
    """The ``lookup`` value of the readers a verified token may match."""
    name = provider.name.value
    if name in ("github", "gitlab"):
        repo = claims.get(provider.key_claim)
        if not isinstance(repo, str) or "/" not in repo:
            return None
        return f"{name}:{repo.split('/', 1)[0].lower()}"
    if name == "google":
        email = claims.get("email")
        return f"google:{email.lower()}" if isinstance(email, str) and email else None
    key = provider.key_from_claims(claims)
    return provider.lookup(key) if key else None


# -- the repository ---------------------------------------------------------------------
class Readers:
    """Enrollment (team admins only: checked here) and the exchange-time lookup."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def _col(self) -> Any:
        return self.db.collection(paths.readers())

    def _require_admin(self, team: str, actor: str) -> None:
        # A person acting (the dashboard, or the CLI given --actor EMAIL) must be an admin of
        # the team now; the operator's CLI may.
        access.require_admin(self.stores, team, actor, to="change its trusted accessors")

    def add(
        self,
        team: str,
        provider: str,
        *,
        repository: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
        service_account: str | None = None,
        claims: list[str] | tuple[str, ...] | Mapping[str, str] | None = None,
        indexes: list[str] | tuple[str, ...] | None = None,
        all_indexes: bool = False,
        settings: Settings | None = None,
        actor: str = "cli",
    ) -> Reader:
        """Enroll a trusted accessor; validates everything and records an audit entry."""
        team = validate_team(team)
        if provider not in READER_PROVIDERS:
            raise BadRequest(f"Unknown provider {provider!r}; use one of {', '.join(READER_PROVIDERS)}.")
        tenancy = Tenancy(self.stores)
        tenancy.get_team(team)
        self._require_admin(team, actor)
        if bool(indexes) == bool(all_indexes):
            raise BadRequest("Name the indexes it may read (--index NAME, repeatable) or give --all-indexes.")
        chosen: list[str] | None = None
        if indexes:
            chosen = sorted({validate_index(i) for i in indexes})
            if len(chosen) > MAX_INDEXES:
                raise BadRequest(f"An enrollment may list at most {MAX_INDEXES} indexes; use --all-indexes.")
            for i in chosen:
                tenancy.require_index(team, i)
        claim_patterns = parse_claims(claims)
        sub = patterns.validate(subject, "subject pattern") if subject else None
        record: dict[str, Any] = {"subject": sub, "claims": claim_patterns}
        if provider in ("github", "gitlab"):
            if not repository:
                raise BadRequest(
                    f"A {provider} reader needs --repository PATTERN (e.g. acme/* or acme/widgets)."
                )
            if claim_patterns or issuer or service_account:
                raise BadRequest(
                    f"--claim, --issuer and --service-account are for other providers, not {provider}."
                )
            repo = patterns.check_owner_literal(repository)
            record |= {"repository": repo, "lookup": f"{provider}:{repo.split('/', 1)[0].lower()}"}
        elif provider == "google":
            if not service_account:
                raise BadRequest("A google reader needs --service-account EMAIL.")
            if repository or sub or claim_patterns or issuer:
                raise BadRequest("A google reader is one service account: give only --service-account.")
            email = validate_email(service_account)
            record |= {"service_account": email, "lookup": f"google:{email}"}
        else:
            url = validate_issuer(issuer or "")
            s = settings or Settings()
            configured = {s.github_oidc_issuer, s.gitlab_oidc_issuer, s.google_oidc_issuer}
            if url in {c.rstrip("/") for c in configured}:
                raise BadRequest(f"{url} is a configured issuer: enroll it with its own --provider.")
            generic_repo = patterns.validate(repository, "repository pattern") if repository else None
            if not (generic_repo or sub or claim_patterns):
                raise BadRequest(
                    "A generic OIDC reader needs at least one claim to match: --subject, "
                    "--repository or --claim NAME=PATTERN."
                )
            record |= {"issuer": url, "repository": generic_repo, "lookup": f"oidc:{url}"}
        reader = Reader(
            id=secrets.token_hex(8),
            team=team,
            provider=provider,
            indexes=chosen,
            created_at=now(),
            created_by=actor,
            **record,
        )
        for other in self.list(team):
            if (other.provider, other.label, other.indexes) == (
                reader.provider,
                reader.label,
                reader.indexes,
            ):
                raise BadRequest(f"{reader.label} is already a trusted accessor of {team} ({other.id}).")
        data = dataclasses.asdict(reader)
        del data["id"]
        self._col().document(reader.id).create(data)
        tenancy.audit(team, actor, "add-reader", f"{reader.id} {reader.label} -> {reader.scope}")
        return reader

    def list(self, team: str) -> builtins.list[Reader]:
        """A team's trusted accessors, oldest first."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self._col().where(filter=FieldFilter("team", "==", team))
        found = [from_snapshot(Reader, s) for s in q.stream()]
        return sorted(found, key=lambda r: (r.created_at or now(), r.id))

    def get(self, team: str, reader_id: str) -> Reader:
        """One reader of a team; another team's is reported as missing, not forbidden."""
        valid = bool(re.fullmatch(r"[a-z0-9]{1,40}", reader_id or ""))
        snap = self._col().document(reader_id).get() if valid else None
        if snap is None or not snap.exists or snap.get("team") != team:
            raise NotFound(f"No trusted accessor {reader_id} in team {team}.")
        return from_snapshot(Reader, snap)

    def remove(self, team: str, reader_id: str, *, actor: str = "cli") -> Reader:
        """Delete a reader. Tokens it already got live out their hour."""
        self._require_admin(team, actor)
        reader = self.get(team, reader_id)
        self._col().document(reader.id).delete()
        Tenancy(self.stores).audit(team, actor, "remove-reader", f"{reader.id} {reader.label}")
        return reader

    def drop_index(self, team: str, index: str, *, actor: str = "cli") -> builtins.list[Reader]:
        """Stop every accessor of ``team`` reading ``index`` (a view being deleted): it loses
        that index, or is removed when it was its only one. The changed ones are returned."""
        changed = []
        for reader in self.list(team):
            if reader.indexes is None or index not in reader.indexes:
                continue
            left = [i for i in reader.indexes if i != index]
            if left:
                self._col().document(reader.id).update({"indexes": left})
                Tenancy(self.stores).audit(
                    team, actor, "update-reader", f"{reader.id} {reader.label} -> {', '.join(left)}"
                )
            else:
                self.remove(team, reader.id, actor=actor)
            changed.append(dataclasses.replace(reader, indexes=left))
        return changed

    def candidates(self, lookup: str) -> builtins.list[Reader]:
        """Every reader (any team) with this lookup key."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self._col().where(filter=FieldFilter("lookup", "==", lookup))
        return sorted((from_snapshot(Reader, s) for s in q.stream()), key=lambda r: (r.team, r.id))

    def pin(self, reader: Reader, claims: Claims) -> builtins.list[str]:
        """Pin a GitHub reader's owner ID at its first exchange; [] if the token agrees with it.

        A transaction, so two first exchanges racing cannot pin two different owners."""
        if reader.provider != "github":
            return []
        from google.cloud import firestore

        value = str(claims.get("repository_owner_id", ""))
        ref = self._col().document(reader.id)

        @firestore.transactional
        def txn(tx: Any) -> str:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return value  # removed meanwhile
            current = (snap.to_dict() or {}).get("owner_id")
            if current is None:
                tx.update(ref, {"owner_id": value})
                return value
            return str(current)

        reader.owner_id = txn(self.db.transaction())
        if reader.owner_id != value:
            return [
                f"repository_owner_id {value!r} is not the one this owner name had when the "
                "enrollment was first used (deleted, and the name taken again?); a team admin "
                "must enroll it again if the change is expected"
            ]
        return []

    def issuer_enrolled(self, issuer: str) -> bool:
        """Whether any team enrolled this generic issuer (before we fetch anything from it)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self._col().where(filter=FieldFilter("lookup", "==", f"oidc:{issuer.rstrip('/')}")).limit(1)
        return any(True for _ in q.stream())

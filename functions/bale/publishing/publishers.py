"""Trusted publishers: which CI workflows may publish which projects, without a stored secret.

A team admin enrolls a publisher (a GitHub Actions workflow, a GitLab CI/CD pipeline or a
Google Cloud service account) against projects of one index. At mint time the OIDC token's
claims select candidate publishers by one lookup key and each provider
(:mod:`bale.publishing.providers`) says, claim by claim, why a candidate does not match. This
module holds the :class:`Publisher` record and the :class:`Publishers` repository.

Firestore layout::

    publishers/{id}  {team, index, provider, projects (normalized, non-empty), lookup,
                      repository, workflow, environment, repository_owner_id,   # github
                      ci_config_path, namespace_id,                             # gitlab
                      service_account, subject,                                 # google
                      created_at, created_by}

``lookup`` is ``"<provider>:<key>"`` (lower-cased repository, project path or service account
email), so finding the candidates for a token is one equality query on an automatic
single-field index. The identity pins (``repository_owner_id``, ``namespace_id``,
``subject``) stay None until first use, then every later token must carry the same value: a
deleted and re-registered owner name cannot inherit someone else's publisher.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import re
import secrets
from typing import Any

from bale.clock import now
from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_index, validate_project, validate_team
from bale.publishing.providers import PROVIDERS, get_provider
from bale.publishing.providers.base import Claims, Provider
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import from_snapshot
from bale.tenancy.service import Tenancy

#: Projects one publisher may list. It bounds what a minted token carries: every team that
#: enrolls a workflow adds its grants to the one token that workflow gets.
MAX_PROJECTS = 100


@dataclasses.dataclass
class Publisher:
    """One enrolled publisher. Fields a provider does not use stay None."""

    id: str
    team: str
    index: str
    provider: str
    projects: list[str]
    lookup: str = ""
    repository: str | None = None  # github OWNER/REPO, gitlab group/project path
    workflow: str | None = None  # github workflow file name
    environment: str | None = None  # github/gitlab deployment environment; None: any
    repository_owner_id: str | None = None  # github pin
    ci_config_path: str | None = None  # gitlab
    namespace_id: str | None = None  # gitlab pin
    service_account: str | None = None  # google
    subject: str | None = None  # google pin (the service account's unique ID, claim sub)
    issuer: str | None = None  # oidc: the issuer URL
    claims: dict[str, str] | None = None  # oidc: claim name -> pattern
    created_at: dt.datetime | None = None
    created_by: str = ""

    @property
    def label(self) -> str:
        """A short human name, used on minted tokens and in audit records."""
        return PROVIDERS[self.provider].describe(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for templates and JSON (the dashboard)."""
        return dataclasses.asdict(self) | {
            "label": self.label,
            "provider_name": PROVIDERS[self.provider].title,
        }


class Publishers:
    """Enrollment (team admins; the caller checks who may) and the mint-time lookup."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def _col(self) -> Any:
        return self.db.collection(paths.publishers())

    @staticmethod
    def _from_snapshot(snap: Any) -> Publisher:
        return from_snapshot(Publisher, snap)

    def add(
        self,
        team: str,
        index: str,
        provider: str,
        projects: list[str],
        *,
        repository: str | None = None,
        workflow: str | None = None,
        environment: str | None = None,
        ci_config_path: str | None = None,
        service_account: str | None = None,
        subject: str | None = None,
        repository_owner_id: str | None = None,
        namespace_id: str | None = None,
        issuer: str | None = None,
        claims: list[str] | dict[str, str] | None = None,
        actor: str = "cli",
    ) -> Publisher:
        """Enroll a publisher; validates everything and records an audit entry.

        github: repository (OWNER/REPO), workflow (file name), optional environment.
        gitlab: repository (group/project path), ci_config_path (default .gitlab-ci.yml),
                optional environment.
        google: service_account (email), optional subject (its unique ID).
        """
        team, index = validate_team(team), validate_index(index)
        prov = get_provider(provider)
        if not projects:
            raise BadRequest("Name at least one project the publisher may upload (--project NAME).")
        norm = sorted({validate_project(p) for p in projects})
        if len(norm) > MAX_PROJECTS:
            raise BadRequest(
                f"A publisher may list at most {MAX_PROJECTS} projects ({len(norm)} given); "
                "enroll the workflow again for the rest."
            )
        record = prov.enroll(
            {
                "repository": repository,
                "workflow": workflow,
                "environment": environment,
                "ci_config_path": ci_config_path,
                "service_account": service_account,
                "subject": subject,
                "repository_owner_id": repository_owner_id,
                "namespace_id": namespace_id,
                "issuer": issuer,
                "claims": claims,
            }
        )
        tenancy = Tenancy(self.stores)
        tenancy.require_plain_index(team, index)
        pub = Publisher(
            id=secrets.token_hex(8),
            team=team,
            index=index,
            provider=prov.name.value,
            projects=norm,
            created_at=now(),
            created_by=actor,
            **record,
        )
        for other in self.list(team, index):
            if (
                other.provider,
                other.lookup,
                other.workflow,
                other.ci_config_path,
                (other.environment or "").casefold(),
                other.claims,
            ) == (
                pub.provider,
                pub.lookup,
                pub.workflow,
                pub.ci_config_path,
                (pub.environment or "").casefold(),
                pub.claims,
            ):
                raise Conflict(
                    f"{pub.label} is already a publisher of {team}/{index} ({other.id}); "
                    "remove it first to change its projects."
                )
        data = dataclasses.asdict(pub)
        del data["id"]
        self._col().document(pub.id).create(data)
        tenancy.audit(team, actor, "add-publisher", f"{pub.id} {pub.label} -> {index}: {', '.join(norm)}")
        return pub

    def list(self, team: str, index: str | None = None) -> builtins.list[Publisher]:
        """A team's publishers (optionally one index's), oldest first."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self._col().where(filter=FieldFilter("team", "==", team))
        pubs = [self._from_snapshot(s) for s in q.stream()]
        if index is not None:
            pubs = [p for p in pubs if p.index == index]
        return sorted(pubs, key=lambda p: (p.created_at or now(), p.id))

    def get(self, team: str, publisher_id: str) -> Publisher:
        """One publisher of a team; another team's is reported as missing, not forbidden."""
        snap = self._col().document(publisher_id).get() if _valid_id(publisher_id) else None
        if snap is None or not snap.exists or snap.get("team") != team:
            raise NotFound(f"No publisher {publisher_id} in team {team}.")
        return self._from_snapshot(snap)

    def remove(self, team: str, publisher_id: str, *, actor: str = "cli") -> Publisher:
        """Delete a publisher. Tokens it already minted live out their short lifetime."""
        pub = self.get(team, publisher_id)
        self._col().document(pub.id).delete()
        Tenancy(self.stores).audit(team, actor, "remove-publisher", f"{pub.id} {pub.label}")
        return pub

    # -- mint time -------------------------------------------------------------
    def candidates(self, provider: Provider, claims: Claims) -> builtins.list[Publisher]:
        """Every publisher (any team) enrolled for the workload the token names."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        key = provider.key_from_claims(claims)
        if not key:
            return []
        q = self._col().where(filter=FieldFilter("lookup", "==", provider.lookup(key)))
        return sorted(
            (self._from_snapshot(s) for s in q.stream()), key=lambda p: (p.created_at or now(), p.id)
        )

    def generic_issuer(self, issuer: str) -> Provider | None:
        """The provider for an issuer no setting names, if some team enrolled a publisher for
        it (asked before anything is fetched from that issuer); else None."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        from bale.publishing.providers.oidc import GenericOIDC

        generic = GenericOIDC()
        key = generic.key_from_claims({"iss": issuer})
        if not key:
            return None
        q = self._col().where(filter=FieldFilter("lookup", "==", generic.lookup(key))).limit(1)
        return generic.for_issuer(key) if any(True for _ in q.stream()) else None

    def pin(self, publisher: Publisher, claims: Claims) -> builtins.list[str]:
        """Record the provider's identity pin on first use; [] if the token agrees with it.

        A transaction, so two first uses racing cannot pin two different owners: the loser
        sees the winner's value and is refused if it differs.
        """
        from google.cloud import firestore

        prov = PROVIDERS[publisher.provider]
        field = prov.pin_field
        if not field:
            return []
        value = str(claims.get(prov.pin_claim or "", ""))
        ref = self._col().document(publisher.id)

        @firestore.transactional
        def txn(tx: Any) -> str:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return value  # removed meanwhile: nothing to pin
            current = (snap.to_dict() or {}).get(field)
            if current is None:
                tx.update(ref, {field: value})
                return value
            return str(current)

        setattr(publisher, field, txn(self.db.transaction()))
        return prov.check_pin(publisher, claims)


def _valid_id(publisher_id: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]{1,40}", publisher_id or ""))

"""Trusted publishers: which CI workflows may publish which projects, without a stored secret.

A team admin enrolls a publisher (a GitHub Actions workflow, a GitLab CI/CD pipeline or a
Google Cloud service account) against projects of one index. At mint time the OIDC token's
claims select candidate publishers by one lookup key and each :class:`Provider` says, claim by
claim, why a candidate does not match.

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

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bale.clock import now
from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_email, validate_index, validate_project, validate_team
from bale.settings import Settings
from bale.store.backends import Stores
from bale.tenancy.service import Tenancy

# GitHub: owner is 1-39 alphanumerics or single hyphens; repository names allow . _ -.
#: Projects one publisher may list. It bounds what a minted token carries: every team that
#: enrolls a workflow adds its grants to the one token that workflow gets.
MAX_PROJECTS = 100
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9._-]+\.ya?ml$")
# GitLab: group/subgroup/.../project.
_GITLAB_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")
_GITLAB_CONFIG = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.ya?ml$")
_DIGITS = re.compile(r"^[0-9]{1,40}$")
_ENVIRONMENT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


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


Claims = Mapping[str, Any]


def _ieq(a: str | None, b: str | None) -> bool:
    return (a or "").casefold() == (b or "").casefold()


class Provider:
    """A CI system whose OIDC tokens can publish: one subclass per issuer kind."""

    #: Short name stored on publishers and used on the command line.
    name: str = ""
    #: Name shown to people.
    title: str = ""
    #: The claim naming the workload, whose value is the lookup key (e.g. repository).
    key_claim: str = ""
    #: Claims every token of this issuer must carry (beyond iss, aud, exp, iat).
    required_claims: tuple[str, ...] = ()
    #: The claim pinned on the publisher at first use (record field of the same meaning).
    pin_claim: str | None = None
    pin_field: str | None = None

    def issuer(self, settings: Settings) -> str:
        """The issuer URL trusted for this provider."""
        raise NotImplementedError

    def key_from_claims(self, claims: Claims) -> str | None:
        """The lookup key a token names (e.g. its repository), lower-cased."""
        raise NotImplementedError

    def enroll(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Validate enrollment fields; return the record fields, lookup key included."""
        raise NotImplementedError

    def check(self, publisher: Publisher, claims: Claims, settings: Settings) -> list[str]:
        """Why this token does not match this publisher: one sentence per claim, [] if it does."""
        raise NotImplementedError

    def describe(self, publisher: Publisher) -> str:
        """A publisher's short label, e.g. ``github:octo-org/widgets:publish.yml``."""
        raise NotImplementedError

    # -- shared checks -------------------------------------------------------
    def _check_pin(self, publisher: Publisher, claims: Claims) -> list[str]:
        pinned = getattr(publisher, self.pin_field) if self.pin_field else None
        if pinned is None:
            return []
        got = str(claims.get(self.pin_claim, ""))
        if got != pinned:
            return [
                (
                    f"{self.pin_claim} {got!r} is not the enrolled {pinned!r}: the account behind this "
                    "name is not the one enrolled (deleted, and the name taken again?); if the change "
                    "is expected, a team admin must enroll the publisher again"
                )
            ]
        return []

    @staticmethod
    def _check_environment(publisher: Publisher, claims: Claims) -> list[str]:
        if not publisher.environment:
            return []  # no environment enrolled: any (or none) is accepted, as on PyPI
        got = claims.get("environment")
        if not got:
            return [f"environment: the token has none, but the publisher requires {publisher.environment!r}"]
        if not _ieq(str(got), publisher.environment):
            return [f"environment {got!r} is not the enrolled {publisher.environment!r}"]
        return []

    @staticmethod
    def _environment(fields: Mapping[str, Any]) -> str | None:
        env = (fields.get("environment") or "").strip()
        if not env:
            return None
        if not _ENVIRONMENT.match(env):
            raise BadRequest(f"Invalid environment {env!r}: use 1-255 printable characters.")
        return env


class GitHubActions(Provider):
    name = "github"
    title = "GitHub Actions"
    key_claim = "repository"
    required_claims = ("repository", "repository_owner_id", "job_workflow_ref", "jti", "sub")
    pin_claim = pin_field = "repository_owner_id"

    def issuer(self, settings):
        return settings.github_oidc_issuer

    def key_from_claims(self, claims):
        repo = claims.get("repository")
        return repo.lower() if isinstance(repo, str) and repo else None

    def enroll(self, fields):
        repo = (fields.get("repository") or "").strip()
        if not repo:
            raise BadRequest("A GitHub publisher needs --repository OWNER/REPO.")
        if not _GITHUB_REPO.match(repo) or repo.split("/")[1] in (".", ".."):
            raise BadRequest(f"Invalid GitHub repository {repo!r}: use OWNER/REPO, e.g. acme-org/widgets.")
        workflow = (fields.get("workflow") or "").strip()
        if not workflow:
            raise BadRequest(
                "A GitHub publisher needs --workflow, the workflow file name (e.g. publish.yml)."
            )
        if not _WORKFLOW.match(workflow):
            raise BadRequest(
                f"Invalid workflow {workflow!r}: give the file name in .github/workflows/, "
                "ending in .yml or .yaml, without a directory (e.g. publish.yml)."
            )
        owner_id = str(fields.get("repository_owner_id") or "").strip() or None
        if owner_id and not _DIGITS.match(owner_id):
            raise BadRequest(f"Invalid repository owner ID {owner_id!r}: it is a number.")
        return {
            "repository": repo,
            "workflow": workflow,
            "environment": self._environment(fields),
            "repository_owner_id": owner_id,
            "lookup": f"{self.name}:{repo.lower()}",
        }

    def check(self, publisher, claims, settings):
        errors = []
        repo = claims.get("repository", "")
        if not _ieq(repo, publisher.repository):
            errors.append(f"repository {repo!r} is not the enrolled {publisher.repository!r}")
        errors += self._check_pin(publisher, claims)
        errors += self._check_workflow_ref(publisher, claims)
        errors += self._check_environment(publisher, claims)
        return errors

    @staticmethod
    def _check_workflow_ref(publisher: Publisher, claims: Claims) -> list[str]:
        # OWNER/REPO/.github/workflows/FILE.yml@REF, REF being the ref or sha claim. For a
        # reusable workflow this names the called workflow: the one that actually runs.
        ref_claim = str(claims.get("job_workflow_ref", ""))
        path, sep, ref = ref_claim.partition("@")
        prefix = f"{publisher.repository}/.github/workflows/"
        if not sep or not ref:
            return [f"job_workflow_ref {ref_claim!r} has no @REF"]
        if not path.casefold().startswith(prefix.casefold()):
            return [
                (
                    f"job_workflow_ref {ref_claim!r} is not a workflow of the enrolled repository "
                    f"{publisher.repository!r}"
                )
            ]
        workflow = path[len(prefix) :]
        if workflow != publisher.workflow:
            return [f"workflow {workflow!r} is not the enrolled {publisher.workflow!r}"]
        known = {str(claims[k]) for k in ("ref", "sha") if claims.get(k)}
        if known and ref not in known:
            return [f"job_workflow_ref {ref_claim!r} does not run at the token's ref or sha"]
        return []

    def describe(self, publisher):
        env = f" (environment {publisher.environment})" if publisher.environment else ""
        return f"github:{publisher.repository}:{publisher.workflow}{env}"


class GitLabCI(Provider):
    name = "gitlab"
    title = "GitLab CI/CD"
    key_claim = "project_path"
    required_claims = ("project_path", "namespace_id", "ci_config_ref_uri", "jti", "sub")
    pin_claim = pin_field = "namespace_id"

    def issuer(self, settings):
        return settings.gitlab_oidc_issuer

    def key_from_claims(self, claims):
        path = claims.get("project_path")
        return path.lower() if isinstance(path, str) and path else None

    def enroll(self, fields):
        path = (fields.get("repository") or "").strip().strip("/")
        if not path:
            raise BadRequest("A GitLab publisher needs --repository, the project path (group/project).")
        if not _GITLAB_PATH.match(path):
            raise BadRequest(
                f"Invalid GitLab project path {path!r}: use group/project or group/subgroup/project."
            )
        config = (fields.get("ci_config_path") or ".gitlab-ci.yml").strip().lstrip("/")
        if not _GITLAB_CONFIG.match(config) or ".." in config.split("/"):
            raise BadRequest(
                f"Invalid CI config path {config!r}: a path in the repository ending in .yml or .yaml "
                "(e.g. .gitlab-ci.yml)."
            )
        ns = str(fields.get("namespace_id") or "").strip() or None
        if ns and not _DIGITS.match(ns):
            raise BadRequest(f"Invalid namespace ID {ns!r}: it is a number.")
        return {
            "repository": path,
            "ci_config_path": config,
            "environment": self._environment(fields),
            "namespace_id": ns,
            "lookup": f"{self.name}:{path.lower()}",
        }

    @staticmethod
    def _host(settings: Settings) -> str:
        # ci_config_ref_uri starts with the instance's host (gitlab.com for gitlab.com).
        parts = urlsplit(settings.gitlab_oidc_issuer)
        return (parts.netloc + parts.path).rstrip("/")

    def check(self, publisher, claims, settings):
        errors = []
        path = claims.get("project_path", "")
        if not _ieq(path, publisher.repository):
            errors.append(f"project_path {path!r} is not the enrolled {publisher.repository!r}")
        errors += self._check_pin(publisher, claims)
        uri = str(claims.get("ci_config_ref_uri", ""))
        where, sep, ref = uri.partition("@")
        prefix = f"{self._host(settings)}/{publisher.repository}//"
        if not sep or not ref:
            errors.append(f"ci_config_ref_uri {uri!r} has no @REF")
        elif not where.casefold().startswith(prefix.casefold()):
            errors.append(
                f"ci_config_ref_uri {uri!r} is not in the enrolled project {publisher.repository!r}"
            )
        elif where[len(prefix) :] != publisher.ci_config_path:
            errors.append(
                f"CI config {where[len(prefix) :]!r} (ci_config_ref_uri) is not the enrolled "
                f"{publisher.ci_config_path!r}"
            )
        errors += self._check_environment(publisher, claims)
        return errors

    def describe(self, publisher):
        env = f" (environment {publisher.environment})" if publisher.environment else ""
        return f"gitlab:{publisher.repository}:{publisher.ci_config_path}{env}"


class GoogleCloud(Provider):
    name = "google"
    title = "Google Cloud"
    key_claim = "email"
    # Google ID tokens carry no jti; replays are caught on a hash of the token instead.
    required_claims = ("email", "sub")
    pin_claim = "sub"
    pin_field = "subject"

    def issuer(self, settings):
        return settings.google_oidc_issuer

    def key_from_claims(self, claims):
        email = claims.get("email")
        return email.lower() if isinstance(email, str) and email else None

    def enroll(self, fields):
        email = (fields.get("service_account") or "").strip()
        if not email:
            raise BadRequest("A Google Cloud publisher needs --service-account EMAIL.")
        email = validate_email(email)
        sub = str(fields.get("subject") or "").strip() or None
        if sub and not _DIGITS.match(sub):
            raise BadRequest(f"Invalid service account unique ID {sub!r}: it is a number.")
        return {"service_account": email, "subject": sub, "lookup": f"{self.name}:{email}"}

    def check(self, publisher, claims, settings):
        errors = []
        email = claims.get("email", "")
        if not _ieq(email, publisher.service_account):
            errors.append(
                f"email {email!r} is not the enrolled service account {publisher.service_account!r}"
            )
        if claims.get("email_verified") is not True:
            errors.append("email_verified is not true")
        errors += self._check_pin(publisher, claims)
        return errors

    def describe(self, publisher):
        return f"google:{publisher.service_account}"


PROVIDERS: dict[str, Provider] = {p.name: p for p in (GitHubActions(), GitLabCI(), GoogleCloud())}


def get_provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise BadRequest(f"Unknown provider {name!r}; use one of {', '.join(PROVIDERS)}.") from None


class Publishers:
    """Enrollment (team admins; the caller checks who may) and the mint-time lookup."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self.db = stores.db

    def _col(self):
        return self.db.collection("publishers")

    @staticmethod
    def _from_snapshot(snap) -> Publisher:
        d = snap.to_dict()
        fields = {f.name for f in dataclasses.fields(Publisher)}
        return Publisher(id=snap.id, **{k: v for k, v in d.items() if k in fields})

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
            }
        )
        tenancy = Tenancy(self.stores)
        tenancy.require_index(team, index)
        pub = Publisher(
            id=secrets.token_hex(8),
            team=team,
            index=index,
            provider=prov.name,
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
            ) == (
                pub.provider,
                pub.lookup,
                pub.workflow,
                pub.ci_config_path,
                (pub.environment or "").casefold(),
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

    def list(self, team: str, index: str | None = None) -> list[Publisher]:
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
    def candidates(self, provider: Provider, claims: Claims) -> list[Publisher]:
        """Every publisher (any team) enrolled for the workload the token names."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        key = provider.key_from_claims(claims)
        if not key:
            return []
        q = self._col().where(filter=FieldFilter("lookup", "==", f"{provider.name}:{key}"))
        return sorted(
            (self._from_snapshot(s) for s in q.stream()), key=lambda p: (p.created_at or now(), p.id)
        )

    def pin(self, publisher: Publisher, claims: Claims) -> list[str]:
        """Record the provider's identity pin on first use; [] if the token agrees with it.

        A transaction, so two first uses racing cannot pin two different owners: the loser
        sees the winner's value and is refused if it differs.
        """
        from google.cloud import firestore

        prov = PROVIDERS[publisher.provider]
        if not prov.pin_field:
            return []
        value = str(claims.get(prov.pin_claim, ""))
        ref = self._col().document(publisher.id)

        @firestore.transactional
        def txn(tx):
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return value  # removed meanwhile: nothing to pin
            current = (snap.to_dict() or {}).get(prov.pin_field)
            if current is None:
                tx.update(ref, {prov.pin_field: value})
                return value
            return current

        setattr(publisher, prov.pin_field, txn(self.db.transaction()))
        return prov._check_pin(publisher, claims)


def _valid_id(publisher_id: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]{1,40}", publisher_id or ""))

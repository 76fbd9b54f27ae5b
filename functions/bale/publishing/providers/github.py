"""GitHub Actions: a workflow file of one repository, optionally one deployment environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bale.errors import BadRequest
from bale.publishing.providers.base import DIGITS, Claims, Enrolled, Provider, ProviderName, ieq, spelled
from bale.settings import Settings

# Owner: 1-39 alphanumerics or single hyphens; repository names allow . _ -.
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9._-]+\.ya?ml$")


class GitHubActions(Provider):
    name = ProviderName.GITHUB
    title = "GitHub Actions"
    key_claim = "repository"
    required_claims = ("repository", "repository_owner_id", "job_workflow_ref", "jti", "sub")
    pin_claim = pin_field = "repository_owner_id"

    def issuer(self, settings: Settings) -> str:
        return settings.github_oidc_issuer

    def key_from_claims(self, claims: Claims) -> str | None:
        repo = claims.get("repository")
        return repo.lower() if isinstance(repo, str) and repo else None

    def enroll(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        repo = str(fields.get("repository") or "").strip()
        if not repo:
            raise BadRequest("A GitHub publisher needs --repository OWNER/REPO.")
        if not _GITHUB_REPO.match(repo) or repo.split("/")[1] in (".", ".."):
            raise BadRequest(f"Invalid GitHub repository {repo!r}: use OWNER/REPO, e.g. acme-org/widgets.")
        workflow = str(fields.get("workflow") or "").strip()
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
        if owner_id and not DIGITS.match(owner_id):
            raise BadRequest(f"Invalid repository owner ID {owner_id!r}: it is a number.")
        return {
            "repository": repo,
            "workflow": workflow,
            "environment": self._environment(fields),
            "repository_owner_id": owner_id,
            "lookup": self.lookup(repo.lower()),
        }

    def check(self, publisher: Enrolled, claims: Claims, settings: Settings) -> list[str]:
        errors = []
        repo = claims.get("repository", "")
        if not ieq(repo, publisher.repository):
            errors.append(f"repository {repo!r} is not the enrolled {publisher.repository!r}")
        errors += self.check_pin(publisher, claims)
        errors += self._check_workflow_ref(publisher, claims)
        errors += self._check_environment(publisher, claims)
        return errors

    @staticmethod
    def _check_workflow_ref(publisher: Enrolled, claims: Claims) -> list[str]:
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

    def identity(self, publisher: Enrolled, claims: Claims | None = None) -> dict[str, str]:
        return {
            "provider": self.name.value,
            "repository": spelled(claims, "repository", publisher.repository),
            "workflow": publisher.workflow or "",
        }

    def describe(self, publisher: Enrolled) -> str:
        env = f" (environment {publisher.environment})" if publisher.environment else ""
        return f"github:{publisher.repository}:{publisher.workflow}{env}"

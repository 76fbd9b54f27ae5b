"""GitLab CI/CD: a pipeline config of one project, optionally one deployment environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bale.errors import BadRequest
from bale.publishing.providers.base import DIGITS, Claims, Enrolled, Provider, ProviderName, ieq, spelled
from bale.settings import Settings

# group/subgroup/.../project.
_GITLAB_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")
_GITLAB_CONFIG = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.ya?ml$")


class GitLabCI(Provider):
    name = ProviderName.GITLAB
    title = "GitLab CI/CD"
    key_claim = "project_path"
    required_claims = ("project_path", "namespace_id", "ci_config_ref_uri", "jti", "sub")
    pin_claim = pin_field = "namespace_id"

    def issuer(self, settings: Settings) -> str:
        return settings.gitlab_oidc_issuer

    def key_from_claims(self, claims: Claims) -> str | None:
        path = claims.get("project_path")
        return path.lower() if isinstance(path, str) and path else None

    def enroll(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        path = str(fields.get("repository") or "").strip().strip("/")
        if not path:
            raise BadRequest("A GitLab publisher needs --repository, the project path (group/project).")
        if not _GITLAB_PATH.match(path):
            raise BadRequest(
                f"Invalid GitLab project path {path!r}: use group/project or group/subgroup/project."
            )
        config = str(fields.get("ci_config_path") or ".gitlab-ci.yml").strip().lstrip("/")
        if not _GITLAB_CONFIG.match(config) or ".." in config.split("/"):
            raise BadRequest(
                f"Invalid CI config path {config!r}: a path in the repository ending in .yml or .yaml "
                "(e.g. .gitlab-ci.yml)."
            )
        ns = str(fields.get("namespace_id") or "").strip() or None
        if ns and not DIGITS.match(ns):
            raise BadRequest(f"Invalid namespace ID {ns!r}: it is a number.")
        return {
            "repository": path,
            "ci_config_path": config,
            "environment": self._environment(fields),
            "namespace_id": ns,
            "lookup": self.lookup(path.lower()),
        }

    @staticmethod
    def _host(settings: Settings) -> str:
        # ci_config_ref_uri starts with the instance's host (gitlab.com for gitlab.com).
        parts = urlsplit(settings.gitlab_oidc_issuer)
        return (parts.netloc + parts.path).rstrip("/")

    def check(self, publisher: Enrolled, claims: Claims, settings: Settings) -> list[str]:
        errors = []
        path = claims.get("project_path", "")
        if not ieq(path, publisher.repository):
            errors.append(f"project_path {path!r} is not the enrolled {publisher.repository!r}")
        errors += self.check_pin(publisher, claims)
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

    def identity(self, publisher: Enrolled, claims: Claims | None = None) -> dict[str, str]:
        return {
            "provider": self.name.value,
            "repository": spelled(claims, "project_path", publisher.repository),
            "ci_config_path": publisher.ci_config_path or "",
        }

    def describe(self, publisher: Enrolled) -> str:
        env = f" (environment {publisher.environment})" if publisher.environment else ""
        return f"gitlab:{publisher.repository}:{publisher.ci_config_path}{env}"

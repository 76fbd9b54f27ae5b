"""Upstream credentials, named per team and looked up through a small interface.

An index names its upstream's credentials by a short name (``corp``), never by a path or a
variable: each team reaches only its own, so one team's admin can't have Bale send another
team's secret (or the service's own) to an upstream of their choosing.

* ``local`` (the default; ``bale dev`` and tests): the variable
  ``BALE_UPSTREAM_AUTH_{TEAM}_{NAME}`` (upper case, the team's ``-`` as ``_``), else the file
  ``{BALE_UPSTREAM_CREDENTIALS_DIR}/{team}/{name}``;
* ``secret-manager`` (production): the latest version of the secret
  ``bale-upstream-{team}-{name}`` in the project.

A value ``user:password`` is sent as HTTP Basic, any other as a Bearer token.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Protocol

from bale.errors import BadRequest, Unavailable
from bale.settings import UPSTREAM_AUTH_PREFIX, Settings

#: No '-' (nor '_'): team names may have hyphens, so with them in credentials names too,
#: team ``acme`` naming ``prod-corp`` and team ``acme-prod`` naming ``corp`` would both mean
#: the secret ``bale-upstream-acme-prod-corp`` (and the variable ``…_ACME_PROD_CORP``): one
#: team's admin could have another team's secret sent to an upstream of their choosing.
#: Without them, the last separator splits team from name unambiguously.
_NAME = re.compile(r"[a-z0-9]{1,31}", re.ASCII)


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadRequest(f"Invalid credentials name {name!r}: use up to 31 lower-case letters and digits.")
    return name


def _valid(name: str) -> bool:
    """A stored name is checked again at use: one saved under an older rule is never looked up."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def secret_id(team: str, name: str) -> str:
    """The Secret Manager secret of ``team``'s credentials ``name``."""
    return f"bale-upstream-{team}-{validate_name(name)}"


class SecretSource(Protocol):
    def get(self, team: str, name: str) -> str | None:
        """The value of ``team``'s credentials ``name``, or None when there is none."""


def env_var(team: str, name: str) -> str:
    return f"{UPSTREAM_AUTH_PREFIX}{team}_{name}".upper().replace("-", "_")


class LocalSecrets:
    def __init__(self, settings: Settings) -> None:
        self._env = dict(settings.upstream_credentials)
        self._dir = settings.upstream_credentials_dir

    def get(self, team: str, name: str) -> str | None:
        if not _valid(name):
            return None
        value = self._env.get(env_var(team, name))
        if value:
            return value.strip()
        if self._dir:
            path = Path(self._dir) / team / name
            if path.is_file():
                return path.read_text().strip() or None
        return None


class SecretManagerSecrets:
    """Secret Manager through its REST API (google-auth is already a dependency)."""

    def __init__(self, settings: Settings) -> None:
        self._project = settings.project

    def get(self, team: str, name: str) -> str | None:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        if not _valid(name):
            return None
        secret = f"projects/{self._project}/secrets/{secret_id(team, name)}/versions/latest"
        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        resp = AuthorizedSession(creds).get(  # type: ignore[no-untyped-call]
            f"https://secretmanager.googleapis.com/v1/{secret}:access", timeout=10
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise Unavailable(f"Secret Manager answered {resp.status_code} for {secret}.")
        data: str = base64.b64decode(resp.json()["payload"]["data"]).decode().strip()
        return data or None


def secret_source(settings: Settings) -> SecretSource:
    if settings.upstream_secrets == "secret-manager":
        return SecretManagerSecrets(settings)
    return LocalSecrets(settings)

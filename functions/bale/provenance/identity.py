"""The publisher identity an attestation must be signed by: what a Trusted Publishing token
records of the publisher it was minted for. Pure and light: no sigstore here, so the upload
function's cold start does not pay for the verification stack unless attestations arrive."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

#: Why attestations are refused on an upload whose token has no publisher identity.
NO_IDENTITY: Final = (
    "attestations are accepted only on uploads made with a Trusted Publishing token: they "
    "are checked against the identity of the publisher the token was minted for, and this "
    "token has none. Upload without them (uv publish --no-attestations) or publish from "
    "an enrolled CI workflow."
)


@dataclasses.dataclass(frozen=True)
class Identity:
    """``provider`` is a :class:`bale.publishing.providers.base.ProviderName` value; the other
    fields are the enrolled publisher's (None where the provider has no such field)."""

    provider: str
    repository: str | None = None  # github OWNER/REPO, gitlab group/project
    workflow: str | None = None  # github workflow file name
    ci_config_path: str | None = None  # gitlab
    service_account: str | None = None  # google

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Identity | None:
        """The identity a token recorded, or None (a token minted before identities were kept)."""
        if not data or not isinstance(data.get("provider"), str):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: str(v) for k, v in data.items() if k in names and v is not None})

    def describe(self) -> str:
        if self.provider == "github":
            return f"GitHub repository {self.repository}, workflow {self.workflow}"
        if self.provider == "gitlab":
            return f"GitLab project {self.repository}, CI config {self.ci_config_path}"
        if self.provider == "google":
            return f"Google service account {self.service_account}"
        return self.provider

    def publisher_object(self) -> dict[str, Any]:
        """PEP 740's publisher object (the ``publisher`` of an attestation bundle)."""
        if self.provider == "github":
            return {"kind": "GitHub", "repository": self.repository, "workflow": self.workflow}
        if self.provider == "gitlab":
            return {"kind": "GitLab", "repository": self.repository, "workflow_filepath": self.ci_config_path}
        return {"kind": "Google", "email": self.service_account}

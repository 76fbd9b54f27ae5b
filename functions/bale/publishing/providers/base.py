"""What every CI provider says about its OIDC tokens, and the checks they share."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Protocol

from bale.errors import BadRequest
from bale.settings import Settings

#: An OIDC token's verified claims.
Claims = Mapping[str, Any]

# GitHub and GitLab environment names: printable, 1-255 characters.
_ENVIRONMENT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
#: Numeric IDs (owner, namespace, service account unique ID).
DIGITS = re.compile(r"^[0-9]{1,40}$")


class ProviderName(enum.StrEnum):
    """The providers, as stored on publishers and typed on the command line."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GOOGLE = "google"
    #: A self-hosted issuer named by its enrollment (generic OIDC).
    OIDC = "oidc"


class Enrolled(Protocol):
    """What a provider reads of an enrolled publisher
    (:class:`bale.publishing.publishers.Publisher` is one)."""

    repository: str | None
    workflow: str | None
    environment: str | None
    repository_owner_id: str | None
    ci_config_path: str | None
    namespace_id: str | None
    service_account: str | None
    subject: str | None
    issuer: str | None
    claims: dict[str, str] | None


def ieq(a: str | None, b: str | None) -> bool:
    """Equal ignoring case (owner, repository and email names are case-insensitive)."""
    return (a or "").casefold() == (b or "").casefold()


def spelled(claims: Claims | None, claim: str, enrolled: str | None) -> str:
    """``enrolled`` as the token's ``claim`` spells it, when they are the same name ignoring
    case (they are, for a token that matched); otherwise ``enrolled`` itself."""
    got = claims.get(claim) if claims else None
    return got if isinstance(got, str) and got and ieq(got, enrolled) else enrolled or ""


class Provider:
    """A CI system whose OIDC tokens can publish: one subclass per issuer kind."""

    #: Short name stored on publishers and used on the command line.
    name: ProviderName
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

    def check(self, publisher: Enrolled, claims: Claims, settings: Settings) -> list[str]:
        """Why this token does not match this publisher: one sentence per claim, [] if it does."""
        raise NotImplementedError

    def describe(self, publisher: Enrolled) -> str:
        """A publisher's short label, e.g. ``github:octo-org/widgets:publish.yml``."""
        raise NotImplementedError

    def identity(self, publisher: Enrolled, claims: Claims | None = None) -> dict[str, str]:
        """What an attestation's signer must be for uploads through this publisher's tokens
        (a :class:`bale.provenance.identity.Identity`, as stored on the minted token).

        Given the token's ``claims`` (which matched ``publisher``), names are spelled as the
        claims spell them: repository and project names match case-insensitively at mint time,
        but a signing certificate spells them as the provider does, and Sigstore's policies
        compare them exactly, so an enrolled ``Octo-Org/Widgets`` must not make the real
        ``octo-org/widgets`` fail verification."""
        raise NotImplementedError

    def lookup(self, key: str) -> str:
        """The publisher record's ``lookup`` value for a workload key."""
        return f"{self.name.value}:{key}"

    # -- shared checks -------------------------------------------------------
    def check_pin(self, publisher: Enrolled, claims: Claims) -> list[str]:
        """Why the token's identity pin differs from the one recorded; [] if it agrees (or none is)."""
        pinned = getattr(publisher, self.pin_field) if self.pin_field else None
        if pinned is None:
            return []
        got = str(claims.get(self.pin_claim or "", ""))
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
    def _check_environment(publisher: Enrolled, claims: Claims) -> list[str]:
        if not publisher.environment:
            return []  # no environment enrolled: any (or none) is accepted, as on PyPI
        got = claims.get("environment")
        if not got:
            return [f"environment: the token has none, but the publisher requires {publisher.environment!r}"]
        if not ieq(str(got), publisher.environment):
            return [f"environment {got!r} is not the enrolled {publisher.environment!r}"]
        return []

    @staticmethod
    def _environment(fields: Mapping[str, Any]) -> str | None:
        env = str(fields.get("environment") or "").strip()
        if not env:
            return None
        if not _ENVIRONMENT.match(env):
            raise BadRequest(f"Invalid environment {env!r}: use 1-255 printable characters.")
        return env

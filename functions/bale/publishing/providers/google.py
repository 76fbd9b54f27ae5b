"""Google Cloud: a service account, by email, pinned to its unique ID."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bale.errors import BadRequest
from bale.names import validate_email
from bale.publishing.providers.base import DIGITS, Claims, Enrolled, Provider, ProviderName, ieq, spelled
from bale.settings import Settings


class GoogleCloud(Provider):
    name = ProviderName.GOOGLE
    title = "Google Cloud"
    key_claim = "email"
    # Google ID tokens carry no jti; replays are caught on a hash of the token instead.
    required_claims = ("email", "sub")
    pin_claim = "sub"
    pin_field = "subject"

    def issuer(self, settings: Settings) -> str:
        return settings.google_oidc_issuer

    def key_from_claims(self, claims: Claims) -> str | None:
        email = claims.get("email")
        return email.lower() if isinstance(email, str) and email else None

    def enroll(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        email = str(fields.get("service_account") or "").strip()
        if not email:
            raise BadRequest("A Google Cloud publisher needs --service-account EMAIL.")
        email = validate_email(email)
        sub = str(fields.get("subject") or "").strip() or None
        if sub and not DIGITS.match(sub):
            raise BadRequest(f"Invalid service account unique ID {sub!r}: it is a number.")
        return {"service_account": email, "subject": sub, "lookup": self.lookup(email)}

    def check(self, publisher: Enrolled, claims: Claims, settings: Settings) -> list[str]:
        errors = []
        email = claims.get("email", "")
        if not ieq(email, publisher.service_account):
            errors.append(
                f"email {email!r} is not the enrolled service account {publisher.service_account!r}"
            )
        if claims.get("email_verified") is not True:
            errors.append("email_verified is not true")
        errors += self.check_pin(publisher, claims)
        return errors

    def identity(self, publisher: Enrolled, claims: Claims | None = None) -> dict[str, str]:
        email = spelled(claims, "email", publisher.service_account)
        return {"provider": self.name.value, "service_account": email}

    def describe(self, publisher: Enrolled) -> str:
        return f"google:{publisher.service_account}"

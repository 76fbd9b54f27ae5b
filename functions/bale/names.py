"""Names: teams, indexes, projects."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from bale.errors import BadRequest

# A DNS label, shorter: it ends up in URLs, bucket paths and classifiers.
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$")
# PEP 508 / core metadata "Name" rule.
_PROJECT = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _slug(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise BadRequest(
            f"Invalid {kind} name {value!r}: use 1-39 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        )
    return value


def validate_team(name: str) -> str:
    return _slug("team", name)


def validate_index(name: str) -> str:
    return _slug("index", name)


def validate_project(name: str) -> str:
    """Check a project name is valid and return its normalized form (PEP 503)."""
    if not isinstance(name, str) or not _PROJECT.match(name):
        raise BadRequest(f"Invalid project name {name!r}.")
    return canonicalize_name(name)


def validate_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise BadRequest(f"Invalid email address {email!r}.")
    return email

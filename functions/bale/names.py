"""Names: teams, indexes, projects.

Every check is a full match over ASCII only. ``re.match`` with ``$`` would accept a
trailing newline (``"acme\\n"``), and ``re.IGNORECASE`` without ``re.ASCII`` folds
non-ASCII letters onto ASCII ones (the Kelvin sign ``"\\u212a"`` matches ``k``, the long
s ``"ſ"`` matches ``s``): such names would pass the check yet differ from the name they
normalize to, in URLs, document IDs and blob paths.
"""

from __future__ import annotations

import re

from packaging.utils import InvalidName, canonicalize_name

from bale.errors import BadRequest

# A DNS label, shorter: it ends up in URLs, bucket paths and classifiers.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?", re.ASCII)
# PEP 508 / core metadata "Name" rule. packaging checks it too (validate=True), but only
# its releases from 26.1 on do so over ASCII with a full match; this one does everywhere.
_PROJECT = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _slug(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
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
    if not isinstance(name, str) or not _PROJECT.fullmatch(name):
        raise BadRequest(f"Invalid project name {name!r}.")
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:  # pragma: no cover - the check above is at least as strict
        raise BadRequest(f"Invalid project name {name!r}.") from None


def validate_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.fullmatch(email):
        raise BadRequest(f"Invalid email address {email!r}.")
    return email


# A file name in a URL or an upload (here, not in packages.distributions, so that a download
# needs neither packaging.metadata nor trove-classifiers).
_SAFE_FILENAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._+!-]*\Z"
)  # \Z: "$" would let a trailing newline through
MAX_FILENAME = 255


def check_filename(filename: str) -> str:
    """A bare, safe filename: no directories, no control characters, no surprises."""
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        raise BadRequest(f"Invalid filename {filename!r}: it must not contain a path.")
    if len(filename) > MAX_FILENAME or not _SAFE_FILENAME.match(filename):
        raise BadRequest(f"Invalid filename {filename!r}: use letters, digits and . _ + ! - only.")
    return filename

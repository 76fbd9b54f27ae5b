"""Trusted Access patterns: a restricted fnmatch over ``/``-separated names.

``*`` stands for one or more characters within one path segment (never a ``/``); every other
character stands for itself. There are no character classes (``[...]``) and no ``?``: a
pattern like ``acme/[a-z]*`` is refused rather than read as something else. So ``acme/*``
matches ``acme/widgets`` but neither ``acme-evil/widgets`` (the first segment is literal) nor
``acme/widgets/sub`` (``*`` never crosses a ``/``).

A pattern that would match anything at all (``*``, ``*/*``: every repository of a host) is
refused, and :func:`check_owner_literal` refuses a repository pattern whose first segment (the
owner, the top-level group) is not spelled out: an enrollment can never reach into another
account's repositories, and the exchange finds candidates by that owner in one lookup.
"""

from __future__ import annotations

import functools
import re

from bale.errors import BadRequest

MAX_LENGTH = 512
_FORBIDDEN = set("[]?\\")


def validate(pattern: str, what: str = "pattern") -> str:
    """``pattern`` stripped, or 400 saying why it cannot be one."""
    p = (pattern or "").strip()
    if not p:
        raise BadRequest(f"The {what} is empty.")
    if len(p) > MAX_LENGTH:
        raise BadRequest(f"The {what} is longer than {MAX_LENGTH} characters.")
    if any(c in _FORBIDDEN for c in p) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
        raise BadRequest(
            f"Invalid {what} {p!r}: only '*' is special (one or more characters within one "
            "'/'-separated segment); '[', ']', '?' and '\\' are not allowed."
        )
    segments = p.split("/")
    if any(s == "" for s in segments):
        raise BadRequest(
            f"Invalid {what} {p!r}: it has an empty segment (a leading, trailing or double '/')."
        )
    if all(set(s) == {"*"} for s in segments):
        raise BadRequest(f"The {what} {p!r} would match everything; name at least the owner, e.g. acme/* .")
    if "**" in p:
        raise BadRequest(f"Invalid {what} {p!r}: '**' is not supported; '*' never crosses a '/'.")
    return p


def check_owner_literal(pattern: str, what: str = "repository pattern") -> str:
    """A validated pattern whose first segment has no ``*``: it names one owner (or group)."""
    p = validate(pattern, what)
    owner, sep, _ = p.partition("/")
    if "*" in owner:
        raise BadRequest(
            f"Invalid {what} {p!r}: spell out the owner (the part before the first '/'), "
            "e.g. acme/* ; a '*' there would reach other accounts' repositories."
        )
    if not sep:
        raise BadRequest(f"Invalid {what} {p!r}: use OWNER/NAME, where NAME may use '*' (e.g. acme/*).")
    return p


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "/".join(
        "[^/]+".join(re.escape(part) for part in segment.split("*")) for segment in pattern.split("/")
    )
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def matches(pattern: str, value: object, *, ignore_case: bool = False) -> bool:
    """Whether the whole of ``value`` (a string) matches ``pattern``."""
    if not isinstance(value, str) or not value:
        return False
    return _compile(pattern, ignore_case).fullmatch(value) is not None

"""Ordering release versions (PEP 440), the same way everywhere a list of them is shown.

Uploads refuse a version ``packaging`` cannot parse, but records written before that check
(or by hand) may hold one; these never raise on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

#: A sort key: unparsable versions (rank 0, by their text) before every valid one (rank 1).
VersionKey = tuple[int, Version | str]


def version_key(version: str) -> VersionKey:
    """Sort key for one version string, in PEP 440 order; never raises."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Distinct versions in PEP 440 order (unparsable ones first).

    Sorted by text first, so versions PEP 440 calls equal (``1.0``, ``1.0.0``) come out in
    the same order on every instance.
    """
    return sorted(sorted(set(versions)), key=version_key)


def is_prerelease(version: str) -> bool:
    """True for a PEP 440 pre- or dev release; False for a final one or an unparsable one."""
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False

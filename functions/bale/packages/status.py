"""Project status markers (PEP 792): what each status means for uploads and downloads (pure).

A project's document holds ``status`` and ``status_reason``; no ``status`` means ``active``,
as the standard says of a project with no explicit marker. The Simple API serves the marker
(``project-status`` in JSON, ``pypi:project-status`` meta tags in HTML, at api-version 1.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bale.errors import BadRequest, NotFound

ACTIVE: Final = "active"
ARCHIVED: Final = "archived"
QUARANTINED: Final = "quarantined"
DEPRECATED: Final = "deprecated"
#: Every status PEP 792 defines, in its order.
STATUSES: Final = (ACTIVE, ARCHIVED, QUARANTINED, DEPRECATED)
#: PEP 792: an index MUST NOT allow uploads of new distributions to these.
NO_UPLOADS: Final = frozenset({ARCHIVED, QUARANTINED})
#: A reason is shown to installers and on the dashboard: one line, bounded.
MAX_REASON = 500


def of(project_doc: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """(status, reason) of a project document (``active`` when it has none)."""
    if not project_doc:
        return ACTIVE, None
    return project_doc.get("status") or ACTIVE, project_doc.get("status_reason") or None


def check_status(status: str, reason: str | None) -> tuple[str, str | None]:
    """The status and reason to store, or BadRequest naming what is wrong."""
    status = status.strip().lower()
    if status not in STATUSES:
        raise BadRequest(f"Unknown project status {status!r}: one of {', '.join(STATUSES)}.")
    reason = " ".join(reason.split()) if reason else None
    if reason and len(reason) > MAX_REASON:
        raise BadRequest(f"The reason is {len(reason)} characters long; at most {MAX_REASON}.")
    return status, reason or None


def refuse_upload(project: str, project_doc: Mapping[str, Any] | None) -> None:
    """BadRequest, naming the status, when the project takes no uploads."""
    status, reason = of(project_doc)
    if status not in NO_UPLOADS:
        return
    why = f" ({reason})" if reason else ""
    raise BadRequest(
        f"Project {project!r} is {status}{why} and accepts no new uploads; a team admin can "
        "change its status (bale admin project status, or the dashboard)."
    )


def serves_files(status: str) -> bool:
    """PEP 792: a quarantined project's distributions MUST NOT be offered for download."""
    return status != QUARANTINED


def refuse_download(project: str, where: str, status: str, reason: str | None) -> None:
    """NotFound naming the status (and its reason) when the project's files are not served:
    404 like a missing file (an installer treats both alike), but saying why."""
    if serves_files(status):
        return
    why = f" ({reason})" if reason else ""
    raise NotFound(f"Project {project!r} in {where} is {status}{why}: none of its files is served.")

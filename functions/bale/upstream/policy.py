"""Who answers for a project name, and which upstream files a build may see. Pure.

Private first, never merged: a name the index holds (any project record) or that an admin
reserved is answered from Bale's own records alone, and the upstream is never asked about it.
Every other name is answered from the upstream, through the cooldown: a file whose PEP 700
``upload-time`` is younger than the index's ``min_age`` is hidden (and cannot be downloaded),
unless an admin exempted its project. With a cooldown set, a file whose upstream gives no
upload time is hidden too: a cooldown an upstream could skip by leaving the field out would
protect nothing (exempt the project to take such files anyway).

The index document keeps the settings::

    upstream                {url, min_age, credentials, set_at, set_by}, or absent: no upstream
    upstream_reserved       [names]: private even before their first upload
    upstream_allow_shadow   [names]: may be uploaded although the upstream has them
    upstream_exempt         [names]: upstream files shown whatever their age
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bale.store.records import PageEntry

#: The index document's fields (above).
UPSTREAM = "upstream"
RESERVED = "upstream_reserved"
ALLOW_SHADOW = "upstream_allow_shadow"
EXEMPT = "upstream_exempt"
#: The lists an admin edits by name (``bale admin reserve|allow-shadow|exempt``).
LISTS: dict[str, str] = {"reserve": RESERVED, "allow-shadow": ALLOW_SHADOW, "exempt": EXEMPT}


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    """An index's upstream, as its document says."""

    url: str
    min_age: int = 0  # seconds
    credentials: str | None = None  # a name, resolved per team (bale.upstream.secrets)
    reserved: frozenset[str] = frozenset()
    allow_shadow: frozenset[str] = frozenset()
    exempt: frozenset[str] = frozenset()

    def key(self, team: str) -> str:
        """What the upstream's cache is stored under, for ``team``: a hash of its URL, and for an
        upstream with credentials also of the team and the credentials' name. An authenticated
        upstream may show more than an anonymous one, and a credentials name means a different
        secret in each team (``bale-upstream-{team}-{name}``): two teams naming ``corp`` for the
        same URL must never share pages or copies that one of them could fetch only with its
        own secret. Anonymous upstreams are shared: whatever they serve, they serve anyone."""
        scope = f"{team}\n{self.credentials}" if self.credentials else ""
        return hashlib.sha256(f"{self.url}\n{scope}".encode()).hexdigest()[:32]


def config_of(index_doc: dict[str, Any] | None) -> UpstreamConfig | None:
    """The index's upstream, or None when it has none."""
    doc = index_doc or {}
    up = doc.get(UPSTREAM)
    if not isinstance(up, dict) or not up.get("url"):
        return None
    return UpstreamConfig(
        url=str(up["url"]),
        min_age=int(up.get("min_age") or 0),
        credentials=up.get("credentials") or None,
        reserved=frozenset(doc.get(RESERVED) or ()),
        allow_shadow=frozenset(doc.get(ALLOW_SHADOW) or ()),
        exempt=frozenset(doc.get(EXEMPT) or ()),
    )


def is_private(index_doc: dict[str, Any] | None, project: str, project_exists: bool) -> bool:
    """Whether ``project`` is the index's own: it has a record, or an admin reserved it."""
    return project_exists or project in ((index_doc or {}).get(RESERVED) or ())


def may_shadow(cfg: UpstreamConfig, project: str) -> bool:
    """Whether a first upload of ``project`` may go ahead without asking the upstream."""
    return project in cfg.allow_shadow or project in cfg.reserved


#: Why the cooldown hides a file the upstream gives no upload time for.
NO_UPLOAD_TIME = "the upstream gives no upload time for it"


def hidden_reason(entry: PageEntry, cfg: UpstreamConfig, project: str, now: dt.datetime) -> str | None:
    """Why the cooldown hides an upstream file, or None when it is visible."""
    if cfg.min_age <= 0 or project in cfg.exempt:
        return None
    uploaded = entry.get("t")
    if not isinstance(uploaded, dt.datetime):
        return NO_UPLOAD_TIME
    age = now - uploaded
    if age < dt.timedelta(seconds=cfg.min_age):
        return (
            f"it was uploaded {_human(age)} ago; this index waits {_human(dt.timedelta(seconds=cfg.min_age))}"
        )
    return None


def visible(
    entries: Iterable[PageEntry], cfg: UpstreamConfig, project: str, now: dt.datetime
) -> list[PageEntry]:
    """The entries the cooldown lets through."""
    return [e for e in entries if hidden_reason(e, cfg, project, now) is None]


def cooldown_note(
    entries: list[PageEntry], cfg: UpstreamConfig, project: str, now: dt.datetime
) -> str | None:
    """What a project page says when the cooldown hides some of its files (None: it hides
    none). Installers show nothing of it, so a page emptied by the cooldown would otherwise look
    like a project without files; the note names why, for whoever reads the page or the log."""
    reasons = [r for e in entries if (r := hidden_reason(e, cfg, project, now)) is not None]
    if not reasons:
        return None
    untimed = reasons.count(NO_UPLOAD_TIME)
    young = len(reasons) - untimed
    wait = _human(dt.timedelta(seconds=cfg.min_age))
    why = []
    if untimed:
        why.append(f"{untimed} without an upload time from the upstream (it gives none: PEP 700)")
    if young:
        why.append(f"{young} uploaded less than {wait} ago")
    what = f"all {len(entries)}" if len(reasons) == len(entries) else f"{len(reasons)} of {len(entries)}"
    return (
        f"This index's cooldown ({wait}) hides {what} files of {project} from its upstream: "
        f"{'; '.join(why)}. A team admin can exempt the project."
    )


def _human(delta: dt.timedelta) -> str:
    secs = max(0, int(delta.total_seconds()))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit}"
    return f"{secs}s"

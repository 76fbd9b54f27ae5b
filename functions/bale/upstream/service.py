"""An index's upstream settings, changed by team admins (dashboard) and operators (CLI).

Each change is recorded once in the team's audit log, here.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from bale.clock import now
from bale.errors import BadRequest, NotFound
from bale.names import validate_index, validate_project, validate_team
from bale.settings import Settings
from bale.store import paths
from bale.store.backends import Stores
from bale.tenancy.audit import AuditLog
from bale.upstream import addresses, policy
from bale.upstream.client import UpstreamError, loopback_url, target
from bale.upstream.secrets import validate_name

#: The setting that lets a local stack use an upstream on loopback (named in refusals).
LOOPBACK_SETTING = "BALE_UPSTREAM_ALLOW_LOOPBACK"

#: The longest cooldown (a typo like 300d would hide every new release for most of a year).
MAX_MIN_AGE = 90 * 86400


def validate_url(url: str, allow_loopback: bool = False) -> str:
    """An index URL Bale may fetch from: https to a public host (plain http, and loopback, only
    with ``allow_loopback``: the local stack's upstreams), no credentials in it (they go in
    Secret Manager), ending in '/'. Names are resolved and checked again at every connection
    (:mod:`bale.upstream.addresses`); this refuses early what can only be internal."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        host = ""
    if parts.scheme not in ("http", "https") or not host:
        raise BadRequest(
            f"Invalid upstream URL {url!r}: give an https:// index URL, e.g. https://pypi.org/simple/."
        )
    local = loopback_url(url)
    if local and not allow_loopback:
        raise BadRequest(
            f"Invalid upstream URL {url!r}: {host} is a loopback address, which Bale fetches from "
            f"only with {LOOPBACK_SETTING}=1 (`bale dev` sets it; production never should). Set it "
            "where `bale admin` and the stack run, or give a public https:// upstream."
        )
    if parts.scheme == "http" and not local:
        raise BadRequest(
            f"Invalid upstream URL {url!r}: use https (plain http only for a loopback upstream, "
            f"with {LOOPBACK_SETTING}=1)."
        )
    try:
        addresses.check_host(host, allow_loopback)
    except addresses.AddressRefused as exc:
        raise BadRequest(f"Invalid upstream URL {url!r}: {exc.message}") from None
    if parts.username or parts.password:
        raise BadRequest("Put no credentials in the upstream URL; name stored credentials instead.")
    if parts.query or parts.fragment:
        raise BadRequest(f"Invalid upstream URL {url!r}: no query or fragment.")
    try:
        # Read the way the connection will read it, so it is the origin credentials go to.
        to = target(url)
    except UpstreamError as exc:
        raise BadRequest(f"Invalid upstream URL: {exc.message}") from None
    path = to.path if to.path.endswith("/") else to.path + "/"
    return urllib.parse.urlunsplit((to.scheme, to.url.split("/")[2], path, "", ""))


class Upstreams:
    """Read and change the upstream settings of indexes."""

    def __init__(self, stores: Stores, settings: Settings) -> None:
        self.stores = stores
        self.settings = settings
        self.db = stores.db

    def _index(self, team: str, index: str) -> tuple[Any, dict[str, Any]]:
        ref = self.db.document(paths.index(validate_team(team), validate_index(index)))
        snap = ref.get()
        if not snap.exists:
            raise NotFound(f"No index {team}/{index}.")
        return ref, snap.to_dict() or {}

    def get(self, team: str, index: str) -> dict[str, Any]:
        """The index's upstream settings, for display."""
        _, doc = self._index(team, index)
        cfg = policy.config_of(doc)
        return {
            "url": cfg.url if cfg else None,
            "min_age": cfg.min_age if cfg else 0,
            "credentials": cfg.credentials if cfg else None,
            "reserved": sorted(doc.get(policy.RESERVED) or []),
            "allow_shadow": sorted(doc.get(policy.ALLOW_SHADOW) or []),
            "exempt": sorted(doc.get(policy.EXEMPT) or []),
        }

    def set_upstream(
        self,
        team: str,
        index: str,
        *,
        url: str | None = None,
        min_age: int = 0,
        credentials: str | None = None,
        off: bool = False,
        actor: str = "cli",
    ) -> str | None:
        """Turn the index's upstream on (``url``, default: the settings' default upstream) or
        ``off``; returns the URL now in use."""
        from google.cloud import firestore

        ref, _ = self._index(team, index)
        if off:
            ref.update({policy.UPSTREAM: firestore.DELETE_FIELD})
            AuditLog(self.stores).record(team, actor, "upstream-off", index)
            return None
        final = validate_url(url or self.settings.default_upstream_url, self.settings.upstream_allow_loopback)
        if not 0 <= int(min_age) <= MAX_MIN_AGE:
            raise BadRequest(f"The cooldown must be between 0 and {MAX_MIN_AGE // 86400} days.")
        creds = validate_name(credentials) if credentials else None
        ref.update(
            {
                policy.UPSTREAM: {
                    "url": final,
                    "min_age": int(min_age),
                    "credentials": creds,
                    "set_at": now(),
                    "set_by": actor,
                }
            }
        )
        detail = f"{index}: {final}, min-age {int(min_age)}s"
        if creds:
            detail += f", credentials {creds}"
        AuditLog(self.stores).record(team, actor, "set-upstream", detail)
        return final

    def set_listed(
        self, team: str, index: str, which: str, project: str, on: bool = True, *, actor: str = "cli"
    ) -> str:
        """Add (``on``) or remove a project name from one of the index's lists: ``reserve``,
        ``allow-shadow`` or ``exempt`` (:data:`bale.upstream.policy.LISTS`); returns the name."""
        from google.cloud import firestore

        field = policy.LISTS.get(which)
        if field is None:
            raise BadRequest(f"Unknown list {which!r}; use one of {', '.join(policy.LISTS)}.")
        name = validate_project(project)
        ref, _ = self._index(team, index)
        op = firestore.ArrayUnion if on else firestore.ArrayRemove
        ref.update({field: op([name])})
        action = which if on else f"un-{which}"
        AuditLog(self.stores).record(team, actor, f"upstream-{action}", f"{index}: {name}")
        return name

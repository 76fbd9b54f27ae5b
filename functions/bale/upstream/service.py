"""An index's upstream settings, changed by team admins (dashboard) and operators (CLI).

Each change is recorded once in the team's audit log, here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING, Any

from bale.clock import now
from bale.errors import BadRequest, BaleError
from bale.names import validate_index, validate_project, validate_team
from bale.settings import Settings
from bale.store.backends import Stores
from bale.tenancy.audit import AuditLog
from bale.tenancy.service import Tenancy
from bale.upstream import addresses, policy
from bale.upstream.client import PROBE_PROJECT, Probe, UpstreamClient, UpstreamError, loopback_url, target
from bale.upstream.secrets import validate_name

if TYPE_CHECKING:
    from bale.store.records import PageEntry
    from bale.upstream.cache import CachedPage

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
        tenancy = Tenancy(self.stores)
        doc = tenancy.require_plain_index(validate_team(team), validate_index(index))
        return tenancy.index_ref(team, index), doc

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

    def probe(self, team: str, index: str, project: str = PROBE_PROJECT) -> Probe | None:
        """Ask the index's upstream, as set, for ``project``'s page once (with its credentials),
        and say what it serves; None when the index has no upstream. Nothing is cached."""
        from bale.upstream.secrets import secret_source

        _, doc = self._index(team, index)
        cfg = policy.config_of(doc)
        if cfg is None:
            return None
        name = validate_project(project)
        try:
            creds = secret_source(self.settings).get(team, cfg.credentials) if cfg.credentials else None
        except BaleError as exc:
            return Probe(cfg.url, name, answers=False, problem=exc.message)
        if cfg.credentials and creds is None:
            return Probe(cfg.url, name, answers=False, problem=f"no credentials named {cfg.credentials!r}")
        return UpstreamClient(self.settings, cfg.url, creds).probe(name)

    def proxied(
        self, team: str, index: str, project: str, index_doc: dict[str, Any] | None = None
    ) -> Proxied | None:
        """What Bale holds of ``project`` from the index's upstream, for the dashboard: None when
        the index has no upstream or the name is reserved (the index's own). Reads the cached
        page and checks copies of the newest ``COPIES_CHECKED`` files; never asks the upstream."""
        from bale.upstream.cache import UpstreamCache

        doc = index_doc if index_doc is not None else self._index(team, index)[1]
        cfg = policy.config_of(doc)
        if cfg is None or policy.is_private(doc, project, False):
            return None
        cache = UpstreamCache(self.stores, self.settings, team, cfg)
        page = cache.cached(project)
        if page is None or not page.exists:
            return Proxied(cfg, project, page, [], None, set())
        at = now()
        shown = policy.visible(page.entries, cfg, project, at)
        newest = sorted(page.entries, key=lambda e: e.get("t") or _EPOCH, reverse=True)[:COPIES_CHECKED]
        return Proxied(
            cfg,
            project,
            page,
            shown,
            policy.cooldown_note(page.entries, cfg, project, at),
            cache.copied(newest),
        )


#: Files whose copies the dashboard checks per project page (one storage request each).
COPIES_CHECKED = 20
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclasses.dataclass
class Proxied:
    """A project the index answers from its upstream, as Bale has it cached."""

    cfg: policy.UpstreamConfig
    project: str
    page: CachedPage | None  # None: never fetched (no installer asked for it yet)
    shown: list[PageEntry]  # the entries the cooldown lets through
    note: str | None  # why the cooldown hides files, if it does
    copied: set[str]  # filenames (of the newest COPIES_CHECKED) with a verified copy

    @property
    def fetched_at(self) -> dt.datetime | None:
        return dt.datetime.fromtimestamp(self.page.fetched_at, dt.UTC) if self.page else None

"""API tokens: what a request may do.

A token reads ``bale_<id>_<secret>``. The ``bale_`` prefix lets secret scanners
spot a leaked one; ``<id>`` names its Firestore document so a check is one
read; only the SHA-256 of the secret is stored. The secret has 256 bits of
entropy, so a fast hash is enough (no password stretching is needed), and the
comparison is constant-time.

    tokens/{id}  {team, index, permission, projects|None, secret_sha256, kind,
                  created_at, created_by, owner|None, expires_at|None, revoked_at|None,
                  last_used_at|None, description, publisher|None,
                  grants|None, teams|None, revoked_teams|None, identity|None}

Permissions: ``read`` (pages and files), ``upload`` (that and uploads), ``publish`` (uploads
only: what Trusted Publishing mints; a CI job that publishes never needs to read).

A person's token (``owner``; before that field, an ``api`` token whose ``created_by`` is an
email) carries the person's rights as they are at each request, not as they were when it was
made (:mod:`bale.access` decides, from the team document's roster, which
:meth:`Tokens.authenticate_with` fetches in the same batched read as the token, so the check
costs no extra round trip). The token's ID says whether that fetch is needed: ``p…`` (a person's) or
``t…`` (not); older IDs are all hex, and fetch it too.

``grants`` only on a Trusted Publishing token whose workload is enrolled in several indexes:
one ``{team, index, projects, publisher, description}`` per index. Each team sees and revokes
only its own grants (``teams`` lists them for queries; ``revoked_teams`` maps a team that
revoked its grants to when); ``team``/``index``/``projects`` repeat the first grant.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from bale.clock import now
from bale.errors import BadRequest, NotFound, Unauthorized
from bale.names import validate_email, validate_index, validate_project, validate_team
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import Grant, from_snapshot
from bale.tenancy.service import Roster, Tenancy

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot, Transaction

PREFIX = "bale_"
REALM = 'Basic realm="bale"'


class Permission(StrEnum):
    """What a token may do; stored as its value."""

    READ = "read"
    UPLOAD = "upload"
    PUBLISH = "publish"


#: A right asked for, as the entry points spell it.
PermissionName = Literal["read", "upload", "publish"]
#: The permission names, for click choices and messages.
PERMISSIONS: tuple[str, ...] = tuple(p.value for p in Permission)


class TokenKind(StrEnum):
    """Who made a token: a person or the CLI (``api``), Trusted Publishing (``oidc``), or, for
    a person-wide token, ``bale login`` (``login``) or a dashboard sign-in (``browser``)."""

    API = "api"
    OIDC = "oidc"
    LOGIN = "login"
    BROWSER = "browser"
    #: Trusted Access: a read token a CI job got for its OIDC identity (at most an hour).
    ACCESS = "access"


#: ``team`` and ``index`` of a person-wide token: it matches every team and index, and what it
#: may do there is its owner's current rights in that team (see :mod:`bale.access`).
EVERYWHERE = "*"
#: Person-wide kinds (they always have an owner).
PERSON_WIDE_KINDS = frozenset({TokenKind.LOGIN, TokenKind.BROWSER})


#: First character of a token ID: a person's token (its owner's rights are checked per request)
#: or not. IDs from before are hex, so neither.
PERSON_ID, TEAM_ID = "p", "t"
_TOKEN = re.compile(r"^bale_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")


def token_format_problem(raw: str) -> str:
    """Why ``raw`` cannot be a Bale token, for a token that does not have its shape: a token
    cut short in a copy and paste starts with the prefix all the same."""
    if not raw.startswith(PREFIX):
        return f"Invalid token: a Bale token starts with {PREFIX!r}."
    size = len(PREFIX) + 16 + 1 + 43
    length = f" ({len(raw)} characters, a Bale token has {size})" if len(raw) != size else ""
    return f"Invalid token: it starts with {PREFIX!r} but is malformed or truncated{length}; copy it whole."


# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


@dataclasses.dataclass
class Token:
    """A token's stored record; what it may do is :mod:`bale.access`'s to decide."""

    id: str
    team: str
    index: str
    permission: Permission
    projects: list[str] | None
    #: A kind this version does not know stays the stored string: such a token is neither a
    #: person's nor minted by Trusted Publishing, and still loads.
    kind: TokenKind | str = TokenKind.API
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""
    #: The person whose current rights the token carries (None: a team or CI token).
    owner: str | None = None
    description: str = ""
    publisher: str | None = None
    #: A Trusted Publishing token whose workflow is enrolled in several indexes carries one
    #: grant per index, ``{"team", "index", "projects"}``; ``team``/``index``/``projects``
    #: then repeat the first. None for every other token.
    grants: list[Grant] | None = None
    teams: list[str] | None = None
    revoked_teams: dict[str, dt.datetime] | None = None
    #: A Trusted Publishing token: the identity of the publisher it was minted for
    #: (``{provider, repository, workflow | ci_config_path}`` or ``{provider, service_account}``),
    #: which the attestations uploaded with it must be signed by. One per token: every grant
    #: comes from the same workload. None for every other token, and for older minted ones.
    identity: dict[str, str] | None = None

    def __post_init__(self) -> None:
        # Documents hold the plain strings; the record holds the enums (equal to them).
        self.permission = Permission(self.permission)
        if self.kind in set(TokenKind):
            self.kind = TokenKind(self.kind)

    @property
    def person_wide(self) -> bool:
        """A ``bale login`` or browser token: good in every team its owner belongs to."""
        return self.team == EVERYWHERE and self.owner is not None

    def view_for(self, team: str) -> Token:
        """What ``team`` may see of this token: for a token granted to several teams, its own
        grants only (their indexes, projects, publishers), never the others'."""
        if not self.grants and not self.revoked_teams:
            return self
        mine = [g for g in self.grants or [] if g["team"] == team]
        shared = len(set(self.teams or [team])) > 1
        revoked = (self.revoked_teams or {}).get(team) or self.revoked_at
        first = mine[0] if mine else None
        return dataclasses.replace(
            self,
            team=team,
            index=", ".join(g["index"] for g in mine) or "",
            # A read grant of every project (Trusted Access) stays None: all of them.
            projects=None
            if any(g.get("projects") is None for g in mine)
            else sorted({p for g in mine for p in g.get("projects") or []}),
            description=first.get("description", "") if first else "",
            publisher=", ".join(dict.fromkeys(p for g in mine if (p := g.get("publisher")))) or None,
            grants=mine,
            teams=[team],
            revoked_teams=None,
            revoked_at=revoked,
            # When it was last used says when other teams' uploads ran: not theirs to see.
            last_used_at=None if shared else self.last_used_at,
        )

    def label_for(self, team: str, index: str) -> str:
        """Who acted, as ``team/index`` records it (the publishers of that grant only)."""
        for g in self.grants or []:
            if (g["team"], g["index"]) == (team, index) and g.get("publisher"):
                return f"trusted publisher {g['publisher']}"
        return self.label

    def scopes(self) -> list[tuple[str, str, list[str] | None]]:
        """(team, index, projects or None for all) for each index the token is good for
        (``*``: every team or index, for a person-wide token)."""
        if self.grants:
            return [(g["team"], g["index"], g.get("projects")) for g in self.grants]
        return [(self.team, self.index, self.projects)]

    def projects_for(self, team: str, index: str) -> list[str] | None:
        """The projects the token is limited to in that index (None: all of them)."""
        for t, i, projects in self.scopes():
            if (t, i) == (team, index) or (t, i) == (EVERYWHERE, EVERYWHERE):
                return projects
        return []

    @property
    def person(self) -> str | None:
        """The person whose rights the token carries: its owner, or for a token made before
        ``owner`` existed, the email that created an API token."""
        if self.owner:
            return self.owner
        if self.kind == TokenKind.API and "@" in (self.created_by or ""):
            return self.created_by.lower()
        return None

    @property
    def label(self) -> str:
        """Who acted, for records: the publisher, the person whose token it is, or else the
        token itself (a team's API token acts for no one person: its creator only made it, and
        "cli" alone would say nothing)."""
        if self.publisher:
            return f"trusted publisher {self.publisher}"
        if self.owner:
            return self.owner
        out = f"token {self.id}"
        if self.description:
            out += f" ({self.description})"
        if self.created_by:
            out += f", made by {self.created_by}"
        return out


def parse_duration(text: str) -> dt.timedelta:
    """'30d', '12h', '15m', '90s' -> timedelta."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not m:
        raise BadRequest(f"Invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 30d).")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise BadRequest("A duration must be positive.")
    return dt.timedelta(
        **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n}
    )


def _in(expires_in: dt.timedelta | None) -> str:
    """'in 7 days', 'in 12 hours', 'never' (for audit records)."""
    if not expires_in:
        return "never"
    secs = int(expires_in.total_seconds())
    for unit, n in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs % n == 0:
            k = secs // n
            return f"in {k} {unit}{'s' if k != 1 else ''}"
    return f"in {secs} seconds"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """Making, checking, listing and revoking tokens."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def _ref(self, token_id: str) -> DocumentReference:
        return self.db.document(paths.token(token_id))

    def create(
        self,
        team: str,
        index: str,
        permission: Permission | str,
        *,
        projects: list[str] | None = None,
        expires_in: dt.timedelta | None = None,
        created_by: str = "cli",
        description: str = "",
        kind: TokenKind | str = TokenKind.API,
        publisher: str | None = None,
        check_index: bool = True,
        grants: builtins.list[Grant] | None = None,
        owner: str | None = None,
        actor: str | None = None,
        identity: dict[str, str] | None = None,
    ) -> tuple[str, Token]:
        """Create a token; returns the secret string (shown once) and its record.

        ``owner`` makes it a person's token: it carries that person's rights as they are at
        each request (the person must be a member of the team now). ``actor`` (default
        ``created_by``) is who the team's audit log names; the creation is recorded there
        once, except for a minted Trusted Publishing token (``kind="oidc"``), whose mint
        records each team's grant itself.

        ``grants`` (Trusted Publishing only) makes one token good for several indexes: each a
        ``{team, index, projects, publisher, description}``; ``team``, ``index``,
        ``projects``, ``publisher`` and ``description`` then come from the first.

        ``identity`` (Trusted Publishing only): the publisher's identity, which attestations
        uploaded with the token are verified against."""
        if grants:
            grants = [
                {
                    **g,
                    "team": validate_team(g["team"]),
                    "index": validate_index(g["index"]),
                    # None (every project) only on a read grant: Trusted Access reads indexes.
                    "projects": None
                    if g.get("projects") is None and permission == Permission.READ
                    else sorted({validate_project(p) for p in g["projects"] or ()}),
                }
                for g in grants
            ]
            if any(g["projects"] == [] for g in grants):
                raise BadRequest("Every grant of a token must name its projects.")
            team, index, projects = grants[0]["team"], grants[0]["index"], grants[0]["projects"]
            publisher, description = grants[0].get("publisher"), grants[0].get("description", "")
        team, index = validate_team(team), validate_index(index)
        if permission not in PERMISSIONS:
            raise BadRequest(f"Unknown permission {permission!r}; use read, upload or publish.")
        permission, kind = Permission(permission), TokenKind(kind)
        tenancy = Tenancy(self.stores)
        if owner is not None:
            owner = validate_email(owner)
            if grants:
                raise BadRequest("A token for several indexes cannot be a person's.")
            if tenancy.role_of(team, owner) is None:
                raise BadRequest(f"{owner} is not a member of {team}; a person's token is for a member.")
        if check_index:
            for t, i in {(g["team"], g["index"]) for g in grants} if grants else {(team, index)}:
                doc = Tenancy(self.stores).require_index(t, i)
                if permission != Permission.READ and isinstance(doc.get("view"), dict):
                    raise BadRequest(
                        f"{t}/{i} is a view, read-only: a token for it can only read "
                        f"(--permission read); to {permission.value}, scope one to a source index."
                    )
        norm = sorted({validate_project(p) for p in projects}) if projects else None
        is_person = bool(owner) or (kind == TokenKind.API and "@" in (created_by or ""))
        token_id = (PERSON_ID if is_person else TEAM_ID) + secrets.token_hex(8)[1:]
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        created = now()
        record = Token(
            id=token_id,
            team=team,
            index=index,
            permission=permission,
            projects=norm,
            kind=kind,
            expires_at=created + expires_in if expires_in else None,
            created_at=created,
            created_by=created_by,
            owner=owner,
            description=description,
            publisher=publisher,
            grants=grants if grants and len(grants) > 1 else None,
            teams=sorted({g["team"] for g in grants}) if grants and len(grants) > 1 else None,
            identity=identity if kind == TokenKind.OIDC else None,
        )
        data = dataclasses.asdict(record)
        del data["id"]
        # Plain strings in the document (a StrEnum is one, but say so rather than rely on it).
        data["permission"], data["kind"] = record.permission.value, str(record.kind)
        data["secret_sha256"] = _hash(secret)
        if record.expires_at:
            # A TTL policy on purge_at removes dead tokens a while after they expire.
            data["purge_at"] = record.expires_at + dt.timedelta(days=30)
        self._ref(token_id).create(data)
        if kind not in (TokenKind.OIDC, TokenKind.ACCESS):  # their exchanges audit each grant
            scope = ", ".join(norm) if norm else "all projects"
            detail = f"{token_id} {permission} on {index} ({scope}), expires {_in(expires_in)}"
            tenancy.audit(
                team, actor or created_by, "create-token", detail + (f", for {owner}" if owner else "")
            )
        return f"{PREFIX}{token_id}_{secret}", record

    def create_personal(
        self,
        owner: str,
        kind: TokenKind,
        permission: Permission,
        *,
        expires_in: dt.timedelta,
        description: str = "",
    ) -> tuple[str, Token]:
        """A person-wide token (``bale login``: ``upload``; a dashboard sign-in: ``read``): one
        credential per host carrying ``owner``'s current rights in every team they belong to.

        Reads need the owner to be a member of the URL's team, uploads an admin or a writer of
        the index, checked per request against the roster fetched with the token. It always
        expires. A login token's creation is recorded in each of the owner's teams."""
        if kind not in PERSON_WIDE_KINDS:
            raise BadRequest(f"A person-wide token is a login or browser token, not {kind!r}.")
        owner = validate_email(owner)
        token_id = PERSON_ID + secrets.token_hex(8)[1:]
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        created = now()
        expires_at = created + expires_in
        data: dict[str, Any] = {
            "team": EVERYWHERE,
            "index": EVERYWHERE,
            "permission": Permission(permission).value,
            "projects": None,
            "kind": kind.value,
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
            "created_at": created,
            "created_by": owner,
            "owner": owner,
            "description": description[:200],
            "publisher": None,
            "grants": None,
            "teams": None,
            "revoked_teams": None,
            "secret_sha256": _hash(secret),
            "purge_at": expires_at + dt.timedelta(days=30),
        }
        self._ref(token_id).create(data)
        fields = {f.name for f in dataclasses.fields(Token)} - {"id"}
        record = Token(id=token_id, **{k: v for k, v in data.items() if k in fields})
        if kind == TokenKind.LOGIN:
            for team, _role in Tenancy(self.stores).teams_of(owner):
                Tenancy(self.stores).audit(
                    team,
                    owner,
                    "create-token",
                    f"{token_id} login ({description}), expires {_in(expires_in)}",
                )
        return f"{PREFIX}{token_id}_{secret}", record

    def personal(self, owner: str, *, kinds: frozenset[TokenKind] = PERSON_WIDE_KINDS) -> list[Token]:
        """``owner``'s person-wide tokens of ``kinds``, newest first."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self.db.collection(paths.tokens()).where(filter=FieldFilter("owner", "==", owner.lower()))
        found = [from_snapshot(Token, s) for s in q.stream()]
        mine = [t for t in found if t.person_wide and t.kind in kinds]
        return sorted(mine, key=lambda t: t.created_at or now(), reverse=True)

    def member_logins(self, team: str) -> list[Token]:
        """The ``bale login`` tokens of ``team``'s members, newest first, each as the team may
        see it: revoked if revoked everywhere or in this team, and without when it was last
        used (that says when other teams were used)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        emails = sorted({m.email.lower() for m in Tenancy(self.stores).members(team)})
        found: builtins.list[Token] = []
        col = self.db.collection(paths.tokens())
        for i in range(0, len(emails), 30):  # Firestore's largest "in" list
            q = col.where(filter=FieldFilter("owner", "in", emails[i : i + 30]))
            found += [from_snapshot(Token, s) for s in q.stream()]
        logins = [t for t in found if t.person_wide and t.kind == TokenKind.LOGIN]
        seen = [
            dataclasses.replace(
                t,
                revoked_at=(t.revoked_teams or {}).get(team) or t.revoked_at,
                revoked_teams=None,
                last_used_at=None,
            )
            for t in logins
        ]
        return sorted(seen, key=lambda t: t.created_at or now(), reverse=True)

    def revoke_member_login(self, team: str, token_id: str, *, actor: str) -> bool:
        """A team admin revokes a member's ``bale login`` token in ``team`` (its other teams
        are not theirs to decide: there it lasts as long as the owner's rights). NotFound unless
        it is the login token of a current member. True if it was live here. Audited in ``team``."""
        from google.cloud import firestore

        ref = self._ref(token_id)
        tenancy = Tenancy(self.stores)

        @firestore.transactional
        def txn(tx: Transaction) -> str | None:
            snap = ref.get(transaction=tx)
            token = from_snapshot(Token, snap) if snap.exists else None
            if (
                token is None
                or not token.person_wide
                or token.kind != TokenKind.LOGIN
                or token.owner is None
                or tenancy.role_of(team, token.owner) is None
            ):
                raise NotFound(f"No member of {team} has a sign-in token {token_id}.")
            if token.revoked_at is not None or team in (token.revoked_teams or {}):
                return None
            tx.update(ref, {"revoked_teams": {**(token.revoked_teams or {}), team: now()}})
            return token.owner

        owner = txn(self.db.transaction())
        if owner is None:
            return False
        tenancy.audit(team, actor, "revoke-token", f"{token_id} (bale login of {owner}, in {team})")
        return True

    def revoke_personal(self, owner: str, token_id: str, *, audit: bool = True) -> bool:
        """Revoke one of ``owner``'s person-wide tokens (from "My tokens", ``bale logout`` or
        sign-out); NotFound if it is not theirs. True if it was live. A login token's
        revocation is recorded in each of the owner's teams."""
        snap = self._ref(token_id).get()
        token = from_snapshot(Token, snap) if snap.exists else None
        if token is None or not token.person_wide or token.owner != owner.lower():
            raise NotFound(f"You have no token {token_id}.")
        if token.revoked_at is not None:
            return False
        self._ref(token_id).update({"revoked_at": now()})
        if audit and token.kind == TokenKind.LOGIN:
            tenancy = Tenancy(self.stores)
            for team, _role in tenancy.teams_of(token.owner):
                tenancy.audit(team, owner, "revoke-token", token_id)
        return True

    def authenticate(self, raw: str | None) -> Token:
        """The token a request presented, or Unauthorized."""
        return self.authenticate_with(raw)[0]

    def authenticate_with(
        self, raw: str | None, also: Sequence[DocumentReference] = (), *, team: str | None = None
    ) -> tuple[Token, Roster | None, builtins.list[DocumentSnapshot[DocumentReference]]]:
        """Like authenticate, and fetch the documents ``also`` in the same round trip.

        The hot path (a Simple API page) needs the token and one project document; one
        batched read instead of two in a row saves a Firestore round trip per request.
        The extra snapshots are returned only once the token is valid, so a caller can't
        answer from them for a request that fails authentication.

        ``team``, the team the request is for, adds that team's document (its roster) to the
        same read when the token may be a person's, returned as a value, so :mod:`bale.access`
        can then check the owner's current rights without another round trip.
        """
        if not raw:
            raise Unauthorized("Authentication required: use __token__ and a Bale API token.")
        m = _TOKEN.match(raw.strip())
        if not m:
            raise Unauthorized(token_format_problem(raw.strip()))
        token_id, secret = m.groups()
        ref = self._ref(token_id)
        roster_ref = None
        if team is not None and not token_id.startswith(TEAM_ID):
            roster_ref = Tenancy(self.stores).team_ref(team)
        refs = [ref, *also, *([roster_ref] if roster_ref is not None else [])]
        if len(refs) > 1:
            by_path = {s.reference.path: s for s in self.db.get_all(refs)}
            snap = by_path[ref.path]
            extra = [by_path[r.path] for r in also]
        else:
            by_path, snap, extra = {}, ref.get(), []
        if not snap.exists or not hmac.compare_digest(str(snap.get("secret_sha256")), _hash(secret)):
            raise Unauthorized("Invalid or revoked token.")
        token = from_snapshot(Token, snap)
        t = now()
        if token.revoked_at is not None:
            raise Unauthorized("Invalid or revoked token.")
        if token.expires_at is not None and token.expires_at <= t:
            raise Unauthorized("This token has expired.")
        roster = None
        if roster_ref is not None and team is not None:
            team_snap = by_path[roster_ref.path]
            roster = Roster(team, team_snap.to_dict() if team_snap.exists else None)
        if token.last_used_at is None or t - token.last_used_at > LAST_USED_GRANULARITY:
            try:
                self._ref(token_id).update({"last_used_at": t})
            except Exception:
                pass
        return token, roster, extra

    def list(self, team: str, *, include_revoked: bool = True) -> list[Token]:
        """The team's tokens, each as the team may see it (see Token.view_for)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        col = self.db.collection(paths.tokens())
        found: dict[str, Token] = {}
        for q in (
            col.where(filter=FieldFilter("team", "==", team)),
            col.where(filter=FieldFilter("teams", "array_contains", team)),
        ):
            for snap in q.stream():
                token = from_snapshot(Token, snap)
                found[snap.id] = token.view_for(team)
        tokens = list(found.values())
        if not include_revoked:
            tokens = [t for t in tokens if t.revoked_at is None]
        return sorted(tokens, key=lambda t: t.created_at or now(), reverse=True)

    def get(self, token_id: str) -> Token:
        snap = self._ref(token_id).get()
        if not snap.exists:
            raise NotFound(f"No token {token_id}.")
        return from_snapshot(Token, snap)

    def revoke_everywhere(self, token_id: str) -> None:
        """Revoke the whole token, all grants (its holder burning it)."""
        self._ref(token_id).update({"revoked_at": now()})

    def revoke(self, team: str, token_id: str, *, actor: str = "cli") -> None:
        """Revoke a team's token, recorded in the team's audit log as ``actor``'s doing. A
        token granted to several teams loses only this team's grants (in a transaction, so
        two teams revoking at once both take effect); the whole token is revoked when no
        grant is left."""
        from google.cloud import firestore

        ref = self._ref(token_id)

        @firestore.transactional
        def txn(tx: Transaction) -> bool:
            snap = ref.get(transaction=tx)
            token = from_snapshot(Token, snap) if snap.exists else None
            shared = bool(token and token.teams and len(set(token.teams)) > 1)
            if token is None or (team not in (token.teams or []) if shared else token.team != team):
                raise NotFound(f"No token {token_id} in team {team}.")
            if not shared:
                if token.revoked_at is None:
                    tx.update(ref, {"revoked_at": now()})
                    return True
                return False
            if team in (token.revoked_teams or {}):
                return False  # revoked here already
            left = [g for g in token.grants or [] if g["team"] != team]
            revoked = {**(token.revoked_teams or {}), team: now()}
            if not left:
                tx.update(ref, {"revoked_at": now(), "grants": [], "revoked_teams": revoked})
                return True
            first = left[0]
            tx.update(
                ref,
                {
                    "grants": left,
                    "revoked_teams": revoked,
                    # The first grant is what code outside the grants (listing by team) reads.
                    "team": first["team"],
                    "index": first["index"],
                    "projects": first["projects"],
                    "publisher": first.get("publisher"),
                    "description": first.get("description", ""),
                },
            )
            return True

        if txn(self.db.transaction()):
            Tenancy(self.stores).audit(team, actor, "revoke-token", token_id)

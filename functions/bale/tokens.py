"""API tokens: what a request may do.

A token reads ``bale_<id>_<secret>``. The ``bale_`` prefix lets secret scanners
spot a leaked one; ``<id>`` names its Firestore document so a check is one
read; only the SHA-256 of the secret is stored. The secret has 256 bits of
entropy, so a fast hash is enough (no password stretching is needed), and the
comparison is constant-time.

    tokens/{id}  {team, index, permission, projects|None, secret_sha256, kind,
                  created_at, created_by, expires_at|None, revoked_at|None,
                  last_used_at|None, description, publisher|None,
                  grants|None, teams|None, revoked_teams|None}

``grants`` only on a Trusted Publishing token whose workload is enrolled in several indexes:
one ``{team, index, projects, publisher, description}`` per index. Each team sees and revokes
only its own grants (``teams`` lists them for queries; ``revoked_teams`` maps a team that
revoked its grants to when); ``team``/``index``/``projects`` repeat the first grant.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets

from packaging.utils import canonicalize_name

from bale.errors import BadRequest, Forbidden, NotFound, Unauthorized
from bale.names import validate_index, validate_project, validate_team
from bale.stores import Stores
from bale.tenancy import Tenancy, now

PREFIX = "bale_"
REALM = 'Basic realm="bale"'
PERMISSIONS = ("read", "upload")
_TOKEN = re.compile(r"^bale_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$")
# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


@dataclasses.dataclass
class Token:
    id: str
    team: str
    index: str
    permission: str
    projects: list[str] | None
    kind: str = "api"
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""
    description: str = ""
    publisher: str | None = None
    #: A Trusted Publishing token whose workflow is enrolled in several indexes carries one
    #: grant per index, ``{"team", "index", "projects"}``; ``team``/``index``/``projects``
    #: then repeat the first. None for every other token.
    grants: list[dict] | None = None
    teams: list[str] | None = None
    revoked_teams: dict | None = None

    def view_for(self, team: str) -> "Token":
        """What ``team`` may see of this token: for a token granted to several teams, its own
        grants only (their indexes, projects, publishers), never the others'."""
        if not self.grants and not self.revoked_teams:
            return self
        mine = [g for g in self.grants or [] if g["team"] == team]
        shared = len(set(self.teams or [team])) > 1
        revoked = (self.revoked_teams or {}).get(team) or self.revoked_at
        first = mine[0] if mine else {}
        return dataclasses.replace(
            self,
            team=team,
            index=", ".join(g["index"] for g in mine) or "",
            projects=sorted({p for g in mine for p in g.get("projects") or []}),
            description=first.get("description", ""),
            publisher=", ".join(dict.fromkeys(g["publisher"] for g in mine if g.get("publisher"))) or None,
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
        """(team, index, projects or None for all) for each index the token is good for."""
        if self.grants:
            return [(g["team"], g["index"], g.get("projects")) for g in self.grants]
        return [(self.team, self.index, self.projects)]

    def projects_for(self, team: str, index: str) -> list[str] | None:
        """The projects the token is limited to in that index (None: all of them)."""
        for t, i, projects in self.scopes():
            if (t, i) == (team, index):
                return projects
        return []

    @property
    def label(self) -> str:
        """Who acted, for records: the token's creator or publisher."""
        if self.publisher:
            return f"trusted publisher {self.publisher}"
        return self.created_by or f"token {self.id}"

    def can(self, permission: str, team: str, index: str, project: str | None = None) -> bool:
        return self.why_not(permission, team, index, project) is None

    def why_not(self, permission: str, team: str, index: str, project: str | None = None) -> str | None:
        """None if allowed, else a sentence saying what is missing."""
        scope = next((sc for sc in self.scopes() if sc[:2] == (team, index)), None)
        if scope is None:
            if len(self.scopes()) > 1:  # other teams' grants are not the caller's to read
                return f"This token is not for {team}/{index}."
            return f"This token is for {self.team}/{self.index}, not {team}/{index}."
        if permission == "upload" and self.permission != "upload":
            return f"This token can only read {team}/{index}; uploading needs an upload token."
        projects = scope[2]
        if project is not None and projects is not None:
            if canonicalize_name(project) not in projects:
                return (
                    f"This token may not {permission} project {project!r}; "
                    f"it is limited to {', '.join(projects)}."
                )
        return None


def parse_duration(text: str) -> dt.timedelta:
    """'30d', '12h', '15m', '90s' -> timedelta."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not m:
        raise BadRequest(f"Invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 30d).")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise BadRequest("A duration must be positive.")
    return dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, stores: Stores):
        self.stores = stores
        self.db = stores.db

    def _ref(self, token_id: str):
        return self.db.collection("tokens").document(token_id)

    def create(
        self,
        team: str,
        index: str,
        permission: str,
        *,
        projects: list[str] | None = None,
        expires_in: dt.timedelta | None = None,
        created_by: str = "cli",
        description: str = "",
        kind: str = "api",
        publisher: str | None = None,
        check_index: bool = True,
        grants: list[dict] | None = None,
    ) -> tuple[str, Token]:
        """Create a token; returns the secret string (shown once) and its record.

        ``grants`` (Trusted Publishing only) makes one token good for several indexes: each a
        ``{team, index, projects, publisher, description}``; ``team``, ``index``,
        ``projects``, ``publisher`` and ``description`` then come from the first."""
        if grants:
            grants = [
                {**g, "team": validate_team(g["team"]), "index": validate_index(g["index"]),
                 "projects": sorted({validate_project(p) for p in g["projects"]})}
                for g in grants
            ]
            if any(not g["projects"] for g in grants):
                raise BadRequest("Every grant of a token must name its projects.")
            team, index, projects = grants[0]["team"], grants[0]["index"], grants[0]["projects"]
            publisher, description = grants[0].get("publisher"), grants[0].get("description", "")
        team, index = validate_team(team), validate_index(index)
        if permission not in PERMISSIONS:
            raise BadRequest(f"Unknown permission {permission!r}; use read or upload.")
        if check_index:
            for t, i in {(g["team"], g["index"]) for g in grants} if grants else {(team, index)}:
                Tenancy(self.stores).require_index(t, i)
        norm = sorted({validate_project(p) for p in projects}) if projects else None
        token_id = secrets.token_hex(8)
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
            description=description,
            publisher=publisher,
            grants=grants if grants and len(grants) > 1 else None,
            teams=sorted({g["team"] for g in grants}) if grants and len(grants) > 1 else None,
        )
        data = dataclasses.asdict(record)
        del data["id"]
        data["secret_sha256"] = _hash(secret)
        if record.expires_at:
            # A TTL policy on purge_at removes dead tokens a while after they expire.
            data["purge_at"] = record.expires_at + dt.timedelta(days=30)
        self._ref(token_id).create(data)
        return f"{PREFIX}{token_id}_{secret}", record

    def _from_snapshot(self, snap) -> Token:
        d = snap.to_dict()
        fields = {f.name for f in dataclasses.fields(Token)}
        return Token(id=snap.id, **{k: v for k, v in d.items() if k in fields})

    def authenticate(self, raw: str | None) -> Token:
        """The token a request presented, or Unauthorized."""
        return self.authenticate_with(raw)[0]

    def authenticate_with(self, raw: str | None, also=()) -> tuple[Token, list]:
        """Like authenticate, and fetch the documents ``also`` in the same round trip.

        The hot path (a Simple API page) needs the token and one project document; one
        batched read instead of two in a row saves a Firestore round trip per request.
        The extra snapshots are returned only once the token is valid, so a caller can't
        answer from them for a request that fails authentication.
        """
        if not raw:
            raise Unauthorized("Authentication required: use __token__ and a Bale API token.")
        m = _TOKEN.match(raw.strip())
        if not m:
            raise Unauthorized("Invalid token: a Bale token starts with 'bale_'.")
        token_id, secret = m.groups()
        ref = self._ref(token_id)
        if also:
            by_path = {s.reference.path: s for s in self.db.get_all([ref, *also])}
            snap = by_path[ref.path]
            extra = [by_path[r.path] for r in also]
        else:
            snap, extra = ref.get(), []
        if not snap.exists or not hmac.compare_digest(
            snap.get("secret_sha256"), _hash(secret)
        ):
            raise Unauthorized("Invalid or revoked token.")
        token = self._from_snapshot(snap)
        t = now()
        if token.revoked_at is not None:
            raise Unauthorized("Invalid or revoked token.")
        if token.expires_at is not None and token.expires_at <= t:
            raise Unauthorized("This token has expired.")
        if token.last_used_at is None or t - token.last_used_at > LAST_USED_GRANULARITY:
            try:
                self._ref(token_id).update({"last_used_at": t})
            except Exception:  # noqa: BLE001 - bookkeeping must never fail a request
                pass
        return token, extra

    def list(self, team: str, *, include_revoked: bool = True) -> list[Token]:
        """The team's tokens, each as the team may see it (see Token.view_for)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        col = self.db.collection("tokens")
        found = {}
        for q in (col.where(filter=FieldFilter("team", "==", team)),
                  col.where(filter=FieldFilter("teams", "array_contains", team))):
            for snap in q.stream():
                token = self._from_snapshot(snap)
                found[snap.id] = token.view_for(team)
        tokens = list(found.values())
        if not include_revoked:
            tokens = [t for t in tokens if t.revoked_at is None]
        return sorted(tokens, key=lambda t: t.created_at or now(), reverse=True)

    def get(self, token_id: str) -> Token:
        snap = self._ref(token_id).get()
        if not snap.exists:
            raise NotFound(f"No token {token_id}.")
        return self._from_snapshot(snap)

    def revoke_everywhere(self, token_id: str) -> None:
        """Revoke the whole token, all grants (its holder burning it)."""
        self._ref(token_id).update({"revoked_at": now()})

    def revoke(self, team: str, token_id: str) -> None:
        """Revoke a team's token. A token granted to several teams loses only this team's grants
        (in a transaction, so two teams revoking at once both take effect); the whole token
        is revoked when no grant is left."""
        from google.cloud import firestore

        ref = self._ref(token_id)

        @firestore.transactional
        def txn(tx):
            snap = ref.get(transaction=tx)
            token = self._from_snapshot(snap) if snap.exists else None
            shared = bool(token and token.teams and len(set(token.teams)) > 1)
            if token is None or (team not in token.teams if shared else token.team != team):
                raise NotFound(f"No token {token_id} in team {team}.")
            if not shared:
                if token.revoked_at is None:
                    tx.update(ref, {"revoked_at": now()})
                return
            if team in (token.revoked_teams or {}):
                return  # revoked here already
            left = [g for g in token.grants or [] if g["team"] != team]
            revoked = {**(token.revoked_teams or {}), team: now()}
            if not left:
                tx.update(ref, {"revoked_at": now(), "grants": [], "revoked_teams": revoked})
                return
            first = left[0]
            tx.update(ref, {
                "grants": left,
                "revoked_teams": revoked,
                # The first grant is what code outside the grants (listing by team) reads.
                "team": first["team"], "index": first["index"], "projects": first["projects"],
                "publisher": first.get("publisher"), "description": first.get("description", ""),
            })

        txn(self.db.transaction())

    def from_request(self, authorization: str | None) -> Token:
        """The token an HTTP request carries (Basic ``__token__:…`` or Bearer), or Unauthorized
        with the ``WWW-Authenticate`` challenge on which pip and uv ask their keyring or the user."""
        return self.from_request_with(authorization)[0]

    def from_request_with(self, authorization: str | None, also=()) -> tuple[Token, list]:
        """from_request, fetching the documents ``also`` in the same round trip."""
        from bale.auth import token_from_header

        try:
            return self.authenticate_with(token_from_header(authorization), also)
        except Unauthorized as exc:
            exc.headers["WWW-Authenticate"] = REALM
            raise

    def require(self, token: Token, permission: str, team: str, index: str, project: str | None = None):
        why = token.why_not(permission, team, index, project)
        if why:
            raise Forbidden(why)

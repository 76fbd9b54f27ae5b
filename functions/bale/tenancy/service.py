"""Teams, their indexes, members and write access.

Firestore layout::

    teams/{team}                              {name, created_at, roster, members: [email],
                                               admins: [email]}
    teams/{team}/members/{email}              {email, role, added_at}
    teams/{team}/indexes/{index}              {name, created_at, writers: [email]}
    audit/{auto}                              {team, actor, action, detail, at}

The members collection is the record of who is in a team. The team document repeats it as a
roster (``members``: every member, ``admins``: the admins among them, ``roster``: its format)
so that a request, which knows the team from its URL before it has read its token, can fetch
the current rights of the token's owner in the same batched read as the token (see
:mod:`bale.tokens`). Every change to members rewrites the roster in the same transaction. A
team made before the roster existed lacks ``roster``: its first member change builds it from
the members collection (in that transaction), and until then, or ``bale admin``'s
:meth:`Tenancy.backfill_roster`, a request falls back to one extra read of the collection.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bale.clock import now
from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_email, validate_index, validate_team
from bale.store import paths
from bale.store.backends import Stores
from bale.tenancy.audit import AuditLog

if TYPE_CHECKING:
    from google.cloud.firestore import CollectionReference, DocumentReference, Transaction


class Role(StrEnum):
    """A member's role, stored as its value."""

    ADMIN = "admin"
    MEMBER = "member"


#: The role names, for click choices and messages.
ROLES: tuple[str, ...] = tuple(r.value for r in Role)
#: The team document's ``roster`` field: its ``members``/``admins`` lists are maintained.
ROSTER_VERSION = 1


@dataclasses.dataclass
class Member:
    email: str
    role: Role


@dataclasses.dataclass(frozen=True, slots=True)
class Roster:
    """A team's document as read with a request's token (``doc`` None: no such team), carried
    as a value to :mod:`bale.access`, which reads a person's current role from it."""

    team: str
    doc: dict[str, Any] | None


def _roster(roles: dict[str, Role]) -> dict[str, Any]:
    """The team document's roster fields for ``{email: role}``."""
    return {
        "roster": ROSTER_VERSION,
        "members": sorted(roles),
        "admins": sorted(e for e, r in roles.items() if r == Role.ADMIN),
    }


def roster_role(team_doc: dict[str, Any] | None, email: str) -> Role | None:
    """A person's role as the team document's roster says; None for a non-member. Only for a
    document with a roster (``has_roster``)."""
    email = email.lower()
    doc = team_doc or {}
    if email in (doc.get("admins") or []):
        return Role.ADMIN
    if email in (doc.get("members") or []):
        return Role.MEMBER
    return None


def has_roster(team_doc: dict[str, Any] | None) -> bool:
    """Whether the team document carries a maintained roster."""
    return team_doc is not None and team_doc.get("roster") == ROSTER_VERSION


class Tenancy:
    """Teams, their indexes and members, and who writes where (what that allows is
    :mod:`bale.access`'s to decide)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    # -- references -------------------------------------------------------
    def team_ref(self, team: str) -> DocumentReference:
        return self.db.document(paths.team(team))

    def index_ref(self, team: str, index: str) -> DocumentReference:
        return self.db.document(paths.index(team, index))

    def member_ref(self, team: str, email: str) -> DocumentReference:
        return self.db.document(paths.member(team, email))

    def members_col(self, team: str) -> CollectionReference:
        return self.db.collection(paths.members(team))

    def indexes_col(self, team: str) -> CollectionReference:
        return self.db.collection(paths.indexes(team))

    # -- teams and indexes ------------------------------------------------
    def create_team(self, team: str, admin_email: str, *, actor: str = "cli") -> None:
        """Create a team with its ``main`` index and first admin."""
        from google.api_core import exceptions

        team = validate_team(team)
        admin_email = validate_email(admin_email)
        at = now()
        batch = self.db.batch()
        batch.create(
            self.team_ref(team), {"name": team, "created_at": at, **_roster({admin_email: Role.ADMIN})}
        )
        batch.create(self.index_ref(team, "main"), self._new_index("main", at))
        batch.create(
            self.member_ref(team, admin_email),
            {"email": admin_email, "role": Role.ADMIN.value, "added_at": at},
        )
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            raise Conflict(f"Team {team!r} already exists.") from None
        self.audit(team, actor, "create-team", f"admin {admin_email}")

    @staticmethod
    def _new_index(name: str, at: dt.datetime) -> dict[str, Any]:
        # An empty index's catalog (its project list) is complete: uploads keep it so.
        return {
            "name": name,
            "created_at": at,
            "writers": [],
            "catalog": paths.CATALOG_VERSION,
            "catalog_chunks": [],
        }

    def get_team(self, team: str) -> dict[str, Any]:
        snap = self.team_ref(team).get()
        if not snap.exists:
            raise NotFound(f"No team {team!r}.")
        return snap.to_dict() or {}

    def create_index(self, team: str, index: str, *, actor: str = "cli") -> None:
        from google.api_core import exceptions

        team = validate_team(team)
        index = validate_index(index)
        self.get_team(team)
        try:
            self.index_ref(team, index).create(self._new_index(index, now()))
        except exceptions.AlreadyExists:
            raise Conflict(
                f"{team}/{index} already exists (an index or a view); choose another name."
            ) from None
        self.audit(team, actor, "create-index", index)

    def index_exists(self, team: str, index: str) -> bool:
        return bool(self.index_ref(team, index).get().exists)

    def require_index(self, team: str, index: str) -> dict[str, Any]:
        snap = self.index_ref(team, index).get()
        if not snap.exists:
            raise NotFound(f"No index {team}/{index}.")
        return snap.to_dict() or {}

    def require_plain_index(self, team: str, index: str) -> dict[str, Any]:
        """The index document, refused (400) for a view: what holds files (writers, upstreams,
        publishers, projects, their catalog) belongs to its sources. Views share the index
        namespace, so tokens and accessors scope to them through :meth:`require_index`."""
        doc = self.require_index(team, index)
        spec = doc.get("view")
        if isinstance(spec, dict):
            sources = ", ".join(spec.get("sources") or [])
            raise BadRequest(
                f"{team}/{index} is a view (read-only, over {sources}); this applies to an index: "
                "name one of its sources."
            )
        return doc

    def list_indexes(self, team: str) -> list[dict[str, Any]]:
        return [s.to_dict() or {} for s in self.indexes_col(team).stream()]

    # -- members ----------------------------------------------------------
    def members(self, team: str) -> list[Member]:
        return [Member(s.get("email"), Role(s.get("role"))) for s in self.members_col(team).stream()]

    def role_of(self, team: str, email: str) -> Role | None:
        snap = self.member_ref(team, email.lower()).get()
        return Role(snap.get("role")) if snap.exists else None

    def teams_of(self, email: str) -> list[tuple[str, Role]]:
        """(team, role) pairs for a person."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self.db.collection_group("members").where(filter=FieldFilter("email", "==", email.lower()))
        found = []
        for s in q.stream():
            team = s.reference.parent.parent  # teams/{team}/members/{email}
            assert team is not None
            found.append((team.id, Role(s.get("role"))))
        return sorted(found)

    def set_member(self, team: str, email: str, role: Role | str, *, actor: str = "cli") -> None:
        """Add a member or change their role; the last admin cannot be demoted."""
        from google.cloud import firestore

        email = validate_email(email)
        if role not in ROLES:
            raise BadRequest(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
        role = Role(role)
        self.get_team(team)

        @firestore.transactional
        def txn(tx: Transaction) -> None:
            roles = self._roles_in(tx, team)
            current = self.member_ref(team, email).get(transaction=tx)
            if current.exists and current.get("role") == Role.ADMIN and role != Role.ADMIN:
                self._check_not_last_admin(tx, team, email)
            data: dict[str, Any] = {"email": email, "role": role.value}
            if not current.exists:
                data["added_at"] = now()
            tx.set(self.member_ref(team, email), data, merge=True)
            # The roster changes with the member, so the next request sees the new role.
            tx.update(self.team_ref(team), _roster({**roles, email: role}))

        txn(self.db.transaction())
        self.audit(team, actor, "set-member", f"{email} as {role}")

    def remove_member(self, team: str, email: str, *, actor: str = "cli") -> None:
        """Remove a member; in the same transaction, the roster forgets them and every index of
        the team drops their write access (re-adding them later grants none)."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        email = email.lower()
        indexes = self.indexes_col(team)

        @firestore.transactional
        def txn(tx: Transaction) -> None:
            current = self.member_ref(team, email).get(transaction=tx)
            if not current.exists:
                raise NotFound(f"{email} is not a member of {team}.")
            roles = self._roles_in(tx, team)
            if current.get("role") == Role.ADMIN:
                self._check_not_last_admin(tx, team, email)
            granted = indexes.where(filter=FieldFilter("writers", "array_contains", email)).get(
                transaction=tx
            )
            tx.delete(self.member_ref(team, email))
            roles.pop(email, None)
            tx.update(self.team_ref(team), _roster(roles))
            for snap in granted:
                tx.update(snap.reference, {"writers": firestore.ArrayRemove([email])})

        txn(self.db.transaction())
        self.audit(team, actor, "remove-member", email)

    def _roles_in(self, tx: Transaction, team: str) -> dict[str, Role]:
        """In a transaction: ``{email: role}`` of the team, from its roster, or from the members
        collection for a team made before the roster (the caller then writes the roster)."""
        snap = self.team_ref(team).get(transaction=tx)
        if not snap.exists:
            raise NotFound(f"No team {team!r}.")
        doc = snap.to_dict() or {}
        if has_roster(doc):
            return {e: roster_role(doc, e) or Role.MEMBER for e in doc.get("members") or []}
        return {s.get("email"): Role(s.get("role")) for s in self.members_col(team).get(transaction=tx)}

    def backfill_roster(self, team: str) -> dict[str, Role]:
        """Write the roster of a team made before it existed (safe to run again); returns it."""
        from google.cloud import firestore

        @firestore.transactional
        def txn(tx: Transaction) -> dict[str, Role]:
            roles = self._roles_in(tx, team)
            tx.update(self.team_ref(team), _roster(roles))
            return roles

        roles: dict[str, Role] = txn(self.db.transaction())
        return roles

    def role_from(self, team: str, email: str, team_doc: dict[str, Any] | None) -> Role | None:
        """A person's current role, from the team document already read (its roster); for a
        team without a roster yet, from the members collection (one more read)."""
        if has_roster(team_doc):
            return roster_role(team_doc, email)
        if not team_doc:
            return None
        return self.role_of(team, email)

    def _check_not_last_admin(self, tx: Transaction, team: str, email: str) -> None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        admins = (
            self.members_col(team)
            .where(filter=FieldFilter("role", "==", Role.ADMIN.value))
            .get(transaction=tx)
        )
        if [s.id for s in admins] == [email]:
            raise BadRequest(f"{email} is the last admin of {team}; add another admin first.")

    # -- write access -----------------------------------------------------
    def set_writer(self, team: str, index: str, email: str, allowed: bool, *, actor: str = "cli") -> None:
        """Grant (``allowed``) or revoke a member's write access to one index."""
        from google.cloud import firestore

        email = validate_email(email)
        self.require_plain_index(team, index)
        op = firestore.ArrayUnion if allowed else firestore.ArrayRemove
        self.index_ref(team, index).update({"writers": op([email])})
        self.audit(team, actor, "grant-write" if allowed else "revoke-write", f"{index}: {email}")

    # -- audit ------------------------------------------------------------
    def audit(self, team: str, actor: str, action: str, detail: str = "") -> None:
        """Record a change in the team's audit log (see :mod:`bale.tenancy.audit`)."""
        AuditLog(self.stores).record(team, actor, action, detail)

    def audit_log(
        self, team: str, limit: int = 50, before: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The team's newest audit entries (older than ``before``), newest first."""
        return AuditLog(self.stores).entries(team, limit, before)

"""Teams, their indexes, members and write access.

Firestore layout::

    teams/{team}                              {name, created_at}
    teams/{team}/members/{email}              {email, role, added_at}
    teams/{team}/indexes/{index}              {name, created_at, writers: [email]}
    audit/{auto}                              {team, actor, action, detail, at}
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_email, validate_index, validate_team
from bale.stores import Stores

ROLES = ("admin", "member")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass
class Member:
    email: str
    role: str


class Tenancy:
    def __init__(self, stores: Stores):
        self.stores = stores
        self.db = stores.db

    # -- references -------------------------------------------------------
    def team_ref(self, team: str):
        return self.db.collection("teams").document(team)

    def index_ref(self, team: str, index: str):
        return self.team_ref(team).collection("indexes").document(index)

    # -- teams and indexes ------------------------------------------------
    def create_team(self, team: str, admin_email: str, *, actor: str = "cli") -> None:
        """Create a team with its ``main`` index and first admin."""
        from google.api_core import exceptions

        team = validate_team(team)
        admin_email = validate_email(admin_email)
        at = now()
        batch = self.db.batch()
        batch.create(self.team_ref(team), {"name": team, "created_at": at})
        batch.create(
            self.index_ref(team, "main"), self._new_index("main", at)
        )
        batch.create(
            self.team_ref(team).collection("members").document(admin_email),
            {"email": admin_email, "role": "admin", "added_at": at},
        )
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            raise Conflict(f"Team {team!r} already exists.") from None
        self.audit(team, actor, "create-team", f"admin {admin_email}")

    @staticmethod
    def _new_index(name: str, at) -> dict:
        from bale.packages import CATALOG_VERSION

        # An empty index's catalog (its project list) is complete: uploads keep it so.
        return {"name": name, "created_at": at, "writers": [], "catalog": CATALOG_VERSION, "catalog_chunks": []}

    def get_team(self, team: str) -> dict:
        snap = self.team_ref(team).get()
        if not snap.exists:
            raise NotFound(f"No team {team!r}.")
        return snap.to_dict()

    def create_index(self, team: str, index: str, *, actor: str = "cli") -> None:
        from google.api_core import exceptions

        team = validate_team(team)
        index = validate_index(index)
        self.get_team(team)
        try:
            self.index_ref(team, index).create(self._new_index(index, now()))
        except exceptions.AlreadyExists:
            raise Conflict(f"Index {team}/{index} already exists.") from None
        self.audit(team, actor, "create-index", index)

    def index_exists(self, team: str, index: str) -> bool:
        return self.index_ref(team, index).get().exists

    def require_index(self, team: str, index: str) -> dict:
        snap = self.index_ref(team, index).get()
        if not snap.exists:
            raise NotFound(f"No index {team}/{index}.")
        return snap.to_dict()

    def list_indexes(self, team: str) -> list[dict]:
        return [s.to_dict() for s in self.team_ref(team).collection("indexes").stream()]

    # -- members ----------------------------------------------------------
    def members(self, team: str) -> list[Member]:
        return [
            Member(s.get("email"), s.get("role"))
            for s in self.team_ref(team).collection("members").stream()
        ]

    def role_of(self, team: str, email: str) -> str | None:
        snap = self.team_ref(team).collection("members").document(email.lower()).get()
        return snap.get("role") if snap.exists else None

    def teams_of(self, email: str) -> list[tuple[str, str]]:
        """(team, role) pairs for a person."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self.db.collection_group("members").where(
            filter=FieldFilter("email", "==", email.lower())
        )
        return sorted((s.reference.parent.parent.id, s.get("role")) for s in q.stream())

    def set_member(self, team: str, email: str, role: str, *, actor: str = "cli") -> None:
        """Add a member or change their role; the last admin cannot be demoted."""
        from google.cloud import firestore

        email = validate_email(email)
        if role not in ROLES:
            raise BadRequest(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
        self.get_team(team)
        members = self.team_ref(team).collection("members")

        @firestore.transactional
        def txn(tx):
            current = members.document(email).get(transaction=tx)
            if current.exists and current.get("role") == "admin" and role != "admin":
                self._check_not_last_admin(tx, team, email)
            data = {"email": email, "role": role}
            if not current.exists:
                data["added_at"] = now()
            tx.set(members.document(email), data, merge=True)

        txn(self.db.transaction())
        self.audit(team, actor, "set-member", f"{email} as {role}")

    def remove_member(self, team: str, email: str, *, actor: str = "cli") -> None:
        from google.cloud import firestore

        email = email.lower()
        members = self.team_ref(team).collection("members")

        @firestore.transactional
        def txn(tx):
            current = members.document(email).get(transaction=tx)
            if not current.exists:
                raise NotFound(f"{email} is not a member of {team}.")
            if current.get("role") == "admin":
                self._check_not_last_admin(tx, team, email)
            tx.delete(members.document(email))

        txn(self.db.transaction())
        self.audit(team, actor, "remove-member", email)

    def _check_not_last_admin(self, tx, team: str, email: str) -> None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        admins = (
            self.team_ref(team)
            .collection("members")
            .where(filter=FieldFilter("role", "==", "admin"))
            .get(transaction=tx)
        )
        if [s.id for s in admins] == [email]:
            raise BadRequest(f"{email} is the last admin of {team}; add another admin first.")

    # -- write access -----------------------------------------------------
    def set_writer(self, team: str, index: str, email: str, allowed: bool, *, actor: str = "cli"):
        from google.cloud import firestore

        email = validate_email(email)
        self.require_index(team, index)
        op = firestore.ArrayUnion if allowed else firestore.ArrayRemove
        self.index_ref(team, index).update({"writers": op([email])})
        self.audit(team, actor, "grant-write" if allowed else "revoke-write", f"{index}: {email}")

    def can_write(self, team: str, index: str, email: str, index_doc: dict | None = None) -> bool:
        """Admins write everywhere in their team; members where they were granted. The index's
        document may be given when the caller has read it already."""
        role = self.role_of(team, email)
        if role == "admin":
            return True
        if role is None:
            return False
        if index_doc is None:
            snap = self.index_ref(team, index).get()
            index_doc = snap.to_dict() if snap.exists else {}
        return email.lower() in (index_doc.get("writers") or [])

    # -- audit ------------------------------------------------------------
    def audit(self, team: str, actor: str, action: str, detail: str = "") -> None:
        self.db.collection("audit").add(
            {"team": team, "actor": actor, "action": action, "detail": detail, "at": now()}
        )

    def audit_log(self, team: str, limit: int = 50) -> list[dict]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = (
            self.db.collection("audit")
            .where(filter=FieldFilter("team", "==", team))
            .order_by("at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [s.to_dict() for s in q.stream()]

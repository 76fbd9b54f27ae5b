"""The team's audit log: one entry per change, written by the service that made the change.

    audit/{auto}  {team, actor, action, detail, at}

Services record their own changes (tokens, members, write access, yanks, deletes, publishers;
uploads in the batch that commits them, see ``Packages.commit``),
so a change made from the dashboard, the CLI or an API lands in the log exactly once. It
depends on storage alone, so any service can record without importing another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bale.clock import now
from bale.store import paths
from bale.store.backends import Stores


class AuditLog:
    """Append-only entries per team, newest first when read."""

    def __init__(self, stores: Stores) -> None:
        self.db = stores.db

    def record(self, team: str, actor: str, action: str, detail: str = "") -> None:
        """Add one entry: ``actor`` did ``action`` (with ``detail``) in ``team``."""
        self.db.collection(paths.audit()).add(
            {"team": team, "actor": actor, "action": action, "detail": detail, "at": now()}
        )

    def entries(self, team: str, limit: int = 50, before: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The team's newest ``limit`` entries (older than ``before``, for the next page),
        newest first."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        q = self.db.collection(paths.audit()).where(filter=FieldFilter("team", "==", team))
        if before is not None:
            q = q.where(filter=FieldFilter("at", "<", before))
        q = q.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        return [s.to_dict() or {} for s in q.stream()]

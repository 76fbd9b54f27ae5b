"""Records read back from Firestore as dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, TypeVar


class Snapshot(Protocol):
    """What :func:`from_snapshot` reads of a Firestore ``DocumentSnapshot``."""

    @property
    def id(self) -> str: ...

    def to_dict(self) -> dict[str, Any] | None: ...


R = TypeVar("R")


def from_snapshot(cls: type[R], snap: Snapshot) -> R:
    """A ``cls`` dataclass (whose ``id`` field is the document's ID) from a stored document.

    Fields the dataclass no longer has are dropped, and ones it gained since the document was
    written take their defaults, so old documents keep loading as records change."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name for f in dataclasses.fields(cls)}
    data = snap.to_dict() or {}
    return cls(**{"id": snap.id, **{k: v for k, v in data.items() if k in fields and k != "id"}})

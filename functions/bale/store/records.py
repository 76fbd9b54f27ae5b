"""Records read back from Firestore as dataclasses, and the shapes of the small records stored
inside documents (page entries, token grants)."""

# No `from __future__ import annotations` here: TypedDict reads Required[...] at run time only
# from evaluated annotations (the tests check which keys each record requires).
import dataclasses
import datetime as dt
from typing import Any, Protocol, Required, TypedDict, TypeVar


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


class PageEntry(TypedDict, total=False):
    """One file as a project's page lists it: the one spelling of a page entry, written by
    :func:`bale.packages.service.page_entry` (Bale's files) and the upstream client (an
    upstream's), read by the Simple API's renderer, its page cache and the upstream cache.

    Stored as it is (in a project's page chunks, and in an upstream page's cached copy) under
    one-letter keys: a page of thousands of files stays far under Firestore's 1 MiB document
    limit and quick to read. Keys left out are unknown (an upstream need not say) or false."""

    f: Required[str]  #: the filename
    v: Required[str]  #: the version (as the filename has it)
    h: Required[str]  #: the file's SHA-256, hex
    s: int  #: size in bytes
    t: dt.datetime  #: upload time
    r: str  #: Requires-Python
    m: str  #: the SHA-256 of its core metadata (PEP 658), when served
    y: str  #: yanked, with this reason ("": none given); absent: not yanked
    p: int  #: 1: uploaded with provenance (PEP 740)
    u: str  #: an upstream's file: where the upstream serves it


class Grant(TypedDict, total=False):
    """What a minted token (Trusted Publishing, Trusted Access) may do in one index
    (``Token.grants``: one per index its workload is enrolled in), stored as it is in the token's
    document."""

    team: Required[str]
    index: Required[str]
    #: The normalized projects it is for (None: every project, only on a Trusted Access read grant).
    projects: Required[list[str] | None]
    #: The enrolled publisher it was minted for, as the team's audit log names it.
    publisher: str | None
    description: str

"""Advisories in Firestore: a summary document per project, written by the loader.

    advisories/{normalized}   {project, advisories: [stored advisory, ...], max_score, loaded_at}

Matching a release reads that one document (a page render or a view would have it in the same
read as the project's), never a query over the advisories.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from packaging.utils import canonicalize_name

from bale.advisories.osv import Advisory, Malformed, parse, stored_affects
from bale.clock import now
from bale.store import paths
from bale.store.backends import Stores

#: Firestore's batched writes take at most 500 operations.
_BATCH = 400
#: A summary's entries are kept under this (Firestore's limit is 1 MiB per document, counting
#: field names and the document's own fields too), and a batched write under _BATCH_BYTES
#: (a commit request may be 10 MiB at most).
_DOC_BYTES = 900_000
_BATCH_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass
class LoadReport:
    loaded: int = 0
    projects: int = 0
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (where, why)


@dataclasses.dataclass
class Finding:
    project: str
    version: str
    advisory: dict[str, Any]


class Tally(Protocol):
    """What reading and writing summaries count (a load's report, a refresh's outcome)."""

    loaded: int
    projects: int
    refused: list[tuple[str, str]]


def group(
    docs: Iterable[tuple[str, Any]], tally: Tally, on_refused: Callable[[Any], None] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """The stored form of every usable record, by project and id (never the parsed documents:
    an export of tens of thousands of records stays compact). A malformed record is refused
    and reported in ``tally``, and handed to ``on_refused``; the others still count."""
    by_project: dict[str, dict[str, dict[str, Any]]] = {}
    for where, doc in docs:
        try:
            if isinstance(doc, Exception):
                raise doc
            adv: Advisory = parse(doc)
        except Malformed as exc:
            tally.refused.append((where, str(exc)))
            if on_refused is not None:
                on_refused(doc)
            continue
        tally.loaded += 1
        for project in adv.affected:
            by_project.setdefault(project, {})[adv.id] = adv.for_project(project)
    return by_project


def write_summaries(db: Any, by_project: dict[str, dict[str, dict[str, Any]]], tally: Tally) -> None:
    """Replace each project's summary document with its entries, each made to fit one document."""
    when = now()
    items = sorted(by_project.items())
    batch, in_batch, batch_bytes = db.batch(), 0, 0
    for project, advs in items:
        entries, size = fit(project, [advs[k] for k in sorted(advs)], tally)
        scores = [e["score"] for e in entries if e.get("score") is not None]
        # Batches are bounded by count and by bytes.
        if in_batch and (in_batch >= _BATCH or batch_bytes + size > _BATCH_BYTES):
            batch.commit()
            batch, in_batch, batch_bytes = db.batch(), 0, 0
        batch.set(
            db.document(paths.advisory_summary(project)),
            {
                "project": project,
                "advisories": entries,
                "max_score": max(scores) if scores else None,
                "loaded_at": when,
            },
        )
        in_batch, batch_bytes = in_batch + 1, batch_bytes + size
    if in_batch:
        batch.commit()
    tally.projects = len(items)


def fit(project: str, entries: list[dict[str, Any]], tally: Tally) -> tuple[list[dict[str, Any]], int]:
    """A project's entries, made to fit one Firestore document (1 MiB), and their size.

    Records of a much-advised project (tensorflow has hundreds, each listing every affected
    version) could overflow it, and one document too large would fail every load. First
    the ``versions`` lists go from entries whose ranges already say the same (OSV enumerates
    its ECOSYSTEM ranges into them); then, if still too large, the lowest-scored entries go,
    and the project is reported among the refusals."""
    size = _size(entries)
    if size <= _DOC_BYTES:
        return entries, size
    entries = [{**e, "versions": []} if e.get("ranges") else e for e in entries]
    size = _size(entries)
    if size <= _DOC_BYTES:
        return entries, size
    ranked = sorted(entries, key=lambda e: (e.get("score") is None, -(e.get("score") or 0), e["id"]))
    kept: list[dict[str, Any]] = []
    total = 0
    for e in ranked:
        n = _size([e])
        if total + n > _DOC_BYTES:
            break
        kept.append(e)
        total += n
    tally.refused.append(
        (project, f"{len(entries) - len(kept)} of {len(entries)} advisories left out: over 1 MiB")
    )
    kept.sort(key=lambda e: e["id"])
    return kept, total


def _size(entries: list[dict[str, Any]]) -> int:
    # The JSON text is a little longer than Firestore's own count of a document's size.
    return len(json.dumps(entries, separators=(",", ":"), default=str))


class Advisories:
    def __init__(self, stores: Stores) -> None:
        self.db = stores.db

    def load(self, docs: Iterable[tuple[str, Any]]) -> LoadReport:
        """Load records (``(where, document)``; an exception stands for one that did not parse):
        each malformed one is refused and reported, the rest are kept. Each project's summary is
        replaced whole, so a record withdrawn upstream is gone after the next load."""
        report = LoadReport()
        write_summaries(self.db, group(docs, report), report)
        return report

    def summaries(self, projects: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The summary documents of these projects (one batched read), by canonical name."""
        refs = [self.db.document(paths.advisory_summary(canonicalize_name(p))) for p in set(projects)]
        if not refs:
            return {}
        return {s.id: s.to_dict() or {} for s in self.db.get_all(refs) if s.exists}

    def check(self, pins: Iterable[tuple[str, str]]) -> list[Finding]:
        """The advisories that affect each pinned ``(project, version)``."""
        pins = [(canonicalize_name(p), v) for p, v in pins]
        docs = self.summaries(p for p, _ in pins)
        found = []
        for project, version in pins:
            for adv in docs.get(project, {}).get("advisories", []):
                if stored_affects(adv, version):
                    found.append(Finding(project, version, adv))
        return found

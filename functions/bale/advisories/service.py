"""Advisories in Firestore: a summary document per project, written by the loader.

    advisories/{normalized}   {project, advisories: [stored advisory, ...], max_score, loaded_at}

Matching a release reads that one document (a page render or a view would have it in the same
read as the project's), never a query over the advisories.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from packaging.utils import canonicalize_name

from bale.advisories.osv import Advisory, Malformed, parse, stored_affects
from bale.clock import now
from bale.store import paths
from bale.store.backends import Stores

#: Firestore's batched writes take at most 500 operations.
_BATCH = 400


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


class Advisories:
    def __init__(self, stores: Stores) -> None:
        self.db = stores.db

    def load(self, docs: Iterable[tuple[str, Any]]) -> LoadReport:
        """Load records (``(where, document)``; an exception stands for one that did not parse):
        each malformed one is refused and reported, the rest are kept. Each project's summary is
        replaced whole, so a record withdrawn upstream is gone after the next load."""
        report = LoadReport()
        by_project: dict[str, dict[str, dict[str, Any]]] = {}
        for where, doc in docs:
            try:
                if isinstance(doc, Exception):
                    raise doc
                adv: Advisory = parse(doc)
            except Malformed as exc:
                report.refused.append((where, str(exc)))
                continue
            report.loaded += 1
            for project in adv.affected:
                by_project.setdefault(project, {})[adv.id] = adv.for_project(project)
        when = now()
        items = sorted(by_project.items())
        for i in range(0, len(items), _BATCH):
            batch = self.db.batch()
            for project, advs in items[i : i + _BATCH]:
                entries = [advs[k] for k in sorted(advs)]
                scores = [e["score"] for e in entries if e["score"] is not None]
                batch.set(
                    self.db.document(paths.advisory_summary(project)),
                    {
                        "project": project,
                        "advisories": entries,
                        "max_score": max(scores) if scores else None,
                        "loaded_at": when,
                    },
                )
            batch.commit()
        report.projects = len(items)
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

"""A team's own advisories for its projects, beside the public (OSV) ones.

    teams/{team}/indexes/{index}/advisories/{project}
        {project, advisories: [entry, ...], withdrawn: [entry, ...], updated_at}
    teams/{team}/advisory_ids/{ID}   {id, index, project, added_at, withdrawn_at}

An entry has the shape of a public one (``id, aliases, summary, score, url, ranges, versions``,
see :meth:`bale.advisories.osv.Advisory.for_project`) plus the PEP 440 ``specifier`` it was
given, its CVSS ``vector`` and who added it, so matching (:func:`stored_affects`) and the view
fields treat both kinds alike. They live per index, not in the shared ``advisories/{project}``
documents: the public refresh replaces those whole, and one team's advisories are no other
team's business. A withdrawn entry moves to ``withdrawn`` (it stops counting at once) and its id
stays taken in the team, so an id in a CI log or an audit entry names one advisory for good.

Whoever reads the facts of a project (a view's page, the dashboard, ``advisories check``) reads
the public summary and the private documents in one batched read (:func:`read`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bale.advisories.osv import Malformed, score_of, stored_affects
from bale.clock import now
from bale.errors import BadRequest, Conflict, NotFound
from bale.names import validate_project
from bale.store import paths
from bale.store.backends import Stores
from bale.tenancy.audit import AuditLog

if TYPE_CHECKING:
    from google.cloud.firestore import Transaction

#: An id as teams write them (ACME-2026-1): it is also a document id, so no slash.
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_SUMMARY: Final = 300
#: How a vector names its CVSS version, and the OSV severity type that carries it.
_VECTOR_KINDS: Final = {"CVSS:4.0/": "CVSS_V4", "CVSS:3.1/": "CVSS_V3", "CVSS:3.0/": "CVSS_V3"}


def check_id(advisory_id: str) -> str:
    text = (advisory_id or "").strip()
    if not _ID.fullmatch(text):
        raise BadRequest(
            f"Advisory id {advisory_id!r} is not usable: use letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit), e.g. ACME-2026-1."
        )
    return text


def check_affected(affected: str | None, versions: Sequence[str]) -> tuple[str | None, list[str]]:
    """The specifier set (normalized by packaging) and the exact versions; at least one."""
    spec = None
    if affected is not None:
        if not affected.strip():
            raise BadRequest('--affected is empty; give a PEP 440 specifier set such as "<1.4.2".')
        try:
            spec = str(SpecifierSet(affected))
        except InvalidSpecifier as exc:
            raise BadRequest(
                f"--affected {affected!r} is not a PEP 440 specifier set ({exc}); "
                'e.g. "<1.4.2" or ">=2.0,<2.0.6".'
            ) from None
    exact = []
    for v in versions:
        try:
            Version(v)
        except InvalidVersion:
            raise BadRequest(f"--version {v!r} is not a PEP 440 version.") from None
        if v not in exact:
            exact.append(v)
    if spec is None and not exact:
        raise BadRequest(
            'Say which releases are affected: --affected SPECIFIERS (e.g. "<1.4.2") and/or --version VERSION.'
        )
    return spec, exact


def check_severity(vector: str | None) -> float | None:
    """The CVSS base score of a vector, computed by the ``cvss`` library as the loader does."""
    if vector is None:
        return None
    vector = vector.strip()
    if len(vector) > 200:  # the longest CVSS 4.0 vector, every metric set, is about 170
        raise BadRequest(f"--severity is {len(vector)} characters long; a CVSS vector has at most 200.")
    kind = next((k for prefix, k in _VECTOR_KINDS.items() if vector.startswith(prefix)), None)
    if kind is None:
        raise BadRequest(
            f"--severity {vector!r} is not a CVSS vector: it starts with CVSS:3.0/, CVSS:3.1/ or "
            "CVSS:4.0/, e.g. CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H."
        )
    try:
        return score_of([{"type": kind, "score": vector}])
    except Malformed as exc:
        raise BadRequest(f"--severity: {exc}.") from None


def check_summary(summary: str | None) -> str:
    text = " ".join((summary or "").split())
    if not text:
        raise BadRequest("--summary is required: one line saying what is wrong.")
    if len(text) > MAX_SUMMARY:
        raise BadRequest(f"--summary is {len(text)} characters; at most {MAX_SUMMARY}.")
    return text


def fixed_in(entry: dict[str, Any]) -> list[str]:
    """The versions that fix an advisory, where it says: the ``fixed`` of its ranges, or the
    upper bounds (``<V``) of a private one's specifier."""
    out = [r["fixed"] for r in entry.get("ranges") or () if r.get("fixed")]
    if entry.get("specifier"):
        try:
            out += [s.version for s in SpecifierSet(entry["specifier"]) if s.operator == "<"]
        except InvalidSpecifier:
            pass
    return sorted(set(out), key=_sort_key)


def _sort_key(v: str) -> tuple[int, Any]:
    try:
        return (0, Version(v))
    except InvalidVersion:
        return (1, v)


@dataclasses.dataclass(frozen=True)
class AdvisoryRead:
    """What one batched read found: the public summaries by project, the team's private
    documents by (index, project), and a tag of their versions (for a page cache)."""

    public: dict[str, dict[str, Any]]
    private: dict[tuple[str, str], dict[str, Any]]
    tag: str
    #: The other documents asked for in the same read (``also``), by path; None where missing.
    also: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)

    def public_of(self, project: str) -> list[dict[str, Any]]:
        return list(self.public.get(canonicalize_name(project), {}).get("advisories") or ())

    def private_of(self, project: str, index: str) -> list[dict[str, Any]]:
        return list(self.private.get((index, canonicalize_name(project)), {}).get("advisories") or ())

    def of(self, project: str, index: str) -> tuple[dict[str, Any], ...]:
        """Every advisory that counts for ``project`` as ``index`` holds it: public, then the
        team's own (withdrawn ones left out)."""
        return (*self.public_of(project), *self.private_of(project, index))


def read(
    stores: Stores, team: str, indexes: Iterable[str], projects: Iterable[str], also: Sequence[str] = ()
) -> AdvisoryRead:
    """The public summaries of ``projects`` and the team's private documents for them in each
    of ``indexes`` (and the documents at the paths ``also`` names): one batched read."""
    names = sorted({canonicalize_name(p) for p in projects})
    where = sorted(set(indexes))
    refs = [stores.db.document(paths.advisory_summary(p)) for p in names]
    refs += [stores.db.document(paths.private_advisories(team, i, p)) for i in where for p in names]
    extra = [stores.db.document(p) for p in dict.fromkeys(also)]
    if not refs and not extra:
        return AdvisoryRead({}, {}, ":adv")
    snaps = {s.reference.path: s for s in stores.db.get_all(refs + extra)}
    public: dict[str, dict[str, Any]] = {}
    private: dict[tuple[str, str], dict[str, Any]] = {}
    stamps = []
    for ref in refs:
        snap = snaps.get(ref.path)
        if snap is None or not snap.exists:
            stamps.append("-")
            continue
        stamps.append(f"{snap.update_time.timestamp()}" if snap.update_time else "?")
        doc = snap.to_dict() or {}
        parts = ref.path.split("/")
        if parts[0] == paths.ADVISORIES:
            public[parts[1]] = doc
        else:  # teams/{team}/indexes/{index}/advisories/{project}
            private[(parts[3], parts[5])] = doc
    others = {}
    for ref in extra:
        snap = snaps.get(ref.path)
        others[ref.path] = (snap.to_dict() or {}) if snap is not None and snap.exists else None
    return AdvisoryRead(public, private, ":adv" + ",".join(stamps), others)


@dataclasses.dataclass(frozen=True)
class Listed:
    index: str
    project: str
    entry: dict[str, Any]
    withdrawn: bool


@dataclasses.dataclass
class Finding:
    project: str
    version: str
    advisory: dict[str, Any]


class PrivateAdvisories:
    """Add, list and withdraw a team's own advisories; every change is audited here."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def _index(self, team: str, index: str) -> dict[str, Any]:
        snap = self.db.document(paths.index(team, index)).get()
        if not snap.exists:
            raise NotFound(f"No index {team}/{index}.")
        doc = snap.to_dict() or {}
        if isinstance(doc.get("view"), dict):
            sources = ", ".join(doc["view"].get("sources") or ())
            raise BadRequest(
                f"{team}/{index} is a view; a team's advisories belong to the index that holds the "
                f"project ({sources})."
            )
        return doc

    def add(
        self,
        team: str,
        index: str,
        project: str,
        advisory_id: str,
        *,
        summary: str,
        affected: str | None = None,
        versions: Sequence[str] = (),
        severity: str | None = None,
        actor: str = "cli",
    ) -> dict[str, Any]:
        """Add an advisory for ``project`` in ``team/index``; refuses a bad specifier, version
        or vector, and an id the team has used before (withdrawn or not). Returns the entry."""
        from google.cloud import firestore

        advisory_id = check_id(advisory_id)
        name = validate_project(project)
        spec, exact = check_affected(affected, versions)
        score = check_severity(severity)
        text = check_summary(summary)
        index_doc = self._index(team, index)
        held = self.db.document(paths.project(team, index, name)).get().exists
        # A project the index proxies has no document of its own; its upstream still serves it.
        if not held and not isinstance(index_doc.get("upstream"), dict):
            raise NotFound(f"No project {name!r} in {team}/{index}.")
        entry = {
            "id": advisory_id,
            "aliases": [],
            "summary": text,
            "score": score,
            "vector": severity.strip() if severity else None,
            "url": "",
            "ranges": [],
            "versions": exact,
            "specifier": spec,
            "private": True,
            "added_at": now(),
            "added_by": actor,
        }
        claim_ref = self.db.document(paths.advisory_id(team, advisory_id.upper()))
        doc_ref = self.db.document(paths.private_advisories(team, index, name))

        @firestore.transactional
        def txn(tx: Transaction) -> None:
            claim = claim_ref.get(transaction=tx)
            if claim.exists:
                c = claim.to_dict() or {}
                state = "withdrawn" if c.get("withdrawn_at") else "active"
                raise Conflict(
                    f"{team} already has an advisory {c.get('id', advisory_id)} "
                    f"({c.get('index')}/{c.get('project')}, {state}); an id is never reused, pick another."
                )
            snap = doc_ref.get(transaction=tx)
            doc = (snap.to_dict() or {}) if snap.exists else {}
            active = [*(doc.get("advisories") or ()), entry]
            tx.create(
                claim_ref,
                {"id": advisory_id, "index": index, "project": name, "added_at": entry["added_at"]},
            )
            tx.set(
                doc_ref,
                {
                    "project": name,
                    "advisories": sorted(active, key=lambda e: e["id"]),
                    "withdrawn": list(doc.get("withdrawn") or ()),
                    "updated_at": now(),
                },
            )

        txn(self.db.transaction())
        what = ",".join(x for x in (spec, *(f"=={v}" for v in exact)) if x)
        sev = f", score {score:.1f}" if score is not None else ", no score"
        AuditLog(self.stores).record(
            team, actor, "advisory-add", f"{index}/{name} {advisory_id} ({what}{sev})"
        )
        return entry

    def withdraw(
        self, team: str, index: str, project: str, advisory_id: str, *, actor: str = "cli"
    ) -> dict[str, Any]:
        """Withdraw an advisory: it stops counting at once, and its id stays taken."""
        from google.cloud import firestore

        name = validate_project(project)
        key = (advisory_id or "").strip().upper()
        self._index(team, index)
        claim_ref = self.db.document(paths.advisory_id(team, key)) if _ID.fullmatch(key) else None
        doc_ref = self.db.document(paths.private_advisories(team, index, name))

        @firestore.transactional
        def txn(tx: Transaction) -> dict[str, Any]:
            snap = doc_ref.get(transaction=tx)
            doc = (snap.to_dict() or {}) if snap.exists else {}
            active = list(doc.get("advisories") or ())
            gone = list(doc.get("withdrawn") or ())
            hit = next((e for e in active if e["id"].upper() == key), None)
            if hit is None:
                if any(e["id"].upper() == key for e in gone):
                    raise Conflict(f"{advisory_id} is already withdrawn ({team}/{index}/{name}).")
                raise NotFound(f"No advisory {advisory_id!r} for {name} in {team}/{index}.")
            active.remove(hit)
            hit = {**hit, "withdrawn_at": now(), "withdrawn_by": actor}
            tx.update(doc_ref, {"advisories": active, "withdrawn": [*gone, hit], "updated_at": now()})
            if claim_ref is not None:
                tx.set(claim_ref, {"withdrawn_at": hit["withdrawn_at"]}, merge=True)
            return hit

        hit: dict[str, Any] = txn(self.db.transaction())
        AuditLog(self.stores).record(team, actor, "advisory-withdraw", f"{index}/{name} {hit['id']}")
        return hit

    def listing(self, team: str, index: str, project: str | None = None) -> list[Listed]:
        """The index's private advisories (of one project, or all), withdrawn ones included."""
        self._index(team, index)
        if project is not None:
            name = validate_project(project)
            snap = self.db.document(paths.private_advisories(team, index, name)).get()
            docs = [snap] if snap.exists else []
        else:
            col = paths.private_advisories(team, index, "x").rsplit("/", 1)[0]
            docs = list(self.db.collection(col).stream())
        out = []
        for snap in sorted(docs, key=lambda s: s.id):
            doc = snap.to_dict() or {}
            out += [Listed(index, snap.id, e, False) for e in doc.get("advisories") or ()]
            out += [Listed(index, snap.id, e, True) for e in doc.get("withdrawn") or ()]
        return out

    def check(self, team: str, indexes: Sequence[str], pins: Iterable[tuple[str, str]]) -> list[Finding]:
        """The advisories, public and the team's own in any of ``indexes`` (an index, or a
        view's sources), affecting each pinned ``(project, version)``: one batched read."""
        pins = [(canonicalize_name(p), v) for p, v in pins]
        facts = read(self.stores, team, indexes, (p for p, _ in pins))
        found = []
        for project, version in pins:
            advisories = [*facts.public_of(project)]
            for index in indexes:
                advisories += facts.private_of(project, index)
            found += [Finding(project, version, adv) for adv in advisories if stored_affects(adv, version)]
        return found

"""Rendering Simple API pages: PEP 503 HTML and PEP 691/700 JSON, pure functions of their data."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from bale.api.simple.cache import PageVersion, Rendered
from bale.api.simple.negotiate import GZIP_MIN_BYTES, Format, gzip_body
from bale.packages.versions import sort_versions
from bale.routes import SIMPLE
from bale.store.records import PageEntry

#: 1.1: PEP 700 (size, upload-time, versions); 1.3: PEP 740 (provenance); 1.4: PEP 792
#: (project status markers).
API_VERSION: Final = "1.4"
#: No marker is served for it: PEP 792 reads a project without one as active.
_ACTIVE: Final = "active"


def file_base(base_url: str, team: str, index: str, project: str) -> str:
    """Where a project's files are linked: below the index URL (see :mod:`.download`),
    absolute under ``base_url`` (BALE_BASE_URL), else host-relative."""
    return f"{base_url}{SIMPLE}/{team}/{index}/{project}/"


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _html_doc(title: str, rows: str, head: str = "", note: str | None = None) -> bytes:
    # A note is a paragraph: PEP 503 clients read the anchors alone, a person sees it.
    said = f'    <p class="bale-note">{html.escape(note)}</p>\n' if note else ""
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n{head}'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{said}{rows}  </body>\n</html>\n"
    ).encode()


def upload_time(value: dt.datetime) -> str:
    """PEP 700's format: ISO 8601 in UTC, ``yyyy-mm-ddThh:mm:ss.ffffffZ``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return dt.datetime.isoformat(value, timespec="microseconds") + "Z"


def render_project_list(projects: Iterable[Mapping[str, str]], serial: int, fmt: Format) -> bytes:
    """An index's page: its projects (``{name, normalized}``, in order) in one format."""
    if fmt == "json":
        return _json(
            {
                "meta": {"api-version": API_VERSION, "_last-serial": serial},
                "projects": [{"name": p["name"]} for p in projects],
            }
        )
    rows = "".join(
        f'    <a href="{_attr(p["normalized"])}/">{html.escape(p["name"])}</a><br>\n' for p in projects
    )
    return _html_doc("Simple index", rows)


def render_project(
    name: str,
    normalized: str,
    serial: int,
    files: list[PageEntry],
    base: str,
    version: PageVersion,
    *,
    integrity: str | None = None,
    status: str = _ACTIVE,
    status_reason: str | None = None,
    note: str | None = None,
) -> Rendered:
    """Render a project page in both formats (entries as :func:`bale.packages.page_entry` writes them).

    ``integrity``: where the Integrity API serves this project's provenance (PEP 740), followed
    by ``{version}/{filename}/provenance``; files with provenance link it there.

    ``status``, ``status_reason``: the project's PEP 792 marker, served unless ``active``
    (the caller leaves out a quarantined project's files).

    ``note``: a sentence for people (why files are missing): a paragraph in the HTML, and
    ``meta._note`` in the JSON (PEP 691 leaves keys with a leading underscore to the server)."""
    json_files = []
    rows = []
    versions = sort_versions(e["v"] for e in files)
    # Chunks hold entries in hash order; sort so every instance renders the same bytes (hence
    # the same ETag): by version, then filename. Each version is parsed once, not per file.
    rank = {v: i for i, v in enumerate(versions)}
    files = sorted(files, key=lambda e: (rank[e["v"]], e["f"]))
    for e in files:
        url = base + e["f"]
        yanked = e.get("y")
        meta = e.get("m")
        jf: dict[str, Any] = {
            "filename": e["f"],
            "url": url,
            "hashes": {"sha256": e["h"]},
        }
        if e.get("r"):
            jf["requires-python"] = e["r"]
        # PEP 714 names it core-metadata; dist-info-metadata is what older clients read.
        jf["core-metadata"] = {"sha256": meta} if meta else False
        jf["dist-info-metadata"] = jf["core-metadata"]
        jf["yanked"] = (yanked or True) if yanked is not None else False
        # Always set for Bale's own files; an upstream may lack them (PEP 700 makes them optional
        # for the files it did not know).
        if "s" in e:
            jf["size"] = e["s"]
        if e.get("t") is not None:
            jf["upload-time"] = upload_time(e["t"])
        prov = f"{integrity}{e['v']}/{e['f']}/provenance" if integrity and e.get("p") else None
        jf["provenance"] = prov
        json_files.append(jf)

        attrs = [f'href="{_attr(url)}#sha256={e["h"]}"']
        if e.get("r"):
            attrs.append(f'data-requires-python="{_attr(e["r"])}"')
        if yanked is not None:
            attrs.append(f'data-yanked="{_attr(yanked)}"')
        if meta:
            attrs.append(f'data-core-metadata="sha256={meta}"')
            attrs.append(f'data-dist-info-metadata="sha256={meta}"')
        if prov:
            attrs.append(f'data-provenance="{_attr(prov)}"')
        rows.append(f"    <a {' '.join(attrs)}>{html.escape(e['f'])}</a><br>\n")

    doc: dict[str, Any] = {
        "meta": {"api-version": API_VERSION, "_last-serial": serial, **({"_note": note} if note else {})},
        "name": normalized,
        "versions": versions,
        "files": json_files,
    }
    head = ""
    if status != _ACTIVE:
        marker = {"status": status}
        head = f'    <meta name="pypi:project-status" content="{_attr(status)}">\n'
        if status_reason:
            marker["reason"] = status_reason
            head += f'    <meta name="pypi:project-status-reason" content="{_attr(status_reason)}">\n'
        doc["project-status"] = marker
    bodies: dict[Format, bytes] = {
        "json": _json(doc),
        "html": _html_doc(f"Links for {name}", "".join(rows), head, note),
    }
    return Rendered(
        version=version,
        serial=serial,
        bodies=bodies,
        digests={k: hashlib.sha256(v).hexdigest() for k, v in bodies.items()},
        gzipped={k: gzip_body(v) for k, v in bodies.items() if len(v) >= GZIP_MIN_BYTES},
        status=status,
        status_reason=status_reason,
    )

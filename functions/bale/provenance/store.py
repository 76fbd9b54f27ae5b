"""Provenance records: encoding what the upload verified for the file's commit, and reading it
back for the Integrity API. Light (no sigstore): the simple function imports it."""

from __future__ import annotations

import json
from typing import Any, Final

from bale.errors import BadRequest
from bale.routes import INTEGRITY

#: PEP 740's media type for the Integrity API's provenance object.
INTEGRITY_TYPE: Final = "application/vnd.pypi.integrity.v1+json"
#: The stored provenance document's largest JSON (the upload's field is bounded at 64 KiB;
#: base64 and the publisher object add little), far under Firestore's 1 MiB per document.
MAX_STORED_BYTES: Final = 128 * 1024


def encode(provenance: dict[str, Any]) -> str:
    """The provenance object as stored: compact JSON, size-bounded."""
    raw = json.dumps(provenance, separators=(",", ":"), sort_keys=True)
    if len(raw.encode()) > MAX_STORED_BYTES:
        raise BadRequest(f"Attestation refused: the provenance is larger than {MAX_STORED_BYTES} bytes.")
    return raw


def integrity_url(base_url: str, team: str, index: str, project: str, version: str, filename: str) -> str:
    """Where PEP 740's Integrity API serves a file's provenance."""
    return f"{base_url}{INTEGRITY}/{team}/{index}/{project}/{version}/{filename}/provenance"


def integrity_base(base_url: str, team: str, index: str, project: str) -> str:
    """The part of :func:`integrity_url` a project's page shares (version and filename follow)."""
    return f"{base_url}{INTEGRITY}/{team}/{index}/{project}/"

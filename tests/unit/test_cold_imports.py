"""A cold instance loads only what its first request needs (cold starts: docs/performance.md).

Each entry point's module is imported in a fresh interpreter, as a new Cloud Functions
instance does before its first request, and must not pull in what only rarer requests use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The upstream client, the upload checks (packaging.metadata, trove-classifiers), Trusted
#: Publishing (pyjwt) and provenance (sigstore, pydantic): none is needed by a private page,
#: a private download or the OIDC audience, which is what nearly every cold start answers.
NOT_ON_THE_READ_PATH = (
    "bale.upstream.client",
    "bale.upstream.cache",
    "bale.api.simple.proxy",
    "bale.packages.distributions",
    "packaging.metadata",
    "trove_classifiers",
    "jwt",
    "sigstore",
    "pydantic",
    "google.cloud.storage",
)


def loaded_after(module: str) -> set[str]:
    code = f"import sys, json, main, {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("functions",))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", ["bale.api.simple.views", "bale.api.oidc"])
def test_read_paths_do_not_load_what_they_do_not_use(module: str) -> None:
    loaded = loaded_after(module)
    assert sorted(loaded & set(NOT_ON_THE_READ_PATH)) == []


def test_upload_does_not_load_the_upstream_client_or_sigstore() -> None:
    loaded = loaded_after("bale.api.upload")
    assert (
        sorted(loaded & {"bale.upstream.client", "bale.upstream.cache", "jwt", "sigstore", "pydantic"}) == []
    )

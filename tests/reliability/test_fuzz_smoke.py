"""The volume fuzzer (benchmarks/fuzz.py), ~200 requests against the test stack.

The full run (10,000+ requests) is not part of the suite; this keeps its generators, sender
and storage audit working, and is itself a small fuzz: no 5xx, no hang, no leak.
"""

from __future__ import annotations

import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz

SEED = 20261201

#: 5xx and hangs the fuzzer found in code this test does not own, reported with reproductions
#: (docs/security.md, "Known open findings"). A run whose every failure is one of these is an
#: expected failure; anything else fails. Delete an entry once its fix is merged; empty now.
KNOWN: tuple[re.Pattern[str], ...] = ()


def test_every_generator_builds_requests():
    ctx = fuzz.Context(tokens={k: f"bale_{k}_secret" for k in ("upload", "read", "other-team")})
    kinds = set()
    for i in range(300):
        req = fuzz.generate(SEED, i, ctx)
        assert req.raw("127.0.0.1", 1).startswith(req.method.encode() + b" ")
        kinds.add(req.kind)
        # Reproducible: request i of a seed is the same request every time (archive timestamps
        # and token times aside).
        again = fuzz.generate(SEED, i, ctx)
        assert (again.desc, again.method, again.path) == (req.desc, req.method, req.path)
    assert kinds == {"upload-form", "upload-archive", "raw-multipart", "simple", "oidc", "upstream", "device"}


@pytest.mark.timeout(120)
def test_fuzz_smoke_no_5xx_no_hang_no_leak(stack, oidc_issuers):
    from urllib.parse import urlsplit

    from fakes.upstream import Upstream

    upstream = Upstream().start()
    try:
        ctx = fuzz.prepare(
            stack.stores, oidc_issuers, acme_exists=True, upstream=upstream, settings=stack.settings
        )
        _smoke(stack, ctx, urlsplit(stack.url))
    finally:
        upstream.stop()


def _smoke(stack, ctx, url):
    figs = fuzz.run(
        url.hostname, url.port, ctx, seed=SEED, requests=200, seconds=60, concurrency=4, timeout=10
    )
    figs.leaks = fuzz.audit(stack.stores)
    lines = []
    fuzz.report(figs, echo=lines.append)
    text = "\n".join(lines)
    assert figs.requests == 200, text
    assert figs.leak_count == 0, text
    assert figs.by_class.get("2xx", 0) > 0 and figs.by_class.get("4xx", 0) > 0, text
    failures = [desc for desc, _, _ in figs.errors] + figs.hangs
    unknown = [f for f in failures if not any(k.search(f) for k in KNOWN)]
    assert not unknown, text
    if failures:
        pytest.xfail(f"only known, reported findings: {failures}")

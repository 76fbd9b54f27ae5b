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
    assert kinds == {
        "upload-form",
        "upload-archive",
        "raw-multipart",
        "simple",
        "oidc",
        "upstream",
        "device",
        "integrity",
        "dashboard",
        "refresh",
    }


@pytest.mark.timeout(120)
def test_fuzz_smoke_no_5xx_no_hang_no_leak(stack, oidc_issuers, monkeypatch):
    from urllib.parse import urlsplit

    import functions_framework

    from bale import settings as settings_mod
    from fakes.osv_export import PATH, Export
    from fakes.server import Server
    from fakes.upstream import Upstream

    export = Export()
    export.publish(fuzz._export_zip())
    upstream = Upstream().start()
    try:
        with Server(export.wsgi) as export_server:
            # The advisories_refresh function on its own server, as Cloud Scheduler reaches it.
            monkeypatch.setenv("BALE_ADVISORIES_URL", export_server.url + PATH)
            monkeypatch.setenv("BALE_ADVISORIES_INVOKER", fuzz.SCHEDULER)
            settings_mod.get_settings.cache_clear()
            app = functions_framework.create_app(
                target="advisories_refresh", source=str(ROOT / "functions" / "main.py")
            )
            with Server(app) as refresh:
                ctx = fuzz.prepare(
                    stack.stores, oidc_issuers, acme_exists=True, upstream=upstream, settings=stack.settings
                )
                _smoke(stack, ctx, urlsplit(stack.url), {"refresh": urlsplit(refresh.url).port})
    finally:
        upstream.stop()
        settings_mod.get_settings.cache_clear()


def _smoke(stack, ctx, url, ports):
    figs = fuzz.run(
        url.hostname,
        url.port,
        ctx,
        seed=SEED,
        requests=200,
        seconds=60,
        concurrency=4,
        timeout=10,
        ports=ports,
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

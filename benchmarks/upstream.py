"""Installs through an upstream index: Bale proxying pypiserver against pypiserver itself.

    python benchmarks/upstream.py [--runs 5]

One run, same machine, same client: the 30-package graph of benchmarks/compare.py
(``benchdag-00`` pulls in all 30) is served by pypiserver (a real third-party index, PEP 503
HTML, started as a subprocess), and a Bale index has it as its upstream. Each install is
``uv pip install benchdag-00`` into a fresh venv with a fresh uv cache (what a CI job does).

* direct: ``--index-url`` pointing at pypiserver;
* Bale cold: the first install through Bale, with Bale's upstream cache empty: every page
  and file is fetched from pypiserver, verified and copied into Cloud Storage on the way;
* Bale warm: later installs through Bale, its cache filled (pages within their TTL, files
  copied): pypiserver is not asked at all.

Direct and warm runs alternate, so drift on the machine hits both alike. Bale runs in this
process (the dispatcher `bale dev` uses, Werkzeug's threaded server) over the Firestore
emulator and fake-gcs-server; the emulators answer in about a millisecond where the real
services take a few, so this measures Bale's own work, not Google's latency.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="warm installs each way (default 5)")
    args = ap.parse_args()
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    work = Path(tempfile.mkdtemp(prefix="bale-upstream-bench-"))
    try:
        with FirestoreEmulator(log_dir=work) as fs, GCSEmulator(log_dir=work) as gcs:
            os.environ.update(
                {
                    "GOOGLE_CLOUD_PROJECT": "demo-bale",
                    "FIRESTORE_EMULATOR_HOST": fs.host,
                    "STORAGE_EMULATOR_HOST": gcs.host,
                    "BALE_BUCKET": "bale-bench",
                    # The benchmark's upstreams are local (loopback), as on `bale dev`.
                    "BALE_UPSTREAM_ALLOW_LOOPBACK": "1",
                }
            )
            os.environ.pop("BALE_BASE_URL", None)
            return run(work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start_pypiserver(directory: Path) -> tuple[subprocess.Popen, str]:
    from _common import free_port

    port = free_port()
    argv = [BIN / "pypi-server", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "--disable-fallback", str(directory)]  # fmt: skip
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/simple/"
    for _ in range(200):
        try:
            if requests.get(url, timeout=1).ok:
                return child, url
        except requests.RequestException:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("pypiserver did not start")


def run(work: Path, runs: int) -> int:
    from compare import build_dag, uv_install

    from bale.settings import get_settings
    from bale.store import paths
    from bale.store.backends import get_stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale.upstream.service import Upstreams
    from bale_tools.devserver import Server, build_app
    from fakes.upstream import Upstream

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    wheels = work / "wheels"
    built = build_dag(wheels)
    pypiserver, pypiserver_url = start_pypiserver(wheels)
    fake = Upstream().start()
    for w in built:
        fake.add_wheel(w.name.split("-")[0], w.name, w.read_bytes())
    get_settings.cache_clear()
    settings = get_settings()
    stores = get_stores(settings)
    stores.blobs.ensure_bucket()
    Tenancy(stores).create_team("acme", "bench@example.com")
    tokens = Tokens(stores)
    server = Server(build_app(settings)).start()
    host = urllib.parse.urlsplit(server.url).netloc
    results = []
    try:
        uv_install(pypiserver_url, work / "prime", 1)  # the first run of uv on the machine pays extra
        for label, upstream_url, index in (
            ("pypiserver 2 (PEP 503 HTML, a subprocess)", pypiserver_url, "main"),
            ("tests/fakes/upstream.py (PEP 691 JSON, in this process)", fake.index_url, "fake"),
        ):
            if index != "main":
                Tenancy(stores).create_index("acme", index)
            Upstreams(stores, settings).set_upstream("acme", index, url=upstream_url)
            token, _ = tokens.create("acme", index, "read", created_by="bench")
            bale_url = f"http://__token__:{token}@{host}/simple/acme/{index}/"
            print(f"{label}: a cold install through Bale, then {runs} warm runs each way…", file=sys.stderr)
            cold = uv_install(bale_url, work / "cold", 1)[0]
            direct: list[float] = []
            warm: list[float] = []
            for k in range(runs):
                direct += uv_install(upstream_url, work / f"direct{k}", 1)
                warm += uv_install(bale_url, work / f"warm{k}", 1)
            results.append((label, cold, direct, warm))
        # Reference: the same graph uploaded to a Bale index of its own (no upstream).
        Tenancy(stores).create_index("acme", "private")
        upload, _ = tokens.create("acme", "private", "upload", created_by="bench")
        with requests.Session() as s:
            for w in built:
                r = s.post(
                    f"{server.url}/v1/upload/acme/private/",
                    data={":action": "file_upload", "protocol_version": "1"},
                    files={"content": (w.name, w.read_bytes())},
                    auth=("__token__", upload),
                    timeout=60,
                )
                r.raise_for_status()
        token, _ = tokens.create("acme", "private", "read", created_by="bench")
        own = uv_install(f"http://__token__:{token}@{host}/simple/acme/private/", work / "own", runs)
        copies = len(
            [p for p in stores.blobs.list(paths.upstream_files_prefix()) if not p.endswith(".metadata")]
        )
    finally:
        server.stop()
        fake.stop()
        pypiserver.terminate()
        pypiserver.wait(10)

    print()
    print(f"uv pip install of a 30-package graph from an upstream, {os.cpu_count()} CPUs, median of {runs}")
    for label, cold, direct, warm in results:
        d, w = statistics.median(direct), statistics.median(warm)
        print()
        print(f"upstream: {label}")
        print(f"  {'route':30} {'seconds':>8} {'vs direct':>10}")
        print(f"  {'direct from the upstream':30} {d:>8.2f} {1.0:>9.2f}x")
        print(f"  {'through Bale, warm cache':30} {w:>8.2f} {w / d:>9.2f}x")
        print(f"  {'through Bale, cold (1 run)':30} {cold:>8.2f} {cold / d:>9.2f}x")
        print(f"  direct runs: {', '.join(f'{t:.2f}' for t in direct)}")
        print(f"  warm runs:   {', '.join(f'{t:.2f}' for t in warm)}")
    print(f"\nthe same graph from a Bale index of its own (no upstream): {statistics.median(own):.2f} s")
    print(f"  runs: {', '.join(f'{t:.2f}' for t in own)}")
    print(f"files copied into Cloud Storage by the cold runs: {copies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

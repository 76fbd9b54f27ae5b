"""Simple API throughput, latency and Firestore reads for project pages of 10, 1,000 and 10,000 files.

    python benchmarks/simple.py [--quick] [--sizes 10,1000,10000] [--concurrency 8]
                                [--format json|html] [--encoding gzip|identity]

Starts its own Firestore emulator and fake-gcs-server, writes the projects in bulk
(tests/bulk.py: the layout uploads leave, written with batches), and serves the registry
in this process with the dispatcher `bale dev` uses. For each size it first measures one
cold request (empty page cache), then runs a fixed number of warm requests from a separate
load-generator process (so client and server do not share a GIL): a thread pool of
concurrent clients, each with its own keep-alive HTTP connection, asking as pip and uv do
(JSON, gzip). Firestore reads are counted in the serving process at the client library's
RPC layer, so "reads/req" is what the requests really cost.

Notes on the figures: the emulator answers a read in about a millisecond, real Firestore in
a few; Werkzeug's development server closes every connection after a response (clients
reconnect, over loopback), where Cloud Functions' gunicorn keeps them alive.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

ACCEPT = {
    "json": "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
    "html": "text/html",
}
FULL = {10: 3000, 1000: 1000, 10000: 200}
QUICK = {10: 400, 1000: 200, 10000: 40}


# -- the load generator (a child process) ---------------------------------------------------------
def load(url: str, token: str, requests: int, concurrency: int, accept: str, encoding: str) -> dict:
    parts = urllib.parse.urlsplit(url)
    headers = {"Authorization": f"Bearer {token}", "Accept": accept, "Accept-Encoding": encoding}
    local = threading.local()
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(_):
        conn = getattr(local, "conn", None)
        if conn is None:
            # One connection per thread; http.client reopens it when the server closes it.
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        t0 = time.perf_counter()
        try:
            conn.request("GET", parts.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            with lock:
                errors.append(repr(exc))
            return
        dt = time.perf_counter() - t0
        with lock:
            if resp.status != 200:
                errors.append(str(resp.status))
            latencies.append(dt)
            sizes.append(len(body))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {
        "requests": requests,
        "ok": len(latencies) - sum(1 for e in errors if e.isdigit()),
        "errors": errors[:5],
        "wall": wall,
        "rps": len(latencies) / wall,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "bytes": int(statistics.mean(sizes)) if sizes else 0,
    }


# -- the benchmark (this process serves) ------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument("--sizes", default="10,1000,10000", help="files per project, comma-separated")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    ap.add_argument("--format", choices=["json", "html"], default="json")
    ap.add_argument("--encoding", choices=["gzip", "identity"], default="gzip")
    ap.add_argument("--requests", type=int, help="warm requests per size (default: by size)")
    ap.add_argument("--load", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:
        url, token = args.load
        print(
            json.dumps(load(url, token, args.requests, args.concurrency, ACCEPT[args.format], args.encoding))
        )
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    counts = QUICK if args.quick else FULL
    logs = Path(tempfile.mkdtemp(prefix="bale-bench-"))

    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    print(f"Starting the emulators (logs in {logs})…", file=sys.stderr)
    with FirestoreEmulator(log_dir=logs) as fs, GCSEmulator(log_dir=logs) as gcs:
        os.environ.update(
            {
                "GOOGLE_CLOUD_PROJECT": "demo-bale",
                "FIRESTORE_EMULATOR_HOST": fs.host,
                "STORAGE_EMULATOR_HOST": gcs.host,
                "BALE_BUCKET": "bale-bench",
            }
        )
        os.environ.pop("BALE_BASE_URL", None)
        return run(sizes, counts, args)


def run(sizes, counts, args) -> int:
    from bale.api.simple import views as simple_api
    from bale.settings import get_settings
    from bale.store.backends import get_stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale_tools.devserver import Server, build_app
    from bulk import FirestoreReads, bulk_project

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    get_settings.cache_clear()
    settings = get_settings()
    stores = get_stores(settings)
    stores.blobs.ensure_bucket()
    Tenancy(stores).create_team("acme", "bench@example.com")
    token, _ = Tokens(stores).create("acme", "main", "read", created_by="bench")
    for n in sizes:
        t0 = time.perf_counter()
        bulk_project(stores, f"proj-{n}", n, yank_every=50)
        print(f"  wrote a {n:,}-file project in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    server = Server(build_app(settings)).start()
    rows = []
    try:
        with FirestoreReads(stores.db, stores.probe) as reads:
            for n in sizes:
                url = f"{server.url}/simple/acme/main/proj-{n}/"
                # Cold: an empty page cache, as on a new instance or right after an upload.
                simple_api.clear_caches()
                reads.reset()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                t0 = time.perf_counter()
                conn.request(
                    "GET",
                    f"/simple/acme/main/proj-{n}/",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Accept": ACCEPT[args.format],
                        "Accept-Encoding": args.encoding,
                    },
                )
                resp = conn.getresponse()
                resp.read()
                cold_ms = (time.perf_counter() - t0) * 1000
                conn.close()
                assert resp.status == 200, resp.status
                cold_reads = reads.reset()

                total = args.requests or counts.get(n, 200)
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--load",
                        url,
                        token,
                        "--requests",
                        str(total),
                        "--concurrency",
                        str(args.concurrency),
                        "--format",
                        args.format,
                        "--encoding",
                        args.encoding,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res = json.loads(out.stdout)
                res.update(
                    files=n, cold_ms=cold_ms, cold_reads=cold_reads, reads_per_req=reads.reset() / total
                )
                rows.append(res)
                print(f"  {n:,} files done", file=sys.stderr)
    finally:
        server.stop()

    print()
    print(
        f"Simple API, warm cache: {args.format}, Accept-Encoding {args.encoding}, "
        f"{args.concurrency} concurrent keep-alive clients, {os.cpu_count()} CPUs"
    )
    head = (
        f"{'files':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'bytes/resp':>11} "
        f"{'reads/req':>9} {'cold ms':>8} {'cold reads':>10} {'errors':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['files']:>7,} {r['requests']:>8} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['bytes']:>11,} {r['reads_per_req']:>9.2f} {r['cold_ms']:>8.0f} {r['cold_reads']:>10} "
            f"{len(r['errors']):>6}"
        )
    bad = [r for r in rows if r["errors"]]
    for r in bad:
        print(f"errors at {r['files']} files: {r['errors']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

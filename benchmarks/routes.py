"""CPU and Firestore round trips per warm request, route by route, in-process.

    python benchmarks/routes.py [--requests 1500] [--rounds 3] [--profile FILE] [--served]

Starts its own Firestore emulator and fake-gcs-server, uploads one small wheel (1 KiB) to
``acme/main`` through the upload function, makes a read token, and then calls the simple
function's WSGI app directly (no HTTP server, so the figure is the function's own work) for
three warm routes, as uv asks for them: the project page (PEP 691 JSON, gzip accepted), the
wheel's ``.metadata`` and the wheel itself; and the same page through a view (issue 26) over two
sources, the first of which does not hold it, with a filter. Every request carries a read token.

For each route: CPU of this process per request (``time.process_time``, which includes the
Firestore client's gRPC threads), wall time per request, and Firestore RPCs and documents
read per request, counted at the client's RPC layer. Rounds alternate the routes so that a
busy machine slows them alike; the median round is reported. ``--profile FILE`` writes a
cProfile of one extra round per route (``FILE.page``, ...).

``--served`` also serves the registry as ``bale dev`` does (gunicorn gthread, keep-alive, in a
child process) and loads each route from 8 concurrent keep-alive clients: req/s, p50, and the
CPU of the serving processes per request (gunicorn's parsing and dispatch included).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

JSON = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


def environ_for(path: str, token: str, accept: str = "*/*") -> dict:
    from werkzeug.test import EnvironBuilder

    auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    env = EnvironBuilder(
        path=path,
        base_url="http://127.0.0.1:8080",
        headers={
            "Authorization": auth,
            "Accept": accept,
            "Accept-Encoding": "gzip",
            "User-Agent": "uv/0.13.9",
        },
    ).get_environ()
    return env


def call(app, env: dict) -> int:
    env = dict(env)
    env["wsgi.input"] = io.BytesIO(b"")
    status: list[str] = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    body = app(env, start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return int(status[0].split()[0])


def measure(app, env: dict, n: int) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        code = call(app, env)
        if code != 200:
            raise SystemExit(f"{env['PATH_INFO']} answered {code}")
    return (time.process_time() - c0) * 1000 / n, (time.perf_counter() - w0) * 1000 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1500, help="warm requests per route per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", help="write a cProfile of one more round per route to FILE.<route>")
    ap.add_argument("--served", action="store_true", help="also measure each route through gunicorn")
    ap.add_argument("--concurrency", type=int, default=8, help="clients for --served (default 8)")
    args = ap.parse_args()

    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    logs = Path(tempfile.mkdtemp(prefix="bale-routes-"))
    with FirestoreEmulator(log_dir=logs) as fs, GCSEmulator(log_dir=logs) as gcs:
        os.environ.update(
            {
                "GOOGLE_CLOUD_PROJECT": "demo-bale",
                "FIRESTORE_EMULATOR_HOST": fs.host,
                "STORAGE_EMULATOR_HOST": gcs.host,
                "BALE_BUCKET": "bale-routes",
            }
        )
        os.environ.pop("BALE_BASE_URL", None)
        return run(args)


def run(args) -> int:
    import functions_framework

    from bale.settings import get_settings
    from bale.store.backends import get_stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bulk import FirestoreReads
    from factories import wheel_bytes, wheel_name

    logging.getLogger().setLevel(logging.WARNING)
    get_settings.cache_clear()
    settings = get_settings()
    stores = get_stores(settings)
    stores.blobs.ensure_bucket()
    Tenancy(stores).create_team("acme", "bench@example.com")
    upload_token, _ = Tokens(stores).create("acme", "main", "upload", created_by="bench")
    read_token, _ = Tokens(stores).create("acme", "main", "read", created_by="bench")

    main_py = str(ROOT / "functions" / "main.py")
    upload_app = functions_framework.create_app(target="upload", source=main_py)
    simple_app = functions_framework.create_app(target="simple", source=main_py)

    data = wheel_bytes("routes-demo", "1.0")
    filename = wheel_name("routes-demo", "1.0")
    client = upload_app.test_client()
    resp = client.post(
        "/v1/upload/acme/main/",
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": "2.1",
            "name": "routes-demo",
            "version": "1.0",
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            "content": (io.BytesIO(data), filename),
        },
        headers={"Authorization": "Basic " + base64.b64encode(f"__token__:{upload_token}".encode()).decode()},
    )
    if resp.status_code != 200:
        raise SystemExit(f"upload answered {resp.status_code}: {resp.get_data(as_text=True)}")

    # A view over two sources whose first does not hold the project: the worst warm case, one
    # version probe per source, under a filter evaluated per file at render time only.
    from bale.views.service import Views

    Tenancy(stores).create_index("acme", "second")
    Views(stores).create(
        "acme", "dev", ["second", "main"], 'package.name != "setuptools" and release.version >= "0"'
    )
    view_token, _ = Tokens(stores).create("acme", "dev", "read", created_by="bench")
    Views(stores).create("acme", "first", ["main", "second"], 'package.name != "setuptools"')
    first_token, _ = Tokens(stores).create("acme", "first", "read", created_by="bench")

    base = "/simple/acme/main/routes-demo/"
    routes = {
        "page": environ_for(base, read_token, JSON),
        "view page (2 sources)": environ_for("/simple/acme/dev/routes-demo/", view_token, JSON),
        "view page (first wins)": environ_for("/simple/acme/first/routes-demo/", first_token, JSON),
        "metadata": environ_for(base + filename + ".metadata", read_token),
        "wheel": environ_for(base + filename, read_token),
    }
    for env in routes.values():  # warm: page cache, small-bytes cache, clients, channels
        for _ in range(20):
            call(simple_app, env)

    results: dict[str, list[tuple[float, float, float, float]]] = {r: [] for r in routes}
    with FirestoreReads(stores.db, getattr(stores, "probe", None)) as rpcs:
        for _ in range(args.rounds):
            for name, env in routes.items():
                rpcs.take()
                cpu, wall = measure(simple_app, env, args.requests)
                calls, docs = rpcs.take()
                results[name].append((cpu, wall, calls / args.requests, docs / args.requests))
    if args.profile:
        for name, env in routes.items():
            prof = cProfile.Profile()
            prof.enable()
            measure(simple_app, env, args.requests)
            prof.disable()
            prof.dump_stats(f"{args.profile}.{name}")

    print(f"Warm requests in-process, {args.requests} per route per round, median of {args.rounds} rounds")
    print(f"  read token on every request; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    print()
    print("| route | CPU ms/req | wall ms/req | Firestore round trips/req | documents read/req |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in results.items():
        med = sorted(rows, key=lambda r: r[0])[len(rows) // 2]
        spread = f" ({min(r[0] for r in rows):.2f}-{max(r[0] for r in rows):.2f})" if len(rows) > 1 else ""
        print(f"| {name} | {med[0]:.2f}{spread} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.2f} |")
    medians = {name: sorted(r[0] for r in rows)[len(rows) // 2] for name, rows in results.items()}
    print()
    for name in ("view page (2 sources)", "view page (first wins)"):
        print(f"{name} / page CPU: {medians[name] / medians['page']:.2f}x (target <= 1.5x)")
    if args.served:
        served(routes, args)
    return 0


def served(routes: dict[str, dict], args) -> None:
    """Each route through gunicorn gthread (as `bale dev` and Cloud Functions serve it)."""
    from _common import cpu_seconds, descendants, load

    from bale_tools.devserver import GunicornServer

    server = GunicornServer().start()
    rows = []
    try:
        pids = [server.pid, *descendants(server.pid)]
        for name, env in routes.items():
            headers = {
                k[5:].replace("_", "-").title(): v
                for k, v in env.items()
                if k.startswith("HTTP_") and k != "HTTP_HOST"
            }
            per_round = []
            for _ in range(args.rounds):
                res = load(
                    "127.0.0.1",
                    server.port,
                    env["PATH_INFO"],
                    headers,
                    requests=args.requests,
                    concurrency=args.concurrency,
                    time_limit=30.0,
                    warmup=16,
                    probe=lambda: cpu_seconds(pids),
                )
                if res.errors or set(res.statuses) != {200}:
                    raise SystemExit(f"{name}: {res.statuses}, {res.errors} errors")
                c0, c1 = res.probes
                per_round.append(((c1 - c0) * 1000 / len(res.latencies), res.rps, res.pct(50)))
            rows.append((name, sorted(per_round)[len(per_round) // 2]))
    finally:
        server.stop()
    print()
    print(
        f"Served by gunicorn gthread (8 threads, keep-alive), 8 concurrent clients, {args.requests} requests"
    )
    print(
        f"per route per round, median of {args.rounds} rounds by CPU; load average {os.getloadavg()[0]:.2f}"
    )
    print()
    print("| route | server CPU ms/req | req/s | p50 ms |")
    print("|---|---:|---:|---:|")
    for name, (cpu, rps, p50) in rows:
        print(f"| {name} | {cpu:.2f} | {rps:.0f} | {p50:.1f} |")


if __name__ == "__main__":
    sys.exit(main())

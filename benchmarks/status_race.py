"""Concurrent uploads to one project while its status flips between active and archived.

    python benchmarks/status_race.py [--uploads 50] [--rounds 3] [--pause 0.005]

Starts the Firestore and Cloud Storage emulators and the registry under gunicorn (as
benchmarks/fuzz.py does), publishes fz-race 0.1, then in each round sends ``--uploads`` uploads
of distinct versions at once while a thread sets the project archived and active again
(``Packages.set_status``, what the dashboard and ``bale admin project status`` call) every
``--pause`` seconds. Afterwards: every upload answered 200 must be on the project's page with
its sha256 and download byte for byte, every refused one must be on no page, and storage must
hold no blob without a live record (benchmarks/fuzz.py's audit). Prints the answers per round
and each problem; exit status 1 on any problem or 500.

A 503 with Retry-After ("Firestore is slow: N requests of this instance are already waiting
on it. Nothing was changed") is the backend guard shedding load (bale.store.guard), counted
apart: nothing was stored for it (the checks above cover it).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "functions", ROOT / "web", ROOT / "tools", ROOT / "tests", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import fuzz

from factories import wheel_bytes, wheel_name

PROJECT = "fz-race"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uploads", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.005, help="seconds between status changes")
    args = ap.parse_args(argv)

    import requests

    from bale import settings as settings_mod
    from bale.packages.service import Packages
    from bale.settings import Settings
    from bale.store.backends import Stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale_tools.devserver import GunicornServer
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    logs = Path(tempfile.mkdtemp(prefix="bale-race-logs-"))
    fs, gcs = FirestoreEmulator(log_dir=logs), GCSEmulator(log_dir=logs)
    server = None
    try:
        fs.start()
        gcs.start()
        env = {
            "GOOGLE_CLOUD_PROJECT": fuzz.PROJECT,
            "FIRESTORE_EMULATOR_HOST": fs.host,
            "STORAGE_EMULATOR_HOST": gcs.host,
            "BALE_BUCKET": "bale-race",
        }
        os.environ.update(env)
        settings_mod.get_settings.cache_clear()
        settings = Settings(
            project=fuzz.PROJECT,
            bucket="bale-race",
            firestore_emulator_host=fs.host,
            storage_emulator_host=gcs.host,
        )
        stores = Stores(settings)
        stores.blobs.ensure_bucket()
        server = GunicornServer(log=logs / "gunicorn.log")
        os.environ["BALE_BASE_URL"] = server.env["BALE_BASE_URL"] = server.url
        server.start()
        Tenancy(stores).create_team("acme", "alice@example.com")
        tokens = Tokens(stores)
        upload_token = tokens.create("acme", "main", "upload")[0]
        read = ("__token__", tokens.create("acme", "main", "read")[0])
        packages = Packages(stores)

        def upload(version: str) -> tuple[str, bytes, int, str]:
            data, fname = wheel_bytes(PROJECT, version), wheel_name(PROJECT, version)
            form = {**fuzz._form(fname, data), "name": PROJECT, "version": version}
            r = requests.post(
                f"{server.url}/v1/upload/acme/main/",
                data=form,
                files={"content": (fname, data)},
                auth=("__token__", upload_token),
                timeout=120,
            )
            return fname, data, r.status_code, r.text.strip()[:160]

        first = upload("0.1")
        if first[2] != 200:
            print(f"publishing {PROJECT} 0.1 answered {first[2]}: {first[3]}")
            return 1
        totals: collections.Counter[int] = collections.Counter()
        problems: list[str] = []
        failed: list[str] = []  # status changes that did not go through
        for rnd in range(1, args.rounds + 1):
            stop = threading.Event()
            flips = [0]

            def flipper(stop: threading.Event = stop, flips: list[int] = flips) -> None:
                while not stop.is_set():
                    archived = flips[0] % 2 == 0
                    state, reason = ("archived", "race") if archived else ("active", None)
                    try:
                        packages.set_status("acme", "main", PROJECT, state, reason, actor="race")
                    except Exception as exc:  # the admin's change refused: a problem too
                        failed.append(f"set_status({state}) failed: {type(exc).__name__}: {exc}")
                    flips[0] += 1
                    time.sleep(args.pause)

            results: list[tuple[str, bytes, int, str]] = []
            lock = threading.Lock()

            def one(i: int, rnd: int = rnd, lock: threading.Lock = lock, results: list = results) -> None:
                r = upload(f"{rnd}.{i}")
                with lock:
                    results.append(r)

            flipping = threading.Thread(target=flipper)
            senders = [threading.Thread(target=one, args=(i,)) for i in range(args.uploads)]
            t0 = time.monotonic()
            flipping.start()
            for t in senders:
                t.start()
            for t in senders:
                t.join()
            took = time.monotonic() - t0
            stop.set()
            flipping.join()
            packages.set_status("acme", "main", PROJECT, "active", None, actor="race")
            page = requests.get(
                f"{server.url}/simple/acme/main/{PROJECT}/",
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                auth=read,
                timeout=60,
            ).json()
            listed = {f["filename"]: f["hashes"]["sha256"] for f in page["files"]}
            codes = collections.Counter(code for _, _, code, _ in results)
            totals.update(codes)
            for fname, data, code, text in results:
                if code == 200:
                    if listed.get(fname) != hashlib.sha256(data).hexdigest():
                        problems.append(f"200 but not on the page: {fname}")
                    got = requests.get(
                        f"{server.url}/files/acme/main/{PROJECT}/{fname}", auth=read, timeout=60
                    )
                    if got.status_code != 200 or got.content != data:
                        problems.append(f"200 but the download answered {got.status_code}: {fname}")
                elif fname in listed:
                    problems.append(f"{code} but on the page: {fname}")
                if code >= 500 and not (code == 503 and "Nothing was changed" in text):
                    problems.append(f"{code}: {fname}: {text}")
            why = collections.Counter(text[:70] for _, _, code, text in results if code != 200)
            print(
                f"round {rnd}: {dict(sorted(codes.items()))} in {took:.1f} s, {flips[0]} status changes; "
                f"refusals: {dict(why)}",
                flush=True,
            )
        problems += failed
        leaks = fuzz.audit(stores)
        leak_count = sum(len(v) for v in leaks.values())
        print(f"total: {dict(sorted(totals.items()))}; problems: {len(problems)}; leaks: {leak_count}")
        for p in problems[:20]:
            print(f"  {p}")
        for kind, items in leaks.items():
            for item in items[:5]:
                print(f"  leak ({kind}): {item}")
        return 1 if problems or leak_count else 0
    finally:
        if server is not None:
            server.stop()
        fs.stop(grace=2)
        gcs.stop(grace=2)


if __name__ == "__main__":
    sys.exit(main())

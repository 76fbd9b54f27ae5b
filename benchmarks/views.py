"""Cold installs through a view (issue 26) against the same install from one index.

    python benchmarks/views.py [--runs 5]

The 30-package graph of benchmarks/compare.py (``benchdag-00`` pulls in all 30) is uploaded to
``acme/private``; ``acme/dev`` is a view over ``acme/other`` (empty) and ``acme/private``, in
that order, with a filter, so every page of the view costs a probe of both sources (the worst
order). Each install is ``uv pip install benchdag-00`` into a fresh venv with a fresh uv cache
(a CI job's cold install); the two URLs alternate run by run so that drift on the machine hits
both alike. Bale runs in this process (``bale dev``'s dispatcher) over the emulators. The issue's
target: through the view at most 1.2x the one index.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import urllib.parse
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="cold installs each way (default 5)")
    args = ap.parse_args()
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    work = Path(tempfile.mkdtemp(prefix="bale-views-bench-"))
    try:
        with FirestoreEmulator(log_dir=work) as fs, GCSEmulator(log_dir=work) as gcs:
            os.environ.update(
                {
                    "GOOGLE_CLOUD_PROJECT": "demo-bale",
                    "FIRESTORE_EMULATOR_HOST": fs.host,
                    "STORAGE_EMULATOR_HOST": gcs.host,
                    "BALE_BUCKET": "bale-bench",
                }
            )
            os.environ.pop("BALE_BASE_URL", None)
            return run(work, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, runs: int) -> int:
    from compare import build_dag, uv_install

    from bale.settings import get_settings
    from bale.store.backends import get_stores
    from bale.tenancy.service import Tenancy
    from bale.tokens.service import Tokens
    from bale.views.service import Views
    from bale_tools.devserver import Server, build_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    built = build_dag(work / "wheels")
    get_settings.cache_clear()
    settings = get_settings()
    stores = get_stores(settings)
    stores.blobs.ensure_bucket()
    tenancy, tokens = Tenancy(stores), Tokens(stores)
    tenancy.create_team("acme", "bench@example.com")
    tenancy.create_index("acme", "private")
    tenancy.create_index("acme", "other")
    Views(stores).create(
        "acme", "dev", ["other", "private"], 'package.name != "setuptools" and release.age_days >= 0'
    )
    server = Server(build_app(settings)).start()
    host = urllib.parse.urlsplit(server.url).netloc
    try:
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
        urls = {}
        for index in ("private", "dev"):
            token, _ = tokens.create("acme", index, "read", created_by="bench")
            urls[index] = f"http://__token__:{token}@{host}/simple/acme/{index}/"
        uv_install(urls["private"], work / "prime", 1)  # the first run of uv on the machine pays extra
        times: dict[str, list[float]] = {"private": [], "dev": []}
        for k in range(runs):
            for index, url in urls.items():
                times[index] += uv_install(url, work / f"{index}{k}", 1)
    finally:
        server.stop()

    one, view = statistics.median(times["private"]), statistics.median(times["dev"])
    print(f"Cold uv pip install of a 30-package graph, {os.cpu_count()} CPUs, median of {runs}")
    print(f"  one index:                    {one:.2f} s  ({', '.join(f'{t:.2f}' for t in times['private'])})")
    print(f"  a view of two (second wins):  {view:.2f} s  ({', '.join(f'{t:.2f}' for t in times['dev'])})")
    print(f"  view / index: {view / one:.2f}x (target <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

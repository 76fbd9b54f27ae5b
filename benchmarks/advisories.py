"""The daily advisories refresh (bale.advisories.refresh) on an export the size of OSV's, and more.

    python benchmarks/advisories.py [--records 40000] [--projects 8000] [--details 2000]

Builds a synthetic OSV export (``--records`` JSON records over ``--projects`` PyPI projects, each
with ``--details`` bytes of varied text so that it compresses as real prose does, a CVSS vector,
ranges and a list of versions), serves it over local HTTP with an ETag, and runs one refresh in
a child process over the Firestore emulator: download to a temp file, read, write every summary.
Then a second run (unchanged: 304). Prints the zip's size, the time of each run and the child's
peak RSS before the run (after its imports and a first Firestore read) and after it (ru_maxrss), so the growth is what the refresh holds: the
records are read one zip member at a time, so it grows with the summaries, not the export.
On Cloud Functions /tmp is memory too: add the zip's size for the instance's total.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import json, resource, sys, time
from bale.settings import get_settings
from bale.store.backends import get_stores
from bale.advisories import refresh
stores = get_stores(get_settings())
# The baseline: everything a run imports, and a first Firestore call (its client and channel).
import cvss, requests, zipfile  # noqa: E401, F401
refresh.status(stores)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.monotonic()
out = refresh.run(stores, get_settings())
seconds = time.monotonic() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"status": out.status, "loaded": out.loaded, "projects": out.projects,
                  "refused": len(out.refused), "seconds": seconds, "rss_before_kib": before,
                  "rss_peak_kib": after}))
"""

_PROSE = (
    "buffer overflow allows remote attackers to execute arbitrary code via crafted request header "
    "denial of service through unbounded recursion when parsing untrusted input in the decoder path "
    "improper validation of certificate hostname leads to man in the middle attack on redirects "
    "cross site scripting in the template renderer because user supplied values are not escaped"
)
WORDS = _PROSE.split()


def record(i: int, project: str, rng: random.Random, details: int) -> dict:
    text = []
    size = 0
    while size < details:
        w = rng.choice(WORDS) + str(rng.randrange(1000)) if rng.random() < 0.2 else rng.choice(WORDS)
        text.append(w)
        size += len(w) + 1
    fixed = f"{rng.randrange(1, 9)}.{rng.randrange(20)}.{rng.randrange(10)}"
    return {
        "id": f"BENCH-2026-{i}",
        "modified": "2026-01-01T00:00:00Z",
        "summary": " ".join(text[:12]),
        "details": " ".join(text),
        "aliases": [f"CVE-2026-{i}"],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": project},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                "versions": [f"0.{n}" for n in range(rng.randrange(5, 40))],
            }
        ],
        "references": [{"type": "WEB", "url": f"https://example.com/advisories/{i}"}],
    }


def build(path: Path, records: int, projects: int, details: int) -> None:
    rng = random.Random(27)
    names = [f"bench-project-{n}" for n in range(projects)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(records):
            rec = record(i, names[i % projects], rng, details)
            zf.writestr(f"{rec['id']}.json", json.dumps(rec, indent=2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=40_000)
    ap.add_argument("--projects", type=int, default=8_000)
    ap.add_argument("--details", type=int, default=2_000, help="bytes of details text per record")
    args = ap.parse_args()

    from bale_tools.emulators import FirestoreEmulator
    from fakes.osv_export import PATH, Export
    from fakes.server import Server

    work = Path(tempfile.mkdtemp(prefix="bale-advisories-bench-"))
    try:
        export_zip = work / "all.zip"
        build(export_zip, args.records, args.projects, args.details)
        size = export_zip.stat().st_size
        unzipped = sum(i.file_size for i in zipfile.ZipFile(export_zip).infolist())
        print(
            f"export: {args.records} records, {args.projects} projects, {size / 2**20:.1f} MiB zipped "
            f"({unzipped / 2**20:.1f} MiB of JSON)"
        )
        exp = Export()
        exp.publish(export_zip.read_bytes())
        with FirestoreEmulator(log_dir=work) as fs, Server(exp.wsgi) as server:
            env = {
                **os.environ,
                "GOOGLE_CLOUD_PROJECT": "demo-bale",
                "FIRESTORE_EMULATOR_HOST": fs.host,
                "BALE_ADVISORIES_URL": server.url + PATH,
                "BALE_FIRESTORE_WRITE_DEADLINE": "120",
                "BALE_FIRESTORE_READ_DEADLINE": "60",
            }
            for label in ("first run (loads)", "second run (unchanged)"):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False
                )
                if out.returncode:
                    print(out.stderr[-3000:], file=sys.stderr)
                    return 1
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{label}: {r['status']}, {r['loaded']} loaded for {r['projects']} projects in "
                    f"{r['seconds']:.1f} s; peak RSS {r['rss_peak_kib'] / 1024:.0f} MiB "
                    f"(+{(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:.0f} MiB over the "
                    f"{r['rss_before_kib'] / 1024:.0f} MiB after imports)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

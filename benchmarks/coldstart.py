"""Each function's cold start: process start to the first answered request with a token.

    python benchmarks/coldstart.py [--runs 7] [--importtime DIR]

Starts the Firestore emulator and fake-gcs-server, creates a team with an upload and a read
token, then for each run and each entry point spawns `functions-framework --target NAME`
(what Cloud Functions runs) and times, from the spawn, the first answered request:

* upload: a small wheel, `Authorization: Basic __token__:<upload token>` (the first run
  stores it; later runs are identical re-uploads, answered 200 after the same checks);
* simple: that project's page, with the read token (token + project: one batched read,
  then the page's chunks);
* oidc: `GET /_/oidc/audience` (Trusted Publishing on, the audience configured).

Runs interleave the three targets so that other load on the machine hits them alike. The
report gives the median, min and max per target (and per tree: `--also DIR` times another
functions/ folder, such as an older commit's from `git archive`, in the same runs), and the machine's load average and busy
share over the run (the machine may be shared). `--importtime DIR` runs each target once more
with `PYTHONPROFILEIMPORTTIME=1` and writes what the process imported up to and during its
first request (`DIR/TARGET.txt`), with the ten slowest top-level imports printed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests
from _common import machine_jiffies

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEAM, INDEX, PROJECT = "bench", "main", "coldpkg"
TARGETS = ("upload", "simple", "oidc")


def small_wheel(directory: Path) -> Path:
    mod, version = PROJECT, "1.0"
    dist_info = f"{mod}-{version}.dist-info"
    files = {
        f"{mod}/__init__.py": b'__version__ = "1.0"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bale-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for p, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    path = directory / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, data in files.items():
            zf.writestr(p, data)
        zf.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path


def first_request(target: str, base: str, wheel: Path, tokens: dict[str, str]) -> requests.Response:
    if target == "simple":
        return requests.get(
            f"{base}/simple/{TEAM}/{INDEX}/{PROJECT}/", auth=("__token__", tokens["read"]), timeout=60
        )
    if target == "upload":
        data = wheel.read_bytes()
        fields = {
            ":action": "file_upload",
            "protocol_version": "1",
            "name": PROJECT,
            "version": "1.0",
            "filetype": "bdist_wheel",
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        }
        return requests.post(
            f"{base}/v1/upload/{TEAM}/{INDEX}/",
            data=fields,
            auth=("__token__", tokens["upload"]),
            files={"content": (wheel.name, io.BytesIO(data))},
            timeout=60,
        )
    return requests.get(f"{base}/_/oidc/audience", timeout=60)


def cold_start(
    target: str,
    env: dict[str, str],
    wheel: Path,
    tokens: dict[str, str],
    stderr=None,
    functions: Path | None = None,
) -> float:
    from bale_tools.devserver import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    functions = functions or ROOT / "functions"
    # That tree's folder first on the path: what is timed is its code.
    env = {**env, "PYTHONPATH": os.pathsep.join([str(functions), env.get("PYTHONPATH", "")])}
    argv = [str(BIN / "functions-framework"), "--target", target, "--source", str(functions / "main.py")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr or subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                r = first_request(target, base, wheel, tokens)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{target} exited with {proc.returncode}") from None
                time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"{target}: {r.status_code} {r.text[:300]}")
        return elapsed
    finally:
        proc.terminate()
        proc.wait(10)


def slowest_imports(log: Path, n: int = 10) -> list[str]:
    """The top-level imports (as Python reports them) with the largest cumulative time."""
    rows = []
    for line in log.read_text().splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line[len("import time:") :].split("|")
        if len(name) - len(name.lstrip()) <= 2:  # the module a first-level import named
            rows.append((int(cum_us), name.strip()))
    rows.sort(reverse=True)
    return [f"{us / 1000:8.1f} ms  {name}" for us, name in rows[:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--importtime", type=Path, help="also write each target's import log here")
    ap.add_argument(
        "--also",
        type=Path,
        action="append",
        default=[],
        help="another functions/ folder (e.g. an older commit's, from git archive) timed in the same runs",
    )
    args = ap.parse_args()
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    with tempfile.TemporaryDirectory(prefix="bale-cold-") as d:
        tmp = Path(d)
        with FirestoreEmulator(log_dir=tmp / "logs") as fs, GCSEmulator(log_dir=tmp / "logs") as gcs:
            env = {
                **os.environ,
                "GOOGLE_CLOUD_PROJECT": "demo-bale",
                "FIRESTORE_EMULATOR_HOST": fs.host,
                "STORAGE_EMULATOR_HOST": gcs.host,
                "BALE_BUCKET": "bale-bench",
                "BALE_OIDC_AUDIENCE": "bale-bench",
            }
            os.environ.update(env)
            from bale.settings import get_settings
            from bale.store.backends import get_stores
            from bale.tenancy.service import Tenancy
            from bale.tokens.service import Tokens

            get_settings.cache_clear()
            stores = get_stores(get_settings())
            stores.blobs.ensure_bucket()
            Tenancy(stores).create_team(TEAM, "bench@example.com")
            tokens = {
                "upload": Tokens(stores).create(TEAM, INDEX, "upload", created_by="bench")[0],
                "read": Tokens(stores).create(TEAM, INDEX, "read", created_by="bench")[0],
            }
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            wheel = small_wheel(tmp)
            # Not timed: the project exists before the first page is asked for.
            cold_start("upload", env, wheel, tokens)

            trees = [ROOT / "functions", *args.also]
            times: dict[tuple[Path, str], list[float]] = {(f, t): [] for f in trees for t in TARGETS}
            load0 = os.getloadavg()[0]
            busy0, total0 = machine_jiffies()
            for _ in range(args.runs):
                for target in TARGETS:
                    for functions in trees:
                        times[functions, target].append(
                            cold_start(target, env, wheel, tokens, functions=functions)
                        )
            busy1, total1 = machine_jiffies()
            load1 = os.getloadavg()[0]
            busy = (busy1 - busy0) / max(1, total1 - total0)
            print(
                f"\ncold starts, {args.runs} runs each (interleaved), machine busy {busy:.0%} "
                f"(load average {load0:.2f} -> {load1:.2f}, {os.cpu_count()} cores)"
            )
            print("| code | function | first request | median s | min s | max s |")
            print("|---|---|---|---:|---:|---:|")
            labels = {
                "upload": "small wheel upload (upload token; GCS, Firestore)",
                "simple": "project page (read token; Firestore)",
                "oidc": "GET /_/oidc/audience",
            }
            for target in TARGETS:
                for functions in trees:
                    ts = times[functions, target]
                    print(
                        f"| {functions} | {target} | {labels[target]} | {statistics.median(ts):.2f} "
                        f"| {min(ts):.2f} | {max(ts):.2f} |"
                    )

            if args.importtime:
                args.importtime.mkdir(parents=True, exist_ok=True)
                for target in TARGETS:
                    log = args.importtime / f"{target}.txt"
                    with log.open("wb") as fh:
                        cold_start(target, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, wheel, tokens, stderr=fh)
                    print(f"\n{target}: slowest top-level imports until the first answer ({log})")
                    print("\n".join(slowest_imports(log)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

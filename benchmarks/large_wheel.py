"""A 300 MiB wheel through the stack served as production serves it, and each function's cold start.

    python benchmarks/large_wheel.py [--mib 300] [--skip-large] [--skip-cold]
    python benchmarks/large_wheel.py --inspect [--mib 300]

Inspect: ``distributions.inspect`` alone, in this process, on the same wheel stored and
deflated (every entry's stream is decompressed and checked to end at its declared sizes):
the best wall time of 3, the CPU time and the peak resident memory growth (VmHWM).

Large wheel: starts the Firestore emulator and fake-gcs-server, serves the registry with
gunicorn's threaded worker and cleartext HTTP/2 (`bale_tools.devserver.GunicornServer`: the
server Cloud Functions runs and Dockerfile.upload runs on Cloud Run), then publishes one
wheel of incompressible content with `uv publish` and another with `twine upload`, and
installs the first with `uv pip install`. The serving worker's resident memory is sampled
every 10 ms; its growth is the peak over its idle size (after one warm-up request).

Cold starts: for each entry point, `functions-framework --target NAME` (what Cloud Functions
runs) from process start to the first answered real request with a token (a project page,
a small upload, the OIDC audience) against the same emulators.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MiB = 1024 * 1024
TEAM, INDEX = "bench", "main"


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The peak VmRSS of one process, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            time.sleep(0.01)

    def stop(self) -> float:
        self.done.set()
        self.join()
        return self.peak / 1024


def big_wheel(
    directory: Path, name: str, version: str, mib: int, compression: int = zipfile.ZIP_STORED
) -> Path:
    """A valid wheel whose payload is ``mib`` MiB of random bytes (stored: incompressible);
    deflated, the bytes are random hex digits, which deflate to about half."""
    mod = name.replace("-", "_")
    dist_info = f"{mod}-{version}.dist-info"
    path = directory / f"{mod}-{version}-py3-none-any.whl"
    payload = (
        os.urandom(mib * MiB)
        if compression == zipfile.ZIP_STORED
        else os.urandom(mib * MiB // 2).hex().encode()
    )
    files = {
        f"{mod}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{mod}/blob.bin": payload,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bale-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for p, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w", compression) as zf:
        for p, data in files.items():
            zf.writestr(p, data)
    return path


def run(argv: list, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{r.stdout}\n{r.stderr}")
    return time.perf_counter() - t0, r


def client_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "TWINE_"))}
    env.update(
        UV_NO_CACHE="1", UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", PIP_NO_CACHE_DIR="1", NO_COLOR="1"
    )
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    return env


def large(mib: int, tmp: Path, env: dict, upload_token: str, read_token: str) -> list[str]:
    from bale_tools.devserver import GunicornServer

    server_env = {**env, "BALE_MAX_UPLOAD_BYTES": str(2 * mib * MiB + 64 * MiB)}
    server = GunicornServer(server_env, log=tmp / "gunicorn.log").start()
    out: list[str] = []
    try:
        # The worker is the master's only child; measure it after one warm-up request.
        worker = int(Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()[0])
        requests.get(f"{server.url}/simple/{TEAM}/{INDEX}/", auth=("__token__", read_token), timeout=30)
        idle = status_kib(worker, "VmRSS") / 1024
        dist = tmp / "dist"
        dist.mkdir()
        t0 = time.perf_counter()
        w1 = big_wheel(dist, "bigwheel", "1.0", mib)
        w2 = big_wheel(dist, "bigwheel", "1.1", mib)
        out.append(f"built two {w1.stat().st_size / MiB:.0f} MiB wheels in {time.perf_counter() - t0:.1f} s")
        out.append(f"server: gunicorn gthread + h2c, worker idle RSS {idle:.1f} MiB")
        out.append("| step | seconds | MiB/s | worker peak RSS MiB | growth over idle MiB |")
        out.append("|---|---:|---:|---:|---:|")
        ce = client_env(tmp)
        url = f"{server.url}/v1/upload/{TEAM}/{INDEX}/"
        host = server.url.split("://", 1)[1]
        steps = [
            (
                "uv publish",
                [BIN / "uv", "publish", "--publish-url", url, "-u", "__token__", "-p", upload_token, w1],
                w1,
            ),
            (
                "twine upload",
                [
                    BIN / "twine",
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--repository-url",
                    url,
                    "-u",
                    "__token__",
                    "-p",
                    upload_token,
                    w2,
                ],
                w2,
            ),
            (
                "uv pip install",
                [
                    BIN / "uv",
                    "pip",
                    "install",
                    "--no-config",
                    "--no-cache",
                    "--python",
                    sys.executable,
                    "--target",
                    tmp / "target",
                    "--index-url",
                    f"http://__token__:{read_token}@{host}/simple/{TEAM}/{INDEX}/",
                    "bigwheel==1.0",
                ],
                w1,
            ),
        ]
        for label, argv, wheel in steps:
            sampler = Sampler(worker)
            sampler.start()
            seconds, _ = run(argv, ce)
            peak = sampler.stop()
            size = wheel.stat().st_size / MiB
            out.append(
                f"| {label} ({size:.0f} MiB) | {seconds:.1f} | {size / seconds:.0f} | {peak:.1f} | {peak - idle:.1f} |"
            )
        got = (tmp / "target" / "bigwheel" / "blob.bin").stat().st_size
        assert got == mib * MiB, got
        out.append(
            f"installed: bigwheel/blob.bin is {got / MiB:.0f} MiB; worker VmHWM {status_kib(worker, 'VmHWM') / 1024:.1f} MiB"
        )
    finally:
        server.stop()
    return out


def cold_starts(tmp: Path, env: dict, upload_token: str, read_token: str) -> list[str]:
    """functions-framework --target X, spawn to first answered request, 3 runs each."""
    from bale_tools.devserver import free_port

    small = tmp / "small"
    small.mkdir(exist_ok=True)
    out = ["| function | first request | median s | min s | max s |", "|---|---|---:|---:|---:|"]
    wheel = big_wheel(small, "coldpkg", "1.0", 0)
    data = wheel.read_bytes()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    for target in ("simple", "upload", "oidc"):
        times = []
        for _attempt in range(3):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            ff = BIN / "functions-framework"
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [
                    ff,
                    "--target",
                    target,
                    "--source",
                    ROOT / "functions" / "main.py",
                    "--port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while True:
                    try:
                        if target == "simple":
                            r = requests.get(
                                f"{base}/simple/{TEAM}/{INDEX}/coldpkg/",
                                auth=("__token__", read_token),
                                timeout=30,
                            )
                        elif target == "upload":
                            r = requests.post(
                                f"{base}/v1/upload/{TEAM}/{INDEX}/",
                                data=fields,
                                auth=("__token__", upload_token),
                                files={"content": (wheel.name, io.BytesIO(data))},
                                timeout=30,
                            )
                        else:
                            r = requests.get(f"{base}/_/oidc/audience", timeout=30)
                        break
                    except requests.ConnectionError:
                        time.sleep(0.005)
                elapsed = time.perf_counter() - t0
                assert r.status_code in (200, 404), (target, r.status_code, r.text[:200])
                times.append(elapsed)
            finally:
                proc.terminate()
                proc.wait(10)
        label = {
            "simple": "project page (token, Firestore)",
            "upload": "small wheel upload (token, GCS, Firestore)",
            "oidc": "GET /_/oidc/audience",
        }[target]
        times.sort()
        out.append(f"| {target} | {label} | {times[1]:.2f} | {times[0]:.2f} | {times[-1]:.2f} |")
    return out


def inspect_only(mib: int, tmp: Path) -> list[str]:
    """distributions.inspect on a wheel of ``mib`` MiB of content, stored and deflated."""
    from bale.packages import distributions

    out = [
        "| wheel | file (MiB) | inspect, best of 3 (s) | CPU (s) | peak RSS growth (MiB) |",
        "|---|---|---|---|---|",
    ]
    for label, compression in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
        path = big_wheel(tmp, f"bench-{label}", "1.0", mib, compression)
        size = path.stat().st_size
        walls, cpus = [], []
        with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current RSS
            fh.write("5")
        base = status_kib(os.getpid(), "VmRSS")
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            with path.open("rb") as fh:
                distributions.inspect(
                    fh,
                    distributions.parse_filename(path.name),
                    size=size,
                    max_uncompressed=4 * 1024 * MiB,
                    max_ratio=200,
                )
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        grew = (status_kib(os.getpid(), "VmHWM") - base) / 1024
        out.append(f"| {label} | {size / MiB:.0f} | {min(walls):.2f} | {min(cpus):.2f} | {grew:.1f} |")
        path.unlink()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=300)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--inspect", action="store_true", help="time distributions.inspect alone")
    args = ap.parse_args()
    if args.inspect:
        with tempfile.TemporaryDirectory(prefix="bale-inspect-") as d:
            print("\n".join(inspect_only(args.mib, Path(d))), flush=True)
        return 0
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    with tempfile.TemporaryDirectory(prefix="bale-large-") as d:
        tmp = Path(d)
        with FirestoreEmulator(log_dir=tmp / "logs") as fs, GCSEmulator(log_dir=tmp / "logs") as gcs:
            env = {
                **os.environ,
                "GOOGLE_CLOUD_PROJECT": "demo-bale",
                "FIRESTORE_EMULATOR_HOST": fs.host,
                "STORAGE_EMULATOR_HOST": gcs.host,
                "BALE_BUCKET": "bale-bench",
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
            upload_token, _ = Tokens(stores).create(TEAM, INDEX, "upload", created_by="bench")
            read_token, _ = Tokens(stores).create(TEAM, INDEX, "read", created_by="bench")
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            if not args.skip_cold:
                print("\n".join(cold_starts(tmp, env, upload_token, read_token)), flush=True)
            if not args.skip_large:
                print("\n".join(large(args.mib, tmp, env, upload_token, read_token)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

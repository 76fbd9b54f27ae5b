"""Upload throughput and the serving process's peak memory, for 1, 10 and 100 MiB files.

    python benchmarks/upload.py [--sizes 1,10,100] [--repeat 3]
    python benchmarks/upload.py --durability 200

``--durability N`` instead measures what ``bale dev --data-dir``'s guarantee costs (no upload
answered 200 is lost in a crash, see bale.packages.journal): N small uploads one after another,
first against ``bale dev`` in memory, then with ``--data-dir`` (fake-gcs-server on disk and the
fsync'd journal); the median and p90 milliseconds per upload of each, and the journal's
append-and-fsync alone.

Starts `bale dev` (its own Firestore emulator and fake-gcs-server) as the serving
process, publishes wheels of incompressible content through the upload API over
loopback, and samples the server's resident memory (/proc/PID/status) while each
upload runs. A streaming upload path keeps the peak flat as the file grows; a
buffering one grows with the file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_event = pid, 0, threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)

    def stop(self) -> int:
        self.stop_event.set()
        self.join()
        return self.peak


def wheel(name: str, version: str, size: int) -> bytes:
    mod = name.replace("-", "_")
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{mod}/blob.bin", os.urandom(size))
        zf.writestr(f"{mod}-{version}.dist-info/METADATA", meta)
        zf.writestr(
            f"{mod}-{version}.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{mod}-{version}.dist-info/RECORD", b"")
    return buf.getvalue()


def start_dev(port: int, data_dir: str | None = None) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env["BALE_MAX_UPLOAD_BYTES"] = str(512 * MiB)
    extra = ["--data-dir", data_dir] if data_dir else []
    proc = subprocess.Popen(
        [str(BIN / "bale"), "dev", "--no-auth", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    out = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("bale dev exited:\n" + "".join(out))
        out.append(line)
        if "Press Ctrl-C" in line:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(out)))
    return proc, exports


def bench_index(port: int, exports: dict) -> tuple[str, str]:
    """Make team bench on the running stack; its upload token's Authorization header and upload URL."""
    env = dict(os.environ, **exports)
    subprocess.run(
        [BIN / "bale", "admin", "create-team", "bench", "--admin", "b@example.com"],
        env=env,
        check=True,
        capture_output=True,
    )
    token = subprocess.run(
        [BIN / "bale", "admin", "create-token", "bench", "--index", "main", "--permission", "upload"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    auth = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    return auth, f"http://127.0.0.1:{port}/v1/upload/bench/main/"


def _small_uploads(n: int, data_dir: str | None) -> list[float]:
    """Seconds per upload of n small wheels, one after another, to a fresh bale dev."""
    port = free_port()
    proc, exports = start_dev(port, data_dir)
    try:
        auth, url = bench_index(port, exports)
        session = requests.Session()
        took = []
        for i in range(n + 10):
            body = wheel("durable", f"1.{i}", 4096)
            files = {"content": (f"durable-1.{i}-py3-none-any.whl", body, "application/octet-stream")}
            form = {
                ":action": "file_upload",
                "protocol_version": "1",
                "sha256_digest": hashlib.sha256(body).hexdigest(),
            }
            t0 = time.perf_counter()
            r = session.post(url, data=form, files=files, headers={"Authorization": auth}, timeout=60)
            if r.status_code != 200:
                raise SystemExit(f"upload failed: {r.status_code} {r.text}")
            if i >= 10:  # the first ones warm the instance
                took.append(time.perf_counter() - t0)
        return took
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def durability(n: int) -> int:
    import statistics
    import tempfile

    from bale.packages import journal
    from bale.packages.service import FileRecord

    def ms(xs: list[float], q: float) -> float:
        return sorted(xs)[int(q * (len(xs) - 1))] * 1000

    memory = _small_uploads(n, None)
    with tempfile.TemporaryDirectory() as tmp:
        durable = _small_uploads(n, tmp)
        rec = FileRecord(**{f.name: None for f in FileRecord.__dataclass_fields__.values()})
        rec.metadata = {"summary": "x" * 200}
        path = os.path.join(tmp, "bench.journal")
        appends = []
        for _ in range(n):
            t0 = time.perf_counter()
            journal.append(path, "bench", "main", rec, provenance=None)
            appends.append(time.perf_counter() - t0)
    print(f"{n} uploads of a 4 KiB wheel, one after another (ms per upload: median, p90)")
    print(f"  bale dev (in memory):          {statistics.median(memory) * 1000:6.1f}  {ms(memory, 0.9):6.1f}")
    print(
        f"  bale dev --data-dir (durable): {statistics.median(durable) * 1000:6.1f}  {ms(durable, 0.9):6.1f}"
    )
    print(
        f"  journal append + fsync alone:  {statistics.median(appends) * 1000:6.1f}  {ms(appends, 0.9):6.1f}"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,10,100", help="file sizes in MiB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--durability", type=int, metavar="N", help="measure bale dev --data-dir's cost instead")
    args = ap.parse_args()
    if args.durability:
        return durability(args.durability)
    sizes = [int(s) for s in args.sizes.split(",")]

    port = free_port()
    proc, exports = start_dev(port)
    try:
        auth, url = bench_index(port, exports)
        session = requests.Session()
        idle = rss_kib(proc.pid)
        print(f"serving process (bale dev, pid {proc.pid}): idle RSS {idle / 1024:.1f} MiB")
        print(
            f"{'size':>8}  {'MiB/s (median)':>14}  {'seconds':>8}  {'peak RSS MiB':>12}  {'growth over idle MiB':>20}"
        )
        n = 0
        for size in sizes:
            rates, secs, peaks = [], [], []
            for _ in range(args.repeat):
                n += 1
                data = wheel("benchpkg", f"1.0.{n}", size * MiB)
                form = {
                    ":action": "file_upload",
                    "protocol_version": "1",
                    "sha256_digest": hashlib.sha256(data).hexdigest(),
                }
                sampler = Sampler(proc.pid)
                sampler.start()
                t0 = time.perf_counter()
                r = session.post(
                    url,
                    data=form,
                    files={"content": (f"benchpkg-1.0.{n}-py3-none-any.whl", data)},
                    headers={"Authorization": auth},
                    timeout=600,
                )
                dt = time.perf_counter() - t0
                peak = sampler.stop()
                if r.status_code != 200:
                    raise SystemExit(f"upload failed: {r.status_code} {r.text}")
                rates.append(len(data) / MiB / dt)
                secs.append(dt)
                peaks.append(peak)
            rates.sort()
            secs.sort()
            print(
                f"{size:>5} MiB  {rates[len(rates) // 2]:>14.1f}  {secs[len(secs) // 2]:>8.2f}  {max(peaks) / 1024:>12.1f}  {(max(peaks) - idle) / 1024:>20.1f}"
            )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())

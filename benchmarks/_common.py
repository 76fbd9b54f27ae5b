"""Helpers shared by the benchmarks: ports, the machine, child processes and their CPU time,
and one HTTP load generator used for every registry alike.
"""

from __future__ import annotations

import http.client
import math
import os
import platform
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the machine ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def command_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


# -- processes --------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is split safely.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Every live process below pid (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (their own, not their children's)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Child:
    """A server started in its own session (process group), output to a log file.

    stop() sends SIGTERM to its group, waits, then SIGKILLs the group and any
    descendant that moved to a group of its own (the emulators bale dev starts do).
    """

    def __init__(
        self, name: str, argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None
    ):
        self.name, self.argv, self.log = name, [str(a) for a in argv], log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                self.argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
            )
        self.pid = self.proc.pid
        self._known: set[int] = set()

    def remember_descendants(self) -> list[int]:
        kids = descendants(self.pid)
        self._known.update(kids)
        return kids

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 30.0) -> None:
        if self.alive():
            self.remember_descendants()
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        for pid in [self.pid, *self._known]:
            try:
                pgid = os.getpgid(pid)
            except ProcessLookupError:
                continue
            # Only groups this child (or one of its descendants) leads: never our own.
            if pgid in (self.pid, *self._known) and pgid != os.getpgrp():
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def wait_http(url: str, child: Child, timeout: float = 120.0, ok=(200,)) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{child.name} did not answer on {url} within {timeout:.0f}s:\n{child.tail()}")


# -- the load generator -----------------------------------------------------------------------------
@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    connects: int
    bytes: int
    capped: bool
    statuses: dict[int, int] = field(default_factory=dict)
    probes: tuple = (None, None)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        k = max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))
        return xs[k] * 1000


class _Conn(http.client.HTTPConnection):
    connects = 0
    _lock = threading.Lock()

    def connect(self):
        with _Conn._lock:
            _Conn.connects += 1
        super().connect()


def fetch(host: str, port: int, path: str, headers: dict) -> tuple[int, dict, bytes]:
    """One GET on a fresh connection (checks and warm-up)."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def load(
    host: str,
    port: int,
    path: str,
    headers: dict,
    *,
    requests: int,
    concurrency: int,
    time_limit: float,
    warmup: int = 0,
    probe=None,
) -> LoadResult:
    """GET path `requests` times from `concurrency` threads, each with one keep-alive connection.

    Each thread reuses its connection for as long as the server keeps it open and
    reconnects when the server closes it (counted in ``connects``), so a server that
    closes after every response pays for it. Stops early at time_limit (``capped``).
    Latency is per request, from sending to having read the whole body. ``probe``, if
    given, is called just before and just after the measured requests (not the warm-up),
    e.g. to read CPU counters; its two results are in ``probes``.
    """
    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    totals = {"errors": 0, "bytes": 0}
    stop = threading.Event()
    limit = [warmup]
    measuring = threading.Event()
    barrier = threading.Barrier(concurrency + 1)

    def take() -> bool:
        with lock:
            if issued[0] >= limit[0] or stop.is_set():
                return False
            issued[0] += 1
            return True

    def one(conn: _Conn) -> tuple[int, int, float]:
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        dt = time.perf_counter() - t0
        if resp.will_close:
            conn.close()
        return resp.status, len(body), dt

    def worker():
        conn = _Conn(host, port, timeout=120)
        try:
            for phase in (0, 1):
                while take():
                    try:
                        try:
                            status, size, dt = one(conn)
                        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                            conn.close()  # the server dropped an idle keep-alive connection: retry once
                            status, size, dt = one(conn)
                    except Exception:
                        conn.close()
                        with lock:
                            totals["errors"] += 1
                        continue
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1
                        if phase == 1:
                            if status == 200:
                                latencies.append(dt)
                                totals["bytes"] += size
                            else:
                                totals["errors"] += 1
                if phase == 0:
                    barrier.wait()
                    measuring.wait()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()  # warm-up done on every connection
    with lock:
        issued[0], limit[0] = 0, requests
        statuses.clear()
        totals["errors"] = 0
    connects_before = _Conn.connects
    before = probe() if probe else None
    t0 = time.perf_counter()
    measuring.set()
    deadline = t0 + time_limit
    capped = False
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.2)
            if time.perf_counter() > deadline and not stop.is_set():
                stop.set()
                capped = True
    seconds = time.perf_counter() - t0
    after = probe() if probe else None
    return LoadResult(
        requests=len(latencies) + totals["errors"],
        seconds=seconds,
        latencies=latencies,
        errors=totals["errors"],
        connects=_Conn.connects - connects_before,
        bytes=totals["bytes"],
        capped=capped,
        statuses=dict(statuses),
        probes=(before, after),
    )

"""Upstream copies can't exhaust an instance's memory (issue 21 §3): 16 concurrent first
downloads of 8 MiB upstream files raise the serving process's peak RSS by less than 96 MiB.

The registry runs in a subprocess of its own, so that its counters (``VmHWM``, read from
``/proc/PID/status``) hold nothing but the serving: the fake upstream, the wheels and the
clients stay in this process. Before the fix each copy was held whole (a spooled temporary file
kept up to 8 MiB in memory, then the upload read it again), about 33 MiB per copy.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time

import pytest
import requests

from factories import wheel_bytes, wheel_name
from fakes.upstream import Upstream

MiB = 1024 * 1024
COPIES = 16
FILE_BYTES = 8 * MiB - 16 * 1024  # with the zip's own bytes, just under 8 MiB, as in the issue
PEAK_BUDGET = 96 * MiB

_SERVE = """
import sys
from bale.settings import get_settings
from bale_tools.devserver import Server, build_app

server = Server(build_app(get_settings())).start()
print(server.url, flush=True)
sys.stdin.read()  # until the test closes it
"""


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


#: The worker's string hashing, fixed so that this test can tell which striped lock of the
#: worker a copy takes (two copies on one stripe wait for each other, so would not overlap).
HASH_SEED = "2112"
_STRIPES = """
import sys
from bale.upstream import cache
print(" ".join(str(id(cache._file_locks(p))) for p in sys.argv[1:]))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": HASH_SEED}


def _apart(stack, upstream, n: int) -> list[dict]:
    """``n`` 8 MiB upstream files whose copies take different striped locks in the worker."""
    from bale.store import paths
    from bale.upstream import policy

    index = stack.stores.db.document(paths.index("acme", "main")).get().to_dict()
    key = policy.config_of(index).key("acme")
    files: list[dict] = []
    while True:
        while len(files) < n:
            version = f"1.{len(upstream.projects.get('bigdep', {}))}"
            data = wheel_bytes("bigdep", version, extra_files={"bigdep/blob.bin": os.urandom(FILE_BYTES)})
            files.append(upstream.add_wheel("bigdep", wheel_name("bigdep", version), data))
        where = [paths.upstream_file(key, f["sha256"], f["filename"]) for f in files]
        out = subprocess.run(
            [sys.executable, "-c", _STRIPES, *where], env=_env(), capture_output=True, text=True, check=True
        )
        stripes = out.stdout.split()
        files = [f for i, f in enumerate(files) if stripes[i] not in stripes[:i]]
        if len(files) == n:
            return files


@pytest.fixture
def worker(stack):
    """The registry alone in a process, over the session's emulators, copying up to COPIES at once."""
    env = {**_env(), "BALE_UPSTREAM_MAX_COPIES": str(COPIES)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "the worker did not start"
        yield proc.pid, url
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(10)


def test_sixteen_concurrent_first_copies_stay_within_96_mib(stack, worker):
    from bale.upstream.service import Upstreams

    pid, url = worker
    upstream = Upstream().start()
    try:
        Upstreams(stack.stores, stack.settings).set_upstream("acme", "main", url=upstream.index_url)
        files = _apart(stack, upstream, COPIES + 1)
        auth = ("__token__", stack.token("read"))

        def get(f) -> requests.Response:
            return requests.get(f"{url}/simple/acme/main/bigdep/{f['filename']}", auth=auth, timeout=120)

        # Warm: every module imported, the page cached, connections made, one copy done.
        assert get(files[0]).content == files[0]["data"]
        time.sleep(0.5)
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) starts again from here
        before = _status(pid, "VmRSS")
        warm = upstream.files_served
        upstream.gate.clear()  # hold every file back until all the copies have begun
        with concurrent.futures.ThreadPoolExecutor(COPIES) as pool:
            pending = [pool.submit(get, f) for f in files[1:]]
            deadline = time.monotonic() + 60
            while upstream.files_served - warm + sum(p.done() for p in pending) < COPIES:
                assert time.monotonic() < deadline, f"only {upstream.files_served - warm} copies began"
                time.sleep(0.05)
            began = upstream.files_served - warm
            upstream.gate.set()
            answers = [p.result() for p in pending]
        grew = _status(pid, "VmHWM") - before
    finally:
        upstream.gate.set()
        upstream.stop()

    assert began == COPIES  # all of them at once
    assert [r.status_code for r in answers] == [200] * COPIES
    assert all(r.content == f["data"] for r, f in zip(answers, files[1:], strict=True))
    assert all(upstream.file_hits(f["filename"]) == 1 for f in files)  # each one a first copy
    print(
        f"\n{COPIES} concurrent first copies of {len(files[1]['data']) / MiB:.1f} MiB: peak RSS +{grew / MiB:.1f} MiB"
    )
    assert grew < PEAK_BUDGET, f"peak RSS grew {grew / MiB:.1f} MiB"

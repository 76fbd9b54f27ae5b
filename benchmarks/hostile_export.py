"""The advisories refresh fed hostile exports: outcome, seconds and peak RSS of each.

    python benchmarks/hostile_export.py [CASE ...] [--timeout 5] [--many 1000000]

Starts the Firestore emulator, serves each export from a raw socket server on 127.0.0.1, and
runs ``bale.advisories.refresh.run`` in a forked child per case (so each peak RSS is its own),
with ``advisories_timeout`` = --timeout. A case still running 60 s past the timeout is killed
and reported as unbounded. Cases: a zip bomb (1 GiB of zeros declared as 1,000 bytes), a member
declaring ~4 GiB, member names with ``../``, --many tiny members, a record with a 10 MiB
summary, invalid UTF-8, JSON and YAML nested 10,000 deep, a body and headers trickled a byte
at a time, a redirect to another host. Every case should end in a refused record or a
RefreshFailed (502, nothing written), within the timeout and far below the function's 1 GiB.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import resource
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "functions", ROOT / "tools", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

GOOD = {
    "id": "PYSEC-OK-1",
    "summary": "ok",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "okpkg"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
        }
    ],
}


def _zip(entries, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("PYSEC-OK-1.json", json.dumps(GOOD))
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _declare(data: bytes, member: bytes, size: int) -> bytes:
    """``data`` with ``member``'s uncompressed size set to ``size`` in both of its headers."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        n = struct.unpack_from("<H", out, at + 28)[0]
        if bytes(out[at + 46 : at + 46 + n]) == member:
            struct.pack_into("<I", out, at + 24, size)
            struct.pack_into("<I", out, struct.unpack_from("<I", out, at + 42)[0] + 22, size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def bomb(_args) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("PYSEC-OK-1.json", json.dumps(GOOD))
        with zf.open("BOMB.json", "w") as f:
            for _ in range(1024):
                f.write(b"\0" * (1 << 20))
    return _declare(buf.getvalue(), b"BOMB.json", 1000)


def declared_4gib(_args) -> bytes:
    return _declare(_zip([("BIG.json", b"{}")]), b"BIG.json", 0xFFFFFFF0)


def dotdot(_args) -> bytes:
    return _zip([("../../etc/x.json", "{}"), ("/abs/x.json", "{}"), ("a/../../b.yaml", "x: 1")])


def many(args) -> bytes:
    return _zip([(f"t/{i}.json", "{}") for i in range(args.many)], zipfile.ZIP_STORED)


def huge_summary(_args) -> bytes:
    return _zip([("big.json", json.dumps(dict(GOOD, id="PYSEC-BIG", summary="s" * (10 << 20))))])


def bad_utf8(_args) -> bytes:
    return _zip([("bad.json", b'{"id": "\xff\xfe"}'), ("bad.yaml", b"id: \xff\xfe\n")])


def nested(_args) -> bytes:
    deep = b"[" * 10_000 + b"]" * 10_000
    return _zip([("deep.json", deep), ("deep.yaml", deep)])


def _send_body(body: bytes):
    def behave(conn, stop):
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)

    return behave


def _redirect_to(where: str):
    def behave(conn, stop):
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {where}\r\nContent-Length: 0\r\n\r\n".encode())

    return behave


def _run(url: str, timeout: int, out) -> None:
    from bale.advisories import refresh
    from bale.settings import Settings
    from bale.store.backends import Stores

    settings = Settings(
        project="demo-bale",
        bucket="bale-hostile",
        firestore_emulator_host=os.environ["FIRESTORE_EMULATOR_HOST"],
        advisories_url=url,
        advisories_timeout=timeout,
    )
    # A forked child starts with its parent's peak (the exports built so far): the growth is
    # the run's own.
    at_fork = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.monotonic()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the run's own log lines
    try:
        got = refresh.run(Stores(settings), settings, force=True)
        what = f"loaded {got.loaded}, refused {len(got.refused)}: {got.as_record()['refused'][:2]}"
    except refresh.RefreshFailed as exc:
        what = f"RefreshFailed ({exc.status}): {exc}"
    except BaseException as exc:  # what a case should never reach
        what = f"UNCAUGHT {type(exc).__name__}: {exc}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((what[:200], time.monotonic() - t0, peak, peak - at_fork))


CASES = {
    "bomb": bomb,
    "declared-4gib": declared_4gib,
    "dotdot": dotdot,
    "many": many,
    "huge-summary": huge_summary,
    "bad-utf8": bad_utf8,
    "nested": nested,
    "trickle-body": None,
    "trickle-headers": None,
    "redirect": None,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help=f"some of: {', '.join(CASES)} (default: all)")
    ap.add_argument("--timeout", type=int, default=5, help="advisories_timeout of each run (seconds)")
    ap.add_argument("--many", type=int, default=1_000_000, help="tiny members of the 'many' case")
    args = ap.parse_args(argv)

    from bale_tools.emulators import FirestoreEmulator
    from fakes.osv_export import RawServer, trickle_body, trickle_headers

    fs = FirestoreEmulator(log_dir=Path(tempfile.mkdtemp(prefix="bale-hostile-logs-")))
    fs.start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = fs.host
    bad = 0
    try:
        ctx = mp.get_context("fork")
        for name in args.cases or list(CASES):
            servers = []
            if name == "trickle-body":
                servers.append(RawServer(trickle_body(0.5, 10_000_000)))
            elif name == "trickle-headers":
                servers.append(RawServer(trickle_headers(0.5)))
            elif name == "redirect":
                elsewhere = RawServer(_send_body(_zip([])))
                servers.append(elsewhere)
                where = f"http://localhost:{elsewhere.port}/all.zip"
                servers.append(RawServer(_redirect_to(where)))
            else:
                body = CASES[name](args)
                print(f"{name}: an export of {len(body):,} bytes", flush=True)
                servers.append(RawServer(_send_body(body)))
            url = f"http://127.0.0.1:{servers[-1].port}/all.zip"
            out = ctx.Queue()
            child = ctx.Process(target=_run, args=(url, args.timeout, out))
            child.start()
            child.join(args.timeout + 60)
            if child.is_alive():
                child.kill()
                child.join()
                bad += 1
                print(
                    f"{name}: still running {args.timeout + 60} s in (timeout {args.timeout} s): killed",
                    flush=True,
                )
            else:
                what, seconds, peak, grew = out.get()
                bad += what.startswith("UNCAUGHT")
                print(
                    f"{name}: {what} | {seconds:.2f} s, peak RSS {peak:.0f} MiB (+{grew:.0f} in the run)",
                    flush=True,
                )
            for s in servers:
                s.close()
    finally:
        fs.stop(grace=2)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

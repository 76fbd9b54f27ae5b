"""CPU of the version probe's gRPC calls, one document and two, against the Firestore emulator.

    python benchmarks/probe.py [--calls 2000] [--repeats 3]

What a warm view page over two sources pays to read both sources' versions (issue 26), call by
call, in this process (``time.process_time``, gRPC's own threads included):

- ``DocumentProbe.get``: one unary ``GetDocument`` (a plain page's probe), of a document that
  exists and of one that does not;
- two of them in a row (a view's two sources read one after the other, as before);
- ``DocumentProbe.get_many``: one ``BatchGetDocuments`` of both, on the probe's channel (made
  with gRPC's ``SingleThreadedUnaryStream`` option), and of one document;
- the same ``BatchGetDocuments`` on a channel without that option: why the option is there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FOUND = "teams/acme/indexes/main/projects/demo"
MISSING = "teams/acme/indexes/second/projects/demo"
FIELDS = ("serial",)


def default_channel_batch(host: str, database: str):
    """``BatchGetDocuments`` of the paths on a channel with gRPC's default options."""
    import grpc
    from google.api_core.gapic_v1 import routing_header
    from google.cloud.firestore_v1.types import (
        BatchGetDocumentsRequest,
        BatchGetDocumentsResponse,
        DocumentMask,
    )

    stream = grpc.insecure_channel(host).unary_stream(
        "/google.firestore.v1.Firestore/BatchGetDocuments",
        request_serializer=BatchGetDocumentsRequest.pb().SerializeToString,
        response_deserializer=BatchGetDocumentsResponse.pb().FromString,
    )
    metadata = [
        ("google-cloud-resource-prefix", database),
        ("authorization", "Bearer owner"),
        routing_header.to_grpc_metadata((("database", database),)),
    ]

    def batch(paths):
        request = BatchGetDocumentsRequest.pb()(
            database=database,
            documents=[f"{database}/documents/{p}" for p in paths],
            mask=DocumentMask.pb()(field_paths=list(FIELDS)),
        )
        return [r.HasField("found") for r in stream(request, metadata=metadata, timeout=10)]

    return batch


def cpu_ms(fn, calls: int) -> float:
    for _ in range(100):
        fn()
    c0 = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - c0) * 1000 / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from bale_tools.emulators import FirestoreEmulator

    with FirestoreEmulator(log_dir=Path(tempfile.mkdtemp(prefix="bale-probe-"))) as fs:
        os.environ.update({"GOOGLE_CLOUD_PROJECT": "demo-bale", "FIRESTORE_EMULATOR_HOST": fs.host})
        from bale.settings import get_settings
        from bale.store.backends import get_stores

        get_settings.cache_clear()
        stores = get_stores(get_settings())
        stores.db.document(FOUND).set({"serial": 3, "name": "demo"})
        probe = stores.probe
        plain = default_channel_batch(fs.host, f"projects/{stores.settings.project}/databases/(default)")
        assert probe.get_many([MISSING, FOUND], FIELDS)[0] is None and plain([MISSING, FOUND]) == [
            False,
            True,
        ]
        cases = {
            "unary GetDocument, found": lambda: probe.get(FOUND, FIELDS),
            "unary GetDocument, missing": lambda: probe.get(MISSING, FIELDS),
            "two unary calls (missing, found)": lambda: (
                probe.get(MISSING, FIELDS),
                probe.get(FOUND, FIELDS),
            ),
            "get_many of both (probe's channel)": lambda: probe.get_many([MISSING, FOUND], FIELDS),
            "get_many of one (probe's channel)": lambda: probe.get_many([FOUND], FIELDS),
            "BatchGetDocuments of both, default channel": lambda: plain([MISSING, FOUND]),
        }
        rows: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):  # interleaved, so that drift on the machine hits all alike
            for name, fn in cases.items():
                rows[name].append(cpu_ms(fn, args.calls))

    print(f"CPU ms per call, {args.calls} calls, {args.repeats} repeats (median, range);")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| call | CPU ms | range |")
    print("|---|---:|---|")
    for name, got in rows.items():
        got.sort()
        print(f"| {name} | {got[len(got) // 2]:.3f} | {got[0]:.3f}-{got[-1]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

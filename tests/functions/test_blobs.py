"""The blob store's streamed, create-only writer (``BlobStore.writer``) on fake-gcs-server.

fake-gcs-server does not check preconditions on resumable uploads, so what Cloud Storage does
with ``ifGenerationMatch=0`` is shown at the client's edge: every request the writer sends is
recorded, and a 412 is answered where Cloud Storage would answer it.
"""

from __future__ import annotations

import os

import pytest
import requests

MiB = 1024 * 1024


class Recorded:
    """Wraps the storage client's HTTP session: records each request, and answers the last
    chunk of an upload with 412 when ``refuse_final`` is set (an object was there already)."""

    def __init__(self, stores):
        self.session = stores.blobs.bucket.client._http
        self.real = self.session.request
        self.calls: list[tuple[str, str, str]] = []
        self.refuse_final = False
        self.session.request = self.request

    def request(self, method, url, data=None, headers=None, **kw):
        content_range = (headers or {}).get("content-range", (headers or {}).get("Content-Range", ""))
        self.calls.append((method, url, content_range))
        if self.refuse_final and method == "PUT" and content_range and not content_range.endswith("/*"):
            r = requests.Response()
            r.status_code = 412
            r._content = b'{"error": {"code": 412, "message": "At least one of the pre-conditions you specified did not hold."}}'
            r.headers["content-type"] = "application/json"
            r.request = requests.Request(method, url).prepare()
            return r
        return self.real(method, url, data=data, headers=headers, **kw)


def test_a_streamed_write_appears_whole_only_at_the_end(stores):
    data = os.urandom(3 * MiB + 12345)
    recorded = Recorded(stores)
    with stores.blobs.writer("t/big.bin", content_type="application/octet-stream") as out:
        for i in range(0, len(data), 64 * 1024):
            out.write(data[i : i + 64 * 1024])
        assert not stores.blobs.exists("t/big.bin")  # three chunks sent, no object yet
    assert stores.blobs.read("t/big.bin") == data
    puts = [c for c in recorded.calls if c[0] == "PUT"]
    assert len(puts) == 4  # 1 MiB chunks: memory holds one at a time, whatever the size
    starts = [c for c in recorded.calls if c[0] == "POST"]
    assert len(starts) == 1 and "ifGenerationMatch=0" in starts[0][1]  # create-only session


def test_a_write_that_raises_leaves_nothing(stores):
    with (
        pytest.raises(RuntimeError),
        stores.blobs.writer("t/half.bin", content_type="application/octet-stream") as out,
    ):
        out.write(os.urandom(2 * MiB + 1))
        raise RuntimeError("the bytes did not match")
    assert not stores.blobs.exists("t/half.bin")
    assert stores.blobs.list("t/") == []


def test_an_object_already_there_is_blob_exists_and_stays(stores):
    from bale.store.blobs import BlobExists

    stores.blobs.replace("t/there.bin", b"first", content_type="application/octet-stream")
    recorded = Recorded(stores)
    recorded.refuse_final = True  # what Cloud Storage answers: the session is create-only
    with (
        pytest.raises(BlobExists),
        stores.blobs.writer("t/there.bin", content_type="application/octet-stream") as out,
    ):
        out.write(b"second")
    assert stores.blobs.read("t/there.bin") == b"first"

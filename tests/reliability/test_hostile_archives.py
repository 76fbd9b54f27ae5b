"""Archives that lie, uploaded through the real HTTP endpoint: each is answered 400 with a
message naming the trick, nothing is stored (no Firestore record, no blob), and the upload's
peak memory growth stays under 64 MiB, measured from this process's own counters (the
registry is served from a thread of this process by the session's ``_server`` fixture)."""

from __future__ import annotations

import pytest
import requests

from hostile import HONEST, TRICKS, built
from uploads import form_for

MiB = 1024 * 1024
PEAK_BUDGET = 64 * MiB


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> None:
    # "5" resets the peak resident set size (VmHWM) to the current one (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def send_measured(stack, filename: str, data: bytes, token: str) -> tuple[requests.Response, int]:
    """POST the upload and return the response and the process's peak RSS growth during it.
    The request body is encoded before the meter starts, so only the handling is measured."""
    form, files = form_for(filename, data)
    prepared = requests.Request(
        "POST",
        f"{stack.url}/v1/upload/acme/main/",
        data=form,
        files=files,
        auth=("__token__", token),
    ).prepare()
    session = requests.Session()
    _reset_peak()
    before = _status_kb("VmRSS")
    response = session.send(prepared, timeout=120)
    return response, _status_kb("VmHWM") - before


def assert_nothing_stored(stack):
    from bale.packages.service import Packages

    assert Packages(stack.stores).projects("acme", "main") == []
    assert list(stack.stores.db.collection_group("files").stream()) == []
    assert stack.stores.blobs.list() == []


def test_the_meter_sees_a_large_allocation(stack):
    """The measurement is real: 128 MiB allocated in the server's thread during a request shows."""
    from bale.api import upload as upload_api

    _reset_peak()
    before = _status_kb("VmRSS")
    blob = bytearray(128 * MiB)  # touched (zeroed) pages count towards RSS
    blob[::4096] = b"x" * len(blob[::4096])
    grew = _status_kb("VmHWM") - before
    del blob
    assert grew > 100 * MiB, grew
    assert upload_api  # the server runs in this process


@pytest.mark.parametrize("trick", TRICKS, ids=[t.id for t in TRICKS])
def test_hostile_upload_is_refused_storing_nothing_in_bounded_memory(stack, trick):
    data = built(trick.id)
    r, peak = send_measured(stack, trick.filename, data, stack.token())
    assert r.status_code == 400, r.text
    assert trick.message in r.text, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert_nothing_stored(stack)
    assert peak < PEAK_BUDGET, f"{trick.id}: peak memory grew {peak / MiB:.1f} MiB"
    if trick.big:
        print(f"\n{trick.id}: {len(data)} bytes uploaded, peak RSS growth {peak / MiB:.1f} MiB")


@pytest.mark.parametrize("case", HONEST, ids=[c[0] for c in HONEST])
def test_honest_unusual_archive_is_stored(stack, case):
    from bale.packages.service import Packages

    _, filename, build = case
    r, _ = send_measured(stack, filename, build(), stack.token())
    assert r.status_code == 200, r.text
    assert Packages(stack.stores).file("acme", "main", "demo", filename) is not None

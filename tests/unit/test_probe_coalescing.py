"""Coalesced version probes: shared only by callers that arrived before the read began."""

from __future__ import annotations

import threading
import time

import pytest

from bale.store.probe import Coalescer


def test_a_lone_caller_runs_its_own_call():
    c: Coalescer[int] = Coalescer()
    assert c.run("k", lambda: 1) == 1
    assert c.run("k", lambda: 2) == 2  # nothing kept between calls


def test_callers_during_a_flight_share_the_next_call_never_the_one_in_flight():
    c: Coalescer[int] = Coalescer()
    calls: list[int] = []
    in_flight = threading.Event()
    release = threading.Event()

    def first() -> int:
        calls.append(1)
        in_flight.set()
        release.wait(5)
        return 1

    def later() -> int:
        calls.append(len(calls) + 1)
        return 2

    results: dict[str, int] = {}
    t0 = threading.Thread(target=lambda: results.__setitem__("a", c.run("k", first)))
    t0.start()
    assert in_flight.wait(5)
    # Arrive while the first call is in flight: each must get a call that starts after it.
    others = [
        threading.Thread(target=lambda i=i: results.__setitem__(f"b{i}", c.run("k", later))) for i in range(5)
    ]
    for t in others:
        t.start()
    time.sleep(0.2)  # let them all queue behind the flight
    release.set()
    for t in (t0, *others):
        t.join(5)
    assert results["a"] == 1
    assert {results[f"b{i}"] for i in range(5)} == {2}
    assert calls == [1, 2]  # five late callers, one shared second call


def test_other_keys_do_not_wait():
    c: Coalescer[str] = Coalescer()
    release = threading.Event()
    t = threading.Thread(target=lambda: c.run("slow", lambda: release.wait(5) and "slow"))
    t.start()
    t0 = time.monotonic()
    assert c.run("fast", lambda: "fast") == "fast"
    assert time.monotonic() - t0 < 1
    release.set()
    t.join(5)


def test_an_error_reaches_every_sharer_and_the_next_call_starts_clean():
    c: Coalescer[int] = Coalescer()
    in_flight, release = threading.Event(), threading.Event()

    def boom() -> int:
        in_flight.set()
        release.wait(5)
        raise RuntimeError("unavailable")

    errors: list[BaseException] = []

    def call(fn):
        try:
            c.run("k", fn)
        except RuntimeError as exc:
            errors.append(exc)

    t0 = threading.Thread(target=call, args=(boom,))
    t0.start()
    assert in_flight.wait(5)
    t1 = threading.Thread(target=call, args=(lambda: (_ for _ in ()).throw(RuntimeError("again")),))
    t1.start()
    time.sleep(0.1)
    release.set()
    t0.join(5)
    t1.join(5)
    assert sorted(str(e) for e in errors) == ["again", "unavailable"]
    assert c.run("k", lambda: 3) == 3
    with pytest.raises(ZeroDivisionError):
        c.run("k", lambda: 1 // 0)

"""The backend guard (slots and circuit breaker) and which errors are an outage: pure logic."""

from __future__ import annotations

import threading
import time

import pytest

from bale.errors import BadRequest
from bale.settings import Settings, from_env
from bale.store.guard import BackendUnavailable, Guard, is_outage, outage_error


def _guard(**kw) -> Guard:
    return Guard("Firestore", Settings(**{"breaker_threshold": 2, "breaker_cooldown": 0.2, **kw}))


def _outage():
    from google.api_core import exceptions

    return exceptions.DeadlineExceeded("took too long")


def _fail(guard: Guard, exc: BaseException) -> None:
    with pytest.raises(type(exc)), guard.call():
        raise exc


def test_breaker_opens_after_repeated_outages_fails_fast_then_a_trial_closes_it():
    guard = _guard()
    _fail(guard, _outage())
    assert not guard.is_open  # one is not a pattern
    _fail(guard, _outage())
    assert guard.is_open
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught, guard.call():
        pytest.fail("a call went through an open breaker")
    assert time.monotonic() - t0 < 0.05
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    time.sleep(0.35)  # the cooldown (0.2 s, jittered by half) is over: one trial goes ahead
    entered = threading.Event()
    release = threading.Event()

    def trial():
        with guard.call():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=trial)
    t.start()
    assert entered.wait(5)
    with pytest.raises(BackendUnavailable), guard.call():  # only one trial at a time
        pass
    release.set()
    t.join()
    assert not guard.is_open
    with guard.call():  # closed again
        pass


def test_a_failed_trial_opens_the_breaker_again():
    guard = _guard()
    _fail(guard, _outage())
    _fail(guard, _outage())
    time.sleep(0.35)
    _fail(guard, _outage())
    assert guard.is_open


def test_refusals_are_answers_not_outages():
    from google.api_core import exceptions

    guard = _guard()
    for _ in range(5):
        _fail(guard, exceptions.NotFound("no such document"))
        _fail(guard, exceptions.AlreadyExists("taken"))
        _fail(guard, BadRequest("yours"))
    assert not guard.is_open
    _fail(guard, _outage())
    _fail(guard, exceptions.NotFound("an answer"))  # the backend answered: the count restarts
    _fail(guard, _outage())
    assert not guard.is_open


def test_slots_bound_the_waiters_and_the_next_one_gets_503_after_the_wait():
    guard = _guard(backend_slots=2, backend_slot_wait=0.1)
    release = threading.Event()
    inside = threading.Barrier(3)

    def hold():
        with guard.call():
            inside.wait(5)
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(5)
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable, match="2 requests"), guard.call():
        pass
    assert 0.09 <= time.monotonic() - t0 < 1.0
    release.set()
    for t in threads:
        t.join()
    with guard.call():  # the slots came back
        pass


def test_default_slots_leave_one_thread_free():
    assert Guard("x", Settings(threads=8)).slots == 7
    assert Guard("x", Settings(threads=1)).slots == 1
    assert Guard("x", Settings(threads=8, backend_slots=3)).slots == 3


def test_what_counts_as_an_outage():
    import grpc
    import requests
    import urllib3
    from google.api_core import exceptions

    outages = [
        exceptions.RetryError("Timeout of 5.0s exceeded", cause=None),
        exceptions.DeadlineExceeded("x"),
        exceptions.ServiceUnavailable("x"),
        exceptions.InternalServerError("x"),
        exceptions.GatewayTimeout("x"),
        requests.ConnectTimeout("x"),
        requests.ReadTimeout("x"),
        requests.ConnectionError("x"),
        urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),
        ConnectionRefusedError("x"),
        TimeoutError("x"),
        BackendUnavailable("x"),
    ]
    for exc in outages:
        assert is_outage(exc), exc
        assert outage_error(exc).status == 503
        assert "Retry-After" in outage_error(exc).headers

    class Unavailable(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.UNAVAILABLE

    assert is_outage(Unavailable())
    for exc in [
        exceptions.NotFound("x"),
        exceptions.PermissionDenied("x"),
        exceptions.FailedPrecondition("x"),
        ValueError("x"),
        KeyError("x"),
        BadRequest("x"),
    ]:
        assert not is_outage(exc), exc


def test_deadline_settings_from_the_environment():
    s = from_env(
        {"BALE_FIRESTORE_READ_DEADLINE": "1.5", "BALE_FIRESTORE_WRITE_DEADLINE": "4", "THREADS": "8"}
    )
    assert (s.firestore_read_deadline, s.firestore_write_deadline, s.threads) == (1.5, 4.0, 8)
    d = from_env({})
    assert (d.firestore_read_deadline, d.firestore_write_deadline, d.storage_read_deadline) == (
        5.0,
        15.0,
        5.0,
    )
    with pytest.raises(ValueError, match="BALE_FIRESTORE_READ_DEADLINE"):
        from_env({"BALE_FIRESTORE_READ_DEADLINE": "0"})
    with pytest.raises(ValueError, match="number of seconds"):
        from_env({"BALE_STORAGE_READ_DEADLINE": "soon"})

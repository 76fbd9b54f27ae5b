"""What keeps one sick backend from taking an instance down.

Every call to Firestore or Cloud Storage has a deadline (see :mod:`bale.store.deadlines` and
:mod:`bale.store.blobs`), and goes through its backend's :class:`Guard`:

* **Slots.** At most ``backend_slots`` calls of this instance wait on one backend at once. A
  call that finds them all taken waits ``backend_slot_wait`` seconds for one, then fails with
  :class:`BackendUnavailable` (503). Calls to a healthy backend take milliseconds, so they
  never queue that long; calls to a sick one hold their slots until their deadline, and the
  instance's other threads stay free for requests that need no backend (the OIDC audience,
  the dashboard's static files) or another one.
* **Breaker.** After ``breaker_threshold`` calls in a row ended past their deadline or could
  not reach the backend, its calls fail at once for ``breaker_cooldown`` seconds, jittered by
  half either way (instances that saw the same outage do not come back in step). Then one
  call tries the backend again: its success closes the breaker, its failure opens it again.

Both cost a lock-free check and an uncontended semaphore on the warm path.
"""

from __future__ import annotations

import functools
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from bale.errors import Unavailable
from bale.settings import Settings

#: Seconds a client is told to wait before retrying after a 503 of a backend.
RETRY_AFTER: Final = 5


class BackendUnavailable(Unavailable):
    """A backend missed its deadline, is unreachable, or is being given a rest (503)."""

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Guard:
    """Slots and a circuit breaker for the calls of one instance to one backend."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        slots = settings.backend_slots or max(1, settings.threads - 1)
        self.slots = slots
        self._slots = threading.BoundedSemaphore(slots)
        self._wait = settings.backend_slot_wait
        self._threshold = settings.breaker_threshold
        self._cooldown = settings.breaker_cooldown
        self._lock = threading.Lock()
        self._failures = 0  # calls in a row that failed as an outage
        self._open_until = 0.0  # monotonic; calls before it fail at once
        self._trial = False  # a call is trying the backend after the cooldown

    @property
    def is_open(self) -> bool:
        return self._open_until > time.monotonic()

    def _admit(self) -> bool:
        """Whether a call may go ahead; True when it is the trial after a cooldown."""
        if not self._open_until:  # closed: the warm path, no lock
            return False
        with self._lock:
            if not self._open_until:
                return False
            if self._open_until > time.monotonic() or self._trial:
                raise BackendUnavailable(
                    f"{self.name} is unavailable: its last calls did not answer in time. "
                    f"Nothing was changed; retry in a few seconds."
                )
            self._trial = True
            return True

    @contextmanager
    def call(self) -> Iterator[None]:
        """Around one call to the backend: may raise :class:`BackendUnavailable` before it."""
        trial = self._admit()
        if not self._slots.acquire(timeout=self._wait):
            if trial:
                with self._lock:
                    self._trial = False
            raise BackendUnavailable(
                f"{self.name} is slow: {self.slots} requests of this instance are already "
                f"waiting on it. Nothing was changed; retry in a few seconds."
            )
        try:
            yield
        except BaseException as exc:
            if is_outage(exc):
                self._failed(trial)
            elif trial or self._failures:  # it answered (a refusal is an answer)
                self._succeeded()
            raise
        else:
            if trial or self._failures:
                self._succeeded()
        finally:
            self._slots.release()

    def _failed(self, trial: bool) -> None:
        if self._threshold <= 0:
            return
        with self._lock:
            self._failures += 1
            if trial:
                self._trial = False
            if trial or self._failures >= self._threshold:
                self._open_until = time.monotonic() + self._cooldown * random.uniform(0.5, 1.5)

    def reset(self) -> None:
        """Close the breaker (what a success does)."""
        self._succeeded()

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = 0.0
            self._trial = False

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` called inside :meth:`call`."""

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.call():
                return fn(*args, **kwargs)

        return guarded


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the backend is down or slow (not that the request was refused):
    what the breaker counts and what is answered 503 rather than 500. Only libraries already
    imported are asked (an error of one never imported cannot have been raised)."""
    if isinstance(exc, (BackendUnavailable, TimeoutError, ConnectionError)):
        return True
    mods = sys.modules
    if "google.api_core.exceptions" in mods:
        from google.api_core import exceptions as api

        if isinstance(
            exc,
            (
                api.RetryError,
                api.DeadlineExceeded,
                api.ServiceUnavailable,
                api.GatewayTimeout,
                api.BadGateway,
                api.InternalServerError,
                api.TooManyRequests,
                api.ResourceExhausted,
            ),
        ):
            return True
    if "requests" in mods:
        import requests

        if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
            return True
    if "urllib3" in mods:
        import urllib3.exceptions

        if isinstance(exc, (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError)):
            return True
    if "google.auth.exceptions" in mods:
        import google.auth.exceptions

        if isinstance(exc, google.auth.exceptions.TransportError):
            return True
    if "grpc" in mods:
        import grpc

        if isinstance(exc, grpc.RpcError):
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return False


def outage_error(exc: BaseException) -> BackendUnavailable:
    """The 503 a request gets for an outage ``exc`` (see :func:`is_outage`)."""
    if isinstance(exc, BackendUnavailable):
        return exc
    return BackendUnavailable(
        "The registry's storage did not answer in time. If this was an upload, retrying the same "
        "file is safe. Retry in a few seconds."
    )

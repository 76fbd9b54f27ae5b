"""Connections that say nothing yet must not stall the requests of others.

gunicorn's gthread worker (what functions-framework, ``bale dev`` and the upload service run)
hands each accepted connection to a pool thread, which waits for the request's first bytes
(5 s by default in gunicorn 27). Clients that open connections ahead of use, as uv's pool does
under concurrent downloads, can hold every thread that way; ``bale.serving`` shortens the wait
so such connections go back to gunicorn's poller at once.
"""

from __future__ import annotations

import http.client
import os
import socket
import time

import pytest


@pytest.fixture
def served(emulators):
    """The registry as `bale dev` serves it: gunicorn gthread, 8 threads, in a child process."""
    from bale_tools.devserver import GunicornServer

    server = GunicornServer(env=dict(os.environ), threads=8).start()
    yield server
    server.stop()


def test_idle_connections_do_not_hold_the_threads(served):
    idle = []
    try:
        for _ in range(12):  # more than the worker's 8 threads, none sending a byte
            s = socket.create_connection(("127.0.0.1", served.port), timeout=10)
            idle.append(s)
        time.sleep(0.3)  # let the worker accept them all
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        t0 = time.monotonic()
        conn.request("GET", "/_/oidc/audience")
        resp = conn.getresponse()
        resp.read()
        elapsed = time.monotonic() - t0
        conn.close()
    finally:
        for s in idle:
            s.close()
    assert resp.status == 200
    # Without bale.serving the request waits for a thread until gunicorn gives up on the idle
    # connections (5 s); with it, at once.
    assert elapsed < 2.0, f"a request behind idle connections took {elapsed:.1f} s"


def test_the_setting_it_changes_still_exists():
    """A gunicorn release that renames or drops the constant makes the change a no-op: fail
    here rather than stall silently."""
    import gunicorn.workers.gthread as gthread

    from bale.serving import REQUEST_BYTES_WAIT, wait_briefly_for_request_bytes

    assert wait_briefly_for_request_bytes() is True
    assert gthread.DEFAULT_WORKER_DATA_TIMEOUT == REQUEST_BYTES_WAIT
    assert "DEFAULT_WORKER_DATA_TIMEOUT" in gthread.ThreadWorker.handle.__code__.co_names

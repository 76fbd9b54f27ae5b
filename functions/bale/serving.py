"""How the functions' HTTP server treats a connection that has not sent its request yet.

Cloud Functions serves each function through functions-framework, which runs gunicorn's
gthread worker; ``bale dev`` and the Cloud Run upload service run the same worker. Since
gunicorn 24 that worker hands every accepted connection straight to a pool thread, which
then waits up to ``gunicorn.workers.gthread.DEFAULT_WORKER_DATA_TIMEOUT`` (5 s) for the
request's first bytes before giving the connection back to its poller (gunicorn issue 3634,
pull request 3635). A client that opens connections ahead of use, as uv's connection pool
does under concurrent downloads, can hold every thread of a small pool that way, and the
requests queued behind them wait the whole 5 s: ``benchmarks/compare.py`` saw two of fifteen
cold ``uv pip install`` runs take 5.3 s instead of 0.3 s.

:func:`wait_briefly_for_request_bytes` makes that wait :data:`REQUEST_BYTES_WAIT` instead:
a connection without data by then goes to the poller, which hands it to a thread once bytes
arrive (gunicorn's own path for slow clients), so no thread sits on an idle connection. It
changes the module's constant, which gunicorn reads on every accepted connection; gunicorn
is pinned exactly in ``functions/requirements.txt`` (and below 28 in pyproject.toml), and
``tests/functions/test_idle_connections.py`` fails if a gunicorn release moves or drops it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Final

#: Seconds a pool thread waits for a new connection's first bytes (gunicorn's default: 5).
REQUEST_BYTES_WAIT: Final = 0.05


def wait_briefly_for_request_bytes() -> bool:
    """Shorten gthread's wait for a new connection's first bytes; True if it did (False where
    gunicorn is not installed, or has no such setting).

    Called when ``main.py`` is imported: functions-framework imports the function's source
    in its master process before it starts gunicorn, whose worker it then forks, so the
    module is imported here (it would be a moment later anyway) and the worker inherits it."""
    try:
        gthread = sys.modules.get("gunicorn.workers.gthread") or importlib.import_module(
            "gunicorn.workers.gthread"
        )
    except ImportError:
        return False
    if not hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT"):
        return False
    setattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT", REQUEST_BYTES_WAIT)  # noqa: B010 (a module constant)
    return True

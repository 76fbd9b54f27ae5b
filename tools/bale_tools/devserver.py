"""``bale dev``: the whole registry on one port, over the real emulators.

The URL map is production's (see DESIGN/docs), derived from the routes the functions declare
(:mod:`bale.routes`): ``/v1/upload`` → upload, ``/simple``, ``/files`` and ``/integrity`` →
simple, ``/_/oidc`` → oidc, everything else → the dashboard. Each function is loaded by
functions-framework from ``functions/main.py``, exactly as Cloud Functions loads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server

from bale.routes import PREFIXES, target_for
from bale.settings import Settings
from bale_tools.emulators import AuthEmulator, FirestoreEmulator, GCSEmulator
from bale_tools.urlmap import DASHBOARD

if TYPE_CHECKING:
    from bale_tools.prodstack import ProductionShapedStack

MAIN_PY = Path(__file__).resolve().parents[2] / "functions" / "main.py"


def exports(
    *, project: str, bucket: str, firestore: str, storage: str, auth: str | None, base_url: str
) -> dict[str, str]:
    """The environment that points `bale admin` (and the functions) at a running `bale dev`:
    what it prints as ``export`` lines, and what `bale admin` shows when it has no stack."""
    env = {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": firestore,
        "STORAGE_EMULATOR_HOST": storage,
        "BALE_BUCKET": bucket,
        # The local stack may use a local upstream (pypiserver on 127.0.0.1); production never.
        "BALE_UPSTREAM_ALLOW_LOOPBACK": os.environ.get("BALE_UPSTREAM_ALLOW_LOOPBACK") or "1",
    }
    if auth:
        env["FIREBASE_AUTH_EMULATOR_HOST"] = auth
    env["BALE_BASE_URL"] = base_url
    return env


def route(path: str) -> str:
    """Which app serves ``path``: a function's entry point, or :data:`DASHBOARD`."""
    return target_for(path or "/") or DASHBOARD


def build_app(settings: Settings):
    """One WSGI app that dispatches by path prefix, like the production load balancer."""
    import functions_framework

    from dashboard import create_app

    targets = dict.fromkeys(target for _, target in PREFIXES)
    apps = {t: functions_framework.create_app(target=t, source=str(MAIN_PY)) for t in targets}
    apps[DASHBOARD] = create_app(settings)

    def dispatch(environ, start_response):
        return apps[route(environ.get("PATH_INFO", ""))](environ, start_response)

    return dispatch


def wsgi_app():
    """The dispatcher over the environment's settings: gunicorn's app factory
    (``bale_tools.devserver:wsgi_app()``), called once in the worker process."""
    from bale.settings import get_settings

    return build_app(get_settings())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def gunicorn_argv(
    app: str,
    *,
    bind: str,
    threads: int = 8,
    h2c: str = "both",
    certfile: str | None = None,
    keyfile: str | None = None,
) -> list[str]:
    """gunicorn as Cloud Functions runs it (functions-framework: one gthread worker, 4 threads
    per CPU, no worker timeout), plus cleartext HTTP/2 as the upload service runs it on Cloud
    Run (``h2c``: ``prior-knowledge`` in production, ``both`` locally so HTTP/1.1 clients
    still connect; see docs/deploy.md)."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        str(threads),
        "--bind",
        bind,
        "--timeout",
        "0",
        # On SIGTERM the worker finishes its requests for at most this long, then is killed:
        # a request waiting on a hung backend must not hold the port (every call has its
        # deadline anyway, see bale.store.deadlines).
        "--graceful-timeout",
        "2",
        "--keep-alive",
        "5",
        "--limit-request-line",
        "0",
        "--log-level",
        "warning",
    ]
    if certfile:
        argv += ["--certfile", certfile, "--keyfile", keyfile or ""]
    else:
        argv += ["--http-protocols", "h1,h2", "--http2-cleartext", h2c]
    return [*argv, app]


class GunicornServer:
    """The registry served the way production serves it, in a child process: gunicorn's
    threaded worker (HTTP/1.1 keep-alive, cleartext HTTP/2), as functions-framework runs each
    function. Same API as :class:`Server` (start, stop, url, port); the app is built in the
    child from the environment ``env`` (the emulator hosts, ``BALE_*`` settings)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        app: str = "bale_tools.devserver:wsgi_app()",
        threads: int = 8,
        log: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.scheme = "https" if certfile else "http"
        self.argv = gunicorn_argv(
            app, bind=f"{host}:{self.port}", threads=threads, certfile=certfile, keyfile=keyfile
        )
        self.env = dict(os.environ if env is None else env)
        # bale.store.guard sizes its slots by the worker's threads.
        self.env["THREADS"] = str(threads)
        # The child imports what this process imports (bale, bale_tools, dashboard).
        self.env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None  # seconds from spawn to the first answered request

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> GunicornServer:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        t0 = time.perf_counter()
        # Its own process group: stop() reaches the worker too, whatever the master does.
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode} (log: {self.log})")
            if self._answers():
                self.started_in = time.perf_counter() - t0
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not answer in {timeout:.0f}s (log: {self.log})")
            time.sleep(0.02)

    def _answers(self) -> bool:
        """Whether the worker answers a request (the master binds before the worker loads)."""
        import http.client

        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=5, context=ssl._create_unverified_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", "/_/oidc/audience")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    def stop(self, grace: float = 4.0) -> None:
        """SIGTERM, then after ``grace`` seconds SIGKILL to the whole group (master and worker),
        so the port is free when this returns."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # The worker may outlive a master that died (or was killed) first.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class Server:
    """A threaded WSGI server in a background thread, in this process (tests that count
    reads or inject faults in-process). It closes every connection after its response
    (werkzeug's); ``bale dev`` serves through :class:`GunicornServer` instead."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, certfile=None, keyfile=None):
        ctx = None
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
        self.scheme = "https" if ctx else "http"
        self.httpd = make_server(host, port, app, threaded=True, ssl_context=ctx)
        self.httpd.daemon_threads = True
        self.host = host
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _port_free(host: str, port: int) -> bool:
    """Whether the server could bind there (checked before the emulators start)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return True  # an unknown host: let the server say what is wrong with it
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError:
            return False
    return True


def run(
    *,
    port: int = 8000,
    host: str = "127.0.0.1",
    data_dir: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    with_auth: bool = True,
    production_shape: bool = False,
    settings: Settings,
    echo=print,
) -> int:
    """Start the emulators and serve until Ctrl-C or SIGTERM; stop every child on the way out."""
    if bool(certfile) != bool(keyfile):
        echo("error: --certfile and --keyfile go together.")
        return 2
    if not _port_free(host, port):
        echo(f"error: {host}:{port} is already in use; stop what holds it or pick another port with --port.")
        return 1
    data = Path(data_dir).resolve() if data_dir else None
    logs = (data / "logs") if data else Path("/tmp/bale-logs")

    def _term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    with contextlib.ExitStack() as stack:
        try:
            echo("Starting the Firestore emulator…")
            fs = stack.enter_context(
                FirestoreEmulator(
                    data_dir=data / "firestore" if data else None, log_dir=logs, project=settings.project
                )
            )
            echo("Starting fake-gcs-server…")
            gcs = stack.enter_context(GCSEmulator(data_dir=data / "gcs" if data else None, log_dir=logs))
            auth = None
            if with_auth:
                try:
                    auth = AuthEmulator(
                        project=settings.project,
                        # Without a data dir, a directory of its own: the emulator reads its
                        # ports from firebase.json there, which a second stack would overwrite.
                        workdir=(
                            data or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bale-dev-")))
                        )
                        / "auth",
                        log_dir=logs,
                    )
                    echo("Starting the Firebase Auth emulator…")
                    stack.enter_context(auth)
                except Exception as exc:  # the registry works without the dashboard's sign-in
                    echo(f"warning: dashboard sign-in disabled: {exc}")
                    auth = None
        except Exception as exc:
            echo(f"error: {exc}")
            return 1

        scheme = "https" if certfile else "http"
        base = settings.base_url or f"{scheme}://{'localhost' if certfile else host}:{port}"
        env = exports(
            project=settings.project,
            bucket=settings.bucket,
            firestore=fs.host,
            storage=gcs.host,
            auth=auth.host if auth else None,
            base_url=base,
        )
        # The Google client libraries read these from the process environment.
        os.environ.update(env)
        settings = dataclasses.replace(
            settings,
            firestore_emulator_host=fs.host,
            storage_emulator_host=gcs.host,
            auth_emulator_host=auth.host if auth else None,
            base_url=base,
            upstream_allow_loopback=env["BALE_UPSTREAM_ALLOW_LOOPBACK"].lower() in ("1", "true", "yes", "on"),
            # No proxy in front of the local stack (unless one is put there and this is set):
            # an X-Forwarded-For header here could only be the client's own.
            forwarded_hops=int(os.environ.get("BALE_FORWARDED_HOPS") or 0),
        )
        from bale import settings as settings_mod

        settings_mod.get_settings.cache_clear()
        from bale.store.backends import get_stores

        stores = get_stores(settings)
        stores.blobs.ensure_bucket()
        logs.mkdir(parents=True, exist_ok=True)
        journal = data / JOURNAL if data else None
        if journal is not None:
            # Uploads answered 200 since the last save (a crash): back before anything is served.
            from bale.packages.journal import replay

            restored, failed = replay(stores, journal)
            if restored:
                echo(f"Restored {restored} upload(s) from {journal} that the last save lacked.")
            for line in failed:
                echo(f"warning: could not restore an upload from {journal}: {line}")
            os.environ["BALE_DEV_JOURNAL"] = str(journal)
            stack.callback(_save, fs, journal, echo)
        server: GunicornServer | ProductionShapedStack
        if production_shape:
            # Each function and the dashboard in its own process, behind terraform's URL map.
            from bale_tools.prodstack import ProductionShapedStack

            server = ProductionShapedStack(
                dict(os.environ), host=host, port=port, certfile=certfile, keyfile=keyfile, base_url=base
            )
        else:
            # Served as Cloud Functions serves each function: gunicorn, one threaded worker,
            # keep-alive (werkzeug's development server closed every connection).
            server = GunicornServer(
                dict(os.environ),
                host=host,
                port=port,
                certfile=certfile,
                keyfile=keyfile,
                log=logs / "gunicorn.log",
            )
        stack.callback(server.stop)
        server.start()
        echo("")
        if production_shape:
            echo(f"Production-shaped: one process per service, logs in {server.logs}")
            if not settings.sign_on_emulator:
                echo("  large downloads stream: no signing identity (see BALE_SIGN_ON_EMULATOR)")
        echo(f"Bale is running at {base}/")
        if auth:
            echo(f"  dashboard: {base}/ (sign in with an account made on its sign-in page)")
        else:
            echo("  dashboard: sign-in disabled (no Firebase Auth emulator)")
        echo(f"  upload:  {base}/v1/upload/TEAM/INDEX/")
        echo(f"  simple:  {base}/simple/TEAM/INDEX/")
        echo(f"  data:    {data or 'in memory (lost on exit; use --data-dir to keep it)'}")
        echo("")
        echo("In another shell, point `bale admin` at this stack:")
        for k, v in env.items():
            echo(f"  export {k}={v}")
        echo("")
        echo("Then: bale admin create-team acme --admin you@example.com")
        echo("Press Ctrl-C to stop.")
        parts = [(fs, "the Firestore emulator"), (gcs, "fake-gcs-server")]
        if auth:
            parts.append((auth, "the Firebase Auth emulator"))
        if isinstance(server, GunicornServer):
            parts.append((server, "gunicorn"))
        try:
            return _supervise(parts, fs if data else None, journal, echo)
        except KeyboardInterrupt:
            echo("\nStopping…")
    return 0


#: Under --data-dir: the upload journal (bale.packages.journal), and how often the Firestore
#: emulator's data is saved (exported) while serving, in seconds. Uploads never wait for a
#: save (the journal has them); other changes (teams, tokens, yanks) are saved this often.
JOURNAL = "uploads.journal"
SAVE_EVERY = 10.0


def _supervise(parts, fs: FirestoreEmulator | None, journal: Path | None, echo) -> int:
    """Watch every part; the first to die stops the stack (exit 1), loudly: serving on without
    it would answer every request that needs it with an error."""
    next_save = time.monotonic() + SAVE_EVERY
    while True:
        time.sleep(0.5)
        for part, name in parts:
            proc = part.proc
            code = proc.poll() if proc is not None else None
            if code is not None:
                echo("")
                echo(f"error: {name} exited (code {code}) while Bale was serving; its log: {part.log}")
                echo("error: stopping Bale: requests that need it would fail. Start `bale dev` again.")
                if journal is not None:
                    echo(
                        f"Uploads answered 200 are in {journal}; the next start brings back any the last save lacks."
                    )
                return 1
        if fs is not None and time.monotonic() >= next_save:
            try:
                fs.export()
            except Exception as exc:
                echo(f"warning: could not save Firestore data: {exc}")
            next_save = time.monotonic() + SAVE_EVERY


def _save(fs: FirestoreEmulator, journal: Path, echo) -> None:
    """At a clean stop, after the server: save the data, then start the journal afresh (every
    upload in it is in the save). A save that fails keeps the journal."""
    if fs.proc is None or fs.proc.poll() is not None:
        return
    try:
        fs.export()
    except Exception as exc:
        echo(f"warning: could not save Firestore data ({exc}); {journal} keeps the uploads")
        return
    journal.unlink(missing_ok=True)

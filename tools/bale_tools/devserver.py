"""``bale dev``: the whole registry on one port, over the real emulators.

The URL map is production's (see DESIGN/docs): ``/v1/upload/`` → upload,
``/simple/`` and ``/files/`` → simple, ``/_/oidc/`` → oidc, everything else →
the dashboard. Each function is loaded by functions-framework from
``functions/main.py``, exactly as Cloud Functions loads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import ssl
import threading
from pathlib import Path

from werkzeug.serving import make_server

from bale.routes import ROUTES, target_for
from bale.settings import Settings
from bale_tools.emulators import AuthEmulator, FirestoreEmulator, GCSEmulator

MAIN_PY = Path(__file__).resolve().parents[2] / "functions" / "main.py"


def build_app(settings: Settings):
    """One WSGI app that dispatches by path prefix, like the production load balancer."""
    import functions_framework

    from dashboard import create_app

    targets = {}
    for _, target in ROUTES:
        if target not in targets:
            targets[target] = functions_framework.create_app(target=target, source=str(MAIN_PY))
    dashboard = create_app(settings)

    def dispatch(environ, start_response):
        target = target_for(environ.get("PATH_INFO", "") or "/")
        if target is not None:
            return targets[target](environ, start_response)
        return dashboard(environ, start_response)

    return dispatch


class Server:
    """A threaded WSGI server in a background thread (dev and tests)."""

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
                        workdir=(data or Path("/tmp/bale-dev")) / "auth",
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

        env = {
            "GOOGLE_CLOUD_PROJECT": settings.project,
            "FIRESTORE_EMULATOR_HOST": fs.host,
            "STORAGE_EMULATOR_HOST": gcs.host,
            "BALE_BUCKET": settings.bucket,
        }
        if auth:
            env["FIREBASE_AUTH_EMULATOR_HOST"] = auth.host
        # The Google client libraries read these from the process environment.
        os.environ.update(env)
        scheme = "https" if certfile else "http"
        base = settings.base_url or f"{scheme}://{'localhost' if certfile else host}:{port}"
        settings = dataclasses.replace(
            settings,
            firestore_emulator_host=fs.host,
            storage_emulator_host=gcs.host,
            auth_emulator_host=auth.host if auth else None,
            base_url=base,
        )
        env["BALE_BASE_URL"] = base
        os.environ["BALE_BASE_URL"] = base
        from bale import settings as settings_mod

        settings_mod.get_settings.cache_clear()
        from bale.store.backends import get_stores

        get_stores(settings).blobs.ensure_bucket()
        server = Server(build_app(settings), host=host, port=port, certfile=certfile, keyfile=keyfile)
        stack.callback(server.stop)
        server.start()
        echo("")
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
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            echo("\nStopping…")
    return 0

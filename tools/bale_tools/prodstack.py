"""The registry served the way production serves it, over the local emulators.

``bale dev`` serves every entry point from one process on one port. Production does not: each
function is its own service, built by Cloud Functions from the archive of ``functions/`` alone,
the dashboard is its own container, and a load balancer routes by its URL map. Here:

- each function target the URL map names runs as ``functions-framework --target T`` in its own
  process, started in a copy of ``functions/`` and nothing else, importing ``bale`` from there
  (checked at start), as the Cloud Functions build lays it out;
- the dashboard runs as its image runs it (gunicorn, ``dashboard:create_app()``);
- a small reverse proxy in front routes by the URL map read from ``terraform/``
  (``bale_tools.urlmap``), keeps the Host header and streams bodies both ways, as the load
  balancer does.

``bale dev --production-shape`` serves it; ``tests/deploy/test_smoke.py`` runs ``bale smoke``
against it.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bale_tools.urlmap import DASHBOARD, UrlMap, read_url_map

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"

#: What terraform's archive_file leaves out of the functions' source archive.
ARCHIVE_EXCLUDES = ("__pycache__", "*.pyc", ".pytest_cache")

# Headers that belong to one connection, not to the request (RFC 9110 section 7.6.1).
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Expect",
    )
)
_CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the load balancer ----------------------------------------------------------------------


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RouterServer

    def log_message(self, format: str, *args) -> None:
        pass

    def _handle(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        target = self.server.url_map.target_for(path)
        self.server.routed.append((self.command, path, target))
        backend = self.server.backends.get(target)
        if backend is None:
            return self._reply(502, f"no backend serves {target!r}")
        skip = _HOP_BY_HOP | {"x-forwarded-for", "x-forwarded-proto"}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in skip]
        # As the external load balancer does: it appends "<client>, <load balancer>" to what the
        # client sent (BALE_FORWARDED_HOPS=2 counts on it) and says the scheme it was asked over.
        hops = [
            *self.headers.get_all("X-Forwarded-For", []),
            self.client_address[0],
            self.server.server_address[0],
        ]
        headers += [("X-Forwarded-For", ", ".join(hops)), ("X-Forwarded-Proto", self.server.scheme)]
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        body = self._chunked_body() if chunked else self._body(int(length or 0))
        upstream = http.client.HTTPConnection(*backend, timeout=600)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                upstream.putheader(k, v)
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            for piece in body:
                upstream.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                upstream.send(b"0\r\n\r\n")
            response = upstream.getresponse()
        except OSError as exc:
            upstream.close()
            self.close_connection = True
            return self._reply(502, f"{target} did not answer: {exc}")
        try:
            self._relay(response)
        finally:
            upstream.close()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _body(self, length: int) -> Iterator[bytes]:
        while length > 0:
            piece = self.rfile.read(min(length, _CHUNK))
            if not piece:
                raise ConnectionError("the client closed the connection mid-body")
            length -= len(piece)
            yield piece

    def _chunked_body(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        bodiless = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        for k, v in response.getheaders():
            if k.lower() not in _HOP_BY_HOP:
                self.send_header(k, v)
        chunked = not bodiless and length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if bodiless:
            return
        while piece := response.read1(_CHUNK) if chunked else response.read(_CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        if response.will_close and length is None:
            self.close_connection = True

    def _reply(self, status: int, message: str) -> None:
        body = message.encode() + b"\n"
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _RouterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, url_map: UrlMap, backends: dict[str, tuple[str, int]], scheme: str):
        super().__init__(address, _Proxy)
        self.url_map = url_map
        self.backends = backends
        self.scheme = scheme
        #: (method, path, target) of every request, in order (tests read it).
        self.routed: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=10_000)

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up is its own business, as at the load balancer; anything else is ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Router:
    """A load balancer in a thread: routes by ``url_map`` to ``backends`` (target -> host, port)."""

    def __init__(
        self,
        url_map: UrlMap,
        backends: dict[str, tuple[str, int]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        scheme = "https" if certfile else "http"
        self.httpd = _RouterServer((host, port), url_map, backends, scheme)
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = scheme
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="router")

    @property
    def url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def routed(self) -> collections.deque[tuple[str, str, str]]:
        return self.httpd.routed

    def start(self) -> Router:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the services behind it -----------------------------------------------------------------


def copy_functions(dest: Path, source: Path = FUNCTIONS_DIR) -> Path:
    """``functions/`` alone, as the source archive holds it: what Cloud Functions builds from."""
    target = dest / "functions"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ARCHIVE_EXCLUDES))
    return target


class Service:
    """One serving unit in a child process, on its own port."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.env = env
        self.cwd = cwd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def spawn(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )

    def wait(self, timeout: float = 90.0) -> None:
        """Until it answers any HTTP request (the master binds before the worker imports the app)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")
            conn = http.client.HTTPConnection(*self.address, timeout=5)
            try:
                conn.request("GET", "/_/health")
                conn.getresponse().read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not answer in {timeout:.0f} s (log: {self.log})"
                    ) from None
                time.sleep(0.05)
            finally:
                conn.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (functions-framework, gunicorn)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


class ProductionShapedStack:
    """Every serving unit of ``url_map`` in its own process behind a :class:`Router`.

    ``env`` holds what production's Terraform sets (GOOGLE_CLOUD_PROJECT, BALE_BUCKET, ...) plus
    the emulator hosts; ``BALE_BASE_URL`` is set to the router's URL. ``target_env`` adds to
    one target's environment (e.g. ``{"simple": {"BALE_SIGNED_URL_MIN_BYTES": "..."}}``; None
    removes a variable).
    ``BALE_BASE_URL`` is ``base_url`` or the router's own URL, never one ``env`` inherited: links
    on the pages would point at another server.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        url_map: UrlMap | None = None,
        target_env: dict[str, dict[str, str | None]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        workdir: Path | None = None,
        base_url: str | None = None,
    ) -> None:
        self.url_map = url_map or read_url_map()
        self.env = dict(env)
        self.target_env = target_env or {}
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="bale-prodstack-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.services: dict[str, Service] = {}
        self.variants: list[Service] = []
        self.router = Router(self.url_map, {}, host=host, port=port, certfile=certfile, keyfile=keyfile)
        self.base_url = base_url or self.router.url

    @property
    def url(self) -> str:
        return self.router.url

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def _env(
        self, target: str, overrides: dict[str, str | None] | None = None, **extra: str
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FUNCTION_TARGET")}
        env.update(self.env)
        env.update(extra)
        env["BALE_BASE_URL"] = self.base_url
        env["BALE_FORWARDED_HOPS"] = "2"  # the router appends "<client>, <router>", as the load balancer
        for k, v in {**self.target_env.get(target, {}), **(overrides or {})}.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def _service(self, target: str, name: str, overrides: dict[str, str | None]) -> Service:
        if target == DASHBOARD:
            # As Dockerfile's CMD runs it; a secret of its own, as Secret Manager gives it.
            argv = [_bin("gunicorn"), "--bind", "127.0.0.1:{port}", "--workers", "1", "--threads", "8"]
            argv += ["--timeout", "0", "--log-level", "warning", "dashboard:create_app()"]
            env = self._env(target, overrides, BALE_SECRET_KEY=secrets.token_urlsafe(32))
            cwd = self.workdir
        else:
            argv = [_bin("functions-framework"), "--target", target, "--source", "main.py"]
            argv += ["--host", "127.0.0.1", "--port", "{port}"]
            # The build puts the archive's root on the path (it is the working directory
            # and, for functions-framework, the source's directory): bale comes from there.
            env = self._env(target, overrides, PYTHONPATH=str(self.source), FUNCTION_TARGET=target)
            cwd = self.source
        return Service(name, argv, env=env, cwd=cwd, log=self.logs / f"{name}.log")

    @property
    def source(self) -> Path:
        return self.workdir / "functions"

    def start(self) -> ProductionShapedStack:
        copy_functions(self.workdir)
        self._check_archive_imports(self.source)
        for target in sorted(self.url_map.targets()):
            self.services[target] = self._service(target, target, {})
        try:
            for service in self.services.values():
                service.spawn()
            for service in self.services.values():
                service.wait()
        except BaseException:
            self.stop()
            raise
        self.router.httpd.backends.update({t: s.address for t, s in self.services.items()})
        self.router.start()
        return self

    def start_variant(self, target: str, **env: str | None) -> Service:
        """Another process of ``target`` with ``env`` changed (None removes a variable), not
        routed to: tests put it behind a :class:`Router` of their own to show what breaks."""
        name = f"{target}-variant-{len(self.variants)}"
        service = self._service(target, name, env)
        self.variants.append(service)
        service.spawn()
        service.wait()
        return service

    def _check_archive_imports(self, source: Path) -> None:
        """The functions must import ``bale`` from the copy, not from the checkout's install."""
        env = self._env("simple", PYTHONPATH=str(source))
        r = subprocess.run(
            [sys.executable, "-c", "import bale, main; print(bale.__file__)"],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0 or not Path(r.stdout.strip()).is_relative_to(source):
            raise RuntimeError(f"functions/ does not import on its own from {source}: {r.stdout}{r.stderr}")

    def stop(self) -> None:
        if self.router.thread.is_alive():
            self.router.stop()
        for service in [*self.services.values(), *self.variants]:
            service.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()

    def __enter__(self) -> ProductionShapedStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

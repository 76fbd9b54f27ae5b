"""OSV's PyPI export (``/PyPI/all.zip``) as Cloud Storage serves it: the zip's bytes with an
ETag, a 304 to a matching ``If-None-Match``; a test swaps the body between runs.

``zip_of`` builds an export from records (dicts, written as OSV's JSON files are named, by id).
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from typing import Any

from werkzeug.wrappers import Request, Response

PATH = "/PyPI/all.zip"


def zip_of(records: list[dict[str, Any]], extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rec in records:
            zf.writestr(f"{rec['id']}.json", json.dumps(rec, default=lambda o: o.isoformat()))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


class Export:
    def __init__(self) -> None:
        self.body = b""
        #: None: answer without an ETag (a server that has none), so only the hash can tell.
        self.etag: str | None = None
        self.status = 200
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def publish(self, body: bytes, *, etag: bool = True) -> None:
        self.body = body
        self.etag = f'"{hashlib.md5(body).hexdigest()}"' if etag else None  # as GCS's ETag

    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests.append(
                {"path": request.path, "if-none-match": request.headers.get("If-None-Match", "")}
            )
        if request.path != PATH:
            resp = Response("not found", status=404)
        elif self.status != 200:
            resp = Response("unavailable", status=self.status)
        elif self.etag and request.headers.get("If-None-Match") == self.etag:
            resp = Response(status=304, headers={"ETag": self.etag})
        else:
            resp = Response(self.body, mimetype="application/zip")
            if self.etag:
                resp.headers["ETag"] = self.etag
        return resp(environ, start_response)


class RawServer:
    """Answers every connection on 127.0.0.1 with ``behave(conn, stop)``: the broken servers
    (trickling bytes, lying headers) that werkzeug cannot be made to be."""

    def __init__(self, behave):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            try:
                conn.recv(65536)
                self.behave(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.sock.close()


def trickle_body(every: float, length: int):
    """A 200 that promises ``length`` bytes of body and sends one every ``every`` seconds."""

    def behave(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nPK" % length)
        while not stop.wait(every):
            conn.sendall(b"\0")

    return behave


def trickle_headers(every: float):
    """A status line, then a header that never ends, a byte every ``every`` seconds."""

    def behave(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(every):
            conn.sendall(b"X")

    return behave

"""OSV's PyPI export (``/PyPI/all.zip``) as Cloud Storage serves it: the zip's bytes with an
ETag, a 304 to a matching ``If-None-Match``; a test swaps the body between runs.

``zip_of`` builds an export from records (dicts, written as OSV's JSON files are named, by id).
"""

from __future__ import annotations

import hashlib
import io
import json
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

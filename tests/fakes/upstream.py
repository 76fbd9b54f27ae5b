"""A small PEP 691/503 index, playing the upstream (PyPI) of a Bale index, with faults on demand.

Serves ``/simple/{project}/`` as PEP 691 JSON or PEP 503 HTML by ``Accept`` (with ETags and
304s), files at ``/files/{filename}`` and their METADATA at ``/files/{filename}.metadata``.
Every request is counted (``hits[path]``), so tests can tell how often Bale asked. Faults, per
project: ``bad_json`` (a page that is not JSON), ``huge`` (a page of ``huge`` bytes),
``drip`` (a page sent a few bytes a second), ``wrong_hash`` (the page gives another sha256
than the file's), ``html_only`` (never JSON); and ``down`` (503 for everything).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import threading
import time

from packaging.utils import canonicalize_name
from werkzeug.wrappers import Request, Response

from factories import wheel_bytes, wheel_name
from fakes.server import Server

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def _metadata_of(wheel: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name)


class _RawRedirect(Response):
    """A 302 whose Location goes out as given: werkzeug would percent-encode a hostile one."""

    def __init__(self, location: str) -> None:
        super().__init__(status=302)
        self._location = location

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        headers["Location"] = self._location
        return headers


class Upstream:
    def __init__(self) -> None:
        self.server = Server(self.wsgi)
        self.url = self.server.url
        self.index_url = self.url + "/simple/"
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.projects: dict[str, dict[str, dict]] = {}
            self.hits: collections.Counter[str] = collections.Counter()
            self.not_modified = 0
            self.faults: dict[str, set[str]] = collections.defaultdict(set)
            self.huge = 0
            self.down = False
            self.delay = 0.0  # seconds before answering a page or file (widens race windows)
            self.gate = threading.Event()  # files (found) are answered only while it is set
            self.gate.set()
            self.require_auth: str | None = None  # an Authorization header every request must carry
            self.auth_seen: collections.Counter[str | None] = collections.Counter()
            self.files_served = 0  # file and METADATA requests answered (or held at the gate)
            self.redirects: dict[str, str] = {}  # path -> Location (a hostile upstream's redirects)
            self.file_prefix = "../../files/"  # what JSON file links start with (may be elsewhere)
            self.status: dict[str, tuple[str, str | None]] = {}  # project -> its PEP 792 marker

    # -- content --------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        version: str,
        *,
        requires: list[str] = (),
        age: dt.timedelta | None = dt.timedelta(days=30),
        requires_python: str | None = None,
        yanked: str | bool = False,
        payload: bytes = b"",
    ) -> dict:
        data = wheel_bytes(
            name, version, requires=list(requires), requires_python=requires_python, payload=payload
        )
        return self.add_wheel(
            name, wheel_name(name, version), data, age=age, requires_python=requires_python, yanked=yanked
        )

    def add_wheel(
        self,
        name: str,
        filename: str,
        data: bytes,
        *,
        age: dt.timedelta | None = dt.timedelta(days=30),
        requires_python: str | None = None,
        yanked: str | bool = False,
    ) -> dict:
        """Serve a wheel built elsewhere (the benchmark's graph)."""
        meta = _metadata_of(data)
        f = {
            "filename": filename,
            "data": data,
            "sha256": hashlib.sha256(data).hexdigest(),
            "metadata": meta,
            "metadata_sha256": hashlib.sha256(meta).hexdigest(),
            "upload_time": None if age is None else dt.datetime.now(dt.UTC) - age,
            "requires_python": requires_python,
            "yanked": yanked,
        }
        with self._lock:
            self.projects.setdefault(canonicalize_name(name), {})[filename] = f
        return f

    def remove(self, filename: str) -> None:
        with self._lock:
            for files in self.projects.values():
                files.pop(filename, None)

    def page_hits(self, project: str) -> int:
        return self.hits[f"/simple/{project}/"]

    def file_hits(self, filename: str) -> int:
        return self.hits[f"/files/{filename}"]

    # -- HTTP -----------------------------------------------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.hits[request.path] += 1
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        if self.down:
            return Response("down for maintenance\n", status=503)
        with self._lock:
            self.auth_seen[request.headers.get("Authorization")] += 1
        if self.require_auth and request.headers.get("Authorization") != self.require_auth:
            return Response("credentials needed\n", status=401)
        path = request.path
        if path in self.redirects:
            return _RawRedirect(self.redirects[path])
        if "/files/" in path:
            # By the last segment, wherever the path puts it: a hostile link's odd spelling may
            # reach this server with extra path in front, and must still get the file here.
            time.sleep(self.delay)
            name = path.rsplit("/", 1)[-1]
            want_meta = name.endswith(".metadata")
            name = name.removesuffix(".metadata")
            for files in self.projects.values():
                if name in files:
                    f = files[name]
                    with self._lock:
                        self.files_served += 1
                    self.gate.wait(60)
                    return Response(
                        f["metadata"] if want_meta else f["data"], mimetype="application/octet-stream"
                    )
            return Response("no such file\n", status=404)
        parts = [p for p in path.split("/") if p]
        if len(parts) != 2 or parts[0] != "simple":
            return Response("not found\n", status=404)
        project = parts[1]
        time.sleep(self.delay)
        if canonicalize_name(project) != project:
            return Response(status=301, headers={"Location": f"/simple/{canonicalize_name(project)}/"})
        faults = self.faults.get(project, set())
        if "bad_json" in faults:
            return Response(b'{"meta": {"api-version": "1.1"}, "files": [', mimetype=JSON_V1)
        if "huge" in faults:
            return Response(b"<html>" + b" " * self.huge, mimetype="text/html")
        if "drip" in faults:

            def drip():
                for _ in range(60):
                    time.sleep(0.5)
                    yield b" "

            return Response(drip(), mimetype="text/html")
        files = self.projects.get(project)
        if not files:
            return Response("no such project\n", status=404)
        use_json = "html_only" not in faults and JSON_V1 in request.headers.get("Accept", "")
        body = self._json(project, files, faults) if use_json else self._html(project, files, faults)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if request.headers.get("If-None-Match") == etag:
            with self._lock:
                self.not_modified += 1
            return Response(status=304, headers={"ETag": etag})
        return Response(body, mimetype=JSON_V1 if use_json else "text/html", headers={"ETag": etag})

    @staticmethod
    def _sha(f: dict, faults: set[str]) -> str:
        return hashlib.sha256(b"other bytes").hexdigest() if "wrong_hash" in faults else f["sha256"]

    def _json(self, project: str, files: dict, faults: set[str]) -> bytes:
        out = []
        for f in files.values():
            jf = {
                "filename": f["filename"],
                "url": f"{self.file_prefix}{f['filename']}",
                "hashes": {"sha256": self._sha(f, faults)},
                "core-metadata": {"sha256": f["metadata_sha256"]},
                "yanked": f["yanked"],
                "size": len(f["data"]),
            }
            if f["requires_python"]:
                jf["requires-python"] = f["requires_python"]
            if f["upload_time"] is not None:
                jf["upload-time"] = f["upload_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out.append(jf)
        doc: dict = {"meta": {"api-version": "1.1"}, "name": project, "files": out}
        if project in self.status:
            state, reason = self.status[project]
            doc["meta"]["api-version"] = "1.4"
            doc["project-status"] = {"status": state, **({"reason": reason} if reason else {})}
        return json.dumps(doc).encode()

    def _html(self, project: str, files: dict, faults: set[str]) -> bytes:
        import html

        rows = []
        for f in files.values():
            attrs = f'href="/files/{f["filename"]}#sha256={self._sha(f, faults)}"'
            attrs += f' data-core-metadata="sha256={f["metadata_sha256"]}"'
            if f["requires_python"]:
                attrs += f' data-requires-python="{html.escape(f["requires_python"])}"'
            if f["yanked"] is not False:
                attrs += f' data-yanked="{html.escape(f["yanked"] if isinstance(f["yanked"], str) else "")}"'
            rows.append(f"<a {attrs}>{f['filename']}</a><br>")
        head = ""
        if project in self.status:
            state, reason = self.status[project]
            head = f'<meta name="pypi:project-status" content="{state}">'
            if reason:
                head += f'<meta name="pypi:project-status-reason" content="{html.escape(reason)}">'
        return f"<!DOCTYPE html><html><head>{head}</head><body>{''.join(rows)}</body></html>".encode()

    def start(self) -> Upstream:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

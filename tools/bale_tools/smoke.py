"""``bale smoke URL --team T --index I``: check a deployed registry end to end with the real clients.

Run it after a deploy (docs/deploy.md). It publishes a generated wheel of 40 MiB of random bytes
(so that every byte crosses the wire) with ``uv publish`` and a second one with
``twine upload``, installs the release with ``uv pip install`` into a throwaway virtual
environment, checks that each file's download URL answers with a redirect to a signed storage
URL that carries no credentials and serves the exact bytes without any, asks the Trusted
Publishing audience and the dashboard's sign-in page, and yanks what it published with
``bale admin release yank``. One line per check; exit status 1 when any check failed.

Credentials: ``BALE_TOKEN``, else ``uv auth token URL`` (what ``bale login`` stores). The token
needs upload and read rights on the index. Yanking goes through ``bale admin`` (the project's
Firestore, as every ``bale admin`` command): there is no HTTP route that yanks with a token, and
adding one would let any leaked upload token change what installers see.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import click

PROJECT = "bale-smoke"
MODULE = "bale_smoke"
MIB = 1024 * 1024
#: Query parameters that make a URL a signed one (Cloud Storage V4 and V2, S3-style HMAC).
SIGNATURE_PARAMS = ("X-Goog-Signature", "Signature", "X-Amz-Signature")
REDIRECTS = (301, 302, 303, 307, 308)
JSON = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 600


class Failed(Exception):
    """A check failed; the message says why, in one line."""


class Skipped(Exception):
    """A check could not run because an earlier one failed."""


class Report:
    """One line per check: ``ok   NAME DETAIL``, ``FAIL NAME: REASON`` or ``skip NAME: REASON``."""

    def __init__(self, secrets: list[str], echo: Callable[[str], None] = click.echo) -> None:
        self.secrets = secrets
        self.echo = echo
        self.failures = 0

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return " ".join(text.split())  # one line, whatever a client printed

    def check(self, name: str, run: Callable[[], str]) -> bool:
        try:
            detail = run()
        except Skipped as exc:
            self.failures += 1
            self.echo(f"skip {name}: {self._redact(str(exc))}")
            return False
        except Exception as exc:  # every failure is a line, never a traceback
            self.failures += 1
            reason = str(exc) if isinstance(exc, Failed) else f"{type(exc).__name__}: {exc}"
            self.echo(f"FAIL {name}: {self._redact(reason)}")
            return False
        self.echo(f"ok   {name} {self._redact(detail)}".rstrip())
        return True


# --- the package ----------------------------------------------------------------------------


def smoke_version(now: dt.datetime | None = None) -> str:
    """A new version for every run (to the millisecond), normalized as PEP 440 spells it."""
    from packaging.version import Version

    now = now or dt.datetime.now(dt.UTC)
    return str(Version(f"{now:%Y.%m%d.%H%M%S}.{now.microsecond // 1000}"))


def build_wheel(directory: Path, version: str, size: int, *, build: str | None = None) -> Path:
    """A valid pure-Python wheel of ``size`` bytes or a little more: random bytes stored
    uncompressed, so the file is as large on the wire as on disk."""
    dist_info = f"{MODULE}-{version}.dist-info"
    wheel = "Wheel-Version: 1.0\nGenerator: bale smoke\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if build:
        wheel += f"Build: {build}\n"
    files: dict[str, bytes] = {
        f"{MODULE}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{MODULE}/payload.bin": os.urandom(size),
        f"{dist_info}/METADATA": (
            "Metadata-Version: 2.1\n"
            f"Name: {PROJECT}\n"
            f"Version: {version}\n"
            "Summary: Published and yanked by `bale smoke` to check a deployment\n"
        ).encode(),
        f"{dist_info}/WHEEL": wheel.encode(),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    tag = f"-{build}" if build else ""
    path = directory / f"{MODULE}-{version}{tag}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


# --- the clients ----------------------------------------------------------------------------


def find_client(name: str) -> str | None:
    """A client installed next to this Python (the same venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _client(name: str) -> str:
    found = find_client(name)
    if not found:
        raise Failed(f"{name} is not installed next to {sys.executable} or on PATH (pip install {name})")
    return found


def token_from_uv(url: str) -> str | None:
    """The token ``bale login`` / ``uv auth login`` stored for the registry's host."""
    uv = find_client("uv")
    if not uv:
        return None
    r = subprocess.run([uv, "auth", "token", url], capture_output=True, text=True, timeout=60, check=False)
    return r.stdout.strip() or None if r.returncode == 0 else None


class Smoke:
    """The checks of one run, against ``url`` (scheme and host), on ``team``/``index``."""

    def __init__(self, url: str, team: str, index: str, token: str, size: int, workdir: Path) -> None:
        import requests

        self.url = url.rstrip("/")
        self.team = team
        self.index = index
        self.token = token
        self.size = size
        self.workdir = workdir
        self.version = smoke_version()
        self.wheels: dict[str, Path] = {}  # client -> the file it published
        self.session = requests.Session()
        self.session.auth = ("__token__", token)

    # -- helpers

    def _env(self, **extra: str) -> dict[str, str]:
        """The clients' environment: no user configuration, caches or stray index settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "TWINE_", "PIP_"))}
        env.update(
            NO_COLOR="1",
            UV_NO_CONFIG="1",
            UV_NO_PROGRESS="1",
            UV_CACHE_DIR=str(self.workdir / "uv-cache"),
            UV_PYTHON_DOWNLOADS="never",
        )
        env.update(extra)
        return env

    def _run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            argv, capture_output=True, text=True, env=self._env(**env), timeout=TIMEOUT, check=False
        )
        if r.returncode != 0:
            lines = [line for line in (r.stderr + r.stdout).splitlines() if line.strip()]
            raise Failed(
                f"{Path(argv[0]).name} {argv[1]} exited with {r.returncode}: {' / '.join(lines[-4:])}"
            )
        return r

    @property
    def upload_url(self) -> str:
        return f"{self.url}/v1/upload/{self.team}/{self.index}/"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/{self.team}/{self.index}/"

    def _files(self) -> dict[str, dict]:
        """This run's files on the project's Simple API page (PEP 691 JSON), by filename."""
        r = self.session.get(f"{self.simple_url}{PROJECT}/", headers={"Accept": JSON}, timeout=60)
        if r.status_code != 200:
            raise Failed(
                f"GET /simple/{self.team}/{self.index}/{PROJECT}/ answered {r.status_code}: {r.text[:200]}"
            )
        files = {f["filename"]: f for f in r.json().get("files", [])}
        mine = {name: files.get(path.name) for name, path in self.wheels.items()}
        missing = [self.wheels[name].name for name, f in mine.items() if f is None]
        if missing:
            raise Failed(f"not on the index page: {', '.join(missing)}")
        return {f["filename"]: f for f in mine.values() if f}

    def _link_hint(self) -> str:
        """Why an install may fail although the page is served: its links lead elsewhere."""
        try:
            files = self._files()
        except Exception:
            return ""
        here = urlsplit(self.url).netloc
        elsewhere = {urlsplit(f["url"]).netloc for f in files.values()} - {here, ""}
        if not elsewhere:
            return ""
        return (
            f" (the index page links to {', '.join(sorted(elsewhere))}, not {here}: "
            "is BALE_BASE_URL the registry's public URL?)"
        )

    def _need_published(self) -> None:
        if not self.wheels:
            raise Skipped("nothing was published")

    # -- the checks

    def oidc_audience(self) -> str:
        r = self.session.get(f"{self.url}/_/oidc/audience", auth=None, timeout=30)
        if r.status_code != 200:
            raise Failed(f"GET /_/oidc/audience answered {r.status_code}: {r.text[:200]}")
        audience = r.json().get("audience")
        if not isinstance(audience, str) or not audience:
            raise Failed(f"GET /_/oidc/audience answered {r.text[:200]!r}, not an audience")
        return f"{audience!r}"

    def signin_page(self) -> str:
        import re

        r = self.session.get(f"{self.url}/signin", auth=None, timeout=30)
        if r.status_code != 200 or "text/html" not in r.headers.get("Content-Type", ""):
            raise Failed(f"GET /signin answered {r.status_code} {r.headers.get('Content-Type')}")
        if 'id="signin"' not in r.text:
            raise Failed(
                "GET /signin has no sign-in form: is the dashboard behind the load balancer's default?"
            )
        if re.search(r'data-api-key=""', r.text):
            raise Failed(
                "sign-in is not configured: the dashboard has no Firebase Web API key (docs/deploy.md)"
            )
        script = re.search(r'<script src="([^"]*signin\.js[^"]*)"', r.text)
        if not script:
            raise Failed("GET /signin does not load signin.js")
        js = self.session.get(f"{self.url}{script.group(1)}", auth=None, timeout=30)
        if js.status_code != 200:
            raise Failed(f"GET {script.group(1)} answered {js.status_code}")
        return "(sign-in form, Firebase configured, signin.js served)"

    def publish(self, client: str) -> str:
        build = "1" if client == "twine" else None
        wheel = build_wheel(self.workdir, self.version, self.size, build=build)
        size = wheel.stat().st_size
        t0 = time.perf_counter()
        if client == "uv":
            argv = [
                _client("uv"),
                "publish",
                "--trusted-publishing",
                "never",
                "--publish-url",
                self.upload_url,
            ]
            self._run([*argv, str(wheel)], UV_PUBLISH_USERNAME="__token__", UV_PUBLISH_PASSWORD=self.token)
        else:
            argv = [_client("twine"), "upload", "--non-interactive", "--disable-progress-bar"]
            argv += ["--repository-url", self.upload_url, str(wheel)]
            self._run(argv, TWINE_USERNAME="__token__", TWINE_PASSWORD=self.token)
        elapsed = time.perf_counter() - t0
        self.wheels[client] = wheel
        return f"{size / MIB:.1f} MiB in {elapsed:.1f} s ({wheel.name})"

    def install(self) -> str:
        self._need_published()
        uv = _client("uv")
        venv = self.workdir / "venv"
        self._run([uv, "venv", "--python", sys.executable, str(venv)])
        python = venv / "bin" / "python"
        parts = urlsplit(self.simple_url)
        index = parts._replace(netloc=f"__token__:{self.token}@{parts.netloc}").geturl()
        t0 = time.perf_counter()
        try:
            self._run(
                [uv, "pip", "install", "--python", str(python), "--no-cache", f"{PROJECT}=={self.version}"],
                UV_DEFAULT_INDEX=index,
            )
        except Failed as exc:
            raise Failed(f"{exc}{self._link_hint()}") from None
        elapsed = time.perf_counter() - t0
        probe = (
            "import hashlib, pathlib, bale_smoke as m;"
            "print(m.__version__, hashlib.sha256((pathlib.Path(m.__file__).parent / 'payload.bin')"
            ".read_bytes()).hexdigest())"
        )
        got = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, timeout=120, check=False
        )
        version, _, digest = got.stdout.strip().partition(" ")
        if got.returncode != 0 or version != self.version:
            raise Failed(
                f"installed, but {MODULE} does not import as {self.version}: {got.stdout}{got.stderr}"
            )
        payloads = {_payload_digest(w): name for name, w in self.wheels.items()}
        if digest not in payloads:
            raise Failed("installed, but its payload matches neither published wheel")
        return f"{PROJECT}=={self.version} in {elapsed:.1f} s (the wheel published with {payloads[digest]})"

    def signed_downloads(self) -> str:
        import requests

        self._need_published()
        files = self._files()
        # A fresh session: no credentials, cookies or .netrc, as uv's request to storage.
        anonymous = requests.Session()
        anonymous.trust_env = False
        hosts = set()
        total, t0 = 0, time.perf_counter()
        for name, path in self.wheels.items():
            url = files[path.name]["url"]
            url = url if "://" in url else f"{self.url}{url}"
            if urlsplit(url).netloc != urlsplit(self.url).netloc:
                raise Failed(f"{path.name}:{self._link_hint()}")
            r = self.session.get(url, allow_redirects=False, timeout=60)
            r.close()
            if r.status_code not in REDIRECTS:
                raise Failed(
                    f"{path.name} (published with {name}) was served by the function ({r.status_code}), "
                    "not redirected to a signed storage URL: signing does not work (docs/deploy.md)"
                )
            location = r.headers.get("Location", "")
            target = urlsplit(location)
            if self.token in location or "__token__" in location or target.username or target.password:
                raise Failed(f"the redirect for {path.name} carries the token")
            if not any(p in parse_qs(target.query) for p in SIGNATURE_PARAMS):
                raise Failed(f"the redirect for {path.name} is not a signed URL: {location[:120]}")
            got = anonymous.get(location, stream=True, timeout=TIMEOUT)
            if got.status_code != 200:
                raise Failed(f"the signed URL for {path.name} answered {got.status_code} without credentials")
            h = hashlib.sha256()
            for chunk in got.iter_content(MIB):
                h.update(chunk)
                total += len(chunk)
            if h.hexdigest() != _sha256(path):
                raise Failed(f"the signed URL for {path.name} served other bytes than were published")
            hosts.add(f"{r.status_code} to {target.hostname}")
        elapsed = time.perf_counter() - t0
        return (
            f"{len(self.wheels)} files, {', '.join(sorted(hosts))}, signed, no token; "
            f"{total / MIB:.1f} MiB in {elapsed:.1f} s"
        )

    def yank(self) -> str:
        self._need_published()
        argv = [sys.executable, "-m", "bale_tools.cli", "admin", "release", "yank"]
        argv += [self.team, self.index, PROJECT, self.version, "--reason", "bale smoke test"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if r.returncode != 0:
            lines = [line for line in (r.stderr + r.stdout).splitlines() if line.strip()]
            raise Failed(f"bale admin release yank exited with {r.returncode}: {' / '.join(lines[:3])}")
        not_yanked = [name for name, f in self._files().items() if not f.get("yanked")]
        if not_yanked:
            raise Failed(f"yanked, but the index still offers {', '.join(not_yanked)}")
        return f"{PROJECT} {self.version} ({len(self.wheels)} files, yanked on the index page)"


def _payload_digest(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf, zf.open(f"{MODULE}/payload.bin") as f:
        h = hashlib.sha256()
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def run(url: str, team: str, index: str, *, token: str | None, size: int, echo=click.echo) -> int:
    """Every check in order; returns the exit status (0 all passed, 1 any failed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        echo(f"FAIL arguments: {url!r} is not a registry URL (https://HOST)")
        return 1
    token = token or token_from_uv(url)
    if not token:
        echo(f"FAIL credentials: set BALE_TOKEN or run `bale login {url}` (uv auth token {url} printed none)")
        return 1
    with tempfile.TemporaryDirectory(prefix="bale-smoke-") as tmp:
        smoke = Smoke(url, team, index, token, size, Path(tmp))
        report = Report([token], echo)
        report.check("oidc audience", smoke.oidc_audience)
        report.check("dashboard sign-in page", smoke.signin_page)
        report.check("publish (uv)", lambda: smoke.publish("uv"))
        report.check("publish (twine)", lambda: smoke.publish("twine"))
        report.check("install (uv)", smoke.install)
        report.check("signed download", smoke.signed_downloads)
        report.check("yank", smoke.yank)
    return 1 if report.failures else 0


@click.command("smoke")
@click.argument("url", metavar="https://HOST")
@click.option("--team", required=True, help="A team the token may upload to.")
@click.option("--index", "index_name", required=True, help="The index to publish to and yank from.")
@click.option(
    "--size-mib",
    type=click.FloatRange(min=0.01),
    default=40.0,
    show_default=True,
    help="Size of each wheel; below the deployment's BALE_SIGNED_URL_MIN_BYTES (4 MiB) the "
    "files are streamed, not redirected, and the signed-download check fails.",
)
@click.pass_context
def smoke(ctx: click.Context, url: str, team: str, index_name: str, size_mib: float) -> None:
    """Check a deployed registry end to end with uv and twine (run it after a deploy).

    Publishes two generated wheels (uv publish, twine upload), installs one with uv pip install,
    checks the downloads redirect to signed storage URLs without the token, the Trusted Publishing
    audience and the dashboard's sign-in page, then yanks what it published (bale admin
    release yank: needs the project's credentials, as bale admin does). The token comes from
    BALE_TOKEN or `uv auth token URL` and needs upload and read rights on the index.
    """
    ctx.exit(run(url, team, index_name, token=os.environ.get("BALE_TOKEN"), size=int(size_mib * MIB)))

"""What production runs, run here: the upload image's CMD and each Cloud Function's target,
each from exactly what its build gets (the image's build context laid out by its COPY lines; a
copy of functions/ alone), on the runtime's Python with only the hashed requirements installed,
against the real emulators.

The rest of the suite serves the code from the project's dev venv, with every dev dependency
at hand; these tests are what fails when functions/requirements.txt misses a package, a COPY
line misses a file, or the image's server flags do not exist in the pinned gunicorn.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import httpx
import pytest

from bale.routes import Scheduled, Target
from dockerfiles import ROOT, context_paths, lay_out, parse
from factories import wheel_bytes, wheel_name
from runtime import (
    FUNCTION_REQUIREMENTS,
    free_port,
    process,
    runtime_venv,
    runtime_version,
    terraform_runtimes,
    wait_until,
)
from uploads import form_for

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def venv() -> Path:
    """The runtime venv, made once (and kept between sessions, keyed by the requirements)."""
    return runtime_venv()


def _service_env(venv: Path, **extra: str) -> dict[str, str]:
    """What the deployed service sees: Terraform's settings (here the emulators'), the venv's
    bin first on PATH, and nothing of the test process's Python (no PYTHONPATH, no dev venv)."""
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    for name in ("GOOGLE_CLOUD_PROJECT", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "BALE_BUCKET"):
        env[name] = os.environ[name]
    env.update(extra)
    return env


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()}


# --- the upload image -------------------------------------------------------------------


def _gunicorn_argv(cmd: str) -> list[str]:
    words = shlex.split(cmd)
    assert words[:2] == ["exec", "gunicorn"], f"Dockerfile.upload's CMD: {cmd}"
    return words[2:]


def test_the_upload_images_gunicorn_flags_exist_in_the_pinned_gunicorn(venv) -> None:
    df = parse(ROOT / "Dockerfile.upload")
    assert isinstance(df.cmd, str), "shell form: ${PORT} comes from Cloud Run"
    flags = {w.split("=")[0] for w in _gunicorn_argv(df.cmd) if w.startswith("-")}
    known = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import json, gunicorn.config as c; "
            "print(json.dumps({'flags': [f for s in c.KNOWN_SETTINGS for f in (s.cli or [])]}))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert flags and not flags - set(json.loads(known)["flags"]), flags - set(json.loads(known)["flags"])
    pinned = re.search(r"^gunicorn==(\S+)", FUNCTION_REQUIREMENTS.read_text(), re.M).group(1)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import gunicorn; print(gunicorn.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert installed == pinned


@pytest.fixture(scope="module")
def upload_image(venv, emulators, tmp_path_factory):
    """Dockerfile.upload's own CMD, run from its build context as its COPY lines lay it out,
    on the runtime venv, against the emulators; yields its upload URL."""
    df = parse(ROOT / "Dockerfile.upload")
    tmp = tmp_path_factory.mktemp("upload-image")
    app = lay_out(df, tmp / "image")
    # Exactly the context's files under functions/, nothing else of the repository.
    shipped = sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file())
    expected = sorted(
        {p.removeprefix("functions/") for p in context_paths(df.path) if p.startswith("functions/")}
        & {str(p.relative_to(ROOT / "functions")) for p in (ROOT / "functions").rglob("*") if p.is_file()}
    )
    assert shipped == expected and "main.py" in shipped and "requirements.txt" in shipped
    port = free_port()
    # The image runs as nobody, whose HOME is not writable: so is this one's.
    home = tmp / "home"
    home.mkdir(mode=0o500)
    env = _service_env(venv, **df.env, PORT=str(port), HOME=str(home))
    log = tmp / "upload.log"
    url = f"http://127.0.0.1:{port}/v1/upload/acme/main/"
    with process(["/bin/sh", "-c", df.cmd], cwd=app, env=env, log=log) as proc:
        with httpx.Client(http1=False, http2=True, timeout=30) as client:

            def probe():
                try:
                    return client.get(url)
                except httpx.TransportError:
                    return None

            first = wait_until(probe, proc, log)
        assert first.http_version == "HTTP/2", first.http_version
        yield url, log


def test_the_upload_images_cmd_takes_40_mib_over_h2c(upload_image, stack, tmp_path) -> None:
    """40 MiB over cleartext HTTP/2 by prior knowledge (what Cloud Run speaks to a port named
    h2c, and the only way past its 32 MiB cap on HTTP/1), committed and then listed."""
    url, log = upload_image
    data = wheel_bytes("big-wheel", "1.0", extra_files={"big_wheel/blob.bin": os.urandom(40 * MiB)})
    assert len(data) > 40 * MiB
    filename = wheel_name("big-wheel", "1.0")
    (tmp_path / filename).write_bytes(data)
    form, _ = form_for(
        filename, data, name="big-wheel", version="1.0", filetype="bdist_wheel", pyversion="py3"
    )
    # curl, not a Python HTTP/2 client: h2's pure-Python framing takes 30-45 s to send 40 MiB.
    curl = ["curl", "--silent", "--show-error", "--http2-prior-knowledge", "--max-time", "120"]
    curl += ["--user", f"__token__:{stack.token('upload')}", "--output", str(tmp_path / "body")]
    curl += ["--write-out", "%{http_code} %{http_version}"]
    for name, value in form.items():
        curl += ["--form-string", f"{name}={value}"]
    curl += ["--form", f"content=@{tmp_path / filename};type=application/octet-stream"]
    answer = subprocess.run([*curl, url], capture_output=True, text=True, check=True).stdout
    body = (tmp_path / "body").read_text(errors="replace")
    assert answer == "200 2", (answer, body, log.read_text()[-3000:])

    listing = httpx.get(
        f"{stack.url}/simple/acme/main/big-wheel/",
        headers={**_auth(stack.token("read")), "Accept": "application/vnd.pypi.simple.v1+json"},
    )
    assert listing.status_code == 200, listing.text
    (entry,) = listing.json()["files"]
    assert entry["filename"] == filename
    assert entry["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_clients_cannot_set_the_servers_routing_headers(upload_image) -> None:
    """--forwarded-allow-ips '*' (Cloud Run's front end has no fixed address, and gunicorn
    speaks h2c only to trusted peers) would also let any client set SCRIPT_NAME or PATH_INFO
    through a header of that name; --forwarder-headers '' takes that away. Before, a client's
    `SCRIPT_NAME: /nope` was a 500 and a traceback in the log."""
    url, log = upload_image
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        plain = client.get(url)
        assert plain.status_code == 405, plain.text  # the upload code's answer to a GET
        for header in ({"script_name": "/nope"}, {"script_name": "/v1/upload"}, {"path_info": "/simple/"}):
            resp = client.get(url, headers=header)
            assert (resp.status_code, resp.text) == (plain.status_code, plain.text), (header, resp.text)
    assert "Traceback" not in log.read_text()


def test_no_function_reads_the_scheme_a_client_could_set() -> None:
    """What else the trust of any peer gives a client: X-Forwarded-Proto (and -Ssl, -Protocol)
    set wsgi.url_scheme. The functions build every URL from BALE_BASE_URL, so no code may read
    the scheme or a URL made from it off a request; the one fallback below is the simple
    function's, on Cloud Functions, not behind this server, and production sets BALE_BASE_URL
    (terraform's common_env). gunicorn's list does not govern X-Forwarded-For or REMOTE_ADDR:
    the client's address is read (bale.forwarded) from the right-most entries the proxies add."""
    allowed = {("bale/api/simple/views.py", 'get_settings().base_url or request.host_url.rstrip("/")')}
    reads = re.compile(r"\b(request\.(scheme|is_secure|host_url|url_root|base_url|url)\b|wsgi\.url_scheme)")
    found = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        rel = str(path.relative_to(ROOT / "functions"))
        for line in path.read_text().splitlines():
            if reads.search(line) and not any(rel == f and snippet in line for f, snippet in allowed):
                found.append(f"{rel}: {line.strip()}")
    assert not found, "code reads the scheme a client can set behind --forwarded-allow-ips '*': " + repr(
        found
    )


# --- the functions' archive ---------------------------------------------------------------


def _deployed_targets() -> set[str]:
    """The entry points Terraform deploys (Cloud Functions and the upload service)."""
    found = set()
    for tf in (ROOT / "terraform").glob("*.tf"):
        found |= set(re.findall(r'\bentry_point\s*=\s*"(\w+)"', tf.read_text()))
    return found


def test_every_target_the_code_declares_is_deployed() -> None:
    assert _deployed_targets() == set(get_args(Target)) | set(get_args(Scheduled))


def test_each_function_starts_from_the_archive_alone(venv, stack, oidc_issuers, tmp_path) -> None:
    """As Cloud Functions builds them: functions/ alone (what terraform/'s archive holds), the
    runtime's Python with the hashed requirements, `functions-framework --target T`."""
    from fakes.osv_export import PATH, Export, zip_of
    from fakes.server import Server

    source = tmp_path / "functions"
    shutil.copytree(
        ROOT / "functions", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    )
    read, upload = stack.token("read"), stack.token("upload")
    # The advisories refresh: a local copy of OSV's export, and the scheduler's ID token from
    # the Google-shaped issuer (Cloud Run would have verified it; here the function does).
    export = Export()
    export.publish(
        zip_of([{"id": "PYSEC-0000-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "Demo"}}]}])
    )
    invoker = "bale-scheduler@demo-bale.iam.gserviceaccount.com"
    google = oidc_issuers.google
    scheduler = {"Authorization": "Bearer " + google.sign(google.claims(email=invoker))}
    stranger = {"Authorization": "Bearer " + google.sign(google.claims(email="x@example.com"))}
    checks = {
        # Anonymous reads of a private index are refused; a token reads it from Firestore.
        "simple": [
            ("GET", "/simple/acme/main/", {}, 401, None),
            ("GET", "/simple/acme/main/", _auth(read), 200, "<!DOCTYPE html>"),
        ],
        "oidc": [("GET", "/_/oidc/audience", {}, 200, '"audience"')],
        # A form without a distribution: the upload code's own 400, not a framework error.
        "upload": [("POST", "/v1/upload/acme/main/", _auth(upload), 400, None)],
        # Only the scheduler's account runs it; its run downloads the export and loads it.
        "advisories_refresh": [
            ("POST", "/", {}, 401, None),
            ("POST", "/", stranger, 403, None),
            ("POST", "/", scheduler, 200, '"status": "loaded"'),
        ],
    }
    assert set(checks) == _deployed_targets()
    with contextlib.ExitStack() as stack_:
        export_url = stack_.enter_context(Server(export.wsgi)).url + PATH
        extra_env = {
            "advisories_refresh": {
                "BALE_ADVISORIES_URL": export_url,
                "BALE_ADVISORIES_INVOKER": invoker,
                "BALE_GOOGLE_OIDC_ISSUER": google.url,
            }
        }
        servers = {}
        for target in sorted(checks):
            port = free_port()
            log = tmp_path / f"{target}.log"
            argv = [str(venv / "bin" / "functions-framework"), "--target", target, "--source", "main.py"]
            argv += ["--host", "127.0.0.1", "--port", str(port)]
            env = _service_env(venv, HOME=str(tmp_path), **extra_env.get(target, {}))
            proc = stack_.enter_context(process(argv, cwd=source, env=env, log=log))
            servers[target] = (port, proc, log)
        for target, (port, proc, log) in servers.items():
            base = f"http://127.0.0.1:{port}"

            def probe(base=base):
                try:
                    return httpx.get(base + "/", timeout=5)
                except httpx.TransportError:
                    return None

            wait_until(probe, proc, log)
            for method, path, headers, status, body in checks[target]:
                data = {":action": "file_upload", "protocol_version": "1"} if method == "POST" else None
                resp = httpx.request(method, base + path, headers=headers, data=data, timeout=30)
                assert resp.status_code == status, (
                    target,
                    path,
                    resp.status_code,
                    resp.text,
                    log.read_text()[-2000:],
                )
                if body:
                    assert body in resp.text, (target, resp.text[:300])
                if status >= 400:
                    assert resp.text.strip() and "Traceback" not in resp.text, resp.text
    # What the refresh loaded is in Firestore (written by the function's own process).
    summary = stack.stores.db.document("advisories/demo").get()
    assert summary.exists and summary.to_dict()["advisories"][0]["id"] == "PYSEC-0000-1"


# --- one Python everywhere ---------------------------------------------------------------


def test_the_runtime_dockerfiles_and_ci_run_the_same_python() -> None:
    """Terraform's runtime (python311), the images' base, the locks' target Python, and CI's
    Python (this test run's, and the one .ci/run asks for) are one minor version."""
    assert len(terraform_runtimes()) == 1, terraform_runtimes()
    runtime = runtime_version()
    for name in ("Dockerfile", "Dockerfile.upload"):
        base = parse(ROOT / name).base
        m = re.match(r"python:(\d)\.(\d+)[.\-]", base)
        assert m and (int(m[1]), int(m[2])) == runtime, (name, base, runtime)
    m = re.search(r"--python-version (\d)\.(\d+)", (ROOT / "Makefile").read_text())
    assert m and (int(m[1]), int(m[2])) == runtime, "the locks are compiled for another Python"
    m = re.search(r"PYTHON=\$\{PYTHON:-python(\d)\.(\d+)\}", (ROOT / ".ci" / "run").read_text())
    assert m and (int(m[1]), int(m[2])) == runtime, ".ci/run does not ask for the runtime's Python"
    assert sys.version_info[:2] == runtime, (
        f"the suite runs on Python {sys.version_info[:2]}, the functions on {runtime}: make setup PYTHON=python{runtime[0]}.{runtime[1]}"
    )

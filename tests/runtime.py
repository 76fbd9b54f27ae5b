"""The production runtime, as close as this machine gets to it without Google's builders.

Cloud Functions builds the functions from ``functions/`` alone with the runtime Terraform names
(``python311``) and ``pip install -r requirements.txt``; the upload image does the same on its
base image. ``runtime_venv`` makes that environment once per requirements file: a clean venv on
the runtime's Python holding only ``functions/requirements.txt``, installed with
``--require-hashes`` from the package index alone (none of this machine's pip configuration, its
local wheel directories or constraint files, which Google's build does not have).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "terraform"
FUNCTION_REQUIREMENTS = ROOT / "functions" / "requirements.txt"


def terraform_runtimes() -> set[tuple[int, int]]:
    """Every Python runtime the Terraform declares (`runtime = "python311"` -> (3, 11))."""
    found = set()
    for tf in TERRAFORM.glob("*.tf"):
        for major, minor in re.findall(r'\bruntime\s*=\s*"python(\d)(\d+)"', tf.read_text()):
            found.add((int(major), int(minor)))
    return found


def runtime_version() -> tuple[int, int]:
    (version,) = terraform_runtimes()
    return version


def runtime_python() -> str:
    """The runtime's Python on this machine (python3.11 for python311): CI needs it installed."""
    major, minor = runtime_version()
    exe = shutil.which(f"python{major}.{minor}")
    if exe is None and sys.version_info[:2] == (major, minor):
        exe = sys.executable
    if exe is None:
        raise RuntimeError(f"the functions' runtime needs python{major}.{minor}; this machine has none")
    return exe


def index_only_pip_env() -> dict[str, str]:
    """pip's environment as on Google's builders: the package index, no local configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    if "PIP_INDEX_URL" in os.environ:  # an explicit mirror of the index, not a local addition
        env["PIP_INDEX_URL"] = os.environ["PIP_INDEX_URL"]
    return env


def runtime_venv(requirements: Path = FUNCTION_REQUIREMENTS) -> Path:
    """A venv on the runtime's Python with only ``requirements`` installed --require-hashes.

    Made once per requirements content and Python, under the temp directory, and shared by
    every test and session (a lock keeps parallel sessions from building it twice); a venv
    that did not finish installing is made again.
    """
    python = runtime_python()
    key = hashlib.sha256(requirements.read_bytes() + python.encode()).hexdigest()[:16]
    major, minor = runtime_version()
    venv = Path(tempfile.gettempdir()) / f"bale-runtime-py{major}{minor}-{key}"
    done = venv / ".installed"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python, "-m", "venv", str(venv)], check=True)
            # --no-compile: bytecode is a cache, and compiling it is most of the install's CPU here.
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
            subprocess.run(
                [*pip, "--require-hashes", "-r", str(requirements)],
                check=True,
                env=index_only_pip_env(),
            )
            done.write_text(requirements.read_text())
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process(argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A server process in its own session, its output in ``log``; stopped (the whole group) after."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def wait_until(probe, proc: subprocess.Popen, log: Path, timeout: float = 60):
    """Call ``probe`` until it returns something other than None; fail with the log if the
    process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            result = probe()
        except OSError:
            result = None
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer in {timeout:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)

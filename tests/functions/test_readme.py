"""The README's walkthrough, run as typed: every fenced ``sh`` block, in order, in one shell.

What the test changes, and why (all of it visible in ``script()``):

* ``127.0.0.1:8000`` becomes a free port, and the README's ``make dev`` gets it through
  ``ARGS="--port N"`` (the variable the README documents), so runs can go in parallel.
* ``/tmp/`` becomes a temporary directory (``/tmp/demo``, ``/tmp/try``).
* A block after ``<!-- readme-test: skip (why) -->`` is not run (``make test`` would run this
  test); one after ``<!-- readme-test: background ... -->`` is started in the background from the
  clone, and the test waits for ``Press Ctrl-C``, as a reader waits before the second shell.
* The line ``# paste here the export lines ...`` becomes those lines, as ``make dev`` printed them.
* ``# browser:`` steps are done by ``tests/readme_browser.py`` (the Auth emulator's sign-up call,
  the device-code service's approval): a line marked ``# browser:`` that it does not know fails
  the test, so a new browser step can't be skipped silently.

Everything else runs unchanged with ``bash -e -o pipefail`` from the clone's root, with a fresh
HOME (uv's credential store and config start empty), the real ``make``, ``bale`` and ``uv``.
uv's package cache is the machine's, so ``uv build`` fetches its build backend from PyPI once.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HELPER = ROOT / "tests" / "readme_browser.py"
MARKER = re.compile(r"<!-- readme-test: (skip|background)\b.*-->")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
DONE = "readme-test: block {} done"


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """The ``sh`` blocks of ``text`` in order: (run | skip | background, lines)."""
    out: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            mode = "run"
            if i > 0 and (m := MARKER.fullmatch(lines[i - 1].strip())):
                mode = m.group(1)
            end = lines.index("```", i + 1)
            out.append((mode, lines[i + 1 : end]))
            i = end
        i += 1
    return out


def local(line: str, port: int, tmp: Path) -> str:
    return line.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("/tmp/", f"{tmp}/")


def script(text: str, port: int, tmp: Path, exports: dict[str, str]) -> str:
    """The second shell's session: every block to run, browser steps done by the helper."""
    out = ["set -e -o pipefail", "PS4='+ '", "set -x"]
    helper = f"{shlex.quote(sys.executable)} {shlex.quote(str(HELPER))}"
    email = None
    for n, (mode, lines) in enumerate(blocks(text)):
        if mode != "run":
            continue
        for line in lines:
            line = local(line, port, tmp)
            command, _, comment = line.partition("# ")
            if line.startswith("# paste here the export lines"):
                out += [f"export {k}={shlex.quote(v)}" for k, v in exports.items()]
            elif line.startswith("# browser: sign up"):
                email = EMAIL.search(line).group(0)
                out.append(f"{helper} signup {email}")
            elif "# browser: approve" in line and command.strip().startswith("bale login"):
                who = EMAIL.search(comment)
                assert who, f"say who approves: {line}"
                out.append(f"{helper} approve {who.group(0)} -- {command.strip()}")
            elif "# browser:" in line:
                pytest.fail(f"a browser step the README test does not know how to do: {line}")
            else:
                out.append(line)
        out.append(f"echo {shlex.quote(DONE.format(n))}")
    assert email, "the README no longer says to sign up on the dashboard"
    return "\n".join(out) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp: Path) -> dict[str, str]:
    """A new user's shell: nothing of this test session's stack, an empty HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BALE_", "UV_", "PIP_", "TWINE_", "FIREBASE_", "VIRTUAL_ENV"))
        and not k.endswith("_EMULATOR_HOST")
        and k not in ("GOOGLE_CLOUD_PROJECT", "PYTHONPATH", "NETRC")
    }
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    cache = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")
    env.update(
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share")
    )
    env.update(UV_CACHE_DIR=cache, UV_PYTHON_DOWNLOADS="never", NO_COLOR="1", UV_NO_PROGRESS="1")
    return env


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory):
    """The README's background block (``make dev``), started from the clone on a free port."""
    tmp = tmp_path_factory.mktemp("readme")
    port = _free_port()
    background = [lines for mode, lines in blocks(README.read_text()) if mode == "background"]
    assert len(background) == 1, background
    command = "\n".join(local(line, port, tmp) for line in background[0])
    env = dict(_env(tmp), ARGS=f"--port {port}")
    proc = subprocess.Popen(
        ["bash", "-e", "-c", command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    else:
        line = ""
    if "Press Ctrl-C" not in line:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("make dev did not start:\n" + "".join(lines))
    exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", "".join(lines), re.M))
    assert f"Bale is running at http://127.0.0.1:{port}/" in "".join(lines)
    yield port, tmp, exports, env
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run_walkthrough(text: str, dev_stack) -> subprocess.CompletedProcess:
    port, tmp, exports, env = dev_stack
    return subprocess.run(
        ["bash", "-c", script(text, port, tmp, exports)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_broken_readme_command_fails_the_walkthrough(dev_stack):
    """The test can fail: a README whose command is wrong (a typo'd subcommand) stops the run.
    Run first: it stops before anything changes the stack's state."""
    text = README.read_text().replace("bale admin create-team acme", "bale admin create-teem acme", 1)
    assert text != README.read_text()
    r = run_walkthrough(text, dev_stack)
    assert r.returncode != 0
    assert "+ bale admin create-teem acme" in r.stderr and "No such command 'create-teem'" in r.stderr
    assert "create-token" not in r.stderr


def test_the_readme_walkthrough_works_as_typed(dev_stack):
    _, tmp, exports, _ = dev_stack
    # Seven lines with the dashboard's sign-in, all of which the README pastes.
    assert len(exports) == 7, exports
    text = README.read_text()
    r = run_walkthrough(text, dev_stack)
    assert r.returncode == 0, (
        f"a README command failed (the last + line):\n{r.stderr[-6000:]}\n{r.stdout[-2000:]}"
    )
    ran = [n for n, (mode, _) in enumerate(blocks(text)) if mode == "run"]
    assert len(ran) >= 4 and all(DONE.format(n) in r.stdout for n in ran), r.stdout
    # What the walkthrough promises: the package installed in the throwaway environment, not
    # in Bale's own; a personal token stored for uv by `bale login`.
    demo = subprocess.run(
        [tmp / "try/bin/python", "-c", "import demo; print(demo.__file__)"], capture_output=True, text=True
    )
    assert demo.returncode == 0 and str(tmp / "try") in demo.stdout, demo.stderr
    assert subprocess.run([sys.executable, "-c", "import demo"], capture_output=True).returncode != 0
    assert re.search(r"^bale_p\w+_[\w-]{43}$", r.stdout, re.M), "uv auth token printed no personal token"
    assert "approved" in r.stdout and "Logged in: token p" in r.stdout

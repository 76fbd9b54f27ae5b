"""Run the real clients (uv, twine, pip) as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run(
    argv: list[str], *, env: dict | None = None, timeout: int = 180, cwd=None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "TWINE_", "PIP_"))}
    full_env.update({"NO_COLOR": "1", "UV_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd
    )


def uv_publish(url: str, token: str, *files: Path, extra: list[str] = ()) -> subprocess.CompletedProcess:
    return run(
        [
            BIN / "uv",
            "publish",
            "--publish-url",
            url,
            "--username",
            "__token__",
            "--password",
            token,
            *extra,
            *files,
        ]
    )


def twine_upload(url: str, token: str, *files: Path, extra: list[str] = ()) -> subprocess.CompletedProcess:
    return run(
        [
            BIN / "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            url,
            "-u",
            "__token__",
            "-p",
            token,
            *extra,
            *files,
        ]
    )

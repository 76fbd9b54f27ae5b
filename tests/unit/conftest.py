"""The unit tier: pure logic, checked in seconds, with no emulator, no server and no network.

``make unit`` runs this directory alone. So that it stays that way, every unit test runs
under a guard (its fixtures' setup and teardown included) that fails it if it

* uses a fixture that starts the emulators or the registry (``emulators``, ``stack``, …),
* spawns ``java``, ``gcloud``, ``fake-gcs-server``, ``firebase`` or ``node`` (the emulators),
* opens a TCP connection, to anything: the emulators listen on 127.0.0.1, so a test that
  reached one would pass only when an earlier test of the session had started them.

Subprocesses of other programs (``tests/unit/test_architecture.py`` imports the deployed
archive in a fresh Python) and Unix sockets stay allowed.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess

import pytest

#: Fixtures of tests/conftest.py and tests/web/conftest.py that start an emulator or a server.
SLOW_FIXTURES = {
    "emulators",
    "base_settings",
    "settings",
    "stores",
    "_server",
    "stack",
    "auth_emulator",
    "_oidc_issuer_server",
    "oidc_issuers",
    "_fake_google_server",
}
#: Programs the emulators run as.
EMULATOR_PROGRAMS = {"java", "gcloud", "fake-gcs-server", "firebase", "node"}


class TierViolation(AssertionError):
    """A unit test reached for something only the slower tiers may use."""


def _refuse_inet(original):
    def connect(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise TierViolation(
                f"a unit test opened a TCP connection to {address!r}; unit tests use no network"
            )
        return original(self, address, *args, **kwargs)

    return connect


def _programs(args, executable) -> set[str]:
    """The programs a Popen call would run: its executable, or its first argument, or (a shell
    command line) every word of it."""
    if isinstance(args, (str, bytes, os.PathLike)):
        words = shlex.split(os.fsdecode(args)) if not isinstance(args, os.PathLike) else [os.fspath(args)]
    else:
        words = [os.fsdecode(a) for a in list(args)[:1]]
    if executable:
        words.append(os.fsdecode(executable))
    return {os.path.basename(w) for w in words}


def _refuse_emulators(original):
    def init(self, args, *rest, **kwargs):
        found = _programs(args, kwargs.get("executable")) & EMULATOR_PROGRAMS
        if found:
            raise TierViolation(
                f"a unit test started {', '.join(sorted(found))}; unit tests need no emulator"
            )
        return original(self, args, *rest, **kwargs)

    return init


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    slow = SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if slow:
        raise TierViolation(f"{item.nodeid} uses {', '.join(sorted(slow))}: move it out of tests/unit/")
    with _guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with _guard():
        return (yield)


class _guard:
    """Patch socket connects and process spawns for one test phase, and put them back."""

    def __enter__(self):
        self.saved = [
            (socket.socket, "connect", socket.socket.connect),
            (socket.socket, "connect_ex", socket.socket.connect_ex),
            (subprocess.Popen, "__init__", subprocess.Popen.__init__),
        ]
        socket.socket.connect = _refuse_inet(socket.socket.connect)
        socket.socket.connect_ex = _refuse_inet(socket.socket.connect_ex)
        subprocess.Popen.__init__ = _refuse_emulators(subprocess.Popen.__init__)
        return self

    def __exit__(self, *exc):
        for owner, name, value in self.saved:
            setattr(owner, name, value)
        return False

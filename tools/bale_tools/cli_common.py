"""What the `bale admin` command modules share: the services (`Admin`), `pass_admin`, and small
parameter and output helpers. Kept apart from cli.py so the noun modules import it without a cycle."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import click

from bale.errors import BaleError
from bale.services import ServiceSet
from bale.tokens.service import parse_duration

#: Who the audit log and tombstones name for what `bale admin` does. A fixed label, not
#: ``cli:$USER``: the local user name is unauthenticated (anyone can set $USER, and it is
#: "root" or "runner" in containers and CI), so it would read as an identity the log can't
#: vouch for. Whoever ran it is the Google principal holding database access, which Cloud
#: Audit Logs record for real projects. "cli" is also what the services default to.
ACTOR = "cli"

#: How long to wait for a configured emulator to accept a connection. Without this check a
#: Firestore call to a dead emulator retries for minutes before failing.
PROBE_TIMEOUT = 2.0


def no_stack_help() -> str:
    """What to set, with the local stack's lines made by what `bale dev` prints them from."""
    from bale.settings import Settings
    from bale_tools.devserver import exports

    local = exports(
        project=Settings.project,
        bucket=Settings.bucket,
        firestore="127.0.0.1:PORT",
        storage="http://127.0.0.1:PORT",
        auth="127.0.0.1:PORT",
        base_url="http://127.0.0.1:8000",
    )
    lines = "\n".join(f"      export {k}={v}" for k, v in local.items())
    return f"""\
Point `bale admin` at a stack:
  - the local one: run `bale dev` in another shell and paste the export lines it prints
    (its ports change each time it starts):
{lines}
  - a real project: with no *_EMULATOR_HOST variables set, sign in with application-default
    credentials and name the project:
      gcloud auth application-default login
      export GOOGLE_CLOUD_PROJECT=your-project
      export BALE_BUCKET=your-bucket"""


class NoStack(click.ClickException):
    """No backend to talk to: no credentials, or a configured emulator that does not answer."""

    exit_code = 2

    def format_message(self) -> str:
        return f"{self.message}\n{no_stack_help()}"

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _hostport(value: str) -> tuple[str, int]:
    """host and port of ``127.0.0.1:8080`` or ``http://127.0.0.1:8080``."""
    parts = urlsplit(value if "://" in value else f"//{value}")
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def _check_emulators(settings) -> None:
    for var, value in (
        ("FIRESTORE_EMULATOR_HOST", settings.firestore_emulator_host),
        ("STORAGE_EMULATOR_HOST", settings.storage_emulator_host),
    ):
        if not value:
            continue
        try:
            socket.create_connection(_hostport(value), timeout=PROBE_TIMEOUT).close()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise NoStack(
                f"nothing answers at {value} ({var}): {reason}. Is `bale dev` still running? "
                f"Its export lines change each time it starts."
            ) from None


class Admin(ServiceSet):
    """What `bale admin` commands share: the services, opened on first use (so usage errors
    and --help never touch the network) after checking that configured emulators answer."""

    def __init__(self, stores=None):
        self._stores = stores

    @property
    def settings(self):
        from bale.settings import get_settings

        return get_settings()

    @property
    def stores(self):
        if self._stores is None:
            from bale.store.backends import get_stores

            settings = self.settings
            _check_emulators(settings)
            self._stores = get_stores(settings)
        return self._stores


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value)
        except BaleError as exc:
            self.fail(exc.message, param, ctx)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


pass_admin = click.make_pass_decorator(Admin)

"""The ``bale`` command: ``bale dev``, ``bale login``/``bale logout`` and ``bale admin …``, on click.

``bale admin`` groups its commands by noun (``bale admin token create``); every command
also answers to the flat name the docs use (``bale admin create-token``), so both spellings
run the same code. Choices (permissions, roles, providers) come from the services' own
constants, so a new one shows up here without editing this file. Each noun's commands live
in their own module (``token_cli.py``, ...), on the helpers of ``cli_common.py``; this file
only assembles them and keeps the flat names.

Exit codes: 0 done; 1 the registry refused (a :class:`BaleError`, message on stderr) or a
confirmation was declined; 2 bad usage, or no stack to talk to (what to set is printed).
"""

from __future__ import annotations

import sys

import click

from bale.errors import BaleError
from bale_tools.advisories_cli import advisories
from bale_tools.advisory_cli import advisory
from bale_tools.audit_cli import audit
from bale_tools.cli_common import Admin, NoStack, no_stack_help  # noqa: F401 - no_stack_help: tests import it here
from bale_tools.index_cli import index
from bale_tools.member_cli import member
from bale_tools.project_cli import project
from bale_tools.publisher_cli import publisher
from bale_tools.reader_cli import reader
from bale_tools.release_cli import release
from bale_tools.sweep_cli import sweep
from bale_tools.team_cli import team
from bale_tools.token_cli import token
from bale_tools.upstream_cli import upstream
from bale_tools.views_cli import view


class Bale(click.Group):
    """The root group: maps the services' errors to messages and exit codes in one place."""

    def invoke(self, ctx: click.Context):
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return super().invoke(ctx)
        except BaleError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)
        except DefaultCredentialsError as exc:
            raise NoStack(f"no Google Cloud credentials and no emulators configured ({exc}).") from None


class AdminGroup(click.Group):
    """Noun groups (``token create``) that also answer to the docs' flat names (``create-token``)."""

    def __init__(self, *args, flat: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.flat = flat

    def get_command(self, ctx: click.Context, name: str):
        if name in self.flat:
            group, sub = self.flat[name]
            return self.commands[group].commands[sub]
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)  # the nouns; format_commands adds the flat names

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        rows = [(name, f"= {' '.join(target)}") for name, target in sorted(self.flat.items())]
        with formatter.section("The same commands by their flat names"):
            formatter.write_dl(rows)


# -- bale ------------------------------------------------------------------


@click.group("bale", cls=Bale, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Bale, a private Python package registry."""


@cli.command()
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data-dir", help="Keep data here across restarts (default: in memory).")
@click.option("--certfile", help="Serve HTTPS with this certificate (PEM).")
@click.option("--keyfile", help="Private key for --certfile (PEM).")
@click.option("--no-auth", is_flag=True, help="Don't start the Firebase Auth emulator.")
@click.option(
    "--production-shape",
    is_flag=True,
    help="Each function (from a copy of functions/ alone) and the dashboard in its own process, "
    "behind a router that follows terraform's URL map.",
)
@click.pass_context
def dev(ctx, port, host, data_dir, certfile, keyfile, no_auth, production_shape) -> None:
    """Run the whole registry locally over the Google emulators."""
    from bale.settings import get_settings
    from bale_tools.devserver import run

    ctx.exit(
        run(
            port=port,
            host=host,
            data_dir=data_dir,
            certfile=certfile,
            keyfile=keyfile,
            with_auth=not no_auth,
            production_shape=production_shape,
            settings=get_settings(),
        )
    )


from bale_tools.smoke import smoke as smoke_command  # noqa: E402 - registered beside dev and login

cli.add_command(smoke_command)


def _registry_url(url: str | None) -> str:
    """The registry to sign in to: the argument, else BALE_BASE_URL, else the local stack."""
    if url:
        return url
    from bale.settings import get_settings

    return get_settings().base_url or "http://127.0.0.1:8000"


@cli.command("login")
@click.argument("url", required=False)
@click.option("--netrc", "netrc", is_flag=True, help="Also write the token to ~/.netrc (or $NETRC), for pip.")
@click.option("--no-browser", is_flag=True, help="Print the URL only; don't open a browser.")
def login_cmd(url, netrc, no_browser) -> None:
    """Sign in to a registry in the browser and keep a personal token in uv's credential store.

    URL is the registry (https://pypi.example.com, or any index URL on it). You approve the
    code shown here on the dashboard, and there you pick what the token may do (read only, the
    default, or read and upload) and how long it lives (30 days unless you pick 1 to 90): a
    code started by someone else cannot ask for more. The token carries your rights in your
    teams, as far as the permission you picked goes, and is listed under "My tokens".
    """
    from bale_tools.login import login

    login(
        _registry_url(url),
        netrc=netrc,
        open_browser=not no_browser and sys.stdout.isatty(),
    )


@cli.command("logout")
@click.argument("url", required=False)
def logout_cmd(url) -> None:
    """Revoke the token bale login stored for URL, and remove it from uv's store and ~/.netrc."""
    from bale_tools.login import logout

    logout(_registry_url(url))


FLAT = {
    "create-team": ("team", "create"),
    "list-members": ("member", "list"),
    "add-member": ("member", "add"),
    "remove-member": ("member", "remove"),
    "set-role": ("member", "set-role"),
    "grant-write": ("member", "grant-write"),
    "revoke-write": ("member", "revoke-write"),
    "create-index": ("index", "create"),
    "rebuild-catalog": ("index", "rebuild-catalog"),
    "create-token": ("token", "create"),
    "list-tokens": ("token", "list"),
    "revoke-token": ("token", "revoke"),
    "add-publisher": ("publisher", "add"),
    "list-publishers": ("publisher", "list"),
    "remove-publisher": ("publisher", "remove"),
    "add-reader": ("reader", "add"),
    "list-readers": ("reader", "list"),
    "remove-reader": ("reader", "remove"),
    "list-projects": ("project", "list"),
    "list-files": ("project", "files"),
    "set-project-status": ("project", "status"),
    "yank": ("release", "yank"),
    "unyank": ("release", "unyank"),
    "delete": ("release", "delete"),
    "set-upstream": ("upstream", "set"),
    "show-upstream": ("upstream", "show"),
    "reserve": ("upstream", "reserve"),
    "allow-shadow": ("upstream", "allow-shadow"),
    "exempt": ("upstream", "exempt"),
    "create-view": ("view", "create"),
    "show-view": ("view", "show"),
    "list-views": ("view", "list"),
    "update-view": ("view", "update"),
    "delete-view": ("view", "delete"),
    "add-advisory": ("advisory", "add"),
    "list-advisories": ("advisory", "list"),
    "withdraw-advisory": ("advisory", "withdraw"),
}


@cli.group(cls=AdminGroup, flat=FLAT)
@click.pass_context
def admin(ctx) -> None:
    """Manage teams, members, indexes, tokens, publishers and releases.

    Talks to the stack the environment names: the emulators `bale dev` prints, or a real
    project with application-default credentials.
    """
    ctx.ensure_object(Admin)


admin.add_command(view)
admin.add_command(team)
admin.add_command(member)
admin.add_command(index)
admin.add_command(token)
admin.add_command(publisher)
admin.add_command(reader)
admin.add_command(project)
admin.add_command(release)
admin.add_command(upstream)
admin.add_command(audit)
admin.add_command(sweep)
admin.add_command(advisories)
admin.add_command(advisory)


def main(argv: list[str] | None = None) -> int:
    """The console script: run ``bale`` and return its exit code."""
    try:
        cli.main(args=argv, prog_name="bale")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

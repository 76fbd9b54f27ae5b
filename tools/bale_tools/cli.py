"""The ``bale`` command: ``bale dev``, ``bale login``/``bale logout`` and ``bale admin …``, on click.

``bale admin`` groups its commands by noun (``bale admin token create``); every command
also answers to the flat name the docs use (``bale admin create-token``), so both spellings
run the same code. Choices (permissions, roles, providers) come from the services' own
constants, so a new one shows up here without editing this file.

Exit codes: 0 done; 1 the registry refused (a :class:`BaleError`, message on stderr) or a
confirmation was declined; 2 bad usage, or no stack to talk to (what to set is printed).
"""

from __future__ import annotations

import socket
import sys
from urllib.parse import urlsplit

import click

from bale.errors import BaleError, NotFound
from bale.names import validate_project
from bale.packages import status as project_status
from bale.packages.distributions import normalized_filename, parse_filename
from bale.packages.versions import version_key
from bale.publishing.providers import PROVIDERS
from bale.publishing.readers import READER_PROVIDERS
from bale.services import ServiceSet
from bale.tenancy.service import ROLES
from bale.tokens.service import PERMISSIONS, parse_duration
from bale.upstream.client import PROBE_PROJECT
from bale_tools.views_cli import view

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
}


@cli.group(cls=AdminGroup, flat=FLAT)
@click.pass_context
def admin(ctx) -> None:
    """Manage teams, members, indexes, tokens, publishers and releases.

    Talks to the stack the environment names: the emulators `bale dev` prints, or a real
    project with application-default credentials.
    """
    ctx.ensure_object(Admin)


pass_admin = click.make_pass_decorator(Admin)
admin.add_command(view)


@admin.group()
def team() -> None:
    """Teams."""


@admin.group()
def member() -> None:
    """A team's members, their roles and where they may upload."""


@admin.group()
def index() -> None:
    """A team's indexes."""


@admin.group()
def token() -> None:
    """API tokens."""


@admin.group()
def publisher() -> None:
    """Trusted publishers (CI workflows that publish with OIDC)."""


@admin.group()
def reader() -> None:
    """Trusted accessors (CI workloads that read indexes with OIDC: Trusted Access)."""


@admin.group()
def project() -> None:
    """What an index holds."""


@admin.group()
def release() -> None:
    """Yank, unyank or delete a version."""


# short_help: click cuts a help text at its first ". ", which "e.g." would be.
@admin.group(short_help="An index's upstream (PyPI by default) and its cooldown.")
def upstream() -> None:
    """An index's upstream (PyPI, or another index): private first, with a cooldown on fresh releases."""


# -- teams and members -------------------------------------------------------


@team.command("create")
@click.argument("team")
@click.option("--admin", "admin_email", required=True, metavar="EMAIL", help="The team's first admin.")
@pass_admin
def create_team(a: Admin, team, admin_email) -> None:
    """Create a team, its main index and its first admin."""
    a.tenancy.create_team(team, admin_email, actor=ACTOR)
    click.echo(f"Created team {team} with index {team}/main; admin: {admin_email}")


@member.command("list")
@click.argument("team")
@pass_admin
def list_members(a: Admin, team) -> None:
    """List a team's members, their roles and the indexes they may upload to."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    writes: dict[str, list[str]] = {}
    for ix in sorted(tenancy.list_indexes(team), key=lambda d: d["name"]):
        for email in ix.get("writers") or []:
            writes.setdefault(email, []).append(ix["name"])
    click.echo(f"{'EMAIL':40}  {'ROLE':6}  UPLOADS TO")
    for m in sorted(tenancy.members(team), key=lambda m: m.email):
        where = "every index" if m.role == "admin" else (", ".join(writes.get(m.email, [])) or "-")
        click.echo(f"{m.email:40}  {m.role:6}  {where}")


@member.command("add")
@click.argument("team")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@pass_admin
def add_member(a: Admin, team, email, role) -> None:
    """Add a person to a team."""
    from bale.errors import Conflict

    tenancy = a.tenancy
    tenancy.get_team(team)
    current = tenancy.role_of(team, email)
    if current is not None:
        raise Conflict(f"{email} is already a member of {team} ({current}); change it with set-role.")
    tenancy.set_member(team, email, role, actor=ACTOR)
    click.echo(f"Added {email} to {team} as {role}")


@member.command("remove")
@click.argument("team")
@click.argument("email")
@pass_admin
def remove_member(a: Admin, team, email) -> None:
    """Remove a person from a team (never its last admin)."""
    a.tenancy.remove_member(team, email, actor=ACTOR)
    click.echo(f"Removed {email} from {team}")


@member.command("set-role")
@click.argument("team")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@pass_admin
def set_role(a: Admin, team, email, role) -> None:
    """Change a member's role (the last admin stays an admin)."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    if tenancy.role_of(team, email) is None:
        raise NotFound(f"{email} is not a member of {team}; add them with add-member.")
    tenancy.set_member(team, email, role, actor=ACTOR)
    click.echo(f"{email} is now {role} of {team}")


def _set_writer(a: Admin, team: str, index_name: str, email: str, allowed: bool) -> None:
    tenancy = a.tenancy
    tenancy.set_writer(team, index_name, email, allowed, actor=ACTOR)
    role = tenancy.role_of(team, email)
    if allowed:
        click.echo(f"{email} may upload to {team}/{index_name}")
    else:
        click.echo(f"{email} may no longer upload to {team}/{index_name}")
    # Write access is a member's; say when this change alone does not decide it.
    if role is None and allowed:
        click.echo(
            f"note: {email} is not a member of {team}: it takes effect once they are (add-member).", err=True
        )
    elif role == "admin":
        click.echo(f"note: {email} is an admin of {team} and uploads to every index regardless.", err=True)


@member.command("grant-write")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("email")
@pass_admin
def grant_write(a: Admin, team, index_name, email) -> None:
    """Let a member upload to an index (admins upload everywhere)."""
    _set_writer(a, team, index_name, email, True)


@member.command("revoke-write")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("email")
@pass_admin
def revoke_write(a: Admin, team, index_name, email) -> None:
    """Take back a member's upload access to an index."""
    _set_writer(a, team, index_name, email, False)


@admin.command()
@click.argument("team")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="How many entries, newest first.",
)
@pass_admin
def audit(a: Admin, team, limit) -> None:
    """Show a team's audit log: time, actor, action, detail."""
    tenancy = a.tenancy
    tenancy.get_team(team)
    click.echo(f"{'TIME (UTC)':20}  {'ACTOR':30}  {'ACTION':16}  DETAIL")
    for e in tenancy.audit_log(team, limit):
        at = e["at"].strftime("%Y-%m-%d %H:%M:%S") if e.get("at") else "-"
        click.echo(f"{at:20}  {e.get('actor', ''):30}  {e.get('action', ''):16}  {e.get('detail', '')}")


@admin.command()
@click.option(
    "--older-than",
    type=Duration(),
    default="24h",
    show_default=True,
    help="Leave unreferenced blobs younger than this (by their last update): an upload may "
    "be between its blobs and its record.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_admin
def sweep(a: Admin, older_than, dry_run) -> None:
    """Remove package blobs no file record references: orphans of failed uploads, and the
    bytes of deleted files. Needs delete access to the bucket."""
    from bale.packages.sweep import sweep as run_sweep

    # The service writes the audit entries, one per team, as ACTOR.
    result = run_sweep(a.stores, older_than=older_than, dry_run=dry_run, actor=ACTOR)
    for s in result.swept:
        state = "would remove" if dry_run else "removed" if s.removed else "kept (changed since listed)"
        click.echo(f"{state:28}  {s.why:8}  {s.path}")
    for path in result.unknown:
        click.echo(f"{'left alone (not a package)':28}  {'':8}  {path}")
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {_plural(result.removed, 'blob')}; looked at {result.seen}: {result.kept} referenced, "
        f"{result.young} unreferenced but younger than {older_than}, {len(result.unknown)} not a package"
    )


# -- indexes -----------------------------------------------------------------


@index.command("create")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def create_index(a: Admin, team, index_name) -> None:
    """Create another index in a team."""
    a.tenancy.create_index(team, index_name, actor=ACTOR)
    click.echo(f"Created index {team}/{index_name}")


@index.command("rebuild-catalog")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def rebuild_catalog(a: Admin, team, index_name) -> None:
    """Re-list every project of an index in its catalog (the Simple API's project list); always safe."""
    a.tenancy.require_index(team, index_name)
    projects = a.packages.backfill_catalog(team, index_name)
    click.echo(f"The catalog of {team}/{index_name} lists its {_plural(len(projects), 'project')}.")


# -- tokens ------------------------------------------------------------------


@token.command("create")
@click.argument("team")
@click.option("--index", "index_name", required=True, metavar="INDEX")
@click.option("--permission", required=True, type=click.Choice(PERMISSIONS))
@click.option(
    "--project", "projects", multiple=True, metavar="NAME", help="Limit to this project (repeatable)."
)
@click.option("--expires-in", type=Duration(), help="e.g. 30d, 12h, 15m.")
@click.option("--description", default="", help="What the token is for.")
@click.option(
    "--owner",
    metavar="EMAIL",
    help="A person's token: it carries that member's rights and stops when they lose them.",
)
@pass_admin
def create_token(a: Admin, team, index_name, permission, projects, expires_in, description, owner) -> None:
    """Create an API token; the token is printed alone on the last line of stdout."""
    # owner= and actor= are the token service's (the service writes the audit entry).
    secret, tok = a.tokens.create(
        team,
        index_name,
        permission,
        projects=list(projects) or None,
        expires_in=expires_in,
        created_by=ACTOR,
        description=description,
        owner=owner,
        actor=ACTOR,
    )
    scope = ", ".join(tok.projects) if tok.projects else "all projects"
    until = tok.expires_at.isoformat(timespec="seconds") if tok.expires_at else "never"
    whose = f" for {owner}" if owner else ""
    click.echo(
        f"Token {tok.id}{whose}: {tok.permission} on {tok.team}/{tok.index} ({scope}); expires {until}.",
        err=True,
    )
    click.echo("It is shown only once:", err=True)
    sys.stderr.flush()
    click.echo(secret)


@token.command("list")
@click.argument("team")
@pass_admin
def list_tokens(a: Admin, team) -> None:
    """List a team's tokens."""
    rows = a.tokens.list(team)
    click.echo(
        f"{'ID':17}  {'INDEX':12}  {'PERM':7}  {'OWNER':24}  {'PROJECTS':20}  {'EXPIRES':20}  {'LAST USED':20}  STATE"
    )
    for t in rows:
        state = "revoked" if t.revoked_at else "active"
        # A person's token carries that person's rights; a team token (no owner) the team's.
        owner = t.person or "-"
        click.echo(
            f"{t.id:17}  {t.index:12}  {t.permission:7}  {owner:24}  {(','.join(t.projects) if t.projects else '*'):20}  "
            f"{(t.expires_at.isoformat(timespec='minutes') if t.expires_at else 'never'):20}  "
            f"{(t.last_used_at.isoformat(timespec='minutes') if t.last_used_at else 'never'):20}  {state}"
        )


@token.command("revoke")
@click.argument("team")
@click.argument("token_id")
@pass_admin
def revoke_token(a: Admin, team, token_id) -> None:
    """Revoke a token by its ID."""
    a.tokens.revoke(team, token_id, actor=ACTOR)
    click.echo(f"Revoked token {token_id}")


@token.command("logins")
@click.argument("team")
@pass_admin
def list_member_logins(a: Admin, team) -> None:
    """List the bale login tokens of a team's members (each carries its member's rights)."""
    click.echo(f"{'ID':17}  {'MEMBER':28}  {'PERM':7}  {'EXPIRES':17}  {'STATE':8}  DESCRIPTION")
    for t in a.tokens.member_logins(team):
        state = "revoked" if t.revoked_at else "active"
        until = t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never"
        click.echo(
            f"{t.id:17}  {t.owner or '-':28}  {t.permission:7}  {until:17}  {state:8}  {t.description}"
        )


@token.command("revoke-login")
@click.argument("team")
@click.argument("token_id")
@pass_admin
def revoke_member_login(a: Admin, team, token_id) -> None:
    """Revoke a member's bale login token in TEAM (their other teams are not affected)."""
    if a.tokens.revoke_member_login(team, token_id, actor=ACTOR):
        click.echo(f"Revoked sign-in token {token_id} in {team}")
    else:
        click.echo(f"Sign-in token {token_id} was already revoked in {team}")


# -- trusted publishers ------------------------------------------------------


@publisher.command("add")
@click.argument("team")
@click.option("--index", "index_name", required=True, metavar="INDEX")
@click.option("--provider", required=True, type=click.Choice(list(PROVIDERS)))
@click.option(
    "--project", "projects", multiple=True, metavar="NAME", help="A project it may publish (repeatable)."
)
@click.option("--repository", help="github: OWNER/REPO; gitlab: the project path, group/project.")
@click.option(
    "--workflow", metavar="FILE", help="github: workflow file name in .github/workflows/, e.g. publish.yml."
)
@click.option("--environment", metavar="ENV", help="github/gitlab: only this deployment environment.")
@click.option("--ci-config-path", metavar="PATH", help="gitlab: the CI file (default .gitlab-ci.yml).")
@click.option("--service-account", metavar="EMAIL", help="google: the service account's email.")
@click.option(
    "--subject", metavar="ID", help="google: the service account's unique ID (optional); oidc: a sub pattern."
)
@click.option("--issuer", metavar="URL", help="oidc: the issuer URL, as the token's iss claim spells it.")
@click.option(
    "--claim", "claims", multiple=True, metavar="NAME=PATTERN", help="oidc: a claim to match (repeatable)."
)
@pass_admin
def add_publisher(
    a: Admin,
    team,
    index_name,
    provider,
    projects,
    repository,
    workflow,
    environment,
    ci_config_path,
    service_account,
    subject,
    issuer,
    claims,
) -> None:
    """Let a CI workflow publish projects of an index with its OIDC token (Trusted Publishing)."""
    pub = a.publishers.add(
        team,
        index_name,
        provider,
        list(projects),
        repository=repository,
        workflow=workflow,
        environment=environment,
        ci_config_path=ci_config_path,
        service_account=service_account,
        subject=subject,
        issuer=issuer,
        claims=list(claims),
        actor=ACTOR,
    )
    click.echo(
        f"Added trusted publisher {pub.id}: {pub.label} may publish {', '.join(pub.projects)} to {pub.team}/{pub.index}"
    )


@publisher.command("list")
@click.argument("team")
@click.option("--index", "index_name", metavar="INDEX", help="Only this index.")
@pass_admin
def list_publishers(a: Admin, team, index_name) -> None:
    """List a team's trusted publishers."""
    click.echo(f"{'ID':16}  {'INDEX':12}  {'PUBLISHER':50}  PROJECTS")
    for p in a.publishers.list(team, index_name):
        click.echo(f"{p.id:16}  {p.index:12}  {p.label:50}  {','.join(p.projects)}")


@publisher.command("remove")
@click.argument("team")
@click.argument("publisher_id")
@pass_admin
def remove_publisher(a: Admin, team, publisher_id) -> None:
    """Remove a trusted publisher by its ID."""
    pub = a.publishers.remove(team, publisher_id, actor=ACTOR)
    click.echo(f"Removed trusted publisher {pub.id} ({pub.label})")


# -- trusted accessors (Trusted Access) ---------------------------------------


@reader.command("add")
@click.argument("team")
@click.option("--provider", required=True, type=click.Choice(list(READER_PROVIDERS)))
@click.option(
    "--repository",
    metavar="PATTERN",
    help="github: OWNER/REPO pattern (acme/* or acme/widgets); gitlab: group/project pattern; "
    "oidc: a pattern for the token's repository claim. '*' stays within one path segment.",
)
@click.option("--subject", metavar="PATTERN", help="A pattern the token's sub claim must match.")
@click.option("--issuer", metavar="URL", help="oidc: the issuer URL, as the token's iss claim spells it.")
@click.option(
    "--claim", "claims", multiple=True, metavar="NAME=PATTERN", help="oidc: a claim to match (repeatable)."
)
@click.option("--service-account", metavar="EMAIL", help="google: the service account's email.")
@click.option("--index", "indexes", multiple=True, metavar="NAME", help="An index it may read (repeatable).")
@click.option("--all-indexes", is_flag=True, help="Every index of the team (as it is at each exchange).")
@pass_admin
def add_reader(
    a: Admin, team, provider, repository, subject, issuer, claims, service_account, indexes, all_indexes
) -> None:
    """Let CI workloads read indexes with their OIDC token (Trusted Access): no stored secret."""
    r = a.readers.add(
        team,
        provider,
        repository=repository,
        subject=subject,
        issuer=issuer,
        claims=list(claims),
        service_account=service_account,
        indexes=list(indexes),
        all_indexes=all_indexes,
        settings=a.settings,
        actor=ACTOR,
    )
    click.echo(f"Added trusted accessor {r.id}: {r.label} may read {r.scope} of {r.team}")


@reader.command("list")
@click.argument("team")
@pass_admin
def list_readers(a: Admin, team) -> None:
    """List a team's trusted accessors."""
    click.echo(f"{'ID':16}  {'ACCESSOR':60}  INDEXES")
    for r in a.readers.list(team):
        click.echo(f"{r.id:16}  {r.label:60}  {r.scope}")


@reader.command("remove")
@click.argument("team")
@click.argument("reader_id")
@pass_admin
def remove_reader(a: Admin, team, reader_id) -> None:
    """Remove a trusted accessor by its ID (tokens it already got live out their hour)."""
    r = a.readers.remove(team, reader_id, actor=ACTOR)
    click.echo(f"Removed trusted accessor {r.id} ({r.label})")


# -- projects and releases ---------------------------------------------------


@project.command("list")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def list_projects(a: Admin, team, index_name) -> None:
    """List an index's projects with their file counts."""
    index_doc = a.tenancy.require_index(team, index_name)
    packages = a.packages
    names = packages.catalog(team, index_name, index_doc)
    refs = [packages.project_ref(team, index_name, p["normalized"]) for p in names]
    docs = {s.id: s.to_dict() for s in a.stores.db.get_all(refs) if s.exists} if refs else {}
    click.echo(f"{'PROJECT':40}  {'FILES':>6}  UPDATED")
    for p in names:
        d = docs.get(p["normalized"], {})
        updated = d["updated_at"].isoformat(timespec="minutes") if d.get("updated_at") else "-"
        click.echo(f"{p['name']:40}  {d.get('file_count', 0):>6}  {updated}")


@project.command("files")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@pass_admin
def list_files(a: Admin, team, index_name, project_name) -> None:
    """List a project's files: version, size, hash, uploader, state (and a name not normalized)."""
    a.tenancy.require_index(team, index_name)
    packages = a.packages
    name = validate_project(project_name)
    if packages.project_doc(team, index_name, name) is None:
        raise NotFound(f"No project {name!r} in {team}/{index_name}.")
    files = sorted(packages.files(team, index_name, name), key=lambda f: (version_key(f.version), f.filename))
    click.echo(f"{'VERSION':12}  {'FILE':60}  {'SIZE':>10}  {'SHA256':12}  {'UPLOADED':16}  {'BY':30}  STATE")
    for f in files:
        if f.deleted_at:
            state = "deleted"
        elif f.yanked:
            state = "yanked" + (f": {f.yanked_reason}" if f.yanked_reason else "")
        else:
            state = "available"
        expected = normalized_filename(parse_filename(f.filename))
        if expected != f.filename:
            # Stored before Bale refused such names: still served, but a new upload would be
            # refused, and uv skips the file when it reads the page.
            state += f"; name not normalized ({expected})"
        click.echo(
            f"{f.version:12}  {f.filename:60}  {f.size:>10}  {f.sha256[:12]:12}  "
            f"{f.upload_time.isoformat(timespec='minutes'):16}  {f.uploaded_by:30}  {state}"
        )


@project.command("status")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.argument("project_name", metavar="PROJECT")
@click.argument("state", metavar="STATE", required=False, type=click.Choice(project_status.STATUSES))
@click.option("--reason", help="Shown to installers beside the status (pypi:project-status-reason).")
@pass_admin
def set_status(a: Admin, team, index_name, project_name, state, reason) -> None:
    """Show or set a project's status (PEP 792): active, archived (no new uploads), quarantined
    (no uploads, no files listed or served) or deprecated."""
    a.tenancy.require_index(team, index_name)
    name = validate_project(project_name)
    if state is None:
        doc = a.packages.project_doc(team, index_name, name)
        if doc is None:
            raise NotFound(f"No project {name!r} in {team}/{index_name}.")
        now_status, now_reason = project_status.of(doc)
        click.echo(
            f"{name} in {team}/{index_name}: {now_status}" + (f" ({now_reason})" if now_reason else "")
        )
        return
    # The package service records the change in the audit log under this actor.
    stored, why = a.packages.set_status(team, index_name, name, state, reason, actor=ACTOR)
    click.echo(f"{name} in {team}/{index_name} is now {stored}" + (f" ({why})" if why else ""))


def _release_args(f):
    for name, metavar in reversed(
        (("team", "TEAM"), ("index_name", "INDEX"), ("project_name", "PROJECT"), ("version", "VERSION"))
    ):
        f = click.argument(name, metavar=metavar)(f)
    return f


def _yank(a: Admin, team, index_name, project_name, version, yanked: bool, reason: str | None) -> None:
    a.tenancy.require_index(team, index_name)
    # actor= is the package service's (it writes the audit entry).
    n = a.packages.set_yanked(team, index_name, project_name, version, yanked, reason, actor=ACTOR)
    word = "Yanked" if yanked else "Unyanked"
    click.echo(f"{word} {project_name} {version} in {team}/{index_name} ({_plural(n, 'file')})")


@release.command("yank")
@_release_args
@click.option("--reason", help="Shown to installers (PEP 592).")
@pass_admin
def yank(a: Admin, team, index_name, project_name, version, reason) -> None:
    """Yank every file of a version: installers skip it unless pinned."""
    _yank(a, team, index_name, project_name, version, True, reason)


@release.command("unyank")
@_release_args
@pass_admin
def unyank(a: Admin, team, index_name, project_name, version) -> None:
    """Unyank every file of a version."""
    _yank(a, team, index_name, project_name, version, False, None)


@release.command("delete")
@_release_args
@click.option("--filename", help="Only this file of the version.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_admin
def delete(a: Admin, team, index_name, project_name, version, filename, yes) -> None:
    """Delete every file of a version, or one file, for good: the filenames can never be used again."""
    what = filename or f"every file of {project_name} {version}"
    if not yes:
        try:
            sure = click.confirm(
                f"Delete {what} from {team}/{index_name}? This cannot be undone and the filenames "
                "can never be used again",
                default=False,
                err=True,
            )
        except click.Abort:  # no answer: stdin closed, as in a script
            sure = False
        if not sure:
            click.echo(f"Not deleted. Deleting {what} cannot be undone; pass --yes to confirm.", err=True)
            click.get_current_context().exit(1)
    a.tenancy.require_index(team, index_name)
    # The package service records the deletion (tombstones and audit entry) under this actor.
    gone = a.packages.delete(team, index_name, project_name, version, filename=filename, actor=ACTOR)
    for rec in gone:
        click.echo(f"Deleted {rec.filename}")
    click.echo(f"Deleted {_plural(len(gone), 'file')} of {project_name} {version} from {team}/{index_name}")
    if gone.failed_blobs:
        # The records are tombstones already (nothing serves these bytes), but storage keeps them.
        click.echo(
            "error: could not remove from storage (remove them by hand or retry): "
            + ", ".join(gone.failed_blobs),
            err=True,
        )
        click.get_current_context().exit(1)


# -- upstreams ---------------------------------------------------------------


def _min_age(ctx, param, value):
    """A cooldown: a duration (3d, 12h), or 0 for none."""
    if value in (None, "0"):
        return 0
    return int(Duration().convert(value, param, ctx).total_seconds())


@upstream.command("set")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.option(
    "--url", help="The upstream's PEP 691/503 index URL (default: BALE_DEFAULT_UPSTREAM_URL, PyPI)."
)
@click.option(
    "--min-age",
    callback=_min_age,
    metavar="DURATION",
    help="Hide upstream files younger than this (e.g. 3d); 0 or absent: no cooldown.",
)
@click.option(
    "--credentials", metavar="NAME", help="Stored credentials to send to the upstream (docs/deploy.md)."
)
@click.option("--off", is_flag=True, help="Turn the upstream off: unknown names are 404 again.")
@click.option(
    "--probe",
    "probe_project",
    default=PROBE_PROJECT,
    show_default=True,
    metavar="PROJECT",
    help="The project whose page is fetched once to check the upstream.",
)
@click.option(
    "--no-probe", is_flag=True, help="Save without asking the upstream (e.g. not reachable from here)."
)
@pass_admin
def set_upstream(a: Admin, team, index_name, url, min_age, credentials, off, probe_project, no_probe) -> None:
    """Give an index an upstream (or turn it --off).

    Then asks the upstream for one project's page and says whether it answers, serves PEP 691
    JSON and gives upload times, and warns when the cooldown would hide everything."""
    used = a.upstreams.set_upstream(
        team, index_name, url=url, min_age=min_age, credentials=credentials, off=off, actor=ACTOR
    )
    if used is None:
        click.echo(f"{team}/{index_name} has no upstream now.")
        return
    wait = f", cooldown {min_age}s" if min_age else ", no cooldown"
    click.echo(f"{team}/{index_name} now answers names it does not hold from {used}{wait}.")
    if no_probe:
        return
    found = a.upstreams.probe(team, index_name, probe_project)
    if found is None:  # pragma: no cover - it was just set
        return
    for line in found.lines():
        click.echo(line)
    if warning := found.warning(min_age or 0):
        click.echo(warning, err=True)


@upstream.command("show")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@pass_admin
def show_upstream(a: Admin, team, index_name) -> None:
    """Show an index's upstream settings and lists."""
    info = a.upstreams.get(team, index_name)
    click.echo(f"url:          {info['url'] or '-'}")
    click.echo(f"min-age:      {info['min_age']}s")
    click.echo(f"credentials:  {info['credentials'] or '-'}")
    for key in ("reserved", "allow_shadow", "exempt"):
        click.echo(f"{key.replace('_', '-') + ':':13} {', '.join(info[key]) or '-'}")


def _listing(which: str, doc: str):
    @click.argument("team")
    @click.argument("index_name", metavar="INDEX")
    @click.argument("project_name", metavar="PROJECT")
    @click.option("--remove", is_flag=True, help="Take the name off the list.")
    @pass_admin
    def command(a: Admin, team, index_name, project_name, remove) -> None:
        name = a.upstreams.set_listed(team, index_name, which, project_name, not remove, actor=ACTOR)
        click.echo(f"{name}: {'no longer ' if remove else ''}{which} in {team}/{index_name}.")

    command.__doc__ = doc
    return upstream.command(which)(command)


_listing("reserve", "Make a name private before its first upload: the upstream is never asked about it.")
_listing("allow-shadow", "Allow the first upload of a name the upstream has (it then hides the upstream's).")
_listing("exempt", "Show a project's upstream files whatever their age (an urgent fix).")


# -- advisories -----------------------------------------------------------------------------


@admin.group()
def advisories() -> None:
    """Public security advisories (OSV records for PyPI), matched against pinned releases."""


@advisories.command("load")
@click.argument("source", metavar="FILE_OR_URL")
@pass_admin
def load_advisories(a: Admin, source) -> None:
    """Load OSV records: a .json or .yaml record, a directory of them (pypa/advisory-database),
    a zip (OSV's PyPI all.zip), or an http(s) URL of one. Malformed records are refused one by
    one and listed; the rest load (exit status 1 if any was refused)."""
    import tempfile
    from pathlib import Path

    from bale.advisories.osv import records
    from bale.advisories.service import Advisories

    with tempfile.TemporaryDirectory() as tmp:
        if source.startswith(("https://", "http://")):
            import requests

            path = Path(tmp) / (source.rstrip("/").rsplit("/", 1)[-1] or "advisories")
            with requests.get(source, stream=True, timeout=60) as resp:
                if resp.status_code != 200:
                    raise BaleError(f"{source} answered {resp.status_code}.", status=400)
                with path.open("wb") as out:
                    for chunk in resp.iter_content(1 << 16):
                        out.write(chunk)
        else:
            path = Path(source)
            if not path.exists():
                raise NotFound(f"No such file or directory: {source}")
        report = Advisories(a.stores).load(records(path))
    for where, why in report.refused:
        click.echo(f"refused {where}: {why}", err=True)
    click.echo(
        f"Loaded {report.loaded} {'advisory' if report.loaded == 1 else 'advisories'} for {_plural(report.projects, 'project')}"
        + (f"; refused {len(report.refused)}" if report.refused else "")
    )
    if report.refused:
        click.get_current_context().exit(1)


def _pins(path) -> list[tuple[str, str]]:
    """The exact pins (``name==version``) of a requirements file, or a pylock.toml's packages."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = path.read_text()
    if path.name.endswith(".toml"):
        import tomllib

        doc = tomllib.loads(text)
        return [(p["name"], str(p["version"])) for p in doc.get("packages", []) if p.get("version")]
    pins = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line.split(" --", 1)[0].strip())
        except InvalidRequirement:
            raise BaleError(f"{path.name}: cannot read {line!r}.", status=400) from None
        exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if exact:
            pins.append((req.name, exact[0]))
    return pins


@advisories.command("check")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.option("-r", "--requirements", "req_file", required=True, type=click.Path(exists=True, dir_okay=False))
@pass_admin
def check_advisories(a: Admin, team, index_name, req_file) -> None:
    """Report the pinned releases of a requirements file (or pylock.toml) that have advisories;
    exit status 1 when any has, so CI can gate on it."""
    from pathlib import Path

    from bale.advisories.service import Advisories

    a.tenancy.require_index(team, index_name)
    pins = _pins(Path(req_file))
    found = Advisories(a.stores).check(pins)
    for f in found:
        adv = f.advisory
        score = f"{adv['score']:.1f}" if adv.get("score") is not None else "-"
        click.echo(
            f"{f.project}=={f.version}  {adv['id']}  score {score}  {adv['summary'][:80]}  {adv['url']}"
        )
    click.echo(
        f"{len(found)} {'advisory' if len(found) == 1 else 'advisories'} in {_plural(len(pins), 'pinned release')} "
        f"(checked against {team}/{index_name})"
    )
    if found:
        click.get_current_context().exit(1)


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

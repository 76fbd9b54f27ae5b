"""`bale admin` and `bale dev`: in-process with click's CliRunner against the real emulators,
plus a few subprocess runs proving the console script works end to end."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bale import access
from clients import uv_publish
from factories import make_wheel, wheel_bytes, wheel_name
from uploads import form_for, post

BALE = str(Path(sys.executable).parent / "bale")
TOKEN = re.compile(r"bale_[a-z0-9]{16}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def bale(stores):
    """Run `bale admin …` in-process; its settings come from the environment the session set."""
    from bale import settings as settings_mod
    from bale_tools.cli import cli

    runner = CliRunner()

    def run(*args, input=None, env=None):
        # Each run reads the environment afresh, as a new process would (settings are cached
        # per process). catch_exceptions=False: an unexpected exception fails the test as is.
        settings_mod.get_settings.cache_clear()
        try:
            return runner.invoke(cli, ["admin", *args], input=input, env=env, catch_exceptions=False)
        finally:
            settings_mod.get_settings.cache_clear()

    return run


@pytest.fixture
def acme_cli(bale):
    r = bale("create-team", "acme", "--admin", "alice@example.com")
    assert r.exit_code == 0, r.stderr
    return "acme"


# -- names, help and usage errors -------------------------------------------


def test_every_flat_name_and_its_noun_form_are_listed_and_run(bale):
    from bale_tools.cli import FLAT

    r = bale("--help")
    assert r.exit_code == 0
    for flat, (group, sub) in FLAT.items():
        assert re.search(rf"^\s+{flat}\s+= {group} {sub}$", r.stdout, re.M), flat
        assert bale(flat, "--help").exit_code == 0
        assert bale(group, sub, "--help").exit_code == 0
    # Usage names the command as it was typed.
    assert "Usage: bale admin create-token [OPTIONS] TEAM" in bale("create-token", "--help").stdout
    assert "Usage: bale admin token create [OPTIONS] TEAM" in bale("token", "create", "--help").stdout


def test_flat_and_noun_forms_are_the_same_command(bale):
    assert bale("team", "create", "acme", "--admin", "alice@example.com").exit_code == 0
    r = bale("create-team", "acme", "--admin", "alice@example.com")
    assert r.exit_code == 1 and r.stderr == "error: Team 'acme' already exists.\n"
    assert bale("index", "create", "acme", "staging").stdout == "Created index acme/staging\n"
    r = bale("create-index", "acme", "staging")
    assert (
        r.exit_code == 1
        and "acme/staging already exists (an index or a view); choose another name." in r.stderr
    )


def test_a_refused_command_says_why_on_stderr_and_exits_1(bale):
    r = bale("create-team", "Bad_Name", "--admin", "alice@example.com")
    assert r.exit_code == 1
    assert r.stderr.startswith("error: Invalid team name 'Bad_Name'") and r.stdout == ""


@pytest.mark.parametrize(
    "args, option, choices",
    [
        (
            ["create-token", "acme", "--index", "main", "--permission", "write"],
            "'--permission'",
            "bale.tokens.service:PERMISSIONS",
        ),
        (
            ["add-member", "acme", "bob@example.com", "--role", "owner"],
            "'--role'",
            "bale.tenancy.service:ROLES",
        ),
        (["set-role", "acme", "bob@example.com", "owner"], "'{admin|member}'", "bale.tenancy.service:ROLES"),
        (
            ["add-publisher", "acme", "--index", "main", "--provider", "jenkins"],
            "'--provider'",
            "bale.publishing.providers:PROVIDERS",
        ),
    ],
)
def test_a_bad_choice_is_a_usage_error_naming_the_choices(bale, args, option, choices):
    import importlib

    module, name = choices.split(":")
    allowed = list(getattr(importlib.import_module(module), name))
    r = bale(*args)
    assert r.exit_code == 2
    assert f"Invalid value for {option}" in r.stderr
    assert "is not one of " + ", ".join(f"'{c}'" for c in allowed) in r.stderr


def test_usage_errors_come_before_any_database_call(bale):
    # A configured-but-dead emulator would fail the command; a usage error is reported first.
    env = {"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"}
    r = bale(
        "create-token", "acme", "--index", "main", "--permission", "read", "--expires-in", "soon", env=env
    )
    assert r.exit_code == 2 and "Invalid duration 'soon'" in r.stderr
    r = bale("audit", "acme", "--limit", "0", env=env)
    assert r.exit_code == 2 and "Invalid value for '--limit'" in r.stderr
    assert bale("token", "create", "--help", env=env).exit_code == 0


# -- no stack ------------------------------------------------------------------

NO_EMULATORS = {
    "FIRESTORE_EMULATOR_HOST": None,
    "STORAGE_EMULATOR_HOST": None,
    "FIREBASE_AUTH_EMULATOR_HOST": None,
}


def test_every_help_listing_shows_whole_sentences(bale):
    """click shortens a command's help at its first ". " (an "e.g." cut the upstream entry to
    "An index's upstream (e.g."): every listed summary is whole, or ends in click's "..."."""
    from bale_tools.cli import admin

    groups = [[], *[[name] for name, cmd in admin.commands.items() if hasattr(cmd, "commands")]]
    for group in groups:
        r = bale(*group, "--help")
        assert r.exit_code == 0, r.stderr
        listing = r.stdout.split("Commands:")[1].split("\n\n")[0]
        entries = re.findall(r"^  (\S+) +(.*(?:\n {6,}.*)*)", listing, re.M)
        assert entries, listing
        for name, text in entries:
            summary = " ".join(text.split())
            whole = summary.endswith(".") and summary.count("(") == summary.count(")")
            assert whole or summary.endswith("..."), (group, name, summary)
    # the column is as wide as the longest noun ("advisories"), so match any run of spaces
    assert re.search(
        r"^  upstream +An index's upstream \(PyPI by default\) and its cooldown\.$",
        bale("--help").stdout,
        re.M,
    )


def test_optional_arguments_are_bracketed_in_usage():
    """An argument with its own metavar loses click's brackets: `advisory list ... PROJECT`
    read as required though it may be left out. Every optional one shows as [NAME]."""
    import click

    from bale_tools.cli import cli

    def walk(cmd, path):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    checked = 0
    for path, cmd in walk(cli, []):
        ctx = click.Context(cmd, info_name=" ".join(path))
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        for param in cmd.params:
            if isinstance(param, click.Argument) and not param.required:
                checked += 1
                assert f"[{param.make_metavar(ctx).strip('[]')}" in usage, (path, usage)
    assert checked >= 3


def _assert_says_what_to_set(r):
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr and isinstance(r.exception, SystemExit)
    for line in (
        # every line `bale dev` prints (with the dashboard's sign-in): all seven
        "export GOOGLE_CLOUD_PROJECT=demo-bale",
        "export FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT",
        "export STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT",
        "export BALE_BUCKET=bale-files",
        "export BALE_UPSTREAM_ALLOW_LOOPBACK=",
        "export FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:PORT",
        "export BALE_BASE_URL=http://127.0.0.1:8000",
        "gcloud auth application-default login",
        "bale dev",
    ):
        assert line in r.stderr, line


@pytest.mark.parametrize(
    "credentials_file", [True, False], ids=["credentials-file-missing", "no-credentials-at-all"]
)
def test_no_stack_configured_says_what_to_set(bale, tmp_path, monkeypatch, credentials_file):
    from google.auth.compute_engine import _metadata

    env = dict(
        NO_EMULATORS,
        # gcloud's own application-default credentials (~/.config/gcloud) would be found otherwise.
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "nowhere.json") if credentials_file else None,
        # google.auth's last resort is the GCE metadata server. Its ping address (GCE_METADATA_IP)
        # is read per call, so 127.0.0.1:1 is refused at once instead of waiting on
        # 169.254.169.254. GCE_METADATA_HOST and NO_GCE_CHECK, by contrast, are read when
        # google.auth is imported, too early for an in-process test to set; and on a GCE VM the
        # SMBIOS check would still say "on GCE" and fetch real credentials. So the check is
        # switched off on the library's module as well (raising if google.auth renames it).
        GCE_METADATA_IP="127.0.0.1:1",
        GCE_METADATA_HOST="127.0.0.1:1",
    )
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    started = time.monotonic()
    r = bale("list-tokens", "acme", env=env)
    _assert_says_what_to_set(r)
    assert "no Google Cloud credentials" in r.stderr
    if credentials_file:
        assert "nowhere.json was not found" in r.stderr
    assert time.monotonic() - started < 20


def test_a_dead_emulator_says_what_to_set(bale):
    started = time.monotonic()
    r = bale("list-members", "acme", env={"FIRESTORE_EMULATOR_HOST": "127.0.0.1:1"})
    _assert_says_what_to_set(r)
    assert "nothing answers at 127.0.0.1:1 (FIRESTORE_EMULATOR_HOST)" in r.stderr
    r = bale("list-members", "acme", env={"STORAGE_EMULATOR_HOST": "http://127.0.0.1:1"})
    _assert_says_what_to_set(r)
    assert "(STORAGE_EMULATOR_HOST)" in r.stderr
    assert time.monotonic() - started < 20  # Firestore's own retries would take minutes


# -- members, write access, audit --------------------------------------------


def test_members_add_list_set_role_remove(bale, acme_cli, tenancy):
    r = bale("add-member", "acme", "Bob@Example.com")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Added Bob@Example.com to acme as member\n"
    assert tenancy.role_of("acme", "bob@example.com") == "member"
    r = bale("add-member", "acme", "bob@example.com", "--role", "admin")
    assert r.exit_code == 1 and "already a member of acme (member); change it with set-role" in r.stderr
    assert bale("member", "add", "carol@example.com", "--role", "admin").exit_code == 2  # TEAM is missing
    assert bale("member", "add", "acme", "carol@example.com", "--role", "admin").exit_code == 0

    rows = bale("list-members", "acme").stdout.splitlines()
    assert rows[0].split() == ["EMAIL", "ROLE", "UPLOADS", "TO"]
    assert [r.split()[:2] for r in rows[1:]] == [
        ["alice@example.com", "admin"],
        ["bob@example.com", "member"],
        ["carol@example.com", "admin"],
    ]

    r = bale("set-role", "acme", "bob@example.com", "admin")
    assert r.exit_code == 0 and r.stdout == "bob@example.com is now admin of acme\n"
    assert tenancy.role_of("acme", "bob@example.com") == "admin"
    r = bale("set-role", "acme", "dave@example.com", "admin")
    assert (
        r.exit_code == 1 and "dave@example.com is not a member of acme; add them with add-member" in r.stderr
    )
    assert tenancy.role_of("acme", "dave@example.com") is None  # set-role adds nobody

    assert bale("remove-member", "acme", "bob@example.com").stdout == "Removed bob@example.com from acme\n"
    assert bale("remove-member", "acme", "carol@example.com").exit_code == 0
    r = bale("remove-member", "acme", "alice@example.com")
    assert r.exit_code == 1 and "last admin of acme" in r.stderr
    r = bale("set-role", "acme", "alice@example.com", "member")
    assert r.exit_code == 1 and "last admin of acme" in r.stderr
    r = bale("remove-member", "acme", "bob@example.com")
    assert r.exit_code == 1 and "bob@example.com is not a member of acme" in r.stderr
    r = bale("list-members", "nope")
    assert r.exit_code == 1 and "No team 'nope'" in r.stderr


def test_grant_and_revoke_write(bale, acme_cli, tenancy):
    assert bale("create-index", "acme", "staging").exit_code == 0
    assert bale("add-member", "acme", "bob@example.com").exit_code == 0
    assert not access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")

    r = bale("grant-write", "acme", "staging", "bob@example.com")
    assert r.exit_code == 0 and r.stdout == "bob@example.com may upload to acme/staging\n" and r.stderr == ""
    assert access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")
    assert not access.may_upload(tenancy.stores, "acme", "main", "bob@example.com")
    bob = next(line for line in bale("list-members", "acme").stdout.splitlines() if line.startswith("bob@"))
    assert bob.split() == ["bob@example.com", "member", "staging"]

    r = bale("member", "revoke-write", "acme", "staging", "bob@example.com")
    assert r.exit_code == 0 and r.stdout == "bob@example.com may no longer upload to acme/staging\n"
    assert not access.may_upload(tenancy.stores, "acme", "staging", "bob@example.com")

    # Granting a non-member or an admin changes nothing they can do today: the CLI says so.
    r = bale("grant-write", "acme", "staging", "dave@example.com")
    assert r.exit_code == 0 and "dave@example.com is not a member of acme" in r.stderr
    r = bale("grant-write", "acme", "staging", "alice@example.com")
    assert r.exit_code == 0 and "admin of acme and uploads to every index regardless" in r.stderr
    r = bale("grant-write", "acme", "nope", "bob@example.com")
    assert r.exit_code == 1 and "No index acme/nope" in r.stderr


def test_audit_shows_the_team_log_newest_first(bale, acme_cli):
    assert bale("add-member", "acme", "bob@example.com").exit_code == 0
    assert bale("grant-write", "acme", "main", "bob@example.com").exit_code == 0
    r = bale("audit", "acme")
    assert r.exit_code == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["TIME", "(UTC)", "ACTOR", "ACTION", "DETAIL"]
    parsed = [
        re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\S+)\s+(\S+)\s+(.*)", row).groups() for row in rows
    ]
    assert [(actor, action, detail) for _, actor, action, detail in parsed] == [
        ("cli", "grant-write", "main: bob@example.com"),
        ("cli", "set-member", "bob@example.com as member"),
        ("cli", "create-team", "admin alice@example.com"),
    ]
    assert [times for times, *_ in parsed] == sorted((times for times, *_ in parsed), reverse=True)
    r = bale("audit", "acme", "--limit", "1")
    assert len(r.stdout.splitlines()) == 2 and "grant-write" in r.stdout
    r = bale("audit", "nope")
    assert r.exit_code == 1 and "No team 'nope'" in r.stderr


# -- tokens ------------------------------------------------------------------


def test_create_list_revoke_token(bale, acme_cli, tokens):
    assert bale("create-index", "acme", "staging").exit_code == 0
    r = bale(
        "create-token",
        "acme",
        "--index",
        "staging",
        "--permission",
        "upload",
        "--project",
        "Foo",
        "--project",
        "bar",
        "--expires-in",
        "30d",
        "--description",
        "CI",
    )
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    assert TOKEN.fullmatch(token)
    token_id = token.split("_")[1]
    assert f"Token {token_id}: upload on acme/staging (bar, foo); expires" in r.stderr
    record = tokens.authenticate(token)
    assert (record.projects, record.description, record.created_by) == (["bar", "foo"], "CI", "cli")

    listing = bale("list-tokens", "acme").stdout
    assert token_id in listing and "bar,foo" in listing and "active" in listing
    assert bale("token", "revoke", "acme", token_id).stdout == f"Revoked token {token_id}\n"
    assert "revoked" in bale("token", "list", "acme").stdout
    r = bale("revoke-token", "acme", "0123456789abcdef")
    assert r.exit_code == 1 and "No token 0123456789abcdef in team acme" in r.stderr
    r = bale("create-token", "acme", "--index", "nope", "--permission", "read")
    assert r.exit_code == 1 and "No index acme/nope" in r.stderr


def test_create_token_for_a_member(bale, acme_cli, tokens):
    assert bale("add-member", "acme", "bob@example.com").exit_code == 0
    r = bale(
        "create-token", "acme", "--index", "main", "--permission", "upload", "--owner", "bob@example.com"
    )
    assert r.exit_code == 0, r.stderr
    assert "for bob@example.com: upload on acme/main" in r.stderr
    assert tokens.authenticate(r.stdout.splitlines()[-1]).owner == "bob@example.com"
    r = bale(
        "create-token", "acme", "--index", "main", "--permission", "read", "--owner", "mallory@example.com"
    )
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and not TOKEN.search(r.stdout)


# -- releases ------------------------------------------------------------------


@pytest.fixture
def widgets(stack, bale):
    """acme/main holding widgets 1.0 and 2.0, a wheel each."""
    token = stack.token()
    for name, version in (("widgets", "1.0"), ("widgets", "2.0")):
        r = post(stack, *form_for(wheel_name(name, version), wheel_bytes(name, version)), token=token)
        assert r.status_code == 200, r.text
    return stack


def test_list_projects_and_files(bale, widgets):
    r = bale("list-projects", "acme", "main")
    assert r.exit_code == 0, r.stderr
    assert [line.split()[:2] for line in r.stdout.splitlines()[1:]] == [["widgets", "2"]]
    rows = bale("project", "files", "acme", "main", "Widgets").stdout.splitlines()[1:]
    assert [(row.split()[0], row.split()[1], row.split()[-1]) for row in rows] == [
        ("1.0", "widgets-1.0-py3-none-any.whl", "available"),
        ("2.0", "widgets-2.0-py3-none-any.whl", "available"),
    ]
    r = bale("list-files", "acme", "main", "gadgets")
    assert r.exit_code == 1 and "No project 'gadgets' in acme/main" in r.stderr
    assert "lists its 1 project." in bale("rebuild-catalog", "acme", "main").stdout


def test_list_files_marks_a_stored_file_whose_name_is_not_normalized(bale, stack, monkeypatch):
    """Files stored before uploads were held to normalized names stay served (nothing uploaded
    is lost); `list-files` points them out with the name a new upload would need."""
    from bale.packages import distributions

    token = stack.token()
    old, new = "Foo.Bar-1.0-py3-none-any.whl", "foo_bar-2.0-py3-none-any.whl"
    with monkeypatch.context() as m:  # as an upload before the check went in
        m.setattr(distributions, "check_normalized_filename", lambda parsed: None)
        assert post(stack, *form_for(old, wheel_bytes("Foo.Bar", "1.0")), token=token).status_code == 200
    r = post(stack, *form_for("Foo.Bar-1.1-py3-none-any.whl", wheel_bytes("Foo.Bar", "1.1")), token=token)
    assert r.status_code == 400 and "with 'foo_bar'" in r.text
    assert post(stack, *form_for(new, wheel_bytes("Foo.Bar", "2.0")), token=token).status_code == 200
    rows = {
        row.split()[1]: row for row in bale("list-files", "acme", "main", "foo-bar").stdout.splitlines()[1:]
    }
    assert set(rows) == {old, new}
    assert rows[old].endswith("available; name not normalized (foo_bar-1.0-py3-none-any.whl)")
    assert rows[new].endswith("available")
    page = requests.get(
        f"{stack.url}/simple/acme/main/foo-bar/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        auth=("__token__", stack.token("read")),
        timeout=10,
    )
    assert [f["filename"] for f in page.json()["files"]] == [old, new]


def test_yank_and_unyank(bale, widgets):
    r = bale("yank", "acme", "main", "widgets", "1.0", "--reason", "broken build")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Yanked widgets 1.0 in acme/main (1 file)\n"
    assert "yanked: broken build" in bale("list-files", "acme", "main", "widgets").stdout
    assert (
        bale("release", "unyank", "acme", "main", "widgets", "1.0").stdout
        == "Unyanked widgets 1.0 in acme/main (1 file)\n"
    )
    assert "yanked" not in bale("list-files", "acme", "main", "widgets").stdout
    r = bale("unyank", "acme", "main", "widgets", "1.0", "--reason", "x")
    assert r.exit_code == 2 and "No such option '--reason'" in r.stderr


@pytest.mark.parametrize("answer", ["n\n", "\n", ""], ids=["no", "default", "stdin-closed"])
def test_delete_asks_and_a_no_deletes_nothing(bale, widgets, answer):
    from bale.packages.service import Packages

    r = bale("delete", "acme", "main", "widgets", "1.0", input=answer)
    assert r.exit_code == 1
    assert "Delete every file of widgets 1.0 from acme/main? This cannot be undone" in r.stderr
    assert "Not deleted." in r.stderr and "pass --yes to confirm" in r.stderr
    assert r.stdout == ""
    files = Packages(widgets.stores).files("acme", "main", "widgets")
    assert len(files) == 2 and not any(f.deleted_at for f in files)


@pytest.mark.parametrize("how", ["answer-yes", "--yes"])
def test_delete_once_confirmed(bale, widgets, how):
    from bale.packages.service import Packages

    if how == "--yes":
        r = bale("release", "delete", "acme", "main", "widgets", "1.0", "--yes")
        assert "cannot be undone" not in r.stderr  # no question asked
    else:
        r = bale("delete", "acme", "main", "widgets", "1.0", input="y\n")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-2:] == [
        "Deleted widgets-1.0-py3-none-any.whl",
        "Deleted 1 file of widgets 1.0 from acme/main",
    ]
    gone = Packages(widgets.stores).file("acme", "main", "widgets", "widgets-1.0-py3-none-any.whl")
    assert gone.deleted_at and gone.deleted_by == "cli"


# -- the console script, end to end (subprocesses) ----------------------------


def run_bale(*args, env=None):
    return subprocess.run(
        [BALE, *args], capture_output=True, text=True, env=env or os.environ.copy(), timeout=120
    )


def test_console_script(emulators, stores, tmp_path):
    r = run_bale("admin", "create-team", "acme", "--admin", "alice@example.com")
    assert r.returncode == 0, r.stderr
    r = run_bale("admin", "create-team", "Bad_Name", "--admin", "alice@example.com")
    assert r.returncode == 1 and r.stderr.startswith("error: Invalid team name 'Bad_Name'")
    r = run_bale("admin", "member", "list", "acme")
    assert r.returncode == 0 and "alice@example.com" in r.stdout
    r = run_bale("admin", "create-token", "acme", "--index", "main", "--permission", "write")
    assert r.returncode == 2 and "'write' is not one of 'read', 'upload'" in r.stderr
    # No stack at all: the message, no traceback (NO_GCE_CHECK works here: a fresh process).
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(GOOGLE_APPLICATION_CREDENTIALS="", CLOUDSDK_CONFIG=str(tmp_path), NO_GCE_CHECK="true")
    r = run_bale("admin", "list-tokens", "acme", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "export FIRESTORE_EMULATOR_HOST=" in r.stderr


# -- bale dev --------------------------------------------------------------------


def _start_dev(tmp_path, *extra):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    proc = subprocess.Popen(
        [BALE, "dev", "--port", str(port), "--no-auth", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            exports = dict(re.findall(r"export (\w+)=(\S+)", "".join(lines)))
            return proc, port, exports, lines
    proc.kill()
    pytest.fail("bale dev did not start:\n" + "".join(lines))


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children_gone(exports):
    for key in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        hostport = exports[key].split("://")[-1]
        try:
            urllib.request.urlopen(f"http://{hostport}/", timeout=2)
            return False
        except urllib.error.HTTPError:
            return False
        except OSError:
            pass
    return True


@pytest.mark.e2e
def test_bale_dev_serves_persists_and_stops(tmp_path):
    data = tmp_path / "data"
    proc, port, exports, _ = _start_dev(tmp_path, "--data-dir", str(data))
    from bale_tools.cli import no_stack_help

    # What `bale admin` tells a shell without a stack to set is what `bale dev` prints.
    assert set(exports) <= set(re.findall(r"export (\w+)=", no_stack_help())), exports
    try:
        env = dict(os.environ, **exports)
        assert run_bale("admin", "create-team", "acme", "--admin", "a@example.com", env=env).returncode == 0
        r = run_bale("admin", "create-token", "acme", "--index", "main", "--permission", "upload", env=env)
        assert r.returncode == 0, r.stderr
        token = r.stdout.split()[-1]
        whl = make_wheel(tmp_path, "persisted", "1.0")
        r = uv_publish(f"http://127.0.0.1:{port}/v1/upload/acme/main/", token, whl)
        assert r.returncode == 0, r.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as page:
            assert b"Bale" in page.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert _children_gone(exports)

    # Same data dir: the team, the token and the file are still there.
    proc, port, exports, _ = _start_dev(tmp_path, "--data-dir", str(data))
    try:
        env = dict(os.environ, **exports)
        listing = run_bale("admin", "list-tokens", "acme", env=env)
        assert token.split("_")[1] in listing.stdout, listing.stderr
        r = uv_publish(f"http://127.0.0.1:{port}/v1/upload/acme/main/", token, whl)
        assert r.returncode == 0, r.stderr  # identical re-upload: found, not duplicated
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert _children_gone(exports)


def test_dev_explains_missing_gcloud(tmp_path):
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    r = subprocess.run(
        [BALE, "dev", "--no-auth", "--port", str(_free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 1
    assert "Google Cloud CLI" in r.stdout


def test_dev_says_when_its_port_is_taken_before_starting_anything():
    import socket

    from bale_tools.cli import cli

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = CliRunner().invoke(cli, ["dev", "--no-auth", "--port", str(port)])
    assert r.exit_code == 1
    assert f"127.0.0.1:{port} is already in use" in r.stdout
    assert "Starting" not in r.stdout  # no emulator was started for nothing


# -- upstreams ---------------------------------------------------------------


def test_upstream_commands_set_show_list_and_turn_off(bale, acme_cli, tenancy):
    r = bale("set-upstream", "acme", "main", "--url", "http://127.0.0.1:9/simple", "--min-age", "3d")
    assert r.exit_code == 0, r.stderr
    assert "http://127.0.0.1:9/simple/" in r.stdout and "259200s" in r.stdout
    assert bale("reserve", "acme", "main", "Acme_Secret").exit_code == 0
    assert bale("upstream", "allow-shadow", "acme", "main", "requests").exit_code == 0
    assert bale("exempt", "acme", "main", "urllib3").exit_code == 0
    assert bale("exempt", "acme", "main", "urllib3", "--remove").exit_code == 0
    r = bale("show-upstream", "acme", "main")
    assert "min-age:      259200s" in r.stdout
    assert "reserved:     acme-secret" in r.stdout
    assert "allow-shadow: requests" in r.stdout
    assert "exempt:       -" in r.stdout
    r = bale("set-upstream", "acme", "main", "--no-probe")  # the default upstream: PyPI, not asked
    assert "https://pypi.org/simple/" in r.stdout and "no cooldown" in r.stdout
    r = bale("set-upstream", "acme", "main", "--off")
    assert r.exit_code == 0 and "no upstream" in r.stdout
    actions = [e["action"] for e in tenancy.audit_log("acme")][:7]
    assert actions == [
        "upstream-off",
        "set-upstream",
        "upstream-un-exempt",
        "upstream-exempt",
        "upstream-allow-shadow",
        "upstream-reserve",
        "set-upstream",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--url", "http://pypi.org/simple/"], "use https"),
        (["--min-age", "soon"], "Invalid duration"),
        (["--min-age", "400d"], "between 0 and 90 days"),
        (["--credentials", "../etc/passwd"], "Invalid credentials name"),
    ],
)
def test_set_upstream_refuses_bad_values(bale, acme_cli, args, message):
    r = bale("set-upstream", "acme", "main", *args)
    assert r.exit_code != 0
    assert message in r.stderr
    assert bale("show-upstream", "acme", "main").stdout.startswith("url:          -")


def test_set_upstream_on_loopback_names_the_setting_that_allows_it(bale, acme_cli):
    r = bale(
        "set-upstream",
        "acme",
        "main",
        "--url",
        "http://127.0.0.1:9/simple/",
        env={"BALE_UPSTREAM_ALLOW_LOOPBACK": "0"},
    )
    assert r.exit_code != 0 and "use https" not in r.stderr
    assert "127.0.0.1 is a loopback address" in r.stderr and "BALE_UPSTREAM_ALLOW_LOOPBACK=1" in r.stderr
    r = bale(
        "set-upstream",
        "acme",
        "main",
        "--url",
        "http://127.0.0.1:9/simple/",
        env={"BALE_UPSTREAM_ALLOW_LOOPBACK": "1"},
    )
    assert r.exit_code == 0, r.stderr


def test_list_and_revoke_members_login_tokens(bale, acme_cli, tenancy, tokens):
    import datetime as dt

    from bale.tokens.service import Permission, TokenKind

    tenancy.set_member("acme", "bob@example.com", "member")
    _, tok = tokens.create_personal(
        "bob@example.com", TokenKind.LOGIN, Permission.READ, expires_in=dt.timedelta(days=1), description="x"
    )
    out = bale("token", "logins", "acme").stdout
    assert tok.id in out and "bob@example.com" in out and "active" in out
    assert bale("token", "revoke-login", "acme", tok.id).stdout == f"Revoked sign-in token {tok.id} in acme\n"
    assert "revoked" in bale("token", "logins", "acme").stdout
    assert "already revoked" in bale("token", "revoke-login", "acme", tok.id).stdout
    r = bale("token", "revoke-login", "acme", "pnothere")
    assert r.exit_code != 0 and "No member of acme" in r.output
    assert any(e["action"] == "revoke-token" and tok.id in e["detail"] for e in tenancy.audit_log("acme"))


def test_set_upstream_probes_it_and_warns_when_the_cooldown_would_hide_everything(bale, acme_cli):
    from fakes.upstream import Upstream

    up = Upstream().start()
    try:
        up.add("pip", "24.0")
        r = bale("set-upstream", "acme", "main", "--url", up.index_url, "--min-age", "3d")
        assert r.exit_code == 0, r.stderr
        assert "answers (pip: 1 files)" in r.stdout
        assert "PEP 691 JSON: yes" in r.stdout and "Upload times (PEP 700): yes (1 of 1 files)" in r.stdout
        assert "Warning" not in r.stderr
        up.faults["pip"].add("html_only")  # a PEP 503 upstream: no upload times
        r = bale("set-upstream", "acme", "main", "--url", up.index_url, "--min-age", "3d")
        assert r.exit_code == 0, r.stderr
        assert "PEP 691 JSON: no, PEP 503 HTML only" in r.stdout and "Upload times (PEP 700): no" in r.stdout
        assert "the cooldown hides every one of its files" in r.stderr
        r = bale("set-upstream", "acme", "main", "--url", up.index_url, "--probe", "nothing-here")
        assert "holds no project 'nothing-here'" in r.stdout
        r = bale("set-upstream", "acme", "main", "--url", up.index_url, "--min-age", "3d", "--no-probe")
        assert "PEP 691" not in r.stdout and "Warning" not in r.stderr
    finally:
        up.stop()

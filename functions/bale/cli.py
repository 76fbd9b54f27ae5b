"""The ``bale`` command: ``bale dev`` and ``bale admin …``."""

from __future__ import annotations

import argparse
import sys

from bale.errors import BaleError
from bale.names import validate_project


def _admin_services():
    from bale.settings import get_settings
    from bale.stores import get_stores

    return get_stores(get_settings())


def cmd_dev(args) -> int:
    from bale.devserver import run
    from bale.settings import get_settings

    return run(
        port=args.port,
        host=args.host,
        data_dir=args.data_dir,
        certfile=args.certfile,
        keyfile=args.keyfile,
        with_auth=not args.no_auth,
        settings=get_settings(),
    )


def cmd_create_team(args) -> int:
    from bale.tenancy import Tenancy

    Tenancy(_admin_services()).create_team(args.team, args.admin)
    print(f"Created team {args.team} with index {args.team}/main; admin: {args.admin}")
    return 0


def cmd_create_index(args) -> int:
    from bale.tenancy import Tenancy

    Tenancy(_admin_services()).create_index(args.team, args.index)
    print(f"Created index {args.team}/{args.index}")
    return 0


def cmd_create_token(args) -> int:
    from bale.tokens import Tokens, parse_duration

    expires = parse_duration(args.expires_in) if args.expires_in else None
    secret, tok = Tokens(_admin_services()).create(
        args.team,
        args.index,
        args.permission,
        projects=args.project or None,
        expires_in=expires,
        created_by="cli",
        description=args.description or "",
    )
    scope = ", ".join(tok.projects) if tok.projects else "all projects"
    until = tok.expires_at.isoformat(timespec="seconds") if tok.expires_at else "never"
    print(f"Token {tok.id}: {tok.permission} on {tok.team}/{tok.index} ({scope}); expires {until}.", file=sys.stderr)
    print("It is shown only once:", file=sys.stderr)
    sys.stderr.flush()
    print(secret)
    return 0


def cmd_list_tokens(args) -> int:
    from bale.tokens import Tokens

    rows = Tokens(_admin_services()).list(args.team)
    print(f"{'ID':16}  {'INDEX':12}  {'PERM':6}  {'PROJECTS':20}  {'EXPIRES':20}  {'LAST USED':20}  STATE")
    for t in rows:
        state = "revoked" if t.revoked_at else "active"
        print(
            f"{t.id:16}  {t.index:12}  {t.permission:6}  {(','.join(t.projects) if t.projects else '*'):20}  "
            f"{(t.expires_at.isoformat(timespec='minutes') if t.expires_at else 'never'):20}  "
            f"{(t.last_used_at.isoformat(timespec='minutes') if t.last_used_at else 'never'):20}  {state}"
        )
    return 0


def cmd_revoke_token(args) -> int:
    from bale.tokens import Tokens

    Tokens(_admin_services()).revoke(args.team, args.token_id)
    print(f"Revoked token {args.token_id}")
    return 0


def cmd_yank(args, yanked: bool) -> int:
    from bale.packages import Packages
    from bale.tenancy import Tenancy

    stores = _admin_services()
    Tenancy(stores).require_index(args.team, args.index)
    n = Packages(stores).set_yanked(
        args.team, args.index, args.project, args.version, yanked, getattr(args, "reason", None)
    )
    word = "Yanked" if yanked else "Unyanked"
    print(f"{word} {args.project} {args.version} in {args.team}/{args.index} ({n} file{'s' if n != 1 else ''})")
    return 0


def cmd_delete(args) -> int:
    from bale.errors import BadRequest
    from bale.packages import Packages
    from bale.tenancy import Tenancy

    what = args.filename or f"every file of {args.project} {args.version}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise BadRequest(f"Deleting {what} cannot be undone and its filenames can never be used again; pass --yes to confirm.")
        answer = input(f"Delete {what} from {args.team}/{args.index}? This cannot be undone. Type the version to confirm: ")
        if answer.strip() != args.version:
            print("Not deleted.", file=sys.stderr)
            return 1
    stores = _admin_services()
    Tenancy(stores).require_index(args.team, args.index)
    gone = Packages(stores).delete(
        args.team, args.index, args.project, args.version, filename=args.filename, actor="bale admin"
    )
    Tenancy(stores).audit(
        args.team, "bale admin", "delete",
        f"{args.index}/{gone[0].project} {args.version}: " + ", ".join(r.filename for r in gone),
    )
    for rec in gone:
        print(f"Deleted {rec.filename}")
    print(f"Deleted {len(gone)} file{'s' if len(gone) != 1 else ''} of {args.project} {args.version} from {args.team}/{args.index}")
    return 0


def cmd_list_projects(args) -> int:
    from bale.packages import Packages
    from bale.tenancy import Tenancy

    stores = _admin_services()
    index_doc = Tenancy(stores).require_index(args.team, args.index)
    packages = Packages(stores)
    names = packages.catalog(args.team, args.index, index_doc)
    refs = [packages.project_ref(args.team, args.index, p["normalized"]) for p in names]
    docs = {s.id: s.to_dict() for s in stores.db.get_all(refs) if s.exists} if refs else {}
    print(f"{'PROJECT':40}  {'FILES':>6}  UPDATED")
    for p in names:
        d = docs.get(p["normalized"], {})
        updated = d["updated_at"].isoformat(timespec="minutes") if d.get("updated_at") else "-"
        print(f"{p['name']:40}  {d.get('file_count', 0):>6}  {updated}")
    return 0


def cmd_list_files(args) -> int:
    from packaging.version import Version

    from bale.errors import NotFound
    from bale.packages import Packages
    from bale.tenancy import Tenancy

    stores = _admin_services()
    Tenancy(stores).require_index(args.team, args.index)
    packages = Packages(stores)
    project = validate_project(args.project)
    if packages.project_doc(args.team, args.index, project) is None:
        raise NotFound(f"No project {project!r} in {args.team}/{args.index}.")
    files = sorted(packages.files(args.team, args.index, project), key=lambda f: (Version(f.version), f.filename))
    print(f"{'VERSION':12}  {'FILE':60}  {'SIZE':>10}  {'SHA256':12}  {'UPLOADED':16}  {'BY':30}  STATE")
    for f in files:
        state = "deleted" if f.deleted_at else ("yanked" + (f": {f.yanked_reason}" if f.yanked_reason else "") if f.yanked else "available")
        print(
            f"{f.version:12}  {f.filename:60}  {f.size:>10}  {f.sha256[:12]:12}  "
            f"{f.upload_time.isoformat(timespec='minutes'):16}  {f.uploaded_by:30}  {state}"
        )
    return 0


def cmd_rebuild_catalog(args) -> int:
    from bale.packages import Packages
    from bale.tenancy import Tenancy

    stores = _admin_services()
    Tenancy(stores).require_index(args.team, args.index)
    projects = Packages(stores).backfill_catalog(args.team, args.index)
    print(f"The catalog of {args.team}/{args.index} lists its {len(projects)} project{'s' if len(projects) != 1 else ''}.")
    return 0


def cmd_add_publisher(args) -> int:
    from bale.publishers import Publishers

    pub = Publishers(_admin_services()).add(
        args.team,
        args.index,
        args.provider,
        args.project or [],
        repository=args.repository,
        workflow=args.workflow,
        environment=args.environment,
        ci_config_path=args.ci_config_path,
        service_account=args.service_account,
        subject=args.subject,
        actor="cli",
    )
    print(f"Added trusted publisher {pub.id}: {pub.label} may publish {', '.join(pub.projects)} to {pub.team}/{pub.index}")
    return 0


def cmd_list_publishers(args) -> int:
    from bale.publishers import Publishers

    rows = Publishers(_admin_services()).list(args.team, args.index)
    print(f"{'ID':16}  {'INDEX':12}  {'PUBLISHER':50}  PROJECTS")
    for p in rows:
        print(f"{p.id:16}  {p.index:12}  {p.label:50}  {','.join(p.projects)}")
    return 0


def cmd_remove_publisher(args) -> int:
    from bale.publishers import Publishers

    pub = Publishers(_admin_services()).remove(args.team, args.publisher_id, actor="cli")
    print(f"Removed trusted publisher {pub.id} ({pub.label})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bale", description="Bale, a private Python package registry.")
    sub = p.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole registry locally over the Google emulators")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--data-dir", help="keep data here across restarts (default: in memory)")
    dev.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    dev.add_argument("--keyfile", help="private key for --certfile (PEM)")
    dev.add_argument("--no-auth", action="store_true", help="don't start the Firebase Auth emulator")
    dev.set_defaults(func=cmd_dev)

    admin = sub.add_parser("admin", help="manage teams, indexes and tokens")
    asub = admin.add_subparsers(dest="admin_command", required=True)

    a = asub.add_parser("create-team", help="create a team, its main index and its first admin")
    a.add_argument("team")
    a.add_argument("--admin", required=True, metavar="EMAIL")
    a.set_defaults(func=cmd_create_team)

    a = asub.add_parser("create-index", help="create another index in a team")
    a.add_argument("team")
    a.add_argument("index")
    a.set_defaults(func=cmd_create_index)

    a = asub.add_parser("create-token", help="create an API token (printed alone on the last line)")
    a.add_argument("team")
    a.add_argument("--index", required=True)
    a.add_argument("--permission", required=True, choices=["read", "upload"])
    a.add_argument("--project", action="append", metavar="NAME", help="limit to this project (repeatable)")
    a.add_argument("--expires-in", metavar="DURATION", help="e.g. 30d, 12h, 15m")
    a.add_argument("--description", help="what the token is for")
    a.set_defaults(func=cmd_create_token)

    a = asub.add_parser("list-tokens", help="list a team's tokens")
    a.add_argument("team")
    a.set_defaults(func=cmd_list_tokens)

    a = asub.add_parser("revoke-token", help="revoke a token by its ID")
    a.add_argument("team")
    a.add_argument("token_id")
    a.set_defaults(func=cmd_revoke_token)

    a = asub.add_parser(
        "add-publisher",
        help="let a CI workflow publish projects of an index with its OIDC token (Trusted Publishing)",
    )
    a.add_argument("team")
    a.add_argument("--index", required=True)
    a.add_argument("--provider", required=True, choices=["github", "gitlab", "google"])
    a.add_argument("--project", action="append", metavar="NAME", help="a project it may publish (repeatable)")
    a.add_argument("--repository", help="github: OWNER/REPO; gitlab: the project path, group/project")
    a.add_argument("--workflow", metavar="FILE", help="github: workflow file name in .github/workflows/, e.g. publish.yml")
    a.add_argument("--environment", metavar="ENV", help="github/gitlab: only this deployment environment")
    a.add_argument("--ci-config-path", metavar="PATH", help="gitlab: the CI file (default .gitlab-ci.yml)")
    a.add_argument("--service-account", metavar="EMAIL", help="google: the service account's email")
    a.add_argument("--subject", metavar="ID", help="google: the service account's unique ID (optional)")
    a.set_defaults(func=cmd_add_publisher)

    a = asub.add_parser("list-publishers", help="list a team's trusted publishers")
    a.add_argument("team")
    a.add_argument("--index", help="only this index")
    a.set_defaults(func=cmd_list_publishers)

    a = asub.add_parser("remove-publisher", help="remove a trusted publisher by its ID")
    a.add_argument("team")
    a.add_argument("publisher_id")
    a.set_defaults(func=cmd_remove_publisher)

    for name, yanked in (("yank", True), ("unyank", False)):
        a = asub.add_parser(name, help=f"{name} every file of a version")
        a.add_argument("team")
        a.add_argument("index")
        a.add_argument("project")
        a.add_argument("version")
        if yanked:
            a.add_argument("--reason", help="shown to installers (PEP 592)")
        a.set_defaults(func=lambda args, y=yanked: cmd_yank(args, y))

    a = asub.add_parser(
        "delete",
        help="delete every file of a version, or one file (for good: the filenames can never be used again)",
    )
    a.add_argument("team")
    a.add_argument("index")
    a.add_argument("project")
    a.add_argument("version")
    a.add_argument("--filename", help="only this file of the version")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    a.set_defaults(func=cmd_delete)

    a = asub.add_parser("list-projects", help="list an index's projects with their file counts")
    a.add_argument("team")
    a.add_argument("index")
    a.set_defaults(func=cmd_list_projects)

    a = asub.add_parser("list-files", help="list a project's files: version, size, hash, uploader, state")
    a.add_argument("team")
    a.add_argument("index")
    a.add_argument("project")
    a.set_defaults(func=cmd_list_files)

    a = asub.add_parser(
        "rebuild-catalog",
        help="re-list every project of an index in its catalog (the Simple API's project list); always safe",
    )
    a.add_argument("team")
    a.add_argument("index")
    a.set_defaults(func=cmd_rebuild_catalog)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BaleError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

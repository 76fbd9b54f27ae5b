"""`bale admin advisories load|check|refresh|status`: OSV advisories against pinned releases."""

from __future__ import annotations

import click

from bale.errors import BaleError, NotFound
from bale_tools.cli_common import Admin, _plural, pass_admin


@click.group()
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
            try:
                with requests.get(source, stream=True, timeout=60) as resp:
                    if resp.status_code != 200:
                        raise BaleError(f"{source} answered {resp.status_code}.", status=400)
                    with path.open("wb") as out:
                        for chunk in resp.iter_content(1 << 16):
                            out.write(chunk)
            except requests.RequestException as exc:
                raise BaleError(f"Could not download {source}: {type(exc).__name__}.", status=502) from None
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


@advisories.command("refresh")
@click.option(
    "--url", default=None, help="the export to read (default: BALE_ADVISORIES_URL, OSV's PyPI all.zip)"
)
@click.option("--force", is_flag=True, help="load the export even if it is the one loaded last")
@pass_admin
def refresh_advisories(a: Admin, url, force) -> None:
    """Run the daily refresh now, as production's scheduled function does: skip an unchanged
    export (ETag, then hash), load the rest, remove summaries of projects no longer in it.
    Exit status 1 when the export could not be had or read (nothing is written then)."""
    import dataclasses

    from bale.advisories import refresh

    settings = a.settings if url is None else dataclasses.replace(a.settings, advisories_url=url)
    try:
        out = refresh.run(a.stores, settings, force=force)
    except refresh.RefreshFailed as exc:
        raise BaleError(f"Refresh failed, nothing written: {exc}", status=502) from None
    for line in out.as_record()["refused"]:
        click.echo(f"refused {line}", err=True)


@advisories.command("status")
@pass_admin
def advisories_status(a: Admin) -> None:
    """When the public advisories were last refreshed (production's daily job) and what it did;
    exit status 1 if they never were."""
    from bale.advisories.refresh import status
    from bale.clock import now

    rec = status(a.stores)
    if not rec:
        click.echo(
            "Never refreshed: no scheduled refresh (or `bale admin advisories refresh`) has loaded "
            "advisories here yet; `advisories load` by hand is not recorded here."
        )
        click.get_current_context().exit(1)
    loaded, checked = rec.get("loaded_at"), rec.get("checked_at")

    def ago(when) -> str:
        if when is None:
            return "never"
        hours = (now() - when).total_seconds() / 3600
        return f"{when.isoformat(timespec='seconds')} ({hours:.1f} h ago)"

    click.echo(f"Last load:   {ago(loaded)}")
    click.echo(f"Last check:  {ago(checked)}")
    click.echo(f"Source:      {rec.get('source', '-')}")
    click.echo(f"ETag:        {rec.get('etag') or '-'}  sha256 {rec.get('sha256') or '-'}")
    click.echo(
        f"Loaded:      {rec.get('loaded', 0)} advisories for {rec.get('projects', 0)} projects; "
        f"removed {rec.get('removed', 0)}; refused {rec.get('refused_count', 0)}"
        + (f" (kept the earlier copy of {rec['kept_refused']})" if rec.get("kept_refused") else "")
    )
    if rec.get("failure"):
        click.echo(f"Last failure: {ago(rec.get('failed_at'))}: {rec['failure']}")
    if rec.get("not_removed"):
        click.echo(f"Not removed: {rec['not_removed']}")
    for line in rec.get("refused") or []:
        click.echo(f"  refused {line}")


def _pins(path) -> tuple[list[tuple[str, str]], list[str]]:
    """The exact pins (``name==version``) of a requirements file, or a pylock.toml's packages,
    and what it names without a pin (not checked). A file that cannot be read is refused: a CI
    gate must not pass on input it did not understand."""
    import re

    from packaging.requirements import InvalidRequirement, Requirement

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BaleError(
            f"{path.name} is not UTF-8 text; give a requirements file or a pylock.toml.", status=400
        ) from None
    if path.name.endswith(".toml"):
        return _lock_pins(path.name, text)
    pins, loose = [], []
    for raw in text.replace("\\\n", " ").splitlines():
        # As pip reads it: a comment starts at a '#' that begins the line or follows whitespace.
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            if line.startswith(("-r", "--requirement", "-c", "--constraint", "-e", "--editable")):
                loose.append(line)  # not followed: its pins go unchecked, so say so
            continue
        try:
            req = Requirement(line.split(" --", 1)[0].strip())
        except InvalidRequirement:
            raise BaleError(f"{path.name}: cannot read {line!r}.", status=400) from None
        exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if exact:
            pins.append((req.name, exact[0]))
        else:
            loose.append(line)
    return pins, loose


def _lock_pins(name: str, text: str) -> tuple[list[tuple[str, str]], list[str]]:
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BaleError(f"{name} is not valid TOML ({exc}).", status=400) from None
    if "lock-version" not in doc:
        raise BaleError(
            f"{name} is not a pylock.toml (it has no lock-version); give a pylock.toml or a "
            "requirements file with pins.",
            status=400,
        )
    packages = doc.get("packages", [])
    if not isinstance(packages, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in packages
    ):
        raise BaleError(f"{name}: every [[packages]] entry needs a name.", status=400)
    pins = [(p["name"], str(p["version"])) for p in packages if p.get("version")]
    return pins, [p["name"] for p in packages if not p.get("version")]


@advisories.command("check")
@click.argument("team")
@click.argument("index_name", metavar="INDEX")
@click.option("-r", "--requirements", "req_file", required=True, type=click.Path(exists=True, dir_okay=False))
@pass_admin
def check_advisories(a: Admin, team, index_name, req_file) -> None:
    """Report the pinned releases of a requirements file (or pylock.toml) that have advisories,
    public or the team's own in INDEX; exit status 1 when any has, so CI can gate on it."""
    from pathlib import Path

    from bale.advisories.private import PrivateAdvisories
    from bale.views.service import view_of

    index_doc = a.tenancy.require_index(team, index_name)
    view = view_of(team, index_doc)
    # Through a view, a pin may come from any of its sources: the team's own advisories of
    # each count (the view itself holds none).
    indexes = list(view.sources) if view else [index_name]
    pins, loose = _pins(Path(req_file))
    if loose:
        click.echo(f"not pinned, so not checked: {', '.join(loose)}", err=True)
    if not pins:
        raise BaleError(
            f"{Path(req_file).name} pins no release (name==version), so nothing was checked; "
            "pin with `uv pip compile`, or give a pylock.toml.",
            status=400,
        )
    found = PrivateAdvisories(a.stores).check(team, indexes, pins)
    for f in found:
        adv = f.advisory
        score = f"{adv['score']:.1f}" if adv.get("score") is not None else "-"
        click.echo(
            f"{f.project}=={f.version}  {adv['id']}  score {score}  {adv['summary'][:80]}  {adv['url'] or '(private)'}"
        )
    click.echo(
        f"{len(found)} {'advisory' if len(found) == 1 else 'advisories'} in "
        + (f"{len({(f.project, f.version) for f in found})} of " if found else "")
        + f"{_plural(len(pins), 'pinned release')} "
        f"(checked against {team}/{index_name}" + (f", a view of {', '.join(indexes)})" if view else ")")
    )
    if found:
        click.get_current_context().exit(1)

"""The routes, declared once: which path is which endpoint of which function.

:data:`MAP` (werkzeug's routing) is the one declaration. Each entry point of ``functions/main.py``
matches its requests through :func:`match`; ``bale dev`` dispatches by the path prefixes derived
from the rules (:data:`PREFIXES`, :func:`target_for`), and the Terraform test checks that the load
balancer's URL map sends the same prefixes to the same entry points. Every other path goes to
the dashboard.

A prefix belongs to its function whole: a path below it that matches no rule is still that
function's to answer (a 404 saying where its paths are), never the dashboard's.
"""

from __future__ import annotations

import functools
import re
from typing import Final, Literal, NamedTuple

from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

Target = Literal["upload", "simple", "oidc"]

#: Where uploads go: ``{UPLOAD}/{team}/{index}/`` (PyPI's legacy upload API).
UPLOAD: Final = "/v1/upload"
#: The Simple API (PEP 503/691): ``{SIMPLE}/{team}/{index}/[{project}/[{filename}]]``.
SIMPLE: Final = "/simple"
#: Files outside the index URL, for clients other than the ones reading pages.
FILES: Final = "/files"
#: PEP 740's Integrity API.
INTEGRITY: Final = "/integrity"
#: Trusted Publishing and Trusted Access.
OIDC: Final = "/_/oidc"


class Endpoint(NamedTuple):
    """What a rule names: the function (entry point) that serves it, and its handler there."""

    target: Target
    name: str


#: Every path a function serves. Values are the raw path segments: each handler validates its
#: own (team, index, project, filename, version) and answers an invalid one with its own 404, so
#: the rules only say which segment is which. Methods are the function's own business for
#: uploads (POST only) and the Simple API (read-only), decided before any path is looked at;
#: the rules' methods say what each endpoint takes.
MAP: Final = Map(
    [
        Rule(f"{UPLOAD}/<team>/<index>/", endpoint=Endpoint("upload", "upload"), methods=["POST"]),
        Rule(f"{SIMPLE}/<team>/<index>/", endpoint=Endpoint("simple", "index"), methods=["GET"]),
        Rule(f"{SIMPLE}/<team>/<index>/<project>/", endpoint=Endpoint("simple", "project"), methods=["GET"]),
        # Pages link files under the index URL: uv sends the index's credentials up front only
        # to URLs below it.
        Rule(
            f"{SIMPLE}/<team>/<index>/<project>/<filename>",
            endpoint=Endpoint("simple", "file"),
            methods=["GET"],
        ),
        # Anything deeper below an index names nothing, but a POST there is an upload sent to
        # the wrong URL, and its 405 names the right one.
        Rule(f"{SIMPLE}/<team>/<index>/<path:rest>", endpoint=Endpoint("simple", "below"), methods=["GET"]),
        Rule(
            f"{FILES}/<team>/<index>/<project>/<filename>",
            endpoint=Endpoint("simple", "files"),
            methods=["GET"],
        ),
        Rule(
            f"{INTEGRITY}/<team>/<index>/<project>/<version>/<filename>/provenance",
            endpoint=Endpoint("simple", "provenance"),
            methods=["GET"],
        ),
        Rule(f"{OIDC}/audience", endpoint=Endpoint("oidc", "audience"), methods=["GET"]),
        Rule(f"{OIDC}/mint-token", endpoint=Endpoint("oidc", "mint-token"), methods=["POST"]),
        Rule(f"{OIDC}/burn-token", endpoint=Endpoint("oidc", "burn-token"), methods=["POST"]),
        Rule(f"{OIDC}/read-token", endpoint=Endpoint("oidc", "read-token"), methods=["POST"]),
    ],
    # A trailing slash (or its absence) is the handler's to answer: the Simple API redirects a
    # page's URL to its canonical form itself, and uploads, files and the OIDC endpoints take
    # both spellings. Repeated slashes count as one (see match).
    strict_slashes=False,
    merge_slashes=False,
    redirect_defaults=False,
)

#: Bound once per process: binding compiles the rules into the matcher that every request uses.
_ADAPTER: Final = MAP.bind("bale")
_SLASHES: Final = re.compile("/{2,}")
#: Matching walks werkzeug's state machine (some microseconds); the answer for a path is the
#: same every time, so a warm instance keeps the answers for the paths it serves most. Longer
#: paths are matched each time, so the cache stays under a megabyte whatever clients send.
_CACHED_PATH_MAX: Final = 512


def match(path: str, method: str = "GET") -> tuple[Endpoint, dict[str, str]]:
    """The endpoint ``path`` names and its values, e.g. ``/simple/acme/main/`` ->
    ``(Endpoint("simple", "index"), {"team": "acme", "index": "main"})``.

    Empty segments are skipped (``/simple//acme/main/`` is ``/simple/acme/main/``), as Bale
    always has. Raises werkzeug's NotFound for a path no rule matches, and MethodNotAllowed
    (with ``valid_methods``) for one whose rule takes other methods; each entry point turns
    them into its own answer."""
    endpoint, values = (_match_cached if len(path) <= _CACHED_PATH_MAX else _match)(path, method)
    return endpoint, dict(values)


def _match(path: str, method: str) -> tuple[Endpoint, tuple[tuple[str, str], ...]]:
    try:
        endpoint, values = _ADAPTER.match(_SLASHES.sub("/", path), method)
    except RequestRedirect:
        # No rule redirects (no strict slashes, merged slashes, defaults or redirect_to); were
        # one to, the path would still name nothing here.
        raise NotFound() from None
    return endpoint, tuple(values.items())


# Only answers are kept: a path that raises (a 404, a 405) is matched again each time.
_match_cached = functools.lru_cache(maxsize=1024)(_match)


def rule_for(path: str, method: str) -> Rule:
    """The rule that takes ``path`` with ``method`` (its ``rule`` and ``endpoint``): what a 405
    names. Raises like :func:`match`."""
    try:
        rule, _ = _ADAPTER.match(_SLASHES.sub("/", path), method, return_rule=True)
    except RequestRedirect:
        raise NotFound() from None
    return rule


def _prefix(rule: Rule) -> str:
    """The prefix a rule lies under: its static start up to its first variable, or, for a rule
    without variables, the path it lies in (``/_/oidc/audience``: ``/_/oidc``)."""
    static = rule.rule.split("<", 1)[0]
    head = static if "<" in rule.rule else static.rstrip("/").rpartition("/")[0] + "/"
    return head.rstrip("/")


def _prefixes() -> tuple[tuple[str, Target], ...]:
    found: dict[str, Target] = {}
    for rule in MAP.iter_rules():
        endpoint: Endpoint = rule.endpoint
        prefix = _prefix(rule)
        if found.setdefault(prefix, endpoint.target) != endpoint.target:
            raise ValueError(f"{prefix} is under two functions: {found[prefix]} and {endpoint.target}")
    return tuple(found.items())


#: (path prefix, entry point), derived from :data:`MAP`: what ``bale dev`` and the load balancer
#: route by. A prefix matches itself and what is below it.
PREFIXES: Final = _prefixes()


def target_for(path: str) -> Target | None:
    """The entry point that serves ``path``; None for the dashboard."""
    for prefix, target in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return target
    return None


def prefix_of(path: str) -> str | None:
    """The prefix of :data:`PREFIXES` that ``path`` lies under, if any."""
    for prefix, _ in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return None


#: Entry points of functions/main.py that no route reaches: Cloud Scheduler calls each on its
#: function's own URL (terraform/advisories.tf).
Scheduled = Literal["advisories_refresh"]

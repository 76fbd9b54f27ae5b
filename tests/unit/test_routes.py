"""bale.routes: the one declaration of the routes; which entry point serves a path, and which of
its endpoints (``bale dev``, the load balancer and the functions agree on it)."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from bale import routes
from bale.routes import MAP, PREFIXES, Endpoint, match, rule_for, target_for
from bale_tools import devserver
from bale_tools.urlmap import DASHBOARD, read_url_map

#: The load balancer's URL map, as terraform/ declares it.
URL_MAP = read_url_map()


@pytest.mark.parametrize(
    "path, target",
    [
        ("/v1/upload", "upload"),
        ("/v1/upload/", "upload"),
        ("/v1/upload/acme/main/", "upload"),
        ("/simple", "simple"),
        ("/simple/acme/main/widgets/", "simple"),
        ("/files/acme/main/widgets/widgets-1.0.tar.gz", "simple"),
        ("/_/oidc/audience", "oidc"),
        ("/_/oidc/mint-token", "oidc"),
    ],
)
def test_api_paths_go_to_their_function(path, target):
    assert target_for(path) == target


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/teams/acme/",
        "/signin",
        "/v1",
        "/v1/uploads",  # a prefix matches itself and what is below it, not a longer word
        "/simplex/acme/",
        "/filesystem",
        "/_/oidcx",
        "/_/",
        "/static/simple/x.css",
        "",
    ],
)
def test_everything_else_is_the_dashboard(path):
    assert target_for(path) is None


def test_every_function_has_a_route_and_prefixes_are_unique():
    prefixes = [p for p, _ in PREFIXES]
    assert len(prefixes) == len(set(prefixes))
    assert {t for _, t in PREFIXES} == {"upload", "simple", "oidc"}
    assert all(p.startswith("/") and not p.endswith("/") for p in prefixes)


# -- the declaration: every rule, its sample paths, and who else reads it --------------------------

WHEEL = "widgets-1.0-py3-none-any.whl"
ACME = {"team": "acme", "index": "main"}
WIDGETS = {**ACME, "project": "widgets"}

#: (method, path) -> (endpoint, values): at least one row for every rule of MAP. The values are
#: the raw segments (each handler validates its own, with its own 404).
TABLE: dict[tuple[str, str], tuple[Endpoint, dict[str, str]]] = {
    ("POST", "/v1/upload/acme/main/"): (Endpoint("upload", "upload"), ACME),
    ("POST", "/v1/upload/acme/main"): (Endpoint("upload", "upload"), ACME),
    ("POST", "/v1/upload//acme///main//"): (Endpoint("upload", "upload"), ACME),
    ("POST", "/v1/upload/Acme/main/"): (Endpoint("upload", "upload"), {"team": "Acme", "index": "main"}),
    ("GET", "/simple/acme/main/"): (Endpoint("simple", "index"), ACME),
    ("HEAD", "/simple/acme/main/"): (Endpoint("simple", "index"), ACME),
    # Without its slash: still the index (the handler redirects to the canonical URL).
    ("GET", "/simple/acme/main"): (Endpoint("simple", "index"), ACME),
    ("GET", "/simple//acme///main"): (Endpoint("simple", "index"), ACME),
    ("GET", "/simple/acme/../"): (Endpoint("simple", "index"), {"team": "acme", "index": ".."}),
    ("GET", "/simple/acme/main/widgets/"): (Endpoint("simple", "project"), WIDGETS),
    ("GET", "/simple/acme/main/Widgets"): (Endpoint("simple", "project"), {**ACME, "project": "Widgets"}),
    ("GET", "/simple/acme/main/a%2Fb/"): (Endpoint("simple", "project"), {**ACME, "project": "a%2Fb"}),
    # Longer than the paths whose answers are kept: matched each time, the same way.
    ("GET", f"/simple/acme/main/{'x' * 600}/"): (
        Endpoint("simple", "project"),
        {**ACME, "project": "x" * 600},
    ),
    ("GET", "/simple/acme\n/main/"): (Endpoint("simple", "index"), {"team": "acme\n", "index": "main"}),
    ("GET", f"/simple/acme/main/widgets/{WHEEL}"): (
        Endpoint("simple", "file"),
        {**WIDGETS, "filename": WHEEL},
    ),
    ("GET", f"/simple/acme/main/widgets/{WHEEL}.metadata/"): (
        Endpoint("simple", "file"),
        {**WIDGETS, "filename": WHEEL + ".metadata"},
    ),
    ("GET", "/simple/acme/main/widgets/a/b"): (Endpoint("simple", "below"), {**ACME, "rest": "widgets/a/b"}),
    ("GET", f"/files/acme/main/widgets/{WHEEL}"): (
        Endpoint("simple", "files"),
        {**WIDGETS, "filename": WHEEL},
    ),
    ("GET", f"/files/acme/main/widgets/{WHEEL}/"): (
        Endpoint("simple", "files"),
        {**WIDGETS, "filename": WHEEL},
    ),
    ("GET", f"/integrity/acme/main/widgets/1.0/{WHEEL}/provenance"): (
        Endpoint("simple", "provenance"),
        {**WIDGETS, "version": "1.0", "filename": WHEEL},
    ),
    ("GET", "/_/oidc/audience"): (Endpoint("oidc", "audience"), {}),
    ("HEAD", "/_/oidc/audience/"): (Endpoint("oidc", "audience"), {}),
    ("POST", "/_/oidc/mint-token"): (Endpoint("oidc", "mint-token"), {}),
    ("POST", "/_/oidc//burn-token"): (Endpoint("oidc", "burn-token"), {}),
    ("POST", "/_/oidc/read-token/"): (Endpoint("oidc", "read-token"), {}),
}

#: Paths below a function's prefix that no rule matches: still that function's (its 404), never
#: the dashboard's.
NO_RULE = [
    "/v1/upload",
    "/v1/upload/acme",
    "/v1/upload/acme/main/extra/",
    "/simple",
    "/simple/",
    "/simple/acme/",
    "/files",
    "/files/acme/main/widgets/",
    f"/files/acme/main/widgets/{WHEEL}/x",
    "/integrity/acme/main/widgets/1.0/provenance",
    f"/integrity/acme/main/widgets/1.0/{WHEEL}/other",
    "/_/oidc",
    "/_/oidc/nope",
    "/_/oidc/Audience",
]


@pytest.mark.parametrize(("method", "path"), list(TABLE))
def test_each_rule_takes_its_sample_paths(method: str, path: str) -> None:
    assert match(path, method) == TABLE[method, path]


def test_every_rule_has_a_sample() -> None:
    declared = {rule.endpoint for rule in MAP.iter_rules()}
    assert declared == {endpoint for endpoint, _ in TABLE.values()}


@pytest.mark.parametrize(("method", "path"), list(TABLE))
def test_bale_dev_and_the_load_balancer_send_each_sample_to_its_rules_function(
    method: str, path: str
) -> None:
    endpoint, _ = TABLE[method, path]
    assert devserver.route(path) == endpoint.target
    assert URL_MAP.target_for(path) == endpoint.target


@pytest.mark.parametrize("path", NO_RULE)
def test_a_path_below_a_prefix_without_a_rule_is_still_its_functions(path: str) -> None:
    with pytest.raises(NotFound):
        match(path, "GET")
    target = devserver.route(path)
    assert target != DASHBOARD
    # The load balancer has no rule for the bare prefixes of files, integrity and oidc (their
    # functions would only answer 404 there): the dashboard answers those.
    expected = {target, DASHBOARD} if path in PREFIX_PATHS else {target}
    assert URL_MAP.target_for(path) in expected


PREFIX_PATHS = {prefix for prefix, _ in PREFIXES}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/_/oidc/audience", {"GET", "HEAD"}),
        ("GET", "/_/oidc/mint-token", {"POST"}),
        ("DELETE", "/_/oidc/read-token/", {"POST"}),
        ("GET", "/v1/upload/acme/main/", {"POST"}),
        ("POST", "/simple/acme/main/widgets/", {"GET", "HEAD"}),
    ],
)
def test_a_rule_says_which_methods_it_takes(method: str, path: str, allowed: set[str]) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        match(path, method)
    assert set(caught.value.valid_methods or ()) == allowed
    assert rule_for(path, sorted(allowed)[0]).endpoint == match(path, sorted(allowed)[0])[0]


def test_prefixes_come_from_the_rules_and_none_lies_under_another() -> None:
    assert PREFIXES == (
        ("/v1/upload", "upload"),
        ("/simple", "simple"),
        ("/files", "simple"),
        ("/integrity", "simple"),
        ("/_/oidc", "oidc"),
    )
    for a, _ in PREFIXES:
        assert not any(b != a and a.startswith(b + "/") for b, _ in PREFIXES), a
    for rule in MAP.iter_rules():
        assert target_for(rule.rule.split("<")[0]) == rule.endpoint.target, rule.rule


def test_a_request_only_matches_the_map_bound_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Binding builds the matcher: once per process, never per request (benchmarks/routes.py)."""

    def bind(*args: object, **kwargs: object) -> None:
        raise AssertionError("the map was bound for a request")

    monkeypatch.setattr(MAP, "bind", bind)
    monkeypatch.setattr(MAP, "bind_to_environ", bind)
    assert match("/simple/acme/main/")[0] == Endpoint("simple", "index")
    assert routes._ADAPTER.map is MAP

"""bale.routes: which entry point serves a path (``bale dev`` and the load balancer agree on it)."""

from __future__ import annotations

import pytest

from bale.routes import ROUTES, target_for


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
    prefixes = [p for p, _ in ROUTES]
    assert len(prefixes) == len(set(prefixes))
    assert {t for _, t in ROUTES} == {"upload", "simple", "oidc"}
    assert all(p.startswith("/") and not p.endswith("/") for p in prefixes)

"""bale_tools.urlmap: the URL map the production-shaped stack routes by, read from terraform/."""

from __future__ import annotations

from pathlib import Path

import pytest

from bale.routes import PREFIXES, target_for
from bale_tools.urlmap import DASHBOARD, UrlMap, UrlMapError, read_url_map

PATHS = [
    "/",
    "/signin",
    "/simple",
    "/simple/",
    "/simple/acme/main/",
    "/simplex",
    "/files/acme/main/x.whl",
    "/integrity/acme/main/x/1.0/x.whl/provenance",
    "/v1/upload",
    "/v1/upload/acme/main/",
    "/v1/uploads",
    "/_/oidc/audience",
    "/_/oidcx",
    "/acme/main/",
]


def test_terraform_routes_each_prefix_of_bale_routes_to_its_entry_point() -> None:
    url_map = read_url_map()
    assert url_map.default == DASHBOARD
    for prefix, target in PREFIXES:
        assert url_map.target_for(f"{prefix}/anything") == target, prefix
    assert url_map.targets() == {target for _, target in PREFIXES} | {DASHBOARD}


@pytest.mark.parametrize("path", PATHS)
def test_the_router_agrees_with_bale_dev_on_every_path(path: str) -> None:
    """Terraform has no rule for a bare "/_/oidc" (bale.routes matches it), so it goes to the
    dashboard there; every other path goes where bale dev sends it."""
    expected = target_for(path) or DASHBOARD
    assert read_url_map().target_for(path) == expected, path


def test_longest_pattern_wins_and_exact_patterns_match_only_themselves() -> None:
    url_map = UrlMap((("/a/*", "one"), ("/a/b/*", "two"), ("/c", "three")), "dash")
    assert url_map.target_for("/a/x") == "one"
    assert url_map.target_for("/a/b/x") == "two"
    assert url_map.target_for("/c") == "three"
    assert url_map.target_for("/c/d") == "dash"
    assert url_map.target_for("/a") == "dash"
    assert url_map.replace("/a/b/*", "one").target_for("/a/b/x") == "one"
    with pytest.raises(KeyError):
        url_map.replace("/nope/*", "one")


def test_a_rule_pointing_at_nothing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "lb.tf").write_text(
        'resource "google_compute_url_map" "https" {\n'
        "  default_service = google_compute_backend_service.dashboard.id\n"
        '  path_matcher {\n    name = "m"\n'
        "    default_service = google_compute_backend_service.dashboard.id\n"
        '    path_rule {\n      paths   = ["/simple/*"]\n'
        '      service = google_compute_backend_service.function["simple"].id\n    }\n  }\n}\n'
    )
    with pytest.raises(UrlMapError, match="referenced but not defined"):
        read_url_map(tmp_path)

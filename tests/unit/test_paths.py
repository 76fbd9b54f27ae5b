"""Blob paths: Bale's own data never shares a prefix with a team's packages (issue 21 §4).

A team named ``upstream`` with indexes ``pages`` and ``files`` used to store its packages under
``upstream/pages/…`` and ``upstream/files/…``, where the upstream cache lived: the lifecycle
rule deleted them after 30 days and the simple function's service account could overwrite them.
"""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.names import validate_index, validate_team
from bale.store import paths

SHA = "a" * 64
INTERNAL_PATHS = [
    paths.upstream_page("k", "pubdep"),
    paths.upstream_file("k", SHA, "pubdep-1.0.tar.gz"),
    paths.metadata_path(paths.upstream_file("k", SHA, "pubdep-1.0-py3-none-any.whl")),
    paths.upstream_pages_prefix(),
    paths.upstream_files_prefix(),
]


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_internal_paths_are_under_an_internal_prefix(path):
    assert path.startswith(paths.INTERNAL_PREFIXES)


@pytest.mark.parametrize("prefix", paths.INTERNAL_PREFIXES)
def test_no_team_can_be_named_like_an_internal_prefix(prefix):
    first = prefix.split("/", 1)[0]
    assert first.startswith(paths.INTERNAL)
    for name in (first, paths.INTERNAL + "acme", paths.INTERNAL):
        with pytest.raises(BadRequest):
            validate_team(name)


@pytest.mark.parametrize(
    ("team", "index"),
    [("upstream", "pages"), ("upstream", "files"), ("upstream", "main"), ("u", "pages"), ("a" * 39, "b")],
)
def test_a_teams_packages_never_fall_under_an_internal_prefix(team, index):
    """The issue's case among them: team ``upstream``, indexes ``pages`` and ``files``."""
    blob = paths.blob_path(validate_team(team), validate_index(index), "pubdep", SHA, "pubdep-1.0.tar.gz")
    for path in (blob, paths.metadata_path(blob)):
        assert not path.startswith(paths.INTERNAL_PREFIXES), path
        assert not path.startswith(paths.INTERNAL)

"""The Integrity API's URL checks that need no storage: a version that is not one is a 404
before anything is read or echoed (it was echoed in the redirect of a non-normalized project
name, and a newline there made the answer a 500)."""

from __future__ import annotations

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from bale.api.simple.views import handle

NAME = "gizmo-1.0.tar.gz"


@pytest.mark.parametrize(
    "version",
    ["1.0%0d%0aX-Evil:%201", "1.0%0aX", "1.0%20x", "..", "%2e%2e", "1.0%00"],
)
def test_a_version_that_is_not_one_is_404_even_where_the_project_is_redirected(version):
    for project in ("Gizmo", "gizmo"):
        path = f"/integrity/acme/main/{project}/{version}/{NAME}/provenance"
        resp = handle(Request(EnvironBuilder(path=path).get_environ()))
        assert resp.status_code == 404, (path, resp.status_code, resp.get_data(as_text=True))
        assert "Location" not in resp.headers and "X-Evil" not in resp.headers

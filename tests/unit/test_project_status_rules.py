"""bale.packages.status: PEP 792's statuses, what each allows, and how a stored one reads (pure)."""

from __future__ import annotations

import pytest

from bale.errors import BadRequest
from bale.packages import status


def test_no_marker_reads_as_active():
    assert status.of(None) == ("active", None)
    assert status.of({"name": "widgets"}) == ("active", None)
    assert status.of({"status": "archived", "status_reason": "done"}) == ("archived", "done")


@pytest.mark.parametrize("given, stored", [("Archived", "archived"), (" quarantined ", "quarantined")])
def test_statuses_are_checked_and_normalized(given, stored):
    assert status.check_status(given, None) == (stored, None)


def test_an_unknown_status_or_an_overlong_reason_is_refused():
    with pytest.raises(BadRequest, match="Unknown project status 'retired'"):
        status.check_status("retired", None)
    with pytest.raises(BadRequest, match="at most 500"):
        status.check_status("archived", "x" * 501)
    # A reason is one line: newlines would end a meta tag's content nowhere good.
    assert status.check_status("deprecated", "use\n  gadgets ") == ("deprecated", "use gadgets")
    assert status.check_status("deprecated", "   ") == ("deprecated", None)


@pytest.mark.parametrize("state", ["archived", "quarantined"])
def test_archived_and_quarantined_refuse_uploads_naming_the_status(state):
    with pytest.raises(BadRequest, match=f"'widgets' is {state} \\(unsafe\\) and accepts no new uploads"):
        status.refuse_upload("widgets", {"status": state, "status_reason": "unsafe"})


@pytest.mark.parametrize("doc", [None, {}, {"status": "active"}, {"status": "deprecated"}])
def test_active_and_deprecated_take_uploads(doc):
    status.refuse_upload("widgets", doc)


def test_only_quarantine_withholds_files():
    assert [s for s in status.STATUSES if not status.serves_files(s)] == ["quarantined"]


def test_a_refused_download_is_404_naming_the_status_and_reason():
    from bale.errors import NotFound

    for state in ("active", "archived", "deprecated"):
        status.refuse_download("widgets", "acme/main", state, "why")  # served: no error
    with pytest.raises(NotFound) as caught:
        status.refuse_download("widgets", "acme/main", "quarantined", "malware")
    assert caught.value.status == 404
    assert caught.value.message == (
        "Project 'widgets' in acme/main is quarantined (malware): none of its files is served."
    )
    with pytest.raises(NotFound, match=r"is quarantined: none of its files"):
        status.refuse_download("widgets", "acme/main", "quarantined", None)


def test_the_project_list_leaves_out_the_index_documents_quarantined_names():
    from bale.packages.service import unquarantined

    projects = [{"name": "App", "normalized": "app"}, {"name": "Lib", "normalized": "lib"}]
    assert unquarantined(projects, {}) == projects
    assert unquarantined(projects, {"quarantined": []}) == projects
    assert unquarantined(projects, {"quarantined": ["lib", "gone"]}) == [projects[0]]

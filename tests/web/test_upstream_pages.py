"""The dashboard and an index's upstream (issue 23 §4): saving an upstream probes it once and
says what it serves; projects answered from the upstream have a page, marked as proxied, with
what Bale has cached of them. Against the fake upstream (tests/fakes/upstream.py) over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from fakes.upstream import Upstream

ADMIN = "alice@example.com"
JSON_V1 = "application/vnd.pypi.simple.v1+json"


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture(scope="module")
def _upstream_server():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def upstream(_upstream_server):
    _upstream_server.reset()
    return _upstream_server


@pytest.fixture
def alice(sign_in, acme):
    return sign_in(ADMIN)


def save(b, url: str, min_age: str = "", action: str = "set") -> str:
    form = {"index": "main", "url": url, "min_age": min_age, "credentials": "", "action": action}
    r = b.post("/teams/acme/admin/upstream", form)
    assert r.status_code == 303, text(r)
    return text(b.get(r.headers["Location"]))


def test_saving_an_upstream_probes_it_and_warns_about_a_cooldown_that_hides_everything(alice, upstream):
    upstream.add("pip", "24.0")
    page = save(alice, upstream.index_url, "3d")
    assert "Upstream of acme/main saved." in page
    assert "answers (pip: 1 files). PEP 691 JSON: yes Upload times (PEP 700): yes (1 of 1 files)" in page
    assert "hides every one" not in page

    upstream.faults["pip"].add("html_only")
    page = save(alice, upstream.index_url, "3d")
    assert "PEP 691 JSON: no, PEP 503 HTML only" in page
    assert "the cooldown hides every one of its files" in page
    # The check button asks again without saving anything.
    upstream.down = True
    page = save(alice, upstream.index_url, "", action="check")
    assert "did not answer" in page and "503" in page
    assert "saved" not in page


def test_a_proxied_project_has_a_page_with_its_cache_state(alice, stack, upstream):
    from bale.upstream.service import Upstreams

    upstream.add("pubdep", "1.0", age=dt.timedelta(days=30))
    upstream.add("pubdep", "2.0", age=dt.timedelta(hours=1))
    Upstreams(stack.stores, stack.settings).set_upstream(
        "acme", "main", url=upstream.index_url, min_age=86400
    )
    url = "/teams/acme/indexes/main/projects/pubdep/"
    # Never asked for: the page says so (and asks the upstream nothing).
    page = text(alice.get(url))
    assert 'id="proxied"' in page and "Not fetched yet" in page
    assert upstream.page_hits("pubdep") == 0

    # An installer asks: the page is cached; a download copies the file.
    token = stack.token("read")
    r = requests.get(
        f"{stack.url}/simple/acme/main/pubdep/",
        auth=("__token__", token),
        headers={"Accept": JSON_V1},
        timeout=30,
    )
    [f] = r.json()["files"]
    assert requests.get(f["url"], auth=("__token__", token), timeout=30).status_code == 200

    r = alice.get(url)
    assert r.status_code == 200
    page = text(r)
    assert upstream.index_url in page and 'id="proxied"' in page
    assert "2 files listed, 1 shown to installers" in page
    assert "1 of the newest 2 files are copied here" in page
    assert "hides 1 of 2 files of pubdep" in page.split('id="cooldown-note"')[1]
    assert "pubdep-1.0-py3-none-any.whl" in page and "pubdep-2.0-py3-none-any.whl" not in page

    # The index page links a searched name to it; a name nobody has is still 404.
    index = text(alice.get("/teams/acme/indexes/main/?q=PubDep"))
    assert f'href="{url}"' in index.split('id="upstream-lookup"')[1]
    assert alice.get("/teams/acme/indexes/main/projects/nothing/").status_code == 200  # not fetched yet
    from bale.upstream.service import Upstreams as U

    U(stack.stores, stack.settings).set_listed("acme", "main", "reserve", "nothing")
    assert alice.get("/teams/acme/indexes/main/projects/nothing/").status_code == 404


def test_without_an_upstream_an_unknown_project_is_404(alice):
    assert alice.get("/teams/acme/indexes/main/projects/pubdep/").status_code == 404

"""The pages members see: their teams, a team's indexes, an index's projects, a project."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from clients import uv_publish
from factories import make_sdist, make_wheel

README = """# Hello World

Some **bold** text and a [link](https://example.com/docs).

<script>alert("owned")</script>
<a href="javascript:alert(1)">click</a>

```python
print("hi")
```
"""


@pytest.fixture
def published(stack, tmp_path, tenancy):
    """acme/main with hello-world 1.0 (wheel + sdist), 2.0rc1 and zeta-tools 0.1, via uv publish."""
    # A person's token works only while they may write to the index.
    tenancy.set_member("acme", "ci@example.com", "member")
    tenancy.set_writer("acme", "main", "ci@example.com", True)
    files = [
        make_wheel(tmp_path, "Hello.World", "1.0", description=README, summary="Says hello"),
        make_sdist(tmp_path, "Hello.World", "1.0", description=README, summary="Says hello"),
        make_wheel(
            tmp_path, "Hello.World", "2.0rc1", description="# Pre-release notes", summary="Says hello"
        ),
        make_wheel(tmp_path, "zeta-tools", "0.1"),
    ]
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(created_by="ci@example.com"), *files)
    assert r.returncode == 0, r.stderr
    return {f.name: f for f in files}


@pytest.fixture
def bob_member(tenancy, acme):
    tenancy.set_member("acme", "bob@example.com", "member")


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_my_teams_lists_only_my_teams(sign_in, tenancy, acme):
    tenancy.create_team("globex", "gina@example.com")
    tenancy.create_team("initech", "alice@example.com")
    page = text(sign_in("alice@example.com").get("/"))
    assert 'href="/teams/acme/"' in page and 'href="/teams/initech/"' in page
    assert "globex" not in page


def test_team_page_shows_indexes_members_and_audit(sign_in, tenancy, acme, bob_member):
    tenancy.create_index("acme", "staging", actor="alice@example.com")
    page = text(sign_in("bob@example.com").get("/teams/acme/"))
    assert 'href="/teams/acme/indexes/main/"' in page and 'href="/teams/acme/indexes/staging/"' in page
    assert "alice@example.com" in page and "bob@example.com" in page
    audit = page.split('id="audit-h"')[1]
    assert "create-index" in audit and "staging" in audit and "create-team" in audit
    # A member sees no admin links.
    assert "/teams/acme/admin/" not in page


@pytest.mark.parametrize(
    "url",
    [
        "/teams/acme/",
        "/teams/acme/indexes/main/",
        "/teams/acme/indexes/main/projects/hello-world/",
        "/teams/nope/",
        "/teams/NOT..valid/",
    ],
)
def test_outsiders_see_nothing(sign_in, tenancy, acme, published, url):
    tenancy.create_team("globex", "eve@example.com")
    r = sign_in("eve@example.com").get(url)
    assert r.status_code == 404
    assert "hello" not in text(r).lower()


def test_unknown_index_and_project_are_404(sign_in, acme):
    b = sign_in("alice@example.com")
    assert b.get("/teams/acme/indexes/nope/").status_code == 404
    assert b.get("/teams/acme/indexes/main/projects/nope/").status_code == 404


def test_index_lists_projects_with_a_filter(sign_in, published, bob_member):
    b = sign_in("bob@example.com")
    page = text(b.get("/teams/acme/indexes/main/"))
    assert "Hello.World" in page and "zeta-tools" in page
    assert 'id="q"' in page and 'data-filter="#projects tbody tr"' in page
    filtered = text(b.get("/teams/acme/indexes/main/?q=hello_world"))
    assert "Hello.World" in filtered and "zeta-tools" not in filtered
    none = text(b.get("/teams/acme/indexes/main/?q=nothing-like-it"))
    assert "No project matches" in none


def test_project_page_shows_versions_files_and_install_snippet(sign_in, stack, published, bob_member):
    from bale.packages.service import Packages

    b = sign_in("bob@example.com")
    r = b.get("/teams/acme/indexes/main/projects/hello-world/")
    assert r.status_code == 200
    page = text(r)
    # Newest version first; the description is the newest final release's.
    assert page.index('id="v2.0rc1"') < page.index('id="v1.0"')
    assert '<span class="version">1.0</span>' in page
    records = {f.filename: f for f in Packages(stack.stores).files("acme", "main", "hello-world")}
    assert len(records) == 3
    for rec in records.values():
        assert rec.filename in page
        assert rec.sha256 in page
        assert rec.uploaded_by in page
    assert "ci@example.com" in page
    assert rec.upload_time.strftime("%Y-%m-%d %H:%M UTC") in page
    wheel = records["hello_world-1.0-py3-none-any.whl"]
    size = wheel.size
    assert (f"{size} bytes" if size < 1024 else f"{size / 1024:.1f} KB") in page
    snippet = re.search(r'<code id="install-snippet">(.*?)</code>', page).group(1)
    assert (
        htmllib.unescape(snippet)
        == 'uv pip install --index-url "http://localhost/simple/acme/main/" hello-world'
    )
    snippet = re.search(r'<code id="install-token-snippet">(.*?)</code>', page).group(1)
    assert htmllib.unescape(snippet) == (
        'uv pip install --index-url "http://__token__:$BALE_TOKEN@localhost/simple/acme/main/" hello-world'
    )
    assert "Says hello" in page
    # A member gets no yank buttons.
    assert "/admin/yank" not in page


def test_install_snippet_uses_the_public_base_url(dash_settings, accounts, published, acme):
    import dataclasses

    from dashboard import create_app

    app = create_app(dataclasses.replace(dash_settings, base_url="https://pypi.example.com"))
    client = app.test_client()
    page = text(client.get("/signin"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/session", data={"csrf_token": token, "id_token": accounts.id_token("alice@example.com")})
    page = text(client.get("/teams/acme/indexes/main/projects/hello-world/"))
    assert "https://__token__:$BALE_TOKEN@pypi.example.com/simple/acme/main/" in htmllib.unescape(page)


def test_project_description_is_rendered_and_sanitized(sign_in, published, acme):
    page = text(sign_in("alice@example.com").get("/teams/acme/indexes/main/projects/hello-world/"))
    readme = page.split('<div class="readme">')[1].split("</div>")[0]
    assert "<h1" in readme and "Hello World" in readme
    assert "<strong>bold</strong>" in readme
    assert 'href="https://example.com/docs"' in readme
    assert "<script" not in readme and "javascript:" not in readme
    assert "Pre-release notes" not in readme  # 2.0rc1 is a pre-release: 1.0 describes the project


def test_yanked_state_is_shown(sign_in, stack, published, bob_member):
    from bale.packages.service import Packages

    Packages(stack.stores).set_yanked("acme", "main", "hello-world", "1.0", True, "broken build")
    page = text(sign_in("bob@example.com").get("/teams/acme/indexes/main/projects/hello-world/"))
    release = page.split('id="v1.0"')[1].split('class="release')[0]
    assert "yanked" in release and "broken build" in release
    other = page.split('id="v2.0rc1"')[1].split('id="v1.0"')[0]
    assert "badge-yanked" not in other


def test_unnormalized_project_name_redirects(sign_in, published, acme):
    r = sign_in("alice@example.com").get("/teams/acme/indexes/main/projects/Hello.World/")
    assert r.status_code == 301
    assert r.headers["Location"] == "/teams/acme/indexes/main/projects/hello-world/"


def test_every_form_carries_a_csrf_token(sign_in, published, acme):
    b = sign_in("alice@example.com")
    pages = [
        "/",
        "/teams/acme/",
        "/teams/acme/indexes/main/",
        "/teams/acme/indexes/main/projects/hello-world/",
        "/teams/acme/admin/",
        "/teams/acme/admin/members",
        "/teams/acme/admin/access",
        "/teams/acme/admin/tokens",
        "/teams/acme/admin/publishers",
    ]
    checked = 0
    for url in pages:
        r = b.get(url)
        assert r.status_code == 200, url
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text(r), flags=re.S):
            if re.search(r'method="post"', form, flags=re.I):
                assert 'name="csrf_token"' in form, (url, form[:200])
                checked += 1
    assert checked >= 10


def test_index_page_uv_project_snippet_works_as_shown(sign_in, stack, published, bob_member, tmp_path):
    """Paste the page's pyproject.toml and environment snippets into a project: uv locks from Bale."""
    import sys

    from clients import BIN, run

    page = text(sign_in("bob@example.com").get("/teams/acme/indexes/main/"))
    toml = htmllib.unescape(re.search(r'<code id="uv-project-snippet">(.*?)</code>', page, re.S).group(1))
    env_lines = htmllib.unescape(re.search(r'<code id="uv-env-snippet">(.*?)</code>', page, re.S).group(1))
    assert 'name = "acme-main"' in toml and "export UV_INDEX_ACME_MAIN_PASSWORD=" in env_lines
    assert 'publish-url = "http://localhost/v1/upload/acme/main/"' in toml
    assert '<code id="login-snippet">bale login http://localhost</code>' in page
    # The test client's host is "localhost"; the registry itself runs at stack.url.
    toml = toml.replace("http://localhost", stack.url)
    values = {"$BALE_TOKEN": stack.token("read"), "$BALE_UPLOAD_TOKEN": stack.token()}
    env = {"UV_CACHE_DIR": str(tmp_path / "cache"), "UV_PYTHON_DOWNLOADS": "never", "HOME": str(tmp_path)}
    for line in env_lines.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = values.get(value.strip('"'), value.strip('"'))

    root = tmp_path / "proj"
    (root / "src" / "proj").mkdir(parents=True)
    (root / "src" / "proj" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.11"\ndependencies = ["zeta-tools"]\n\n'
        + toml
        + '\n\n[build-system]\nrequires = ["uv_build>=0.8"]\nbuild-backend = "uv_build"\n'
    )
    py = ["--python", sys.executable]
    r = run([BIN / "uv", "lock", *py], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    assert f'source = {{ registry = "{stack.url}/simple/acme/main/" }}' in (root / "uv.lock").read_text()
    assert (
        run([BIN / "uv", "build", "--no-build-isolation", "--offline", *py], env=env, cwd=root).returncode
        == 0
    )
    r = run([BIN / "uv", "publish", "--index", "acme-main"], env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "Uploading proj-0.1-py3-none-any.whl" in r.stderr


def test_index_page_is_paged_and_its_reads_bounded(sign_in, stack, bob_member, dash_settings):
    """250 projects: 100 a page, the filter searches all of them, and a page costs the catalog
    plus its own projects' documents, not one read per project in the index."""
    from bulk import FirestoreReads, bulk_project

    for i in range(250):
        bulk_project(stack.stores, f"Lib-{i:03d}", 1)
    b = sign_in("bob@example.com")
    b.get("/teams/acme/indexes/main/")  # sign-in and session reads out of the way
    from bale.store.backends import get_stores

    with FirestoreReads(get_stores(dash_settings).db) as reads:  # the dashboard's own client
        first = text(b.get("/teams/acme/indexes/main/"))
        n = reads.reset()
    assert "Lib-000" in first and "Lib-099" in first and "Lib-100" not in first
    assert "Page 1 of 3 (250 projects)" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert 100 < n < 130, n  # session, membership, index, 8 catalog chunks, 100 projects: never 250
    last = text(b.get("/teams/acme/indexes/main/?page=3"))
    assert "Lib-249" in last and "Lib-199" not in last and 'rel="next"' not in last
    assert "Lib-249" in text(b.get("/teams/acme/indexes/main/?page=99"))  # clamped to the last page
    found = text(b.get("/teams/acme/indexes/main/?q=lib-24"))
    assert [f"Lib-24{i}" in found for i in range(10)] == [True] * 10 and "Lib-239" not in found
    assert "Page 1 of" not in found  # 10 matches: one page, no pager

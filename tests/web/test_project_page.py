"""The project page as PyPI's (issue 23 §5), and the team pages around it: the install advice,
downloads, the core metadata in a sidebar, a guarded yank, who uploaded, full Simple URLs, the
uploads in the audit log, the two token pages told apart, a favicon."""

from __future__ import annotations

import hashlib
import html as htmllib
import re

import pytest

from clients import uv_publish
from factories import make_wheel

ADMIN = "alice@example.com"
PAGE = "/teams/acme/indexes/main/projects/widgets/"
META = (
    "License: MIT\n"
    "Project-URL: Source, https://example.com/src\n"
    "Project-URL: Evil, javascript:alert(1)\n"
    "Home-page: https://example.com/home\n"
)


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def widgets(stack, tmp_path, acme):
    """widgets 1.0 and 1.1 in acme/main, uploaded with a CLI-made team token named "release bot"."""
    files = [
        make_wheel(tmp_path, "widgets", "1.0"),
        make_wheel(
            tmp_path,
            "widgets",
            "1.1",
            requires=["requests>=2", 'tomli; python_version < "3.11"'],
            classifiers=["License :: OSI Approved :: MIT License", "Programming Language :: Python :: 3"],
            extra=META,
        ),
    ]
    from bale.tokens.service import Tokens

    secret, token = Tokens(stack.stores).create(
        "acme", "main", "upload", created_by="cli", description="release bot"
    )
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", secret, *files)
    assert r.returncode == 0, r.stderr
    return {"files": files, "token": token}


def test_install_advice_is_bale_login_first_and_a_token_url_only_as_the_fallback(sign_in, widgets):
    page = text(sign_in(ADMIN).get(PAGE))
    login = page.index('id="login-snippet"')
    install = re.search(r'<code id="install-snippet">(.*?)</code>', page).group(1)
    assert (
        htmllib.unescape(install) == 'uv pip install --index-url "http://localhost/simple/acme/main/" widgets'
    )
    assert "$BALE_TOKEN" not in install
    token_url = page.index('id="install-token-snippet"')
    # The token in a URL is the fallback: after the login way, folded away.
    assert login < page.index('id="install-snippet"') < token_url
    assert page.rfind("<details", 0, token_url) > page.index('id="install-snippet"')


def test_each_file_downloads_from_its_link(sign_in, widgets, stack, tenancy):
    b = sign_in(ADMIN)
    page = text(b.get(PAGE))
    for path in widgets["files"]:
        link = f"/teams/acme/indexes/main/projects/widgets/files/{path.name}"
        assert f'href="{link}"' in page
        r = b.get(link)
        assert r.status_code == 200
        assert hashlib.sha256(r.get_data()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f'filename="{path.name}"' in r.headers["Content-Disposition"]
    assert (
        b.get("/teams/acme/indexes/main/projects/widgets/files/nope-1.0-py3-none-any.whl").status_code == 404
    )
    # A deleted file is gone here too.
    from bale.packages.service import Packages

    Packages(stack.stores).delete("acme", "main", "widgets", "1.0", actor="cli")
    gone = widgets["files"][0].name
    assert b.get(f"/teams/acme/indexes/main/projects/widgets/files/{gone}").status_code == 404


def test_a_non_member_cannot_download(sign_in, widgets, tenancy):
    tenancy.create_team("globex", "gina@example.com")
    r = sign_in("gina@example.com").get(
        f"/teams/acme/indexes/main/projects/widgets/files/{widgets['files'][1].name}"
    )
    assert r.status_code in (403, 404)


def test_sidebar_shows_dependencies_license_classifiers_links_and_release_history(sign_in, widgets):
    page = text(sign_in(ADMIN).get(PAGE))
    aside = page.split('<aside aria-label="Project details"')[1].split("</aside>")[0]
    deps = aside.split('id="requires-dist"')[1].split("</ul>")[0]
    assert "requests&gt;=2" in deps and "tomli" in deps
    assert "<strong>License</strong> MIT" in aside
    classifiers = aside.split('id="classifiers"')[1].split("</ul>")[0]
    assert "License :: OSI Approved :: MIT License" in classifiers
    urls = aside.split('id="project-urls"')[1].split("</ul>")[0]
    assert 'href="https://example.com/src"' in urls and ">Source<" in urls
    assert 'href="https://example.com/home"' in urls
    assert "javascript:" not in urls  # links from metadata: http(s) only
    history = aside.split('id="history-h"')[1].split("</ol>")[0]
    assert history.index('href="#v1.1"') < history.index('href="#v1.0"')


def test_every_version_uses_one_table_layout_with_unbroken_filenames(sign_in, widgets):
    page = text(sign_in(ADMIN).get(PAGE))
    tables = re.findall(r'<table class="files">\s*(<colgroup>.*?</colgroup>)', page, re.S)
    assert len(tables) == 2 and len(set(tables)) == 1
    css = text(sign_in(ADMIN).get("/static/bale.css"))
    assert re.search(r"table\.files \{[^}]*table-layout: fixed", css)
    assert re.search(r"table\.files \.filename \{[^}]*white-space: nowrap", css)


def test_yank_sits_in_a_per_version_menu_and_needs_a_reason(sign_in, widgets, stack):
    from bale.packages.service import Packages

    b = sign_in(ADMIN)
    page = text(b.get(PAGE))
    for version in ("1.0", "1.1"):
        release = page.split(f'id="v{version}"')[1].split('class="release')[0]
        menu = release.split('<details class="version-menu">')[1]
        assert f"<summary>Manage {version}</summary>" in menu
        # The yank button is only in the menu, with a required reason and the CSRF token.
        before_menu = release.split('<details class="version-menu">')[0]
        assert "Yank" not in before_menu
        form = menu.split('action="/teams/acme/admin/yank"')[1].split("</form>")[0]
        assert 'name="reason"' in form and "required" in form.split('name="reason"')[1].split(">")[0]
        assert 'name="csrf_token"' in form
    # Without a reason nothing is yanked, and the page says why.
    form = {"index": "main", "project": "widgets", "version": "1.1", "action": "yank", "reason": " "}
    r = b.post("/teams/acme/admin/yank", form)
    assert "give a reason" in text(b.get(r.headers["Location"]))
    assert not any(f.yanked for f in Packages(stack.stores).files("acme", "main", "widgets"))
    r = b.post("/teams/acme/admin/yank", {**form, "reason": "broken wheel"})
    assert {
        f.yanked for f in Packages(stack.stores).files("acme", "main", "widgets") if f.version == "1.1"
    } == {True}


def test_uploader_is_the_token_by_id_and_name_not_cli(sign_in, widgets):
    page = text(sign_in(ADMIN).get(PAGE))
    token = widgets["token"]
    by = re.findall(r'<td data-label="By" class="by">(.*?)</td>', page)
    assert by and set(by) == {f"token {token.id} (release bot), made by cli"}


def test_old_records_that_say_cli_are_explained():
    from dashboard.projects import uploader

    assert uploader("cli") == "a team token made with the bale CLI"
    assert uploader("bob@example.com") == "bob@example.com"


def test_team_page_shows_full_simple_urls_and_uploads_in_the_audit_log(sign_in, widgets):
    page = text(sign_in(ADMIN).get("/teams/acme/"))
    assert '<code id="simple-main">http://localhost/simple/acme/main/</code>' in page
    audit = page.split('class="audit"')[1].split("</table>")[0]
    for path in widgets["files"]:
        assert f"main/widgets {path.name}" in audit
    assert f"token {widgets['token'].id} (release bot), made by cli" in audit
    assert audit.count("<code>upload</code>") == 2


def test_an_upload_writes_one_audit_entry_and_a_repeat_none(stack, tenancy, widgets):
    uploads = [e for e in tenancy.audit_log("acme") if e["action"] == "upload"]
    assert len(uploads) == 2
    # The same files again: accepted (identical), but nothing new happened.
    assert uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), *widgets["files"]).returncode == 0
    assert len([e for e in tenancy.audit_log("acme") if e["action"] == "upload"]) == 2


def test_the_audit_log_pages_back_in_time(sign_in, tenancy, acme):
    from bale.tenancy.audit import AuditLog

    log = AuditLog(tenancy.stores)
    for i in range(55):
        log.record("acme", "cli", "test", f"entry {i:02d}")
    b = sign_in(ADMIN)
    first = text(b.get("/teams/acme/"))
    assert "entry 54" in first and "entry 04" not in first
    older = re.search(r'href="(/teams/acme/\?before=[^"#]+)#audit-h" rel="next"', first).group(1)
    second = text(b.get(htmllib.unescape(older)))
    assert "entry 04" in second and "entry 54" not in second
    assert b.get("/teams/acme/?before=yesterday").status_code == 400


def test_the_two_token_pages_say_how_they_differ(sign_in, acme):
    b = sign_in(ADMIN)
    mine = text(b.get("/teams/acme/tokens/"))
    team = text(b.get("/teams/acme/admin/tokens"))
    about_mine = mine.split('id="tokens-about">')[1].split("</p>")[0]
    about_team = team.split('id="tokens-about">')[1].split("</p>")[0]
    assert "Only your own tokens" in about_mine and "bale login" in about_mine
    assert "Every token that works in acme" in about_team and "revoke any" in about_team


def test_favicon_is_served(app):
    r = app.test_client().get("/favicon.ico")
    assert r.status_code == 200
    assert r.mimetype == "image/svg+xml"
    assert r.get_data(as_text=True).startswith("<svg")

"""Publishing with the real uv and twine against the running stack."""

import pytest

from clients import twine_upload, uv_publish
from factories import make_sdist, make_wheel

pytestmark = pytest.mark.e2e


def flat(output: str) -> str:
    """Output with its line wrapping undone (twine wraps long messages to the terminal width)."""
    return " ".join(output.split())


def upload_url(stack, team="acme", index="main"):
    return f"{stack.url}/v1/upload/{team}/{index}/"


def test_uv_publish_wheel_and_sdist(stack, tmp_path):
    from bale.packages.service import Packages

    whl = make_wheel(tmp_path, "Hello.World", "1.0")
    sdist = make_sdist(tmp_path, "Hello.World", "1.0")
    r = uv_publish(upload_url(stack), stack.token(), whl, sdist)
    assert r.returncode == 0, r.stderr
    files = {f.filename: f for f in Packages(stack.stores).files("acme", "main", "hello-world")}
    assert set(files) == {whl.name, sdist.name}
    assert files[whl.name].size == whl.stat().st_size
    assert stack.stores.blobs.read(files[whl.name].metadata_path).startswith(b"Metadata-Version: 2.1")


def test_twine_upload_and_skip_existing(stack, tmp_path):
    whl = make_wheel(tmp_path, "twined", "0.1")
    token = stack.token()
    r = twine_upload(upload_url(stack), token, whl)
    assert r.returncode == 0, r.stdout + r.stderr
    # The same file again is a success, so retries work (twine only offers --skip-existing for
    # registries it knows by name; a 200 on an identical re-upload gives the same effect).
    r = twine_upload(upload_url(stack), token, whl)
    assert r.returncode == 0, r.stdout + r.stderr


def test_twine_shows_refusal_message(stack, tmp_path):
    whl = make_wheel(tmp_path, "secret-pkg", "1.0", classifiers=["Private :: Do Not Upload"])
    r = twine_upload(upload_url(stack), stack.token(), whl)
    assert r.returncode != 0
    assert "Private :: Do Not Upload" in r.stdout + r.stderr


def test_uv_shows_refusal_message(stack, tmp_path):
    whl = make_wheel(tmp_path, "other-team-pkg", "1.0", classifiers=["Private :: bale :: globex"])
    r = uv_publish(upload_url(stack), stack.token(), whl)
    assert r.returncode != 0
    assert "team 'globex'" in r.stderr


def _unnormalized(tmp_path):
    return (
        make_wheel(tmp_path, "Foo.Bar", "1.0", filename="Foo.Bar-1.0-py3-none-any.whl"),
        make_sdist(tmp_path, "Foo.Baz", "1.0", filename="Foo.Baz-1.0.tar.gz"),
    )


def _nothing_stored(stack):
    from bale.packages.service import Packages

    packages = Packages(stack.stores)
    return packages.files("acme", "main", "foo-bar") == [] and packages.files("acme", "main", "foo-baz") == []


def test_twine_shows_why_an_unnormalized_filename_is_refused(stack, tmp_path):
    """PyPI refuses these names and uv skips them when it reads a page, so accepting them would
    make uv and pip see different files. twine sends them; it shows the server's message."""
    whl, sdist = _unnormalized(tmp_path)
    for path, start in ((whl, "'Foo.Bar' with 'foo_bar'"), (sdist, "'Foo.Baz' with 'foo_baz'")):
        r = twine_upload(upload_url(stack), stack.token(), path)
        out = flat(r.stdout + r.stderr)
        assert r.returncode != 0 and "400" in out and start in out, out
    assert _nothing_stored(stack)


def test_uv_does_not_send_an_unnormalized_filename(stack, tmp_path):
    """uv 0.13 skips such files itself, with a warning naming the normalized name, and exits
    0: the server's refusal above is for twine and other clients, and this keeps us told if
    uv starts sending them."""
    whl, sdist = _unnormalized(tmp_path)
    r = uv_publish(upload_url(stack), stack.token(), whl, sdist)
    assert "expected `foo_bar-1.0-py3-none-any.whl`), skipping" in r.stderr, r.stderr
    assert "expected `foo_baz-1.0.tar.gz`), skipping" in r.stderr, r.stderr
    assert _nothing_stored(stack)


def test_publishing_to_the_index_url_names_the_upload_url(stack, tmp_path):
    """twine and uv given the Simple URL (the one that installs work with) print the 405's
    message, which says where to upload."""
    whl = make_wheel(tmp_path, "misdirected", "1.0")
    wanted = f"{stack.url}/v1/upload/acme/main/"
    r = twine_upload(f"{stack.url}/simple/acme/main/", stack.token(), whl)
    assert r.returncode != 0 and wanted in flat(r.stdout + r.stderr), r.stdout + r.stderr
    r = uv_publish(f"{stack.url}/simple/acme/main/", stack.token(), whl)
    assert r.returncode != 0 and wanted in r.stderr, r.stderr


def test_a_client_on_a_wrong_path_gets_one_plain_line(stack, tmp_path):
    """Paths that are no API's belong to the dashboard; uv and twine printed its whole HTML
    error page. Clients get one line (in the status line too, all twine shows), browsers the page."""
    import requests

    whl = make_wheel(tmp_path, "lost", "1.0")
    where = "Uploads go to /v1/upload/TEAM/INDEX/, installs read /simple/TEAM/INDEX/."
    r = uv_publish(f"{stack.url}/upload/acme/main/", stack.token(), whl)
    assert r.returncode != 0
    assert f"Server says: Not found: /upload/acme/main/ is not a Bale URL. {where}" in r.stderr, r.stderr
    assert "<" not in r.stderr
    r = twine_upload(f"{stack.url}/upload/acme/main/", stack.token(), whl)
    assert r.returncode != 0 and where in flat(r.stdout + r.stderr), r.stdout + r.stderr
    uv_accept = (
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
    )
    for accept in (uv_accept, "*/*", None):
        got = requests.get(f"{stack.url}/acme/main/", headers={"Accept": accept}, timeout=10)
        assert got.status_code == 404 and got.headers["Content-Type"].startswith("text/plain")
        assert got.text == f"Not found: /acme/main/ is not a Bale URL. {where}\n"
    got = requests.put(f"{stack.url}/signin", timeout=10)
    assert got.status_code == 405 and got.text.startswith("Method PUT is not allowed on /signin.")
    assert "GET" in got.headers["Allow"]
    browser = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "Sec-Fetch-Mode": "navigate"}
    for headers in (browser, {"Accept": browser["Accept"]}, {"Sec-Fetch-Mode": "navigate"}):
        got = requests.get(f"{stack.url}/acme/main/", headers=headers, timeout=10)
        assert got.status_code == 404 and got.headers["Content-Type"].startswith("text/html")


def test_uv_publish_without_credentials_is_401(stack, tmp_path):
    whl = make_wheel(tmp_path, "anon", "1.0")
    r = uv_publish(upload_url(stack), "bale_0000000000000000_" + "x" * 43, whl)
    assert r.returncode != 0
    assert "401" in r.stderr or "Invalid or revoked token" in r.stderr


def test_read_token_cannot_upload(stack, tmp_path):
    whl = make_wheel(tmp_path, "readonly", "1.0")
    r = twine_upload(upload_url(stack), stack.token("read"), whl)
    assert r.returncode != 0
    assert "403" in r.stdout + r.stderr
    assert "upload token" in r.stdout + r.stderr


def test_uv_publish_check_url_skips_what_is_there(stack, tmp_path):
    """`uv publish --check-url` asks the Simple API first and skips files already uploaded."""
    whl = make_wheel(tmp_path, "checked", "1.0")
    sdist = make_sdist(tmp_path, "checked", "1.0")
    token = stack.token()
    assert uv_publish(upload_url(stack), token, whl).returncode == 0
    # The check URL carries its own credentials, as an index URL does.
    check = stack.url.replace("://", f"://__token__:{token}@") + "/simple/acme/main/"
    r = uv_publish(upload_url(stack), token, whl, sdist, extra=["--check-url", check])
    assert r.returncode == 0, r.stderr
    assert f"File {whl.name} already exists, skipping" in r.stderr
    assert f"Uploading {sdist.name}" in r.stderr


def test_a_retry_of_a_stored_file_writes_nothing(stack, tmp_path):
    """An identical re-upload is answered from the file's record: no storage request at all."""
    from bale.store.backends import get_stores

    whl = make_wheel(tmp_path, "retried", "1.0", payload=b"x" * 100_000)
    token = stack.token()
    assert uv_publish(upload_url(stack), token, whl).returncode == 0
    session = get_stores().blobs.bucket.client._http
    calls = []
    original = session.request
    session.request = lambda method, url, *a, **kw: calls.append(method) or original(method, url, *a, **kw)
    try:
        r = twine_upload(upload_url(stack), token, whl)
    finally:
        del session.request
    assert r.returncode == 0, r.stdout + r.stderr
    assert calls == []

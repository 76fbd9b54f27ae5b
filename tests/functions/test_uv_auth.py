"""docs/clients.md "Sign in once", run as written: uv's credential store holds the token (as
``bale login`` leaves it), and uv, curl and twine use it with no token on a command line.

The commands run through ``bash -c`` exactly as the docs spell them, with the docs' host
replaced by the test stack's.
"""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from test_client_config import write_project

from clients import BIN, run
from factories import make_wheel

pytestmark = pytest.mark.e2e

BOB = "bob@example.com"


@pytest.fixture
def signed_in(stack, tenancy, tmp_path):
    """Bob's login token in a fresh uv credential store, stored as the docs say."""
    from bale.tokens.service import Permission, TokenKind, Tokens

    tenancy.set_member("acme", BOB, "member")
    tenancy.set_writer("acme", "main", BOB, True)
    secret, _ = Tokens(stack.stores).create_personal(
        BOB, TokenKind.LOGIN, Permission.UPLOAD, expires_in=dt.timedelta(days=1)
    )
    (tmp_path / "home").mkdir()
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOST": stack.url,
        "TOKEN": secret,
    }
    r = run(["bash", "-c", 'echo "$TOKEN" | uv auth login "$HOST" --token -'], env=env)
    assert r.returncode == 0, r.stderr
    del env["TOKEN"]
    return env, secret


def sh(script: str, env: dict, cwd=None):
    return run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd)


def test_uv_curl_and_twine_take_the_token_from_uvs_store(stack, signed_in, tmp_path):
    env, secret = signed_in
    dist = tmp_path / "dist"
    dist.mkdir()
    make_wheel(dist, "acme-core", "1.0")
    assert sh('uv auth token "$HOST"', env).stdout.strip() == secret

    r = sh(
        'twine upload --non-interactive --disable-progress-bar --repository-url "$HOST/v1/upload/acme/main/" '
        '-u __token__ --password "$(uv auth token "$HOST")" dist/*',
        env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = sh(
        'export BALE_TOKEN=$(uv auth token "$HOST")\n'
        'curl -sS --fail -H "Authorization: Bearer $BALE_TOKEN" "$HOST/simple/acme/main/acme-core/"',
        env,
    )
    assert r.returncode == 0 and "acme_core-1.0-py3-none-any.whl" in r.stdout, r.stderr
    r = sh(
        f'uv pip install --python {sys.executable} --target t --index-url "$HOST/simple/acme/main/" acme-core',
        env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t" / "acme_core").is_dir()
    # Without the store, the same install is refused: the credential came from it.
    r = sh(
        f'uv pip install --no-cache --python {sys.executable} --target t2 --index-url "$HOST/simple/acme/main/" '
        "acme-core",
        {**env, "XDG_DATA_HOME": str(tmp_path / "empty")},
        cwd=tmp_path,
    )
    assert r.returncode != 0 and "401" in r.stderr


def test_a_named_index_needs_no_urls_or_tokens(stack, signed_in, tmp_path):
    env, _ = signed_in
    root = tmp_path / "app"
    write_project(root, stack, [])
    py = f"--python {sys.executable}"
    r = sh(f"uv lock {py} && uv sync {py} && uv build --no-build-isolation --offline {py}", env, cwd=root)
    assert r.returncode == 0, r.stderr
    r = sh("uv publish --index bale --dry-run", env, cwd=root)
    assert r.returncode == 0, r.stderr
    assert not stack.stores.db.collection("teams/acme/indexes/main/projects").get()  # dry run
    r = sh("uv publish --index bale", env, cwd=root)
    assert r.returncode == 0, r.stderr
    from bale.packages.service import Packages

    files = Packages(stack.stores).files("acme", "main", "app")
    assert sorted(f.filename for f in files) == ["app-0.1.0-py3-none-any.whl", "app-0.1.0.tar.gz"]
    assert {f.uploaded_by for f in files} == {BOB}


def test_uv_auth_login_strips_only_a_trailing_simple(stack, signed_in, tmp_path):
    """docs/clients.md: HOST/simple is the host's credential; an index URL is that index's only."""
    env, secret = signed_in
    env = {**env, "XDG_DATA_HOME": str(tmp_path / "store2"), "TOKEN": secret}
    r = sh('echo "$TOKEN" | uv auth login "$HOST/simple" --token -', env)
    assert r.returncode == 0, r.stderr
    assert sh('uv auth token "$HOST"', env).stdout.strip() == secret
    assert sh('uv auth token "$HOST/v1/upload/acme/main/"', env).stdout.strip() == secret
    r = sh('uv auth logout "$HOST"', env)
    assert r.returncode == 0, r.stderr

    r = sh('echo "$TOKEN" | uv auth login "$HOST/simple/acme/main/" --token -', env)
    assert r.returncode == 0, r.stderr
    assert sh('uv auth token "$HOST/simple/acme/main/"', env).stdout.strip() == secret
    for elsewhere in ("$HOST", "$HOST/v1/upload/acme/main/", "$HOST/simple/acme/staging/"):
        r = run(["bash", "-c", f'uv auth token "{elsewhere}"'], env=env)
        assert r.returncode != 0 and secret not in r.stdout, elsewhere

"""Fixtures: the real emulators, started once per session and cleared per test.

Nothing here fakes our storage: Firestore is Google's emulator, Cloud Storage
is fake-gcs-server, and the registry is served over real HTTP by the same
dispatcher ``bale dev`` uses, so real clients (uv, pip, twine) can talk to it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "demo-bale"
BUCKET = "bale-test"
BIN = Path(sys.executable).parent

sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def emulators(tmp_path_factory):
    from bale_tools.emulators import FirestoreEmulator, GCSEmulator

    logs = tmp_path_factory.mktemp("emulator-logs")
    fs = FirestoreEmulator(log_dir=logs)
    gcs = GCSEmulator(log_dir=logs)
    try:
        fs.start()
        gcs.start()
    except Exception as exc:  # fail loudly: a skipped suite would look green
        fs.stop(grace=2)
        gcs.stop(grace=2)
        pytest.exit(f"cannot start the emulators: {exc}", returncode=3)
    os.environ["GOOGLE_CLOUD_PROJECT"] = PROJECT
    os.environ["FIRESTORE_EMULATOR_HOST"] = fs.host
    os.environ["STORAGE_EMULATOR_HOST"] = gcs.host
    os.environ["BALE_BUCKET"] = BUCKET
    # The tests' upstreams run on loopback: allowed here as on `bale dev`, never in production.
    os.environ["BALE_UPSTREAM_ALLOW_LOOPBACK"] = "1"
    # The suite checks that a revoked token or a removed member stops reading at once; reads
    # that trust a token for a few seconds are tested with the cache on in test_token_cache.py.
    os.environ["BALE_TOKEN_CACHE_SECONDS"] = "0"
    # The in-process server (werkzeug) has a thread per connection, not gunicorn's pool of 8:
    # slots for that many (bale.store.guard), so ten clients at once are not refused.
    os.environ["THREADS"] = "64"
    yield fs, gcs
    fs.stop(grace=2)
    gcs.stop(grace=2)


@pytest.fixture(scope="session")
def base_settings(emulators):
    from bale.settings import Settings

    fs, gcs = emulators
    return Settings(
        project=PROJECT,
        bucket=BUCKET,
        firestore_emulator_host=fs.host,
        storage_emulator_host=gcs.host,
        upstream_allow_loopback=True,
        token_cache_seconds=0,
        threads=64,
    )


@pytest.fixture
def settings(base_settings):
    """Settings for one test; override fields with dataclasses.replace in the test."""
    return base_settings


@pytest.fixture(autouse=True)
def _clean(request):
    """Clear both emulators after each test that used them."""
    yield
    if "emulators" in request.fixturenames:
        fs, gcs = request.getfixturevalue("emulators")
        fs.clear(PROJECT)
        gcs.clear(BUCKET)
        from bale.api.simple import views as simple_api
        from bale.store.backends import reset_guards

        simple_api.clear_caches()
        reset_guards()


@pytest.fixture
def stores(settings):
    from bale.store.backends import Stores

    s = Stores(settings)
    s.blobs.ensure_bucket()
    return s


@pytest.fixture
def tenancy(stores):
    from bale.tenancy.service import Tenancy

    return Tenancy(stores)


@pytest.fixture
def tokens(stores):
    from bale.tokens.service import Tokens

    return Tokens(stores)


@pytest.fixture
def acme(tenancy):
    tenancy.create_team("acme", "alice@example.com")
    return "acme"


@dataclasses.dataclass
class Stack:
    url: str
    settings: object
    stores: object

    def token(self, permission="upload", team="acme", index="main", projects=None, **kw) -> str:
        from bale.tokens.service import Tokens

        secret, _ = Tokens(self.stores).create(team, index, permission, projects=projects, **kw)
        return secret


@pytest.fixture(scope="session")
def _server(base_settings):
    """The registry over real HTTP for the whole session (settings are read per request)."""
    from bale_tools.devserver import Server, build_app

    server = Server(build_app(base_settings)).start()
    os.environ["BALE_BASE_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def stack(_server, base_settings, stores, acme):
    return Stack(url=_server.url, settings=base_settings, stores=stores)


@pytest.fixture(scope="session")
def _oidc_issuer_server():
    """Local OIDC issuers (GitHub, GitLab, Google shaped) over HTTP for the session."""
    from fakes.oidc_issuer import Issuers
    from fakes.server import Server

    holder = {}
    server = Server(lambda environ, start_response: holder["issuers"].wsgi(environ, start_response))
    holder["issuers"] = Issuers(server.url)
    with server:
        yield holder["issuers"]


@pytest.fixture
def oidc_issuers(_oidc_issuer_server, emulators):
    """Point the running functions at the local issuers (settings come from the environment)."""
    from bale import settings as settings_mod
    from bale.publishing import trusted as trusted_publishing

    issuers = _oidc_issuer_server
    issuers.reset()
    env = {
        f"BALE_{name.upper()}_OIDC_ISSUER": issuer.url
        for name, issuer in issuers.all.items()
        if name != "ghes"
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings_mod.get_settings.cache_clear()
    trusted_publishing.clear_caches()
    yield issuers
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    settings_mod.get_settings.cache_clear()
    trusted_publishing.clear_caches()


@pytest.fixture(scope="session")
def _test_sigstore(tmp_path_factory):
    """A throwaway Sigstore trust root (tests/fakes/sigstore_root.py) and its trusted_root.json."""
    from fakes.sigstore_root import TestSigstore

    sig = TestSigstore()
    path = sig.write_trusted_root(tmp_path_factory.mktemp("sigstore") / "trusted_root.json")
    return sig, path


@pytest.fixture
def test_sigstore(_test_sigstore, emulators):
    """The throwaway Sigstore, with the running functions' attestation verifier pointed at its
    root (BALE_SIGSTORE_TRUSTED_ROOT) for the test; ``.root_path`` is its trusted_root.json."""
    from bale import settings as settings_mod

    sig, path = _test_sigstore
    os.environ["BALE_SIGSTORE_TRUSTED_ROOT"] = path
    settings_mod.get_settings.cache_clear()
    sig.root_path = path
    yield sig
    os.environ.pop("BALE_SIGSTORE_TRUSTED_ROOT", None)
    settings_mod.get_settings.cache_clear()


@pytest.fixture
def client_env(tmp_path):
    """Environment for the real clients (uv, pip, twine): no caches, no user configuration, no
    interaction."""
    cache = tmp_path / "cache"
    return {
        "UV_NO_CACHE": "1",
        "UV_CACHE_DIR": str(cache / "uv"),
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CACHE_DIR": str(cache / "pip"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "XDG_CACHE_HOME": str(cache),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "HOME": str(tmp_path / "home"),
    }

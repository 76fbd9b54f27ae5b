"""Large files: downloads above BALE_SIGNED_URL_MIN_BYTES leave the function for storage.

The emulator cannot sign URLs, so a signing stand-in sits at the blob-store boundary (our
own store, unchanged, underneath): it hands out URLs on a second local server that plays
Cloud Storage and records every request it gets. uv and pip must follow the redirect to
that other host and must not send the index's token there.
"""

from __future__ import annotations

import os
import urllib.parse

import pytest

from clients import BIN, run, uv_publish
from factories import make_wheel, wheel_name
from fakes.server import Server

pytestmark = pytest.mark.e2e

UV = BIN / "uv"
PIP = BIN / "pip"
SIGNATURE = "X-Goog-Signature=stand-in"


class FakeStorage:
    """Cloud Storage's signed-URL GET: serves an object only with a signature, logs headers."""

    def __init__(self, blobs) -> None:
        self.blobs = blobs
        self.requests: list[dict[str, str]] = []

    def __call__(self, environ, start_response):
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.requests.append(
            {"path": environ["PATH_INFO"], "query": environ.get("QUERY_STRING", ""), **headers}
        )
        if environ.get("QUERY_STRING") != SIGNATURE:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"SignatureDoesNotMatch"]
        data = self.blobs.read(environ["PATH_INFO"].lstrip("/"))
        start_response(
            "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))]
        )
        return [data]


class SigningBlobs:
    """The real blob store, with signing credentials as in production: URLs on ``base``."""

    def __init__(self, blobs, base: str) -> None:
        self._blobs = blobs
        self.base = base
        self.signed: list[str] = []

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def signed_url(self, path, *, ttl):
        self.signed.append(path)
        return f"{self.base}/{path}?{SIGNATURE}"


@pytest.fixture
def signing(stack, monkeypatch):
    """The running registry with a signing store and BALE_SIGNED_URL_MIN_BYTES=4096."""
    from bale import settings as settings_mod
    from bale.store.backends import get_stores

    monkeypatch.setenv("BALE_SIGNED_URL_MIN_BYTES", "4096")
    settings_mod.get_settings.cache_clear()
    stores = get_stores(settings_mod.get_settings())
    storage = FakeStorage(stores.blobs)
    with Server(storage) as server:
        blobs = SigningBlobs(stores.blobs, server.url)
        monkeypatch.setattr(stores, "blobs", blobs)
        yield storage, blobs
    monkeypatch.delenv("BALE_SIGNED_URL_MIN_BYTES")
    settings_mod.get_settings.cache_clear()


def publish(stack, tmp_path):
    """big 1.0 (64 KiB of incompressible payload: above the threshold) and small 1.0 (below)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    big = make_wheel(dist, "big", "1.0", payload=b"#" + os.urandom(48 * 1024).hex().encode() + b"\n")
    small = make_wheel(dist, "small", "1.0")
    assert big.stat().st_size >= 4096 > small.stat().st_size
    r = uv_publish(f"{stack.url}/v1/upload/acme/main/", stack.token(), big, small)
    assert r.returncode == 0, r.stderr
    return big, small


def index_url(stack, token) -> str:
    host = urllib.parse.urlsplit(stack.url).netloc
    return f"http://__token__:{token}@{host}/simple/acme/main/"


def assert_token_stayed_home(storage: FakeStorage, token: str) -> None:
    assert storage.requests, "nothing was fetched from storage"
    for req in storage.requests:
        assert "Authorization" not in req, req
        assert token not in repr(req), req


@pytest.mark.parametrize("client", ["uv", "pip"])
def test_large_download_follows_signed_url_without_the_token(
    stack, signing, tmp_path, client_env, client
) -> None:
    storage, blobs = signing
    big, _ = publish(stack, tmp_path)
    token = stack.token("read")
    target = tmp_path / "target"
    if client == "uv":
        argv = [
            UV,
            "pip",
            "install",
            "--no-config",
            "--no-cache",
            "--python",
            os.sys.executable,
            "--target",
            target,
        ]
    else:
        argv = [PIP, "install", "--no-cache-dir", "--isolated", "--target", target]
    r = run([*argv, "--index-url", index_url(stack, token), "big", "small"], env=client_env)
    assert r.returncode == 0, r.stdout + r.stderr
    # Only the big wheel was signed (METADATA and the small wheel are streamed), it came from
    # storage, and storage never saw the token.
    assert [p.rsplit("/", 1)[-1] for p in blobs.signed] == [big.name]
    assert [q["path"].rsplit("/", 1)[-1] for q in storage.requests] == [big.name]
    assert_token_stayed_home(storage, token)
    assert (target / "big" / "__init__.py").read_bytes().startswith(b'__version__ = "1.0"')
    assert (target / "small" / "__init__.py").exists()


def test_redirect_is_private_short_lived_and_only_for_large_files(stack, signing, tmp_path) -> None:
    import requests

    _, blobs = signing
    big, small = publish(stack, tmp_path)
    auth = ("__token__", stack.token("read"))
    r = requests.get(f"{stack.url}/simple/acme/main/big/{big.name}", auth=auth, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(blobs.base + "/") and r.headers["Location"].endswith(SIGNATURE)
    assert "no-store" in r.headers["Cache-Control"]
    for path in (f"big/{big.name}.metadata", f"small/{small.name}", f"small/{small.name}.metadata"):
        r = requests.get(f"{stack.url}/simple/acme/main/{path}", auth=auth, allow_redirects=False)
        assert r.status_code == 200, path
    assert r.content.startswith(b"Metadata-Version")
    # Still refused without a token, before anything is signed.
    r = requests.get(f"{stack.url}/simple/acme/main/big/{big.name}", allow_redirects=False)
    assert r.status_code == 401
    assert [p.rsplit("/", 1)[-1] for p in blobs.signed] == [wheel_name("big", "1.0")]

"""Signed download URLs with Cloud Run's credentials: no private key, so IAM signs.

The simple function runs in a process of its own (tests/functions/simple_probe.py), as the
platform starts it: production settings (no storage emulator), credentials found by
google-auth on a local metadata server, and the V4 signature made by a local ``signBlob``
with a test RSA key (tests/fakes/google_iam.py). Firestore is the emulator, with a file
published through the running registry. With the clock frozen, the URL must be byte for byte
the one google-cloud-storage signs locally with the same key in a key file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factories import wheel_bytes, wheel_name
from fakes.google_iam import EMAIL, IAM_HOST, GoogleIam
from uploads import form_for, post

PROBE = Path(__file__).with_name("simple_probe.py")
FROZEN = dt.datetime(2026, 3, 15, 10, 15, tzinfo=dt.UTC)
# What must not leak into the probe from this machine: another way to find credentials, a
# storage emulator (which cannot sign), or a proxy of its own.
DROPPED = (
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_GCE_CHECK",
)


@pytest.fixture
def google(tmp_path):
    with GoogleIam(tmp_path) as g:
        yield g


@pytest.fixture
def wheel(stack):
    """A published wheel (about 5 KiB) and a read token for it."""
    name = wheel_name("keyless", "1.0")
    data = wheel_bytes("keyless", "1.0", payload=os.urandom(4096).hex().encode())
    r = post(
        stack,
        *form_for(name, data, name="keyless", version="1.0", filetype="bdist_wheel", pyversion="py3"),
        token=stack.token(),
    )
    assert r.status_code == 200, r.text
    from bale.packages.service import Packages

    rec = Packages(stack.stores).file("acme", "main", "keyless", name)
    return rec, stack.token("read")


def probe(stack, google, tmp_path, paths, token, **env) -> tuple[list[dict], str]:
    """Ask the simple function, in a fresh process on Google's (fake) side, for ``paths``."""
    s = stack.settings
    full = {k: v for k, v in os.environ.items() if k not in DROPPED}
    full.update(
        GOOGLE_CLOUD_PROJECT=s.project,
        BALE_BUCKET=s.bucket,
        FIRESTORE_EMULATOR_HOST=s.firestore_emulator_host,
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),  # no gcloud application-default credentials
        BALE_TOKEN_CACHE_SECONDS="0",
        **google.env,
        **env,
    )
    reqs = [{"path": p, "auth": ["__token__", token]} for p in paths]
    r = subprocess.run(
        [sys.executable, str(PROBE), FROZEN.isoformat(), json.dumps(reqs)],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")], r.stderr


def signed_locally(google, settings, path: str, monkeypatch) -> str:
    """The URL google-cloud-storage signs with the test key itself, at the frozen time."""
    import google.cloud.storage as storage
    import google.cloud.storage._signing as signing
    from google.oauth2 import service_account

    monkeypatch.setattr(signing, "_NOW", lambda tz=None: FROZEN.astimezone(tz))
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)  # the client would sign for it
    creds = service_account.Credentials.from_service_account_info(google.key_info())
    client = storage.Client(project=settings.project, credentials=creds)
    blob = client.bucket(settings.bucket).blob(path)
    return blob.generate_signed_url(
        version="v4", expiration=dt.timedelta(minutes=5), method="GET", credentials=creds
    )


def test_keyless_credentials_sign_the_url_the_key_signs(stack, google, wheel, tmp_path, monkeypatch):
    rec, token = wheel
    path = f"/files/acme/main/keyless/{rec.filename}"
    (first, second), _ = probe(stack, google, tmp_path, [path, path], token, BALE_SIGNED_URL_MIN_BYTES="1024")
    assert first["status"] == 302, first
    expected = signed_locally(google, stack.settings, rec.blob_path, monkeypatch)
    assert first["headers"]["Location"] == expected
    assert "X-Goog-Date=20260315T101500Z" in expected
    assert f"X-Goog-Credential={EMAIL.replace('@', '%40')}" in expected
    assert "no-store" in first["headers"]["Cache-Control"]
    # The second download signs again (the URL is per request) with the same token.
    assert second["headers"]["Location"] == expected
    # IAM was asked by the real host name, as the account the metadata server named, with
    # the token that server issued; and it signed exactly the V4 string to sign.
    assert google.proxy.connects and set(google.proxy.connects) == {f"CONNECT {IAM_HOST}:443"}
    assert len(google.iam.calls) == 2
    assert google.metadata.tokens == ["ya29.test-1"]
    for call in google.iam.calls:
        assert call["email"] == EMAIL
        assert call["authorization"] == "Bearer ya29.test-1"
        assert call["payload"].startswith(
            b"GOOG4-RSA-SHA256\n20260315T101500Z\n20260315/auto/storage/goog4_request\n"
        )


def test_a_refused_signature_is_a_logged_503_and_nothing_is_streamed(stack, google, wheel, tmp_path):
    rec, token = wheel
    google.iam.refuse = "403 Forbidden"
    path = f"/simple/acme/main/keyless/{rec.filename}"
    (answer,), stderr = probe(stack, google, tmp_path, [path], token, BALE_SIGNED_URL_MIN_BYTES="1024")
    assert answer["status"] == 503, answer
    assert answer["headers"]["Retry-After"] == "30"
    assert "could not sign" in answer["body"]
    assert "Location" not in answer["headers"]
    assert len(google.iam.calls) == 1
    # Loud, with the cause, for the operator.
    assert f"cannot sign a download URL for {rec.blob_path}" in stderr
    assert "iam.serviceAccounts.signBlob" in stderr


def test_a_file_over_the_response_cap_is_never_streamed(stack, google, wheel, tmp_path):
    """Whatever BALE_SIGNED_URL_MIN_BYTES says: redirected, or 503 when signing fails."""
    rec, token = wheel
    assert rec.size > 1024
    path = f"/files/acme/main/keyless/{rec.filename}"
    cap = {"BALE_SIGNED_URL_MIN_BYTES": str(1 << 30), "BALE_MAX_STREAMED_BYTES": "1024"}
    (answer,), _ = probe(stack, google, tmp_path, [path], token, **cap)
    assert answer["status"] == 302 and answer["headers"]["Location"].startswith(
        "https://storage.googleapis.com/"
    )
    google.iam.refuse = "403 Forbidden"
    (answer,), _ = probe(stack, google, tmp_path, [path], token, **cap)
    assert answer["status"] == 503, answer


def test_no_metadata_server_is_a_503_too(stack, google, wheel, tmp_path):
    rec, token = wheel
    google.metadata.server.stop()
    path = f"/files/acme/main/keyless/{rec.filename}"
    (answer,), stderr = probe(
        stack,
        google,
        tmp_path,
        [path],
        token,
        BALE_SIGNED_URL_MIN_BYTES="1024",
        GCE_METADATA_DETECT_RETRIES="1",
    )
    assert answer["status"] == 503, answer
    assert "cannot sign a download URL" in stderr
    assert google.iam.calls == []

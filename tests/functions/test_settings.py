import pytest

from bale.settings import from_env


def test_defaults():
    s = from_env({})
    assert s.private_namespace == "bale"
    assert s.github_oidc_issuer == "https://token.actions.githubusercontent.com"
    assert s.firestore_emulator_host is None


def test_overrides():
    s = from_env({"BALE_PRIVATE_NAMESPACE": "corp", "BALE_MAX_UPLOAD_BYTES": "10", "BALE_BASE_URL": "https://x/"})
    assert (s.private_namespace, s.max_upload_bytes, s.base_url) == ("corp", 10, "https://x")


def test_bad_integer_is_named():
    with pytest.raises(ValueError, match="BALE_MAX_UPLOAD_BYTES"):
        from_env({"BALE_MAX_UPLOAD_BYTES": "lots"})

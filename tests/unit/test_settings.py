import pytest

from bale.settings import from_env


def test_defaults():
    s = from_env({})
    assert s.private_namespace == "bale"
    assert s.github_oidc_issuer == "https://token.actions.githubusercontent.com"
    assert s.firestore_emulator_host is None


def test_overrides():
    s = from_env(
        {"BALE_PRIVATE_NAMESPACE": "corp", "BALE_MAX_UPLOAD_BYTES": "10", "BALE_BASE_URL": "https://x/"}
    )
    assert (s.private_namespace, s.max_upload_bytes, s.base_url) == ("corp", 10, "https://x")


def test_bad_integer_is_named():
    with pytest.raises(ValueError, match="BALE_MAX_UPLOAD_BYTES"):
        from_env({"BALE_MAX_UPLOAD_BYTES": "lots"})


def test_dashboard_sign_in_settings():
    s = from_env({})
    assert (s.firebase_api_key, s.google_oauth_client_id, s.google_oauth_client_secret) == ("", "", "")
    assert s.google_oauth_auth_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert s.google_oauth_token_url == "https://oauth2.googleapis.com/token"
    s = from_env(
        {
            "BALE_FIREBASE_API_KEY": "AIza-key",
            "BALE_GOOGLE_OAUTH_CLIENT_ID": "id.apps.googleusercontent.com",
            "BALE_GOOGLE_OAUTH_CLIENT_SECRET": "GOCSPX-secret",
            "BALE_GOOGLE_OAUTH_AUTH_URL": "http://127.0.0.1:1/auth",
            "BALE_GOOGLE_OAUTH_TOKEN_URL": "http://127.0.0.1:1/token",
        }
    )
    assert s.firebase_api_key == "AIza-key"
    assert s.google_oauth_client_id == "id.apps.googleusercontent.com"
    assert s.google_oauth_client_secret == "GOCSPX-secret"
    assert (s.google_oauth_auth_url, s.google_oauth_token_url) == (
        "http://127.0.0.1:1/auth",
        "http://127.0.0.1:1/token",
    )
    assert "GOCSPX-secret" not in repr(s)  # a logged Settings does not leak the client secret


def test_private_namespaces_a_comma_list_with_the_old_name_as_fallback():
    assert from_env({}).private_namespaces == ("bale",)
    s = from_env({"BALE_PRIVATE_NAMESPACES": " bale, pyx ,,pyx"})
    assert (s.private_namespaces, s.private_namespace) == (("bale", "pyx"), "bale")
    assert from_env({"BALE_PRIVATE_NAMESPACE": "corp,pyx"}).private_namespaces == ("corp", "pyx")
    both = {"BALE_PRIVATE_NAMESPACES": "pyx", "BALE_PRIVATE_NAMESPACE": "corp"}
    assert from_env(both).private_namespaces == ("pyx",)

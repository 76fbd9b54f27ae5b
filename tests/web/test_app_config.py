"""The dashboard refuses to start in production with development defaults (no emulator needed)."""

from __future__ import annotations

import dataclasses

import pytest

from bale.settings import Settings, from_env


def test_production_without_secret_key_refuses_to_start():
    from dashboard import InsecureConfiguration, create_app

    production = from_env({"GOOGLE_CLOUD_PROJECT": "p", "BALE_BASE_URL": "https://pypi.example.com"})
    with pytest.raises(InsecureConfiguration, match="BALE_SECRET_KEY is not set"):
        create_app(production)
    with pytest.raises(InsecureConfiguration, match="BALE_SECRET_KEY"):
        create_app(dataclasses.replace(production, secret_key=""))


def test_production_with_a_secret_key_starts():
    from dashboard import create_app

    env = {"GOOGLE_CLOUD_PROJECT": "p", "BALE_SECRET_KEY": "x" * 64}
    app = create_app(from_env(env))
    assert app.config["SECRET_KEY"] == "x" * 64
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_the_local_stack_may_use_the_development_key():
    from dashboard import create_app

    local = Settings(firestore_emulator_host="127.0.0.1:8080")
    assert create_app(local).config["SECRET_KEY"] == Settings.secret_key

"""Fixtures shared by the tests that drive the real clients (uv, pip, twine)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def client_env(tmp_path):
    """No caches, no user configuration, no interaction."""
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

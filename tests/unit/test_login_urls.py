"""bale login's registry URL: the host uv keeps one credential for, and never plain http off
this machine (the device code and the token would cross the network in clear text)."""

from __future__ import annotations

import click
import pytest

from bale_tools.login import origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://pypi.example.com/simple/acme/main/", "https://pypi.example.com"),
        ("pypi.example.com", "https://pypi.example.com"),
        ("https://PyPI.example.com:8443/v1/upload/acme/main/", "https://pypi.example.com:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000/simple", "http://localhost:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_the_origin_of_a_registry_url(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        "http://pypi.example.com",
        "http://10.0.0.5:8000/simple/acme/main/",
        "ftp://pypi.example.com",
        "https://__token__:secret@pypi.example.com",
        "https://",
    ],
)
def test_refused_registry_urls(url):
    with pytest.raises(click.UsageError):
        origin_of(url)

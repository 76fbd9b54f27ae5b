"""Upstream indexes, the pure parts: page parsing, the policy, URL checks, credentials names."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from bale.errors import BadRequest
from bale.settings import Settings, from_env
from bale.upstream import policy
from bale.upstream.cache import CachedPage
from bale.upstream.client import UpstreamError, make_entry, parse_html, parse_json, parse_upload_time
from bale.upstream.secrets import LocalSecrets, env_var, validate_name
from bale.upstream.service import validate_url

SHA = "a" * 64
META = "b" * 64
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PAGE = "https://up.example/simple/pubdep/"


def test_json_page_is_parsed_into_page_entries():
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "pubdep",
            "files": [
                {
                    "filename": "pubdep-1.0-py3-none-any.whl",
                    "url": "../../files/pubdep-1.0-py3-none-any.whl#sha256=zzz",
                    "hashes": {"sha256": SHA.upper()},
                    "core-metadata": {"sha256": META},
                    "requires-python": ">=3.9",
                    "yanked": "bad",
                    "size": 12,
                    "upload-time": "2026-11-30T10:00:00.000000Z",
                },
                {"filename": "x", "url": "pubdep-2.0.tar.gz", "hashes": {"md5": "0" * 32}},  # no sha256
                {"url": "other-1.0-py3-none-any.whl", "hashes": {"sha256": SHA}},  # another project
                {"url": "pubdep-1.0.exe", "hashes": {"sha256": SHA}},  # not a wheel or sdist
                {"url": "file:///etc/pubdep-3.0.tar.gz", "hashes": {"sha256": SHA}},  # not http(s)
                "garbage",
            ],
        }
    ).encode()
    name, entries = parse_json(body, PAGE, "pubdep")
    assert name == "pubdep"
    assert entries == [
        {
            "f": "pubdep-1.0-py3-none-any.whl",
            "v": "1.0",
            "h": SHA,
            "u": "https://up.example/files/pubdep-1.0-py3-none-any.whl",
            "s": 12,
            "t": dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC),
            "r": ">=3.9",
            "m": META,
            "y": "bad",
        }
    ]


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"files": 3}', b"\xff\xfe"])
def test_unreadable_json_pages_are_upstream_errors(body):
    with pytest.raises(UpstreamError) as exc:
        parse_json(body, PAGE, "pubdep")
    assert exc.value.status == 502


def test_html_page_is_parsed_with_yanks_and_metadata():
    body = (
        f'<a href="/files/pubdep-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.8" '
        f'data-yanked="" data-dist-info-metadata="sha256={META}">pubdep-1.0.tar.gz</a>'
        f'<a href="pubdep-2.0.tar.gz#md5={"0" * 32}">no sha256</a>'
        f'<a href="pubdep-3.0.tar.gz#sha256={SHA}" data-core-metadata="true">3</a>'
    ).encode()
    _, entries = parse_html(body, PAGE, "pubdep")
    assert [(e["f"], e.get("r"), e.get("y"), e.get("m")) for e in entries] == [
        ("pubdep-1.0.tar.gz", ">=3.8", "", META),
        ("pubdep-3.0.tar.gz", None, None, None),  # metadata without a hash: not offered
    ]
    assert entries[0]["u"] == "https://up.example/files/pubdep-1.0.tar.gz"


def test_upload_time_parsing():
    assert parse_upload_time("2026-01-02T03:04:05Z") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert parse_upload_time("yesterday") is None
    assert parse_upload_time(5) is None


def test_make_entry_rejects_path_tricks():
    assert make_entry("pubdep", "https://x/%2e%2e%2fpubdep-1.0.tar.gz", SHA) is None
    assert make_entry("pubdep", "https://x/pubdep-1.0.tar.gz", "nothex") is None


def cfg(**kw):
    return policy.UpstreamConfig(url="https://up.example/simple/", **kw)


def test_config_from_the_index_document():
    assert policy.config_of(None) is None
    assert policy.config_of({"upstream": None}) is None
    c = policy.config_of(
        {
            "upstream": {"url": "https://u/simple/", "min_age": 60, "credentials": "corp"},
            "upstream_exempt": ["a"],
            "upstream_reserved": ["b"],
            "upstream_allow_shadow": ["c"],
        }
    )
    assert c == policy.UpstreamConfig(
        "https://u/simple/", 60, "corp", frozenset("b"), frozenset("c"), frozenset("a")
    )
    assert c.key != dataclasses.replace(c, credentials=None).key


def test_private_first():
    doc = {"upstream_reserved": ["mine"]}
    assert policy.is_private(doc, "anything", True)
    assert policy.is_private(doc, "mine", False)
    assert not policy.is_private(doc, "requests", False)
    assert policy.may_shadow(cfg(allow_shadow=frozenset({"x"})), "x")
    assert policy.may_shadow(cfg(reserved=frozenset({"x"})), "x")
    assert not policy.may_shadow(cfg(), "x")


def test_cooldown():
    old = {"f": "a", "t": NOW - dt.timedelta(days=4)}
    fresh = {"f": "b", "t": NOW - dt.timedelta(hours=1)}
    undated = {"f": "c"}
    c = cfg(min_age=3 * 86400)
    assert policy.visible([old, fresh, undated], c, "p", NOW) == [old]
    assert "1h ago" in (policy.hidden_reason(fresh, c, "p", NOW) or "")
    assert "no upload time" in (policy.hidden_reason(undated, c, "p", NOW) or "")
    assert policy.visible(
        [old, fresh, undated], dataclasses.replace(c, exempt=frozenset({"p"})), "p", NOW
    ) == [
        old,
        fresh,
        undated,
    ]
    assert policy.visible([old, fresh, undated], cfg(), "p", NOW) == [old, fresh, undated]


@pytest.mark.parametrize(
    "url",
    [
        "http://pypi.org/simple/",  # plain http off loopback
        "ftp://pypi.org/simple/",
        "https://user:pw@pypi.org/simple/",
        "https://pypi.org/simple/?x=1",
        "file:///etc/passwd",
        "pypi.org/simple",
    ],
)
def test_bad_upstream_urls(url):
    with pytest.raises(BadRequest):
        validate_url(url)


def test_good_upstream_urls():
    assert validate_url("https://pypi.org/simple") == "https://pypi.org/simple/"
    assert validate_url("http://127.0.0.1:8080/simple/") == "http://127.0.0.1:8080/simple/"
    assert validate_url("http://localhost/simple/") == "http://localhost/simple/"


def test_cached_page_round_trips():
    page = CachedPage(
        "ok",
        "PubDep",
        [{"f": "pubdep-1.0.tar.gz", "v": "1.0", "h": SHA, "t": NOW}],
        '"e"',
        123.0,
        [{"f": "pubdep-0.9.tar.gz", "v": "0.9", "h": SHA}],
    )
    back = CachedPage.from_bytes(page.to_bytes())
    assert back == page
    assert back.entry("pubdep-0.9.tar.gz") is not None  # a retired file is still found


def test_credentials_are_per_team(tmp_path):
    assert env_var("acme", "corp-pypi") == "BALE_UPSTREAM_AUTH_ACME_CORP_PYPI"
    settings = from_env(
        {"BALE_UPSTREAM_AUTH_ACME_CORP": "u:p", "BALE_UPSTREAM_CREDENTIALS_DIR": str(tmp_path)}
    )
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "corp").write_text("tok\n")
    secrets = LocalSecrets(settings)
    assert secrets.get("acme", "corp") == "u:p"
    assert secrets.get("beta", "corp") == "tok"
    assert secrets.get("gamma", "corp") is None
    for bad in ("../x", "A", "", "x/y"):
        with pytest.raises(BadRequest):
            validate_name(bad)


def test_settings_keep_credentials_out_of_repr():
    s = from_env({"BALE_UPSTREAM_AUTH_ACME_CORP": "secret-value"})
    assert "secret-value" not in repr(s)
    assert hash(s) == hash(dataclasses.replace(s))
    assert Settings().default_upstream_url == "https://pypi.org/simple/"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/simple/x/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "ftp://x/f",
        "file:///etc/passwd",
    ],
)
def test_the_client_fetches_nothing_but_https_or_loopback_http(url):
    import io

    from bale.upstream.client import UpstreamClient

    client = UpstreamClient(Settings(), "https://up.example/simple/")
    with pytest.raises(UpstreamError) as exc:
        client.download(url, io.BytesIO(), SHA)
    assert exc.value.status == 502


def test_credentials_go_to_the_upstream_host_only():
    from bale.upstream.client import UpstreamClient

    basic = UpstreamClient(Settings(), "https://up.example/simple/", "u:p")
    assert basic._headers_for("https://up.example/files/x.whl") == {"Authorization": "Basic dTpw"}
    assert basic._headers_for("https://files.example/x.whl") == {}
    assert basic._headers_for("http://up.example/x.whl") == {}
    bearer = UpstreamClient(Settings(), "https://up.example/simple/", "tok")
    assert bearer._headers_for("https://up.example/simple/p/") == {"Authorization": "Bearer tok"}

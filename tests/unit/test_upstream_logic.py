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
    assert c.key("acme") != dataclasses.replace(c, credentials=None).key("acme")


def test_a_cache_with_credentials_is_never_shared_between_teams():
    """Same URL, same credentials name: different secrets (one per team), different caches."""
    with_creds = policy.UpstreamConfig("https://u/simple/", credentials="corp")
    assert with_creds.key("acme") != with_creds.key("beta")
    anonymous = policy.UpstreamConfig("https://u/simple/")
    assert anonymous.key("acme") == anonymous.key("beta")  # public pages are shared
    assert anonymous.key("acme") not in (with_creds.key("acme"), with_creds.key("beta"))


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
    assert validate_url("https://[2a04:4e42::223]/simple/") == "https://[2a04:4e42::223]/simple/"
    # Loopback (plain http too) only where the settings allow it: the local stack and tests.
    assert validate_url("http://127.0.0.1:8080/simple/", True) == "http://127.0.0.1:8080/simple/"
    assert validate_url("http://localhost/simple/", True) == "http://localhost/simple/"
    assert validate_url("https://[::1]:8443/simple/", True) == "https://[::1]:8443/simple/"


SSRF_HOSTS = [
    "169.254.169.254",  # the GCE metadata server
    "metadata.google.internal",
    "metadata.google.internal.",
    "metadata",
    "anything.internal",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "127.0.0.1",
    "127.1",
    "2130706433",  # 127.0.0.1 in decimal
    "0177.0.0.1",  # in octal
    "0x7f.0.0.1",  # in hex
    "2852039166",  # 169.254.169.254 in decimal
    "0251.0376.0251.0376",  # and in octal
    "localhost",
    "foo.localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:a9fe:a9fe::1]",  # 6to4 of it
    "[fd00::1]",
    "[fe80::1]",
    "[fd00:ec2::254]",
    "[::]",
    "224.0.0.1",
    "255.255.255.255",
]


@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_internal_upstream_hosts_are_refused_when_set(host):
    for scheme in ("https", "http"):
        with pytest.raises(BadRequest):
            validate_url(f"{scheme}://{host}/simple/")


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "2852039166",
        "metadata.google.internal",
        "10.0.0.1",
        "[fd00::1]",
        "[::ffff:a9fe:a9fe]",
    ],
)
def test_allowing_loopback_allows_nothing_else(host):
    with pytest.raises(BadRequest):
        validate_url(f"https://{host}/simple/", True)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_loopback_is_allowed_only_with_the_setting(host):
    assert validate_url(f"https://{host}/simple/", True)
    with pytest.raises(BadRequest):
        validate_url(f"https://{host}/simple/", False)


def test_the_setting_is_read_from_the_environment():
    assert from_env({}).upstream_allow_loopback is False
    assert from_env({"BALE_UPSTREAM_ALLOW_LOOPBACK": "1"}).upstream_allow_loopback is True
    with pytest.raises(ValueError):
        from_env({"BALE_UPSTREAM_ALLOW_LOOPBACK": "maybe"})


def _resolving(monkeypatch, answers):
    """getaddrinfo answering ``answers[host]`` (a list of addresses, or a callable giving one)."""
    import socket

    real = socket.getaddrinfo
    asked = []

    def fake(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            addrs = answers[host]() if callable(answers[host]) else answers[host]
            out = []
            for a in addrs:
                fam = socket.AF_INET6 if ":" in a else socket.AF_INET
                out.append((fam, socket.SOCK_STREAM, 6, "", (a, port, 0, 0) if ":" in a else (a, port)))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return asked


@pytest.mark.parametrize(
    "addrs",
    [["169.254.169.254"], ["10.0.0.7"], ["93.184.215.14", "10.0.0.7"], ["fd00::1"], ["::ffff:127.0.0.1"]],
)
def test_a_name_resolving_to_an_internal_address_is_refused_at_connect_time(monkeypatch, addrs):
    from bale.upstream.client import UpstreamClient

    # Passes the set-time check (a public-looking name) ...
    url = validate_url("https://innocent.example/simple/")
    asked = _resolving(monkeypatch, {"innocent.example": addrs})
    # ... but the connection resolves it and refuses before any socket is opened (the unit
    # tier's guard would raise TierViolation on a connect, not UpstreamError).
    with pytest.raises(UpstreamError, match="not a public address"):
        UpstreamClient(Settings(), url).page("pubdep")
    assert asked == ["innocent.example"]


def test_dns_rebinding_cannot_slip_between_check_and_connect(monkeypatch):
    """The address checked is the address connected to: a second lookup never happens."""
    import socket

    from bale.upstream.client import UpstreamClient

    answers = iter([["93.184.215.14"], ["169.254.169.254"]])
    _resolving(monkeypatch, {"rebind.example": lambda: next(answers)})
    connected = []

    def record(self, address, *a, **kw):
        connected.append(address[0])
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket.socket, "connect", record)
    with pytest.raises(UpstreamError, match="unreachable"):
        UpstreamClient(Settings(), "https://rebind.example/simple/").page("pubdep")
    assert connected == ["93.184.215.14"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/computeMetadata/v1/",
        "https://169.254.169.254/x",
        "https://2852039166/x",
        "https://metadata.google.internal/x",
        "https://[::ffff:169.254.169.254]/x",
        "http://127.0.0.1:9/x",
    ],
)
def test_links_and_redirects_to_internal_addresses_are_refused_in_production(target):
    from bale.upstream.client import UpstreamClient

    client = UpstreamClient(Settings(), "https://up.example/simple/")
    with pytest.raises(UpstreamError):
        client._get(target, {}, deadline=__import__("time").monotonic() + 5)


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
    assert env_var("acme-eu", "corppypi") == "BALE_UPSTREAM_AUTH_ACME_EU_CORPPYPI"
    settings = from_env(
        {"BALE_UPSTREAM_AUTH_ACME_CORP": "u:p", "BALE_UPSTREAM_CREDENTIALS_DIR": str(tmp_path)}
    )
    (tmp_path / "beta").mkdir()
    (tmp_path / "beta" / "corp").write_text("tok\n")
    secrets = LocalSecrets(settings)
    assert secrets.get("acme", "corp") == "u:p"
    assert secrets.get("beta", "corp") == "tok"
    assert secrets.get("gamma", "corp") is None
    for bad in ("../x", "A", "", "x/y", "prod-corp", "a_b", "corp\n"):
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
    from bale.upstream.client import UpstreamClient, target

    basic = UpstreamClient(Settings(), "https://up.example/simple/", "u:p")
    assert basic._headers_for(target("https://up.example/files/x.whl")) == {"Authorization": "Basic dTpw"}
    assert basic._headers_for(target("HTTPS://UP.example:443/x.whl")) == {"Authorization": "Basic dTpw"}
    assert basic._headers_for(target("https://files.example/x.whl")) == {}
    assert basic._headers_for(target("http://up.example/x.whl")) == {}
    assert basic._headers_for(target("https://up.example:8443/x.whl")) == {}
    bearer = UpstreamClient(Settings(), "https://up.example/simple/", "tok")
    assert bearer._headers_for(target("https://up.example/simple/p/")) == {"Authorization": "Bearer tok"}


#: URL spellings parsers disagree on (WHATWG URL Standard vs RFC 3986 vs urllib.parse vs
#: urllib3), each with what Bale makes of it: refused (None) or the origin it connects to and
#: decides credentials for. The same table drives tests/functions/test_upstream.py.
URL_SPELLINGS = [
    ("http://a.example:2\\@b.example:1/files/x.whl", None),  # urlsplit: b; urllib3, WHATWG: a
    ("http://b.example:1\\@a.example:2/files/x.whl", None),
    ("http:\\\\a.example/files/x.whl", None),  # WHATWG: host a; urlsplit: a path
    ("/\\a.example/files/x.whl", None),
    ("http://a.example:2@b.example:1/files/x.whl", None),  # userinfo
    ("http://u:p@b.example:1/files/x.whl", None),
    ("http://@b.example:1/files/x.whl", None),  # empty userinfo: urllib3 drops the "@"
    ("http://a%40b@c.example/files/x.whl", None),
    ("http://a.example%40b.example/files/x.whl", None),  # percent-escape in the host
    ("http://a.example%2F@b.example/files/x.whl", None),
    ("http://a.example%5C@b.example/files/x.whl", None),
    ("http://a.example%2fb.example/files/x.whl", None),
    ("http://a.example:2\t@b.example:1/files/x.whl", None),  # urlsplit drops the tab
    ("http://a.example:2\n@b.example:1/files/x.whl", None),
    ("http://a.ex\tample/files/x.whl", None),
    ("http://a.example/fi\nles/x.whl", None),
    ("http://a.example\x00@b.example/files/x.whl", None),
    ("http://a.example /files/x.whl", None),
    ("http://a\u3002example/files/x.whl", None),  # IDNA maps the ideographic full stop to "."
    ("http://a\uff0eexample/files/x.whl", None),  # fullwidth full stop
    ("http://\uff41.example/files/x.whl", None),  # fullwidth "a"
    ("http://b\u00fccher.example/files/x.whl", None),  # IDNA, not in its xn-- form
    ("http://a.example:99999/files/x.whl", None),  # ports out of range
    ("http://a.example:0/files/x.whl", None),
    ("http://a.example:-1/files/x.whl", None),
    ("http://a.example:08/files/x.whl", None),  # a port that is not in its normal form
    ("http://a.example:/files/x.whl", None),
    ("http://a.example:1:2/files/x.whl", None),
    ("http://[fe80::1%25eth0]:1/files/x.whl", None),  # IPv6 zone id
    ("http://[::1%eth0]/files/x.whl", None),
    ("http://[0:0::1]/files/x.whl", None),  # IPv6 not in compressed form
    ("http://127.1/files/x.whl", None),  # IPv4 shorthand, hex, decimal, octal
    ("http://0x7f.0.0.1/files/x.whl", None),
    ("http://2130706433/files/x.whl", None),
    ("http://0177.0.0.1/files/x.whl", None),
    ("http://a.example./files/x.whl", None),  # trailing dot: another name for the same host
    ("http://a.1/files/x.whl", None),  # WHATWG reads a name ending in a number as IPv4
    ("ftp://a.example/files/x.whl", None),
    ("javascript:alert(1)", None),
    ("HtTp://A.Example:1/files/x.whl", ("http", "a.example", 1)),  # case is normal form
    ("http://a.example/files/@b.example/x.whl", ("http", "a.example", 80)),  # "@" in the path
    ("http://a.example/files/x.whl?@b.example", ("http", "a.example", 80)),
    ("http://a.example/files%2F..%2Fx.whl", ("http", "a.example", 80)),
    ("http://a.example#@b.example/files/x.whl", ("http", "a.example", 80)),
    ("https://xn--bcher-kva.example/files/x.whl", ("https", "xn--bcher-kva.example", 443)),
    ("http://127.0.0.1:1/files/x.whl", ("http", "127.0.0.1", 1)),
    ("https://[::1]/files/x.whl", ("https", "[::1]", 443)),
]


@pytest.mark.parametrize(("url", "origin"), URL_SPELLINGS)
def test_each_url_is_read_one_way_or_refused(url, origin):
    from urllib3.util import parse_url

    from bale.upstream.client import target

    if origin is None:
        with pytest.raises(UpstreamError):
            target(url)
        return
    t = target(url)
    assert t.origin == origin
    # What is requested parses (with urllib3, as the connection does) to the same origin.
    p = parse_url(t.url)
    assert (p.scheme, p.host, p.port or {"http": 80, "https": 443}[p.scheme]) == origin
    assert target(t.url) == t


@pytest.mark.parametrize(
    ("href", "ok"),
    [
        ("x.whl", True),
        ("//b.example/x.whl", True),
        ("\\\\b.example/x.whl", False),
        ("/\\b.example/x.whl", False),
        ("\t//b.example/x.whl", False),
        ("//b.ex\nample/x.whl", False),
        ("//a@b.example/x.whl", False),
    ],
)
def test_links_and_redirects_are_checked_before_they_are_joined(href, ok):
    """urljoin drops tabs and newlines, so they are looked for in the link as given."""
    from bale.upstream.client import resolve

    if ok:
        assert resolve("https://a.example/simple/p/", href).url.endswith("x.whl")
    else:
        with pytest.raises(UpstreamError):
            resolve("https://a.example/simple/p/", href)


# -- a hostile upstream's page sizes and names ------------------------------------------------------


def _json_page(n: int, name: str = "pubdep") -> bytes:
    files = [
        {"filename": f"pubdep-{i}.0.tar.gz", "url": f"pubdep-{i}.0.tar.gz", "hashes": {"sha256": SHA}}
        for i in range(n)
    ]
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()


def test_a_json_page_with_too_many_files_is_refused():
    assert len(parse_json(_json_page(10), PAGE, "pubdep", 10)[1]) == 10
    with pytest.raises(UpstreamError, match="too many files"):
        parse_json(_json_page(11), PAGE, "pubdep", 10)


def test_millions_of_tiny_json_values_are_refused_unparsed():
    body = b'{"files": [' + b",".join([b"{}"] * 200_000) + b"]}"
    with pytest.raises(UpstreamError, match="too many files"):
        parse_json(body, PAGE, "pubdep", 1000)


def test_an_html_page_with_too_many_links_is_refused():
    rows = "".join(f'<a href="pubdep-{i}.0.tar.gz#sha256={SHA}">x</a>' for i in range(11))
    assert len(parse_html(rows.encode(), PAGE, "pubdep", 11)[1]) == 11
    with pytest.raises(UpstreamError, match="too many files"):
        parse_html(rows.encode(), PAGE, "pubdep", 10)
    with pytest.raises(UpstreamError, match="too many files"):
        parse_html(b"<a>" * 100_000, PAGE, "pubdep", 1000)  # links without files count too


def test_the_upstream_cannot_present_a_page_as_another_projects():
    assert parse_json(_json_page(1, name="Acme-Internal"), PAGE, "pubdep")[0] == "pubdep"
    assert parse_json(_json_page(1, name="<script>alert(1)</script>"), PAGE, "pubdep")[0] == "pubdep"
    assert parse_json(_json_page(1, name="PubDep"), PAGE, "pubdep")[0] == "PubDep"


def test_pages_in_memory_are_bounded_by_their_files_too():
    from bale.upstream.cache import _Memory

    mem = _Memory(max_pages=100, max_entries=1000)
    entry = {"f": "pubdep-1.0.tar.gz", "v": "1.0", "h": SHA}
    for i in range(10):
        mem.put(("k", f"p{i}"), CachedPage("ok", f"p{i}", [entry] * 400, None, 0.0))
    assert mem.entries <= 1000 and len(mem) == 2
    assert mem.get(("k", "p9")) is not None and mem.get(("k", "p0")) is None
    mem.put(("k", "p9"), CachedPage("ok", "p9", [entry], None, 0.0))  # replaced, not counted twice
    assert mem.entries == 401 + 2


def test_a_credentials_name_cannot_reach_another_teams_secret(tmp_path):
    """Team names have hyphens: 'acme' naming 'prod-corp' must not find what 'acme-prod'
    named 'corp' (the same variable, and the same Secret Manager secret, if '-' were allowed)."""
    from bale.upstream.secrets import secret_id

    settings = from_env({"BALE_UPSTREAM_AUTH_ACME_PROD_CORP": "acme-prod's secret"})
    secrets = LocalSecrets(settings)
    assert secrets.get("acme-prod", "corp") == "acme-prod's secret"
    assert secrets.get("acme", "prod-corp") is None  # a name stored before the rule: not looked up
    with pytest.raises(BadRequest):
        validate_name("prod-corp")
    assert secret_id("acme-prod", "corp") == "bale-upstream-acme-prod-corp"
    with pytest.raises(BadRequest):
        secret_id("acme", "prod-corp")


@pytest.mark.parametrize("url", [u for u, origin in URL_SPELLINGS if origin is None])
def test_an_upstream_url_is_read_the_way_it_is_fetched(url):
    """A spelling refused in a link is refused as the upstream's own URL too: the upstream's URL
    decides where credentials go."""
    with pytest.raises(BadRequest):
        validate_url(url.replace("/files/x.whl", "/simple/"), True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/simple/", "https://localhost/simple/", "http://[::1]/simple/"]
)
def test_a_loopback_upstream_refused_names_the_setting_that_allows_it(url):
    """Not "use https": plain http is fine on loopback once the setting is on."""
    with pytest.raises(BadRequest) as exc:
        validate_url(url, False)
    assert "is a loopback address" in exc.value.message
    assert "BALE_UPSTREAM_ALLOW_LOOPBACK=1" in exc.value.message and "use https" not in exc.value.message
    assert validate_url(url, True) == url


def test_plain_http_elsewhere_is_told_to_use_https():
    with pytest.raises(BadRequest) as exc:
        validate_url("http://pypi.org/simple/", True)
    assert "use https (plain http only for a loopback upstream" in exc.value.message


# -- PEP 792 markers from the upstream -----------------------------------------------------------
def _marked_json(status) -> bytes:
    files = [
        {
            "filename": "pubdep-1.0-py3-none-any.whl",
            "url": "pubdep-1.0-py3-none-any.whl",
            "hashes": {"sha256": "a" * 64},
        }
    ]
    return json.dumps(
        {"meta": {"api-version": "1.4"}, "name": "pubdep", "files": files, "project-status": status}
    ).encode()


def _marked_html(meta: str) -> bytes:
    return f'<html><head>{meta}</head><body><a href="pubdep-1.0-py3-none-any.whl#sha256={"a" * 64}">x</a></body></html>'.encode()


@pytest.mark.parametrize(
    "status, marker",
    [
        ({"status": "archived", "reason": "done"}, ("archived", "done")),
        ({"status": "Deprecated"}, ("deprecated", None)),
        (
            {"status": "quarantined", "reason": "mal\nware " + "x" * 600},
            ("quarantined", ("mal ware " + "x" * 600)[:500]),
        ),
        ({"status": "active", "reason": "fine"}, None),
        ({"status": "exploded"}, None),  # not a PEP 792 status: not passed on
        ({"status": 3}, None),
        ("archived", None),
    ],
)
def test_an_upstream_json_marker_is_read_and_bounded(status, marker):
    got: list = []
    _, entries = parse_json(_marked_json(status), PAGE, "pubdep", status=got)
    assert got == ([marker] if marker else [])
    # A quarantined page's files are not listed, whatever the upstream sent.
    assert len(entries) == (0 if marker and marker[0] == "quarantined" else 1)


def test_an_upstream_html_marker_is_read_first_tag_wins():
    meta = (
        '<meta name="pypi:project-status" content="quarantined">'
        '<meta name="pypi:project-status-reason" content="bad &amp; gone">'
        '<meta name="pypi:project-status" content="active">'
    )
    got: list = []
    _, entries = parse_html(_marked_html(meta), PAGE, "pubdep", status=got)
    assert got == [("quarantined", "bad & gone")] and entries == []
    got = []
    _, entries = parse_html(_marked_html(""), PAGE, "pubdep", status=got)
    assert got == [] and len(entries) == 1


def test_a_cached_page_keeps_its_marker_and_a_quarantined_one_serves_nothing():
    entry = {"f": "pubdep-1.0-py3-none-any.whl", "v": "1.0", "h": "a" * 64, "u": "https://x/p.whl"}
    page = CachedPage("ok", "pubdep", [], None, 1.0, [entry], status="quarantined", status_reason="bad")
    again = CachedPage.from_bytes(page.to_bytes())
    assert (again.status, again.status_reason, again.digest) == ("quarantined", "bad", page.digest)
    assert again.entry(entry["f"]) is None
    lifted = dataclasses.replace(again, status="active", status_reason=None, digest="")
    assert lifted.entry(entry["f"]) == entry and lifted.digest != page.digest


def test_the_cooldown_note_counts_hidden_files_and_says_why():
    c = cfg(min_age=3 * 86400)
    old = {"f": "a.whl", "t": NOW - dt.timedelta(days=30)}
    young = {"f": "b.whl", "t": NOW - dt.timedelta(hours=1)}
    untimed = {"f": "c.whl"}
    assert policy.cooldown_note([old], c, "p", NOW) is None
    note = policy.cooldown_note([old, young, untimed], c, "p", NOW) or ""
    assert note.startswith("This index's cooldown (3d) hides 2 of 3 files of p from its upstream:")
    assert "1 without an upload time" in note and "1 uploaded less than 3d ago" in note
    assert "hides all 1 files" in (policy.cooldown_note([untimed], c, "p", NOW) or "")
    assert policy.cooldown_note([untimed], cfg(min_age=0), "p", NOW) is None
    assert policy.cooldown_note([untimed], cfg(min_age=60, exempt=frozenset({"p"})), "p", NOW) is None


def test_a_probe_warns_only_when_a_cooldown_meets_missing_upload_times():
    from bale.upstream.client import Probe

    html = Probe("https://u/simple/", "pip", answers=True, found=True, json=False, files=3, timed=0)
    assert html.upload_times is False
    assert "hides every one of its files" in (html.warning(86400) or "")
    assert html.warning(0) is None
    some = dataclasses.replace(html, json=True, timed=2)
    assert "1 of pip's 3 files have no upload time" in (some.warning(86400) or "")
    whole = dataclasses.replace(html, json=True, timed=3)
    assert whole.warning(86400) is None and whole.upload_times is True
    down = Probe("https://u/simple/", "pip", answers=False, problem="503")
    assert down.lines() == ["Upstream https://u/simple/ did not answer: 503"] and down.warning(86400) is None

"""Talking to an upstream index: PEP 691 JSON or PEP 503 HTML pages, and file downloads.

Everything an upstream sends is untrusted and bounded: a page is read up to
``upstream_max_page_bytes`` within ``upstream_page_timeout`` seconds from connect to last byte
(so a slow drip is cut off, not just a silent socket), a file likewise with its own limits.
Redirects are followed by hand, at most a few, and never from https to anything else; file
links must be http(s). Credentials go only to the upstream's own origin, never to a file host
elsewhere.

Every URL (the upstream's own, a page's links, a redirect's Location) is parsed once, by
:func:`target`, with urllib3's ``parse_url``: urllib3 makes the connection, so the origin that
decides whether credentials are sent is the origin connected to. Parsers disagree on odd
spellings (``http://a:1\\@b:2/`` is host ``b`` to :func:`urllib.parse.urlsplit` and ``a`` to
urllib3 and browsers), so a URL that only a lenient parser reads is refused outright: a
backslash, whitespace or a control character anywhere, non-ASCII, userinfo, a host or port not
already in its normal form (percent-escapes, IDNA, zone ids, leading zeros, ``127.1``). Pages are parsed into the entry shape Bale's own pages use
(:func:`bale.packages.service.page_entry`), plus ``u``, the file's upstream URL; a file without
a sha256 is dropped, since it could not be verified.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html.parser
import ipaddress
import json
import re
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Final, Protocol

from packaging.utils import canonicalize_name

from bale.errors import BadRequest, BaleError
from bale.names import check_filename
from bale.packages import status as project_status
from bale.packages.distributions import parse_filename
from bale.settings import Settings
from bale.store.records import PageEntry
from bale.upstream import addresses

if TYPE_CHECKING:
    import requests

JSON_V1: Final = "application/vnd.pypi.simple.v1+json"
HTML_V1: Final = "application/vnd.pypi.simple.v1+html"
ACCEPT: Final = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01"
MAX_REDIRECTS: Final = 3
MAX_METADATA_BYTES: Final = 4 * 1024 * 1024
CHUNK: Final = 64 * 1024
#: The parsers' default limit on files per page (the client passes ``upstream_max_files``).
DEFAULT_MAX_FILES: Final = 50_000
#: JSON values ({, [ and , each) one file of a PEP 691 page may take: about 15 in PyPI's
#: pages; the rest is room for commas inside strings.
JSON_VALUES_PER_FILE: Final = 40
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class UpstreamError(BaleError):
    """The upstream failed or sent something Bale will not pass on."""

    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


@dataclasses.dataclass
class Fetched:
    """One page fetch: ``state`` is ok (``entries``), not-modified (the ETag matched) or missing."""

    state: str
    etag: str | None = None
    name: str | None = None
    entries: list[PageEntry] = dataclasses.field(default_factory=list)
    #: The upstream's PEP 792 marker (status, reason); None: it serves none (active).
    status: tuple[str, str | None] | None = None
    #: The page's format as served: "json" (PEP 691) or "html" (PEP 503); None unless ok.
    fmt: str | None = None


#: The project a probe asks for: one every PyPI-like index holds.
PROBE_PROJECT: Final = "pip"


@dataclasses.dataclass(frozen=True)
class Probe:
    """What one request to an upstream showed: whether it answers, and for a project it holds,
    whether it serves PEP 691 JSON and PEP 700 upload times (which a cooldown needs: without
    them, every file is hidden)."""

    url: str
    project: str
    answers: bool
    problem: str | None = None  # why it did not answer
    found: bool = False  # it holds ``project``
    json: bool | None = None
    files: int = 0
    timed: int = 0  # files with an upload time

    @property
    def upload_times(self) -> bool | None:
        """Whether its files carry upload times (None: no file to tell by)."""
        return None if not self.files else self.timed > 0

    def lines(self) -> list[str]:
        """What the probe found, one fact a line."""
        if not self.answers:
            return [f"Upstream {self.url} did not answer: {self.problem}"]
        if not self.found:
            return [
                f"Upstream {self.url} answers, but holds no project {self.project!r}: its format "
                "and upload times are unknown (probe with a project it holds)."
            ]
        times = {True: f"yes ({self.timed} of {self.files} files)", False: "no", None: "unknown (no files)"}
        return [
            f"Upstream {self.url} answers ({self.project}: {self.files} files).",
            "PEP 691 JSON: " + ("yes" if self.json else "no, PEP 503 HTML only"),
            f"Upload times (PEP 700): {times[self.upload_times]}",
        ]

    def warning(self, min_age: int) -> str | None:
        """What a cooldown of ``min_age`` seconds would do that the admin should hear first."""
        if min_age <= 0:
            return None
        if self.upload_times is False:
            return (
                "Warning: this upstream gives no upload times, so the cooldown hides every one of "
                "its files (a file of unknown age is never let through). Set no cooldown, or "
                "exempt the projects you need."
            )
        if self.found and self.timed < self.files:
            return (
                f"Warning: {self.files - self.timed} of {self.project}'s {self.files} files have no "
                "upload time; the cooldown hides them."
            )
        return None


def page_url(base: str, project: str) -> str:
    return urllib.parse.urljoin(base if base.endswith("/") else base + "/", f"{project}/")


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.ASCII)
# The authority as urllib3 delimits it (it stops at "/", "?", "#" and "\\"; backslashes are
# refused before this is used).
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)", re.ASCII)


@dataclasses.dataclass(frozen=True)
class Target:
    """One URL as urllib3 reads it: ``url`` (normalised, fragment dropped) is what is requested,
    ``origin`` decides whether credentials go along."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def _refuse(url: str, why: str) -> UpstreamError:
    return UpstreamError(f"The upstream gave the URL {url!r}, which {why}; refused.")


def _normal_host(host: str) -> bool:
    """Whether ``host`` is already what every parser would make of it: a lowercase ASCII DNS
    name, an IPv4 address in dotted quad, or a bracketed IPv6 address in compressed form
    without a zone."""
    if host.startswith("["):
        try:
            ip = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return ip.scope_id is None and host == f"[{ip.compressed}]"
    ip4 = addresses.literal(host)
    if ip4 is not None:
        return host == str(ip4)  # not 127.1, 0x7f.0.0.1, 2130706433 or 0177.0.0.1
    return len(host) <= 253 and _DNS_NAME.fullmatch(host) is not None and not host[-1].isdigit()


def target(url: str) -> Target:
    """``url`` parsed once, by the parser of the library that connects (urllib3); UpstreamError
    for any URL that another parser could read as another origin (see the module's notes)."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    if not url.isascii() or "\\" in url or any(c <= " " or c == "\x7f" for c in url):
        raise _refuse(url, "holds a backslash, whitespace, a control or non-ASCII character")
    m = _AUTHORITY.match(url)
    if m is None:
        raise _refuse(url, "is not an absolute http(s) URL")
    authority = m.group(1).lower()
    if "@" in authority:
        raise _refuse(url, "carries userinfo (credentials or an '@' before the host)")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise _refuse(url, "does not parse") from None
    scheme, host = parsed.scheme or "", parsed.host or ""
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(url, "is not http(s)")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    if not host or not _normal_host(host) or not 0 < port < 65536:
        raise _refuse(url, "names a host or port that is not in its normal form")
    # What urllib3 understood must be the authority as written, so nothing is read two ways.
    if authority not in (host, f"{host}:{parsed.port}"):
        raise _refuse(url, "names a host or port that is not in its normal form")
    path = parsed.path or "/"
    normal = f"{scheme}://{authority}{path}" + (f"?{parsed.query}" if parsed.query is not None else "")
    return Target(normal, scheme, host, port, path)


def resolve(base: str, href: str) -> Target:
    """A link or redirect ``href`` found at ``base``, checked before it is joined (urljoin drops
    tabs and newlines) and parsed after, by :func:`target`."""
    if not href.isascii() or "\\" in href or any(c < " " or c == "\x7f" for c in href):
        raise _refuse(href, "holds a backslash, a control or non-ASCII character")
    return target(urllib.parse.urljoin(base, href.strip(" ")))


def loopback_host(host: str) -> bool:
    """Whether ``host`` (normalised, as in :class:`Target`) is this machine."""
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = addresses.literal(host)
    return ip is not None and addresses.allowed(ip, allow_loopback=True) and not addresses.allowed(ip)


def loopback_url(url: str) -> bool:
    try:
        return loopback_host(target(url).host)
    except UpstreamError:
        return False


@functools.cache
def _guarded_classes(allow_loopback: bool) -> tuple[type[Any], type[Any]]:
    """Connection pools whose connections go only to vetted addresses (:mod:`.addresses`):
    the host is resolved once per connection, every address checked, and the socket opened to
    the checked address itself, so DNS can't answer differently in between (rebinding). TLS
    still verifies the certificate against the host name."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.util import connection

    class Guard:
        _dns_host: str
        port: int
        timeout: Any
        source_address: Any
        socket_options: Any

        def _new_conn(self) -> Any:
            vetted = addresses.resolve(self._dns_host, self.port, allow_loopback)
            last: OSError | None = None
            for ip in vetted:
                try:
                    return connection.create_connection(
                        (ip, self.port),
                        self.timeout,
                        source_address=self.source_address,
                        socket_options=self.socket_options,
                    )
                except OSError as exc:
                    last = exc
            from urllib3.exceptions import NewConnectionError

            raise NewConnectionError(self, f"Failed to establish a new connection: {last}")  # type: ignore[arg-type]

    class GuardedHTTP(Guard, HTTPConnection):
        pass

    class GuardedHTTPS(Guard, HTTPSConnection):
        pass

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPS

    return HTTPPool, HTTPSPool


def _new_session(allow_loopback: bool) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    http_pool, https_pool = _guarded_classes(allow_loopback)

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    s = requests.Session()
    s.trust_env = False  # no proxies or .netrc of the host: only what the index says
    s.mount("http://", Adapter())
    s.mount("https://", Adapter())
    return s


_sessions: dict[tuple[int, bool], requests.Session] = {}
_sessions_lock = threading.Lock()


def _session(allow_loopback: bool) -> requests.Session:
    """One pooled session per thread (requests' Session is not documented as thread-safe)."""
    key = (threading.get_ident(), allow_loopback)
    s = _sessions.get(key)
    if s is None:
        with _sessions_lock:
            s = _sessions.get(key)
            if s is None:
                s = _sessions[key] = _new_session(allow_loopback)
    return s


class UpstreamClient:
    """Fetches from one upstream (``base``: its index URL) with optional credentials."""

    def __init__(self, settings: Settings, base: str, credentials: str | None = None) -> None:
        self.settings = settings
        self.base = base if base.endswith("/") else base + "/"
        self._credentials = credentials
        try:
            self._origin: tuple[str, str, int] | None = target(self.base).origin
        except UpstreamError:
            self._origin = None  # an URL set before these checks: requests to it are refused

    # -- HTTP ---------------------------------------------------------------------------------
    def _headers_for(self, to: Target) -> dict[str, str]:
        if not self._credentials or self._origin is None or to.origin != self._origin:
            return {}
        import base64

        if ":" in self._credentials:
            raw = base64.b64encode(self._credentials.encode()).decode()
            return {"Authorization": f"Basic {raw}"}
        return {"Authorization": f"Bearer {self._credentials}"}

    def _get(self, url: str, headers: dict[str, str], deadline: float) -> tuple[requests.Response, list[str]]:
        """GET with redirects followed by hand (same scheme or up to https, a few at most); the
        response and the URLs it went through (one: no redirect). A failure after a redirect
        names it: the index URL an admin set is not where the request failed (pypiserver sends
        names it does not hold to pypi.org, which a private network may not reach)."""
        chain = [url]
        try:
            return self._follow(chain, headers, deadline), chain
        except UpstreamError as exc:
            raise _after_redirects(exc, chain) from None

    def _follow(self, chain: list[str], headers: dict[str, str], deadline: float) -> requests.Response:
        import requests
        from urllib3.util import parse_url

        to = target(chain[-1])
        for _ in range(MAX_REDIRECTS + 1):
            loopback_ok = self.settings.upstream_allow_loopback
            if to.scheme == "http" and not (loopback_ok and loopback_host(to.host)):
                # Plain http only on loopback, and only where loopback is allowed (a local
                # upstream of the local stack): never in production.
                raise UpstreamError(f"The upstream sent Bale to {to.url}, which is not https; refused.")
            left = deadline - time.monotonic()
            if left <= 0:
                raise UpstreamTimeout(f"The upstream did not answer in time ({to.url}).")
            session = _session(loopback_ok)
            prepared = session.prepare_request(
                requests.Request("GET", to.url, headers={**headers, **self._headers_for(to)})
            )
            # requests re-serialises the URL and urllib3 picks the connection from that: it
            # must still be the origin the credentials were decided for.
            sent = parse_url(prepared.url or "")
            sent_port = sent.port if sent.port is not None else _DEFAULT_PORTS.get(sent.scheme or "")
            if (sent.scheme, sent.host, sent_port) != to.origin:
                raise _refuse(to.url, "would be sent elsewhere than it reads")
            try:
                # The adapter, not Session.send: that one parses a Location with urllib.parse
                # even when redirects are not followed (and fails with a 500 on a bad port).
                resp = session.get_adapter(to.url).send(
                    prepared, stream=True, timeout=(min(left, 10.0), min(left, 30.0))
                )
            except addresses.AddressRefused as exc:
                raise UpstreamError(exc.message) from None
            except requests.Timeout:
                raise UpstreamTimeout(f"The upstream did not answer in time ({to.url}).") from None
            except requests.RequestException as exc:
                raise UpstreamError(
                    f"The upstream is unreachable ({to.url}): {exc.__class__.__name__}."
                ) from None
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                location = resp.headers["Location"]
                resp.close()
                chain.append(location)  # as sent, if it is refused
                nxt = resolve(to.url, location)
                chain[-1] = nxt.url
                if to.scheme == "https" and nxt.scheme != "https":
                    raise UpstreamError(f"The upstream redirected {to.url} away from https; refused.")
                to = nxt
                continue
            return resp
        raise UpstreamError(f"The upstream redirected too often ({to.url}).")

    def _read(self, resp: requests.Response, limit: int, deadline: float, sink: _Sink | None = None) -> bytes:
        """The body, whole (or into ``sink``), within ``limit`` bytes and the deadline."""
        import requests

        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            resp.close()
            raise UpstreamError(
                f"The upstream's answer is too large ({declared} bytes; the limit is {limit})."
            )
        buf = bytearray()
        size = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UpstreamError(f"The upstream's answer is too large (over {limit} bytes).")
                if time.monotonic() > deadline:
                    raise UpstreamTimeout("The upstream sent its answer too slowly; cut off.")
                if sink is None:
                    buf += chunk
                else:
                    sink.write(chunk)
        except requests.RequestException as exc:
            if isinstance(exc, requests.ConnectionError) and "timed out" in str(exc).lower():
                raise UpstreamTimeout("The upstream stopped sending mid-answer.") from None
            raise UpstreamError(f"The upstream broke off its answer: {exc.__class__.__name__}.") from None
        finally:
            resp.close()
        return bytes(buf)

    # -- pages --------------------------------------------------------------------------------
    def page(self, project: str, etag: str | None = None) -> Fetched:
        """The upstream's page for ``project`` (normalized): parsed, not-modified, or missing."""
        url = page_url(self.base, project)
        deadline = time.monotonic() + self.settings.upstream_page_timeout
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        resp, chain = self._get(url, headers, deadline)
        if resp.status_code == 304 and etag:
            resp.close()
            return Fetched("not-modified", etag=etag)
        if resp.status_code in (404, 410):
            resp.close()
            return Fetched("missing")
        try:
            if resp.status_code != 200:
                resp.close()
                raise UpstreamError(f"The upstream answered {resp.status_code} for {chain[-1]}.")
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            body = self._read(resp, self.settings.upstream_max_page_bytes, deadline)
            final = resp.url or url
            limit = self.settings.upstream_max_files
            marker: list[tuple[str, str | None]] = []
            fmt = (
                "json"
                if ctype == JSON_V1 or ctype.endswith("+json") or ctype == "application/json"
                else "html"
            )
            if fmt == "json":
                name, entries = parse_json(body, final, project, limit, status=marker)
            else:
                name, entries = parse_html(body, final, project, limit, status=marker)
        except UpstreamError as exc:
            raise _after_redirects(exc, chain) from None
        return Fetched(
            "ok",
            etag=resp.headers.get("ETag"),
            name=name,
            entries=entries,
            status=marker[0] if marker else None,
            fmt=fmt,
        )

    def probe(self, project: str = PROBE_PROJECT) -> Probe:
        """Ask the upstream for one project's page, once, and say what it serves (see
        :class:`Probe`). Never raises for the upstream's faults: they are the answer."""
        try:
            got = self.page(project)
        except UpstreamError as exc:
            return Probe(self.base, project, answers=False, problem=exc.message)
        if got.state != "ok":
            return Probe(self.base, project, answers=True)
        timed = sum(1 for e in got.entries if e.get("t") is not None)
        return Probe(
            self.base,
            project,
            answers=True,
            found=True,
            json=got.fmt == "json",
            files=len(got.entries),
            timed=timed,
        )

    # -- files --------------------------------------------------------------------------------
    def download(self, url: str, sink: _Sink, sha256: str, *, metadata: bool = False) -> int:
        """Copy the file at ``url`` into ``sink``; UpstreamError unless its sha256 is ``sha256``."""
        s = self.settings
        limit = MAX_METADATA_BYTES if metadata else s.upstream_max_file_bytes
        deadline = time.monotonic() + (s.upstream_page_timeout if metadata else s.upstream_file_timeout)
        resp, chain = self._get(url, {"Accept": "*/*", "Accept-Encoding": "identity"}, deadline)
        hasher = _HashingSink(sink)
        try:
            if resp.status_code != 200:
                resp.close()
                raise UpstreamError(f"The upstream answered {resp.status_code} for {chain[-1]}.")
            self._read(resp, limit, deadline, hasher)
        except UpstreamError as exc:
            raise _after_redirects(exc, chain) from None
        if hasher.sha256.hexdigest() != sha256:
            raise UpstreamError(
                f"The upstream's {url.rsplit('/', 1)[-1]} does not match the sha256 its page gave; "
                "not served."
            )
        return hasher.size


def _after_redirects(exc: UpstreamError, chain: list[str]) -> UpstreamError:
    """``exc``, its message naming the redirects followed before it (none: ``exc`` itself)."""
    if len(chain) < 2:
        return exc
    hops = " -> ".join(chain)
    return type(exc)(f"{exc.message} (Bale followed the upstream's redirect: {hops}.)", headers=exc.headers)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingSink:
    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.sink.write(data)


# -- parsing (pure) ---------------------------------------------------------------------------
def parse_upload_time(value: Any) -> dt.datetime | None:
    """PEP 700's upload-time (ISO 8601, UTC); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def make_entry(
    project: str,
    url: str,
    sha256: Any,
    *,
    requires_python: Any = None,
    yanked: Any = False,
    metadata: Any = None,
    size: Any = None,
    uploaded: Any = None,
) -> PageEntry | None:
    """One file as Bale's page entry, or None when Bale won't serve it (no sha256, not a wheel
    or sdist, another project's file, a link that is not http(s) or that :func:`target` refuses)."""
    try:
        to = target(url)
    except UpstreamError:
        return None
    filename = urllib.parse.unquote(to.path.rsplit("/", 1)[-1])
    if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
        return None
    try:
        check_filename(filename)
        parsed = parse_filename(filename)
    except BadRequest:
        return None
    if canonicalize_name(str(parsed.project)) != project:
        return None
    e: PageEntry = {
        "f": filename,
        "v": str(parsed.version),
        "h": sha256.lower(),
        "u": to.url,
    }
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        e["s"] = size
    t = uploaded if isinstance(uploaded, dt.datetime) else parse_upload_time(uploaded)
    if t is not None:
        e["t"] = t
    if isinstance(requires_python, str) and requires_python.strip():
        e["r"] = requires_python.strip()
    if isinstance(metadata, str) and _SHA256.match(metadata.lower()):
        e["m"] = metadata.lower()
    if yanked is True:
        e["y"] = ""
    elif isinstance(yanked, str):
        e["y"] = yanked
    return e


def _too_many(limit: int) -> UpstreamError:
    return UpstreamError(f"The upstream's page lists too many files (over {limit}); not served.")


def upstream_status(status: Any, reason: Any) -> tuple[str, str | None] | None:
    """An upstream's PEP 792 marker as Bale serves it again: a status the standard defines
    (anything else is not passed on), with its reason as one bounded line; None for active."""
    if not isinstance(status, str) or status.strip().lower() not in project_status.STATUSES:
        return None
    why = " ".join(reason.split())[: project_status.MAX_REASON] if isinstance(reason, str) else None
    stored, why = project_status.check_status(status, why)
    return None if stored == project_status.ACTIVE else (stored, why)


def parse_json(
    body: bytes,
    url: str,
    project: str,
    max_files: int = DEFAULT_MAX_FILES,
    *,
    status: list[tuple[str, str | None]] | None = None,
) -> tuple[str, list[PageEntry]]:
    """A PEP 691 project page, of at most ``max_files`` files. ``status``, if given, receives
    the page's PEP 792 marker (see :func:`upstream_status`); a quarantined page lists no files.

    Memory is bounded before parsing as well as after: a page within the byte limit could
    still be millions of tiny objects (``[{},{},…]``), each costing far more parsed than sent,
    so a page with more JSON values than ``max_files`` real files could need is refused unread."""
    values = body.count(b"{") + body.count(b"[") + body.count(b",")
    if values > JSON_VALUES_PER_FILE * max_files + 64:
        raise _too_many(max_files)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise UpstreamError("The upstream sent an unreadable JSON page.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise UpstreamError("The upstream sent a JSON page without a files list.")
    name = doc.get("name") if isinstance(doc.get("name"), str) else project
    raw_status = doc.get("project-status")
    marker = (
        upstream_status(raw_status.get("status"), raw_status.get("reason"))
        if isinstance(raw_status, dict)
        else None
    )
    if status is not None and marker is not None:
        status.append(marker)
    entries = []
    # PEP 792: a quarantined project's files are not offered, whatever the upstream lists.
    for f in doc["files"] if project_status.serves_files((marker or ("active",))[0]) else []:
        if not isinstance(f, dict) or not isinstance(f.get("url"), str):
            continue
        raw_hashes = f.get("hashes")
        hashes: dict[str, Any] = raw_hashes if isinstance(raw_hashes, dict) else {}
        meta = f.get("core-metadata", f.get("dist-info-metadata"))
        meta_sha = meta.get("sha256") if isinstance(meta, dict) else None
        try:
            link = resolve(url, f["url"]).url
        except UpstreamError:
            continue
        e = make_entry(
            project,
            link,
            hashes.get("sha256"),
            requires_python=f.get("requires-python"),
            yanked=f.get("yanked", False),
            metadata=meta_sha,
            size=f.get("size"),
            uploaded=f.get("upload-time"),
        )
        if e is not None:
            entries.append(e)
            if len(entries) > max_files:
                raise _too_many(max_files)
    if canonicalize_name(str(name)) != project:
        name = project  # the upstream can't present the page as another project's
    return str(name), entries


class _TooMany(Exception):
    pass


class _Links(html.parser.HTMLParser):
    def __init__(self, max_links: int) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self.max_links = max_links

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            a = dict(attrs)
            # The first of each name counts (PEP 792's two, pypi:repository-version).
            if isinstance(a.get("name"), str) and a["name"] not in self.meta:
                self.meta[str(a["name"])] = a.get("content")
        if tag == "a":
            if len(self.links) >= self.max_links:
                raise _TooMany  # stop parsing: memory stays bounded
            self.links.append(dict(attrs))


def parse_html(
    body: bytes,
    url: str,
    project: str,
    max_files: int = DEFAULT_MAX_FILES,
    *,
    status: list[tuple[str, str | None]] | None = None,
) -> tuple[str, list[PageEntry]]:
    """A PEP 503 project page (with PEP 592 yanks, PEP 658/714 metadata hashes), of at most
    ``max_files`` links. ``status`` as for :func:`parse_json` (PEP 792's meta tags)."""
    parser = _Links(max_files)
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    except _TooMany:
        raise _too_many(max_files) from None
    except Exception:
        raise UpstreamError("The upstream sent an unreadable HTML page.") from None
    marker = upstream_status(
        parser.meta.get("pypi:project-status"), parser.meta.get("pypi:project-status-reason")
    )
    if status is not None and marker is not None:
        status.append(marker)
    entries = []
    for a in parser.links if project_status.serves_files((marker or ("active",))[0]) else []:
        href = a.get("href")
        if not href:
            continue
        try:
            full = resolve(url, href.partition("#")[0]).url
        except UpstreamError:
            continue
        fragment = href.partition("#")[2]
        algo, _, digest = fragment.partition("=")
        meta = a.get("data-core-metadata") or a.get("data-dist-info-metadata") or ""
        m_algo, _, m_digest = meta.partition("=")
        yanked = a.get("data-yanked")
        e = make_entry(
            project,
            full,
            digest if algo == "sha256" else None,
            requires_python=a.get("data-requires-python"),
            yanked=False if "data-yanked" not in a else (yanked or True),
            metadata=m_digest if m_algo == "sha256" else None,
        )
        if e is not None:
            entries.append(e)
    return project, entries

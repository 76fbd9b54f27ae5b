"""Where Bale may connect for an upstream: public addresses only (SSRF guard).

A team admin chooses the upstream URL, and the upstream chooses its redirects and file links,
so every one of them could point Bale at the network it runs in: the metadata server
(169.254.169.254, ``metadata.google.internal``, which hands out the service account's
tokens), a VPC's private ranges, or the instance's own loopback. Two checks stop that:

* when an URL is set (:func:`check_host`): an IP literal in any spelling (``2130706433``,
  ``0177.0.0.1``, ``[::ffff:127.0.0.1]``) must be a public address, and names that only
  ever mean something internal (``localhost``, ``metadata``, ``*.internal``) are refused;
* at every connection (:func:`resolve`, used by the client's connection classes): the host is
  resolved once, every address it resolves to must be public, and the socket is opened to
  exactly that vetted address, so a DNS name that resolves to a private address, or that
  changes its answer between a check and the connect (DNS rebinding), gets nowhere.

Loopback is allowed only with ``upstream_allow_loopback`` (``BALE_UPSTREAM_ALLOW_LOOPBACK``),
which the local stack and the tests turn on for their local upstreams; never in production.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final

from bale.errors import BaleError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Names that only ever resolve to something inside the network Bale runs in.
INTERNAL_NAMES: Final = frozenset({"localhost", "metadata", "metadata.google.internal"})
INTERNAL_SUFFIXES: Final = (".localhost", ".internal")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(BaleError):
    """The upstream (or a link or redirect of it) leads to an address Bale won't connect to."""

    status = 502


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def allowed(ip: IPAddress, allow_loopback: bool = False) -> bool:
    """Whether Bale may connect to ``ip``: a public unicast address (or loopback, if allowed)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_v4(ip)
        if inner is not None:
            return allowed(inner, allow_loopback)
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one in any spelling the resolver accepts
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``::ffff:127.0.0.1``)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        return None
    try:
        # inet_aton takes the old BSD forms (decimal, octal, hex, fewer parts) that getaddrinfo
        # also takes: what would be connected to, not what the string looks like.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_host(host: str, allow_loopback: bool = False) -> None:
    """Refuse (:class:`AddressRefused`) a host that can only be internal. No DNS lookup: that
    happens, and counts, at connect time."""
    name = host.strip("[]").rstrip(".").lower()
    ip = literal(name)
    if ip is not None:
        if not allowed(ip, allow_loopback):
            raise AddressRefused(
                f"{host} is not a public address; Bale fetches upstreams from public ones only."
            )
        return
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
        if allow_loopback and (name == "localhost" or name.endswith(".localhost")):
            return
        raise AddressRefused(f"{host} is an internal name; Bale fetches upstreams from public hosts only.")


def resolve(host: str, port: int, allow_loopback: bool = False) -> list[str]:
    """The addresses of ``host`` Bale may connect to, all vetted; AddressRefused when any of
    them is not allowed (a name answering both public and private addresses is refused whole)."""
    check_host(host, allow_loopback)
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressRefused(f"Cannot resolve {host}: {exc.strerror}.", status=502) from None
    out: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        raw = str(sockaddr[0])
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and "%" in raw:
            raise AddressRefused(f"{host} resolves to a link-local address ({raw}); refused.")
        if not allowed(ip, allow_loopback):
            raise AddressRefused(f"{host} resolves to {ip}, which is not a public address; refused.")
        if raw not in out:
            out.append(raw)
    if not out:
        raise AddressRefused(f"Cannot resolve {host}.")
    return out

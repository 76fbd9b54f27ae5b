"""The address a request came from, as the proxies in front of Bale report it (pure).

Each proxy appends the address it received the request from to ``X-Forwarded-For``; whatever
stands left of those entries was written by the client and can say anything. So the client is
the entry ``hops`` places from the right, where ``hops`` counts the entries the trusted proxies
append (``Settings.forwarded_hops``): 2 behind the external HTTPS load balancer
(``<client>,<load balancer>``), 1 on Cloud Run's own URL, 0 with no proxy at all. Reading the
left-most entry instead would let anyone choose the address shown on the approval page and
escape a per-address limit by sending a new one each time.

Google's external Application Load Balancer appends exactly two entries, "<client-ip>,<load-
balancer-ip>", after whatever the request carried, and does not check what precedes them
("External Application Load Balancer overview", section "X-Forwarded-For header",
https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header); hence 2 by default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: The longest X-Forwarded-For value read (a proxy chain is a few dozen characters; a client
#: may send kilobytes to make the split costly).
MAX_HEADER_CHARS = 4096


def _address(text: str) -> str | None:
    """'203.0.113.9' or '[2001:db8::1]' -> the address in its canonical spelling; None if not one."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(remote_addr: str | None, forwarded_for: Iterable[str], hops: int) -> str:
    """The client's address: the entry the outermost trusted proxy appended, else the connection's.

    ``forwarded_for`` is every ``X-Forwarded-For`` header line, in order (several lines read as
    one list). With fewer entries than ``hops`` the request did not come through the proxies
    (or came with the header stripped), and only the connection's own address is known."""
    fallback = _address(remote_addr or "") or "unknown"
    if hops <= 0:
        return fallback
    joined = ",".join(forwarded_for)
    if len(joined) > MAX_HEADER_CHARS:
        # Only the right end holds what the proxies appended; the left is the client's.
        joined = joined[-MAX_HEADER_CHARS:]
    entries = [e for e in (part.strip() for part in joined.split(",")) if e]
    if len(entries) < hops:
        return fallback
    return _address(entries[-hops]) or fallback


def limit_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address, or an IPv6 address's /64 (one host
    is usually given a whole /64, so counting single IPv6 addresses would not bound it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)

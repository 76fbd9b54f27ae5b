"""The client address from X-Forwarded-For: the entry the trusted proxies appended, never one
the client wrote (issue 21, section 2)."""

from __future__ import annotations

import pytest

from bale.forwarded import MAX_HEADER_CHARS, client_address, limit_key
from bale.settings import from_env

LB = "35.191.0.1"


@pytest.mark.parametrize(
    ("lines", "hops", "expected"),
    [
        # Behind the external load balancer: "<client>,<load balancer>" appended.
        ([f"198.51.100.7, {LB}"], 2, "198.51.100.7"),
        # Left-most entries are the client's: spoofed, they change nothing.
        ([f"6.6.6.6, 198.51.100.7, {LB}"], 2, "198.51.100.7"),
        ([f"127.0.0.1,10.0.0.1 , 198.51.100.7,{LB}"], 2, "198.51.100.7"),
        ([f"not-an-ip, 198.51.100.7, {LB}"], 2, "198.51.100.7"),
        # The header sent twice reads as one list, in order.
        (["6.6.6.6", f"198.51.100.7, {LB}"], 2, "198.51.100.7"),
        # Cloud Run's own URL: its front end appends the client only.
        (["6.6.6.6, 203.0.113.9"], 1, "203.0.113.9"),
        # IPv6, with and without brackets, in canonical spelling.
        ([f"2001:DB8::0:1, {LB}"], 2, "2001:db8::1"),
        ([f"[2001:db8::1], {LB}"], 2, "2001:db8::1"),
        # Fewer entries than the proxies append: it did not come through them.
        ([LB], 2, "192.0.2.50"),
        ([], 2, "192.0.2.50"),
        ([""], 1, "192.0.2.50"),
        # No proxy: the header is the client's alone and is ignored.
        ([f"6.6.6.6, 198.51.100.7, {LB}"], 0, "192.0.2.50"),
        # The proxy's entry is junk (a misconfigured chain): the connection's address.
        (["6.6.6.6, garbage"], 1, "192.0.2.50"),
    ],
)
def test_client_address(lines, hops, expected):
    assert client_address("192.0.2.50", lines, hops) == expected


def test_a_huge_spoofed_prefix_is_cut_and_the_right_end_still_read():
    spoof = ", ".join(f"10.0.{i % 250}.{i % 200}" for i in range(5000))
    assert len(spoof) > MAX_HEADER_CHARS
    assert client_address("192.0.2.50", [f"{spoof}, 198.51.100.7, {LB}"], 2) == "198.51.100.7"


def test_no_connection_address():
    assert client_address(None, [], 2) == "unknown"


def test_limit_key_counts_an_ipv6_host_by_its_slash_64():
    assert limit_key("203.0.113.5") == "203.0.113.5"
    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("::ffff:203.0.113.5") == "203.0.113.5"
    assert limit_key("unknown") == "unknown"


def test_forwarded_hops_setting():
    assert from_env({}).forwarded_hops == 2  # the load balancer of terraform/
    assert from_env({"BALE_FORWARDED_HOPS": "1"}).forwarded_hops == 1
    assert from_env({"BALE_FORWARDED_HOPS": "0"}).forwarded_hops == 0
    for bad in ("-1", "9", "two"):
        with pytest.raises(ValueError, match="BALE_FORWARDED_HOPS"):
            from_env({"BALE_FORWARDED_HOPS": bad})

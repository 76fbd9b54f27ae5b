"""The read path's token cache: how long an entry is trusted, what it is keyed by, its bound."""

from __future__ import annotations

import datetime as dt

import pytest

from bale.clock import now
from bale.settings import from_env
from bale.tokens.cache import TokenCache
from bale.tokens.service import Permission, Token


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def token(**kw) -> Token:
    return Token(id="t_abc", team="acme", index="main", permission=Permission.READ, projects=None, **kw)


RAW = "bale_t_abc_secret"


def test_an_entry_is_trusted_for_less_than_the_ttl_only():
    clock = Clock()
    cache = TokenCache(monotonic=clock)
    t = token()
    cache.put(RAW, "acme", t)
    assert cache.get(RAW, "acme", 2) is t
    clock.t += 1.99
    assert cache.get(RAW, "acme", 2) is t
    clock.t += 0.01
    assert cache.get(RAW, "acme", 2) is None
    assert len(cache) == 0  # an expired entry is dropped, not kept


def test_a_ttl_of_zero_reads_every_time():
    cache = TokenCache(monotonic=Clock())
    cache.put(RAW, "acme", token())
    assert cache.get(RAW, "acme", 0) is None


def test_only_the_whole_token_and_the_same_team_match():
    cache = TokenCache(monotonic=Clock())
    cache.put(RAW, "acme", token())
    assert cache.get(RAW + "x", "acme", 2) is None  # another secret
    assert cache.get(RAW, "other", 2) is None  # another team's request reads its own roster
    assert cache.get(" " + RAW + " ", "acme", 2) is not None  # as the header parser strips it


def test_an_expired_token_is_not_served_from_the_cache():
    cache = TokenCache(monotonic=Clock())
    cache.put(RAW, "acme", token(expires_at=now() - dt.timedelta(seconds=1)))
    assert cache.get(RAW, "acme", 60) is None


def test_the_cache_is_bounded_least_recently_used_first_out():
    cache = TokenCache(max_entries=3, monotonic=Clock())
    for i in range(3):
        cache.put(f"{RAW}{i}", "acme", token())
    assert cache.get(f"{RAW}0", "acme", 2) is not None  # 0 is now the most recently used
    cache.put(f"{RAW}3", "acme", token())
    assert len(cache) == 3
    assert cache.get(f"{RAW}1", "acme", 2) is None
    assert cache.get(f"{RAW}0", "acme", 2) is not None


def test_the_setting_defaults_to_two_seconds_and_refuses_long_lags():
    assert from_env({}).token_cache_seconds == 2
    assert from_env({"BALE_TOKEN_CACHE_SECONDS": "0"}).token_cache_seconds == 0
    for bad in ("61", "-1", "soon"):
        with pytest.raises(ValueError, match="BALE_TOKEN_CACHE_SECONDS"):
            from_env({"BALE_TOKEN_CACHE_SECONDS": bad})

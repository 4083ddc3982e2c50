"""The claims cache: verified claims by token digest, bounded, never past a token's expiry."""

from __future__ import annotations

import hashlib

from gateway.core.claims_cache import ClaimsCache, token_digest
from gateway.core.tokens import AccessClaims

EXP = 1_800_000_900


def _claims(jti: str, expires_at: int = EXP) -> AccessClaims:
    return AccessClaims(
        subject="alice",
        client_id="pgc_1",
        tier="studios",
        scope="videos",
        jti=jti,
        issued_at=expires_at - 900,
        expires_at=expires_at,
        key_id="kid-1",
    )


def test_digest_is_sha256_of_the_token() -> None:
    """A token's cache key is the raw SHA-256 digest of its text."""
    token = "header.payload.signature"
    assert token_digest(token) == hashlib.sha256(token.encode()).digest()
    assert len(token_digest(token)) == 32
    assert token_digest(token) != token_digest(token + "x")


def test_hit_before_expiry() -> None:
    """Claims put under a digest are returned for that digest until just before exp."""
    cache = ClaimsCache()
    claims = _claims("a")
    cache.put(token_digest("a"), claims)
    assert cache.get(token_digest("a"), EXP - 900) is claims
    assert cache.get(token_digest("a"), EXP - 0.001) is claims
    assert len(cache) == 1


def test_unknown_digest_misses() -> None:
    """A digest never put is a miss and changes nothing."""
    cache = ClaimsCache()
    cache.put(token_digest("a"), _claims("a"))
    assert cache.get(token_digest("b"), EXP - 900) is None
    assert len(cache) == 1


def test_miss_at_expiry_drops_the_entry() -> None:
    """At exactly exp the entry is a miss and is dropped, so it never answers again."""
    cache = ClaimsCache()
    cache.put(token_digest("a"), _claims("a"))
    assert cache.get(token_digest("a"), EXP) is None
    assert len(cache) == 0
    assert cache.get(token_digest("a"), EXP - 900) is None


def test_miss_after_expiry_drops_the_entry() -> None:
    """Long after exp the entry is a miss and is dropped."""
    cache = ClaimsCache()
    cache.put(token_digest("a"), _claims("a"))
    cache.put(token_digest("b"), _claims("b", EXP + 3600))
    assert cache.get(token_digest("a"), EXP + 60) is None
    assert len(cache) == 1
    assert cache.get(token_digest("b"), EXP + 60) is not None


def test_capacity_evicts_least_recently_put() -> None:
    """Over capacity, the entry put longest ago (and not read since) goes first."""
    cache = ClaimsCache(capacity=2)
    for name in "abc":
        cache.put(token_digest(name), _claims(name))
    assert len(cache) == 2
    assert cache.get(token_digest("a"), EXP - 1) is None
    assert cache.get(token_digest("b"), EXP - 1) is not None
    assert cache.get(token_digest("c"), EXP - 1) is not None


def test_recently_read_entries_survive_eviction() -> None:
    """Reading an entry makes it most recent: an unread newer entry is evicted instead."""
    cache = ClaimsCache(capacity=3)
    for name in "abc":
        cache.put(token_digest(name), _claims(name))
    assert cache.get(token_digest("a"), EXP - 1) is not None
    cache.put(token_digest("d"), _claims("d"))
    assert cache.get(token_digest("b"), EXP - 1) is None
    survivors = [name for name in "acd" if cache.get(token_digest(name), EXP - 1) is not None]
    assert survivors == ["a", "c", "d"]


def test_put_again_refreshes_and_replaces() -> None:
    """Putting a digest again replaces its claims and makes it most recent."""
    cache = ClaimsCache(capacity=2)
    cache.put(token_digest("a"), _claims("a"))
    cache.put(token_digest("b"), _claims("b"))
    replacement = _claims("a2")
    cache.put(token_digest("a"), replacement)
    cache.put(token_digest("c"), _claims("c"))
    assert len(cache) == 2
    assert cache.get(token_digest("a"), EXP - 1) is replacement
    assert cache.get(token_digest("b"), EXP - 1) is None


def test_size_never_exceeds_capacity() -> None:
    """However many tokens are put, the cache holds at most its capacity."""
    cache = ClaimsCache(capacity=5)
    for index in range(100):
        cache.put(token_digest(str(index)), _claims(str(index)))
        assert len(cache) <= 5
    assert len(cache) == 5

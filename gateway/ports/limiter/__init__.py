"""The limiter and how to pick an adapter for it from a URL."""

from __future__ import annotations

from gateway.ports.limiter.base import Limiter, LimiterUnavailable
from gateway.ports.limiter.memory import MemoryLimiter
from gateway.ports.limiter.redis import RedisLimiter, from_url

__all__ = ["Limiter", "LimiterUnavailable", "MemoryLimiter", "RedisLimiter", "open_limiter"]

_REDIS_SCHEMES = {"redis", "rediss", "redis+cluster"}


def open_limiter(url: str) -> Limiter:
    """The limiter a URL names (`memory://`, `redis://…`, `rediss://…`, `redis+cluster://…`),
    not connected yet: the first call does that."""
    scheme, separator, location = url.partition("://")
    scheme = scheme.lower()
    # Never echo the URL itself: a Redis URL may carry a password.
    if separator and scheme == "memory":
        if location.strip("/"):
            raise ValueError("the in-process limiter URL is memory:// with nothing after it")
        return MemoryLimiter()
    if separator and scheme in _REDIS_SCHEMES:
        return from_url(url)
    raise ValueError(
        "unsupported limiter URL; expected memory://, redis://, rediss:// or redis+cluster://"
    )

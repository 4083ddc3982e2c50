"""The state store and how to pick an adapter for it from a URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.ports.redis_connection import SCHEMES as REDIS_SCHEMES
from gateway.ports.store.base import ChangeFeed, Store, StoreUnavailable
from gateway.ports.store.redis import RedisStore
from gateway.ports.store.sqlite import SqliteStore

__all__ = ["ChangeFeed", "RedisStore", "SqliteStore", "Store", "StoreUnavailable", "open_store"]


def _open_sqlite(url: str) -> Store:
    location = url.partition("://")[2]
    # "sqlite:///rel" leaves "/rel", "sqlite:////abs" leaves "//abs": the first slash
    # ends the (always empty) host, the rest is the path.
    if not location.startswith("/") or len(location) < 2:
        raise ValueError("a sqlite store URL is sqlite:///relative/path or sqlite:////abs/path")
    # Resolved now, so a later change of working directory cannot move the file.
    return SqliteStore(Path(location[1:]).absolute())


# One entry per adapter, given the whole URL.
_ADAPTERS: dict[str, Callable[[str], Store]] = {
    "sqlite": _open_sqlite,
    **dict.fromkeys(sorted(REDIS_SCHEMES), RedisStore.from_url),
}


def open_store(url: str) -> Store:
    """The store a URL names, not connected yet: the first call (or `close`) does that."""
    known = ", ".join(f"{name}://" for name in _ADAPTERS)
    scheme, separator, _ = url.partition("://")
    # Never echo the URL itself: a store URL may carry a password.
    if not separator:
        raise ValueError(f"the store URL has no scheme; expected one of: {known}")
    adapter = _ADAPTERS.get(scheme.lower())
    if adapter is None:
        raise ValueError(f"unsupported store URL scheme {scheme!r}; expected one of: {known}")
    return adapter(url)

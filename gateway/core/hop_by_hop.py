"""Hop-by-hop header filtering (RFC 9110 section 7.6.1), applied both ways."""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def connection_listed(values: Iterable[str]) -> frozenset[str]:
    """Header names that a `Connection` header declares hop-by-hop for this hop."""
    names: set[str] = set()
    for value in values:
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return frozenset(names)


def end_to_end(
    headers: Iterable[tuple[str, str]], *, also_drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Headers that may cross the proxy: lower-cased names, hop-by-hop ones removed."""
    pairs = [(name.lower(), value) for name, value in headers]
    dropped = HOP_BY_HOP | also_drop | connection_listed(v for n, v in pairs if n == "connection")
    return [(name, value) for name, value in pairs if name not in dropped]

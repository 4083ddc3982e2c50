"""Hop-by-hop headers never cross the proxy."""

from __future__ import annotations

from gateway.core.hop_by_hop import end_to_end


def test_standard_hop_by_hop_headers_are_removed() -> None:
    """The RFC 9110 connection-specific headers are dropped, others kept in order."""
    headers = [
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic x"),
        ("Content-Type", "application/json"),
        ("X-Trace", "1"),
    ]
    assert end_to_end(headers) == [("content-type", "application/json"), ("x-trace", "1")]


def test_headers_named_by_connection_are_removed() -> None:
    """A header listed in Connection is hop-by-hop for this hop, whatever its name."""
    headers = [
        ("connection", "close, X-Secret ,x-other"),
        ("x-secret", "s"),
        ("X-Other", "o"),
        ("x-kept", "k"),
    ]
    assert end_to_end(headers) == [("x-kept", "k")]


def test_extra_names_are_dropped_too() -> None:
    """Callers can drop more names, matched case-insensitively."""
    assert end_to_end([("Host", "a"), ("Accept", "*/*")], also_drop=frozenset({"host"})) == [
        ("accept", "*/*")
    ]


def test_repeated_headers_are_all_kept() -> None:
    """Repeated end-to-end headers (e.g. Set-Cookie) survive as separate fields."""
    headers = [("set-cookie", "a=1"), ("set-cookie", "b=2")]
    assert end_to_end(headers) == headers

"""One canonical spelling of a request's path and query, or a refusal.

Servers disagree on what a path means: most resolve `.` and `..`, many decode `%2e`
or `%2F` first, some merge `//` or read `\\` as `/`. A gateway that judged one spelling
while the model API served another would let a request past every check (reading
another principal's job through `/v1/videos/x/../ID`, creating a video through
`/v1/./videos`). So every spelling on which servers can differ is refused here, and
what the gateway forwards is the canonical path it judged, byte for byte.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from gateway.core.errors import BadRequest


class InvalidPath(BadRequest):
    code = "invalid_path"


class InvalidQuery(BadRequest):
    pass


# RFC 3986 pchar (unreserved, sub-delims, ':' and '@') and '%' for escapes, plus '/'.
_PATH_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/"
)
# A query may also hold '/' and '?' (RFC 3986 §3.4).
_QUERY_BYTES = _PATH_BYTES | frozenset(b"?")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# C0 and C1 controls and DEL: never part of a name, and read differently everywhere.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DOT_SEGMENTS = frozenset({".", ".."})
# What a canonical path or query leaves unescaped: unreserved characters only, so that
# no server has anything left to decode or normalise.
_UNRESERVED = "-._~"


def _decode(raw: bytes, what: str, error: type[BadRequest]) -> str:
    if _BROKEN_ESCAPE.search(raw):
        raise error(f"The {what} holds a '%' that does not start an escape like %2F.")
    decoded = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"The {what} holds escapes that are not UTF-8.") from None
    if _CONTROL.search(text):
        raise error(f"The {what} holds a control character.")
    return text


def _check_bytes(raw: bytes, allowed: frozenset[int], what: str, error: type[BadRequest]) -> None:
    for byte in raw:
        if byte not in allowed:
            shown = repr(chr(byte)) if 0x20 < byte < 0x7F else f"the byte 0x{byte:02x}"
            raise error(f"The {what} holds {shown}, which must be percent-encoded or left out.")


def canonical_path(raw: bytes) -> str:
    """The decoded path (`/v1/videos/ID`) of a raw request path, if it has one meaning.

    Refused with 400 `invalid_path`: a path not starting with '/', a byte outside RFC
    3986's path characters (a literal '\\', a space, anything non-ASCII), a broken
    escape, an escape that is not UTF-8, a control character, an empty segment (`//`;
    a trailing '/' is allowed and makes a different path), a `.` or `..` segment in any
    spelling, an escaped '/' or '\\'."""
    if not raw.startswith(b"/"):
        raise InvalidPath("The path must start with '/'.")
    _check_bytes(raw, _PATH_BYTES, "path", InvalidPath)
    segments = raw[1:].split(b"/")
    decoded: list[str] = []
    for position, segment in enumerate(segments):
        if not segment and position < len(segments) - 1:
            raise InvalidPath("The path has an empty segment ('//').")
        text = _decode(segment, "path", InvalidPath)
        if text in _DOT_SEGMENTS:
            raise InvalidPath("The path has a '.' or '..' segment.")
        if "/" in text or "\\" in text:
            raise InvalidPath("The path has an escaped '/' or '\\'.")
        decoded.append(text)
    return "/" + "/".join(decoded)


def encode_path(path: str) -> str:
    """The path as sent: every character but unreserved ones and '/' percent-encoded."""
    return quote(path, safe="/" + _UNRESERVED)


def canonical_query(raw: bytes) -> tuple[tuple[str, str], ...]:
    """The query's (name, value) pairs, each name once; '+' reads as a space, as HTML
    forms and most servers read it. Refused with 400 `invalid_request`: a byte outside
    RFC 3986's query characters, a broken or non-UTF-8 escape, a control character,
    a name given twice (servers differ on which one counts), an empty name."""
    if not raw:
        return ()
    _check_bytes(raw, _QUERY_BYTES, "query", InvalidQuery)
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in raw.split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        name = _decode(raw_name.replace(b"+", b" "), "query", InvalidQuery)
        value = _decode(raw_value.replace(b"+", b" "), "query", InvalidQuery)
        if not name:
            raise InvalidQuery("The query has a parameter without a name.")
        if name in seen:
            raise InvalidQuery(f"The query gives {name!r} more than once.", param=name)
        seen.add(name)
        pairs.append((name, value))
    return tuple(pairs)


def encode_query(pairs: tuple[tuple[str, str], ...]) -> str:
    """The canonical query string (without '?'), escaped so no server decodes it otherwise."""
    return "&".join(
        f"{quote(name, safe=_UNRESERVED)}={quote(value, safe=_UNRESERVED)}" for name, value in pairs
    )

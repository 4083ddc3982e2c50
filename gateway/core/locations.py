"""`Location` and `Content-Location` from the model API, as the caller may see them.

The model API knows itself by its internal address; a redirect or a created resource
naming that address would hand it to every caller (and send them around the gateway).
An absolute reference to the model API's origin is rewritten to the gateway's public
base URL; a relative one already resolves against the gateway; one the gateway cannot
read is dropped rather than passed on unjudged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
LOCATION_HEADERS = frozenset({"location", "content-location"})


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    path: str  # the base URL's path prefix, without its trailing '/'

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        return cls(
            parts.scheme.lower(),
            (parts.hostname or "").lower(),
            parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0),
            parts.path.rstrip("/"),
        )

    def holds(self, parts: SplitResult) -> bool:
        scheme = parts.scheme.lower() or self.scheme  # "//host/path" takes the request's
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        return (scheme, (parts.hostname or "").lower(), port) == (self.scheme, self.host, self.port)


def public_location(value: str, upstream: Origin, public_base: str) -> str | None:
    """The header value the caller gets, or None to drop the header."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if not parts.netloc:
        return value  # relative: it resolves against the gateway the caller asked
    if not upstream.holds(parts):
        return value
    path = parts.path or "/"
    if upstream.path:
        if path != upstream.path and not path.startswith(upstream.path + "/"):
            return None
        path = path[len(upstream.path) :] or "/"
    rewritten = public_base.rstrip("/") + path
    if parts.query:
        rewritten += "?" + parts.query
    if parts.fragment:
        rewritten += "#" + parts.fragment
    return rewritten

"""A request's route, from the ASGI scope: canonical path and query, then classification.

The proxy forwards the target this returns and judges the route it returns; the request
counter labels refused requests with the same route, so both read one spelling.
"""

from __future__ import annotations

from gateway.core.errors import BadRequest
from gateway.core.paths import (
    InvalidPath,
    canonical_path,
    canonical_query,
    encode_path,
    encode_query,
)
from gateway.core.routes import Route, RouteKind, check_query, classify
from gateway.edges.http.asgi import Scope


def route_of(method: str, scope: Scope) -> tuple[Route, str, BadRequest | None]:
    """The route, the target forwarded (canonical path and query, the spelling the route
    was judged on) and, for a path or query with no single meaning, why it is refused."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    try:
        path = canonical_path(raw_path)
    except InvalidPath as error:
        return Route(RouteKind.INVALID, ""), "", error
    route = classify(method, path)
    try:
        query = canonical_query(scope["query_string"])
        check_query(route.kind, (name for name, _ in query))
    except BadRequest as error:
        return route, encode_path(path), error
    target = encode_path(path) + ("?" + encode_query(query) if query else "")
    return route, target, None

"""Default-deny routing: beside the documented routes, only what the policy lists.

A route the gateway does not document is forwarded only where the policy's `routes:`
table names its method and path for the caller's tier; a documented path asked with
another method is 405 with `Allow`; anything else is 404 `unknown_route`; neither
reaches the model API. Runs after phase admission, so a
listed route is authenticated and admitted like any other, under the one policy
version the exchange holds.
"""

from __future__ import annotations

from gateway.core.errors import MethodNotAllowed, MissingToken, UnknownRoute
from gateway.core.policy import Policy
from gateway.core.routes import Route, RouteKind, documented_methods
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply


class ListedRoutes(PassiveStep):
    async def before(self, exchange: Exchange) -> Reply | None:
        route = exchange.route
        if route.kind is not RouteKind.PASSTHROUGH:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        allowed = documented_methods(route.path)
        if allowed:
            # A documented path: only its own methods, never one the policy could list
            # past the checks the documented route has (the loader refuses such entries).
            exchange.route = Route(RouteKind.UNKNOWN, route.path, None, route.path)
            raise MethodNotAllowed(exchange.method, route.path, allowed)
        policy: Policy = exchange.notes["policy"]
        listed = policy.passthrough(exchange.method, route.path)
        if listed is None or not listed.allows(caller.tier):
            exchange.route = Route(RouteKind.UNKNOWN, route.path, None, route.path)
            raise UnknownRoute(f"There is no route {exchange.method} {route.path}.")
        exchange.route = Route(RouteKind.PASSTHROUGH, listed.template, None, route.path)
        return None

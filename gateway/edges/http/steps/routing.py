"""Default-deny routing: beside the documented routes, only what the policy lists.

A route the gateway does not document is forwarded only where the policy's `routes:`
table names its method and path for the caller's tier; anything else is 404
`unknown_route` and never reaches the model API. Runs after phase admission, so a
listed route is authenticated and admitted like any other, under the one policy
version the exchange holds.
"""

from __future__ import annotations

from gateway.core.errors import MissingToken, UnknownRoute
from gateway.core.policy import Policy
from gateway.core.routes import Route, RouteKind
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply


class ListedRoutes(PassiveStep):
    async def before(self, exchange: Exchange) -> Reply | None:
        route = exchange.route
        if route.kind is not RouteKind.PASSTHROUGH:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        policy: Policy = exchange.notes["policy"]
        listed = policy.passthrough(exchange.method, route.path)
        if listed is None or not listed.allows(caller.tier):
            exchange.route = Route(RouteKind.UNKNOWN, route.path, None, route.path)
            raise UnknownRoute(f"There is no route {exchange.method} {route.path}.")
        exchange.route = Route(RouteKind.PASSTHROUGH, listed.template, None, route.path)
        return None

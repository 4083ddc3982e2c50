"""Counting proxied requests: by route kind, tier, decision and the status answered.

The counter observes the outermost middleware of the proxied stack, so a request
refused for its token is counted too, with the status the caller actually got (a 500
for a crash included), once the answer has gone out (after the last byte of a
stream). What the pipeline decided comes from the exchange the proxy leaves in the
request's state.
"""

from __future__ import annotations

from gateway.edges.http.asgi import Scope
from gateway.edges.http.decisions import final_decision
from gateway.edges.http.pipeline import Exchange
from gateway.edges.http.request_route import route_of
from gateway.ports.metrics.registry import NO_TIER, GatewayMetrics


class RequestCounter:
    """A `RequestObserver` for the proxied requests' `RequestIdentity`."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self._in_flight = metrics.in_flight

    def started(self) -> None:
        self._in_flight.inc()

    def answered(self, scope: Scope, status: int) -> None:
        self._in_flight.dec()
        # No status: the request was cancelled before any answer (the server stopping).
        if status:
            self._metrics.request_answered(*_labels(scope), status)


def _labels(scope: Scope) -> tuple[str, str, str]:
    """route kind, tier and decision; never the raw path or anything naming the caller."""
    exchange: Exchange | None = scope["state"].get("exchange")
    if exchange is None:
        # Refused before the proxy saw it: authentication did not accept the token.
        return route_of(scope["method"], scope)[0].kind.value, NO_TIER, "refused"
    caller = exchange.caller
    tier = caller.tier if caller is not None else NO_TIER
    return exchange.route.kind.value, tier, final_decision(exchange)

"""Every proxied request needs a caller; the model API learns who it is from the gateway."""

from __future__ import annotations

from gateway.core.errors import MissingToken
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply


class RequireCaller(PassiveStep):
    async def before(self, exchange: Exchange) -> Reply | None:
        if exchange.caller is None:
            raise MissingToken()
        exchange.upstream_headers.extend(
            [
                ("x-phasegate-principal", exchange.caller.subject),
                ("x-phasegate-tier", exchange.caller.tier),
            ]
        )
        return None

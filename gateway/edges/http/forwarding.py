"""What the model API receives from the gateway, decided once for the proxy and for steps."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.core.errors import UpstreamUnavailable
from gateway.core.hop_by_hop import end_to_end
from gateway.edges.http.pipeline import Exchange
from gateway.ports.upstream import Upstream

# Never forwarded: the caller's credentials are for the gateway alone, and the
# identity headers are the gateway's to set, so a caller must not be able to forge them.
# The gateway answers Idempotency-Key itself, per principal; passed on, one principal's
# key could replay another's job at a model API that honours keys per API key.
_CALLER_ONLY = frozenset({"host", "authorization", "x-request-id", "expect", "idempotency-key"})
_GATEWAY_SET_PREFIX = "x-phasegate-"
_MAX_DOCUMENT = 1024 * 1024


class Forwarder:
    def __init__(self, upstream: Upstream, upstream_key: str | None) -> None:
        self.upstream = upstream
        self._credential = [("authorization", f"Bearer {upstream_key}")] if upstream_key else []

    @property
    def credential(self) -> list[tuple[str, str]]:
        """The gateway's own credential for the model API (none if not configured)."""
        return list(self._credential)

    def headers_for(self, exchange: Exchange) -> list[tuple[str, str]]:
        dropped = _CALLER_ONLY | ({"content-length"} if exchange.body is not None else frozenset())
        headers = [
            (name, value)
            for name, value in end_to_end(exchange.headers, also_drop=dropped)
            if not name.startswith(_GATEWAY_SET_PREFIX)
        ]
        headers.append(("x-request-id", exchange.request_id))
        headers.extend(self._credential)
        headers.extend(exchange.upstream_headers)
        return headers

    async def get_document(self, exchange: Exchange, target: str) -> tuple[int, Any]:
        """A JSON document the gateway itself reads from the model API on the caller's behalf."""
        headers = [(n, v) for n, v in self.headers_for(exchange) if n != "content-type"]
        response = await self.upstream.send("GET", target, headers, None)
        try:
            body = await response.read(_MAX_DOCUMENT)
        finally:
            response.release()
        try:
            return response.status, orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamUnavailable("The model API answered something other than JSON.") from None

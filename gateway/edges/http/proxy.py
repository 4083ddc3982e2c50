"""The streaming reverse proxy: the pipeline's steps, then the model API, then back."""

from __future__ import annotations

import asyncio

import structlog

from gateway.core.client_address import NO_TRUSTED_PROXIES, TrustedProxies, client_address
from gateway.core.errors import GatewayError, UnsupportedMediaType
from gateway.core.generation_body import MEDIA_TYPES as GENERATION_MEDIA_TYPES
from gateway.core.generation_body import media_type
from gateway.core.hop_by_hop import end_to_end
from gateway.core.locations import LOCATION_HEADERS, Origin, public_location
from gateway.core.request_headers import check_generation_headers
from gateway.core.routes import RouteKind
from gateway.edges.http import request_body
from gateway.edges.http.asgi import Receive, Scope, Send, first_header
from gateway.edges.http.authentication import Caller
from gateway.edges.http.forwarding import Forwarder
from gateway.edges.http.pipeline import Exchange, Outcome, Pipeline
from gateway.edges.http.request_route import route_of
from gateway.edges.http.responses import send_error, send_json
from gateway.ports.upstream import RequestBody, UpstreamResponse

_log = structlog.get_logger("phasegate.proxy")

# The upstream's own framing and identity are replaced by the gateway's server.
_UPSTREAM_ONLY = frozenset({"server", "date"})
# Generation and job answers are small JSON documents that steps read (job ids, states).
_MAX_DOCUMENT_ANSWER = 1024 * 1024


class ReverseProxy:
    def __init__(
        self,
        forwarder: Forwarder,
        pipeline: Pipeline,
        *,
        max_body: int,
        trusted_proxies: TrustedProxies = NO_TRUSTED_PROXIES,
        upstream_url: str = "",
        public_url: str = "",
    ) -> None:
        self._forwarder = forwarder
        self._pipeline = pipeline
        self._max_body = max_body
        self._trusted_proxies = trusted_proxies
        self._locations = _Locations(Origin.of(upstream_url), public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id: str = scope["state"]["request_id"]
        method: str = scope["method"]
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        peer = scope.get("client")
        route, target, invalid = route_of(method, scope)
        exchange = Exchange(
            request_id=request_id,
            method=method,
            route=route,
            target=target,
            headers=headers,
            client_host=client_address(
                peer[0] if peer else None,
                (value for name, value in headers if name == "x-forwarded-for"),
                self._trusted_proxies,
            ),
            caller=user.claims if isinstance(user := scope.get("user"), Caller) else None,
        )
        # For the middleware around the proxy (the request metrics): what the steps decided.
        scope["state"]["exchange"] = exchange
        try:
            if invalid is not None:
                raise invalid
            body = await self._read_body(exchange, scope, receive)
            reply = await self._pipeline.before(exchange)
        except GatewayError as error:
            await self._pipeline.refused(exchange, error)
            await send_error(send, error, request_id, exchange.response_headers)
            return
        if reply is not None:
            await send_json(
                send, reply.status, reply.document, dict(reply.headers), exchange.response_headers
            )
            return
        try:
            response = await self._forwarder.upstream.send(
                exchange.method, exchange.target, self._forwarder.headers_for(exchange), body
            )
        except GatewayError as error:
            await self._pipeline.failed(exchange)
            await send_error(send, error, request_id, exchange.response_headers)
            return
        try:
            await self._answer(exchange, response, send, receive if body is None else None)
        finally:
            response.release()

    async def _read_body(self, exchange: Exchange, scope: Scope, receive: Receive) -> RequestBody:
        limit = self._max_body
        length = request_body.declared_length(first_header(scope, b"content-length"), limit)
        if exchange.route.kind.is_generation:
            check_generation_headers(exchange.headers)
            if media_type(exchange.header("content-type") or "") not in GENERATION_MEDIA_TYPES:
                raise UnsupportedMediaType(
                    "Generation requests take application/json or multipart/form-data."
                )
            # Buffered because the policy reads the prompt before anything is forwarded.
            exchange.body = await request_body.read_whole(receive, limit)
            return exchange.body
        chunked = first_header(scope, b"transfer-encoding") is not None
        if not length and not chunked:
            return None
        return request_body.stream(receive, limit)

    async def _answer(
        self,
        exchange: Exchange,
        response: UpstreamResponse,
        send: Send,
        receive: Receive | None,
    ) -> None:
        kind = exchange.route.kind
        # A job known to the model by another id: its JSON answers name the client's id.
        rewrite = exchange.alias is not None and kind is not RouteKind.DOWNLOAD_VIDEO
        headers = self._locations.answer_headers(exchange, response)
        if kind.answer_is_read or rewrite:
            try:
                body = await response.read(_MAX_DOCUMENT_ANSWER)
            except GatewayError as error:
                await self._pipeline.failed(exchange)
                await send_error(send, error, exchange.request_id, exchange.response_headers)
                return
            if exchange.alias is not None and rewrite:
                rewritten = exchange.alias.client_body(body)
                if rewritten is not body:
                    body = rewritten
                    headers = self._locations.answer_headers(exchange, response, length=len(body))
            try:
                await self._pipeline.after(
                    exchange, Outcome(response.status, response.headers, body)
                )
            except GatewayError as error:
                await send_error(send, error, exchange.request_id)
                return
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self._pipeline.after(exchange, Outcome(response.status, response.headers))
        except GatewayError as error:
            await send_error(send, error, exchange.request_id)
            return
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        # The server drops what is sent after the caller has gone; without watching for it, an
        # abandoned download would still be read from the model API to its last byte.
        gone = asyncio.ensure_future(_disconnected(receive)) if receive is not None else None
        try:
            async for chunk in response.body():
                if gone is not None and gone.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except GatewayError as error:
            # The head is gone already: all that is left is to cut the connection so the
            # caller sees a truncated body rather than a complete-looking one.
            _log.warning("upstream_broke_off", request_id=exchange.request_id, reason=error.message)
            return
        finally:
            if gone is not None:
                gone.cancel()
        await send({"type": "http.response.body", "body": b""})


class _Locations:
    def __init__(self, upstream: Origin, public_url: str) -> None:
        self._upstream = upstream
        self._public_url = public_url

    def answer_headers(
        self, exchange: Exchange, response: UpstreamResponse, length: int | None = None
    ) -> list[tuple[bytes, bytes]]:
        """The model API's end-to-end headers plus the steps' own; `length` replaces the
        model's Content-Length for a body the gateway rewrote. Locations naming the model
        API's own address are rewritten to the gateway's public one."""
        drop = (_UPSTREAM_ONLY | {"content-length"}) if length is not None else _UPSTREAM_ONLY
        pairs: list[tuple[str, str]] = []
        for name, value in end_to_end(response.headers, also_drop=drop):
            shown: str | None = value
            if name.lower() in LOCATION_HEADERS:
                shown = public_location(value, self._upstream, self._public_url)
            if shown is not None:
                pairs.append((name, shown))
        if length is not None:
            pairs.append(("content-length", str(length)))
        pairs.extend(exchange.response_headers)
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

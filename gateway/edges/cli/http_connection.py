"""One client connection as `serve` runs it: uvicorn's httptools protocol, plus the bounds
it lacks and an ending that never resets a connection.

uvicorn bounds the silence between requests (`timeout_keep_alive`) but nothing about a
request head: a client may send its request line and headers a byte at a time, never
finish them, or send megabytes of them (httptools keeps no limit, and
`h11_max_incomplete_event_size` exists for h11 only), holding its connection all along.
An HTTP/0.9 request line (`GET /`, no version) reads as the start of a head that never
ends. And uvicorn ends a connection with `close()` even while the client is still sending
(a body answered before it was read, a request refused as it arrives); the kernel then
resets the connection, and the answer is lost before the client reads it.

So, per connection:

- the request line and headers must be complete within `header_timeout` of the
  connection's start or of the head's first byte, or the answer is 408 (nothing, if no
  byte of a request came) and the connection ends;
- a head of more than `max_head_bytes` is 431, an HTTP/0.9 request line 400 at once;
  these answers, like uvicorn's 400 for malformed HTTP, are in the error envelope;
- an answer that starts while its request's body is still arriving (a 413, say) carries
  `Connection: close`: the rest of the body will not be read, so the connection cannot
  go on, and the client must know it before it takes the connection for another request;
- a connection ended while the client may still be sending closes lingering: our side
  is shut after the answer, and what the client still sends is read and dropped until it
  closes (within bounds), so no reset takes the answer with it;
- once the server stops taking requests (`ConnectionRules.keep_alive` off, then
  `shutdown()`), every answer carries `Connection: close`; a request already arriving is
  answered; a connection is closed only while idle, never between a request and its answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
import structlog
import uvicorn
from uvicorn._types import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.core.envelope import error_envelope
from gateway.core.errors import BadRequest, GatewayError, RequestHeadTimeout, RequestHeadTooLarge
from gateway.core.request_id import new_request_id
from gateway.edges.cli.ending_transport import EndedByProtocol, has_unread_bytes

_log = structlog.get_logger("phasegate.http")

MAX_HEAD_BYTES: Final = 64 * 1024
# A lingering close ends when the client closes, is silent this long, or at the latest
# after _LINGER_SECONDS (nginx's lingering_timeout and lingering_time).
_LINGER_SILENCE_SECONDS: Final = 5.0
_LINGER_SECONDS: Final = 30.0
# When an exchange whose answer promised to keep the connection ends after the server began
# to stop, the connection stays open this long for the next request.
_IDLE_GRACE_SECONDS: Final = 0.5
_VERSIONED_LINE: Final = re.compile(rb" HTTP/\d")


@dataclass
class ConnectionRules:
    """What every connection of one server follows; shared, so that stopping reaches all."""

    header_timeout: float
    max_head_bytes: int = MAX_HEAD_BYTES
    # Turned off when the server begins to stop: each answer is then its connection's last.
    keep_alive: bool = True


class GatewayConfig(uvicorn.Config):
    """uvicorn's configuration with the gateway's connection protocol and its rules."""

    def __init__(self, app: Any, rules: ConnectionRules, **options: Any) -> None:
        super().__init__(app, http=GatewayHttpProtocol, **options)
        self.rules = rules


class GatewayHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(config, GatewayConfig):
            raise TypeError("GatewayHttpProtocol needs a GatewayConfig")
        super().__init__(config, server_state, app_state, _loop)
        self.app = _EarlyAnswersClose(self.app, self._receiving_body_of)
        self._rules = config.rules
        self._raw: asyncio.Transport | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._linger_until = 0.0
        self._in_message = False  # from a request's first byte to its last
        self._head_done = False
        self._heads = 0
        self._head_bytes = 0
        # The start of a request line whose end has not arrived, while it is watched.
        self._line: bytearray | None = None
        self._discarding = False  # nothing more is parsed: what arrives is dropped
        self._lingering = False
        self._stopping = False

    # Connection events

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        self._raw = transport
        super().connection_made(EndedByProtocol(transport, self._end))
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        _cancel(self._head_timer, self._idle_timer, self._linger_timer)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            self._extend_linger()
            return
        if not self._in_message:
            if self._line is None:
                self._line = bytearray()
            # Bytes between requests start the next head's clock.
            if self._head_timer is None:
                self._arm_head_timer()
        if self._line is not None and self._lacks_version(self._line, data):
            self._refuse(BadRequest("HTTP/0.9 is not served: send HTTP/1.1 requests."))
            return
        head_at_start = self._in_message and not self._head_done
        idle_at_start = not self._in_message
        heads = self._heads
        super().data_received(data)
        if self.transport.is_closing() or not (self._in_message and not self._head_done):
            return
        # Count the chunk when all of it belongs to the unfinished head. A chunk that ended
        # one request and began the next is not counted: the bound is then one read late.
        if (head_at_start and self._heads == heads) or (idle_at_start and self._heads == heads + 1):
            self._head_bytes += len(data)
        if self._head_bytes > self._rules.max_head_bytes:
            self._refuse(
                RequestHeadTooLarge(
                    f"The request line and headers exceed {self._rules.max_head_bytes} bytes."
                )
            )

    def shutdown(self) -> None:
        """The server stops: end this connection between requests, never within one."""
        self._stopping = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.response_started:
                cycle.keep_alive = False  # its answer says `Connection: close`
            # An answer already under way promised to keep the connection: see
            # on_response_complete.
            return
        self._close_when_idle()

    def timeout_keep_alive_handler(self) -> None:
        if self._raw is not None and has_unread_bytes(self._raw):
            return  # a request arrived as the connection was about to close: it is served
        super().timeout_keep_alive_handler()

    def send_400_response(self, msg: str) -> None:
        # httptools refused the bytes (uvicorn has logged why).
        self._refuse(BadRequest("The request is not well-formed HTTP/1.1."))

    def handle_websocket_upgrade(self) -> None:
        # The websocket protocol takes the connection over as it is.
        _cancel(self._head_timer, self._idle_timer)
        if self._raw is not None:
            self.transport = self._raw
        super().handle_websocket_upgrade()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._head_done = False
        self._heads += 1
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._head_done = True
        _cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()
        cycle = self.cycle
        stopping = self._stopping or not self._rules.keep_alive
        if stopping and cycle is not None and not cycle.response_started:
            cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._stopping and not self.transport.is_closing():
            self._close_after_grace()

    def _receiving_body_of(self, scope: Scope) -> bool:
        """Whether the body of the request of `scope` is still arriving."""
        cycle = self.cycle
        return self._in_message and self._head_done and cycle is not None and cycle.scope is scope

    # Bounds

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._rules.header_timeout, self._head_expired)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_message:
            self._refuse(
                RequestHeadTimeout(
                    "The request line and headers did not arrive within "
                    f"{self._rules.header_timeout:g} s."
                )
            )
        elif not self._answering():
            self.transport.close()  # nothing was asked, so nothing is answered

    def _lacks_version(self, line: bytearray, data: bytes) -> bool:
        """Whether the request line, once it ends, has no HTTP version (HTTP/0.9). Watches
        the line until its end; empty lines before it are allowed (RFC 9112 section 2.2)."""
        pending = line + data if line else data
        start = 0
        while start < len(pending) and pending[start] in b"\r\n":
            start += 1
        end = pending.find(b"\n", start)
        if end < 0:
            unfinished = len(pending) - start
            # Longer than a head may be, the line is left to the head bound to refuse.
            self._line = (
                bytearray(pending[start:]) if unfinished <= self._rules.max_head_bytes else None
            )
            return False
        self._line = None
        return _VERSIONED_LINE.search(pending, start, end) is None

    def _refuse(self, error: GatewayError) -> None:
        """Answer `error` and end the connection; nothing more of it is parsed."""
        self._discarding = True
        cycle = self.cycle
        if self._answering() and not self._head_done:
            # The answer under way is another request's: the refused one behind it gets
            # none, and the connection ends after that answer.
            cycle.keep_alive = False
            return
        if self._answering():
            # The request being answered is the refused one (its body broke): its handler
            # stops receiving it, as if the client had gone.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()  # an answer begun cannot be finished: cut it short
                return
        request_id = new_request_id()
        body = orjson.dumps(error_envelope(error, request_id))
        head = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            head.extend((name, b": ", value, b"\r\n"))
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"x-request-id: %s\r\nconnection: close\r\n\r\n" % (len(body), request_id.encode())
        )
        self.transport.write(b"".join(head) + body)
        _log.info(
            "request_refused",
            status=error.status,
            code=error.code,
            request_id=request_id,
            client=self.client[0] if self.client else None,
        )
        self.transport.close()

    # Ending

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _close_after_grace(self) -> None:
        # The connection was promised to go on: its client may be sending the next request
        # already, which is answered (with `Connection: close`) if it comes in time.
        _cancel(self._idle_timer)
        self._idle_timer = self.loop.call_later(_IDLE_GRACE_SECONDS, self._close_when_idle)

    def _close_when_idle(self) -> None:
        _cancel(self._idle_timer)
        self._idle_timer = None
        if self.transport.is_closing() or self._in_message or self._answering() or self.pipeline:
            return  # the request under way is answered, and its answer ends the connection
        if self._raw is not None and not has_unread_bytes(self._raw):
            self.transport.close()
        # Otherwise a request is arriving: it is answered with `Connection: close`.

    def _end(self) -> None:
        """How every close of this connection happens (uvicorn's included)."""
        raw = self._raw
        _cancel(self._head_timer, self._idle_timer)
        if raw is None or raw.is_closing() or self._lingering:
            return
        if not (self._in_message or has_unread_bytes(raw)) or not raw.can_write_eof():
            raw.close()
            return
        # The client is still sending (the rest of a body, a next request). Closing now
        # would reset the connection and destroy the answer before the client reads it:
        # shut our side once the answer is out, then read and drop until the client closes.
        self._discarding = self._lingering = True
        self._linger_until = self.loop.time() + _LINGER_SECONDS
        raw.write_eof()
        raw.resume_reading()
        self._extend_linger()

    def _extend_linger(self) -> None:
        if not self._lingering or self._raw is None:
            return
        _cancel(self._linger_timer)
        at = min(self.loop.time() + _LINGER_SILENCE_SECONDS, self._linger_until)
        self._linger_timer = self.loop.call_at(at, self._raw.close)


def _cancel(*timers: asyncio.TimerHandle | None) -> None:
    for timer in timers:
        if timer is not None:
            timer.cancel()


class _EarlyAnswersClose:
    """The app, with `Connection: close` on an answer that starts while its request's body
    is still arriving."""

    def __init__(self, app: ASGI3Application, receiving: Callable[[Scope], bool]) -> None:
        self._app = app
        self._receiving = receiving

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_closing_early(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and self._receiving(scope):
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_closing_early)

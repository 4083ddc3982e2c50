"""A request body arrives within `--body-timeout` of the request, or the answer is 408.

Pure ASGI around an app: until the body's last message, every wait on `receive` is
bounded by what is left of the deadline, and past it `receive` raises `RequestTimeout`.
The proxy answers that like any refusal made before anything was forwarded; a body
already streaming to the model API breaks off there, which aborts the upstream request.
Whatever the app answers after the deadline has passed (its own 408, a 502 for the
aborted upstream request, a framework's 500 for an error it did not expect), the caller
gets the 408, unless an answer had already started. The connection is closed after it,
as the rest of the body may still be on its way.
"""

from __future__ import annotations

import asyncio

from gateway.core.errors import RequestTimeout
from gateway.edges.http.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.edges.http.responses import send_error


class _Body:
    __slots__ = ("answered", "complete", "expired", "replaced")

    def __init__(self) -> None:
        self.complete = False
        self.expired = False
        self.answered = False  # a response has started (the app's or the 408)
        self.replaced = False  # the app's late answer is dropped for the 408


class BodyDeadline:
    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        body = _Body()
        # Without Content-Length or Transfer-Encoding a request has no body (RFC 9112
        # section 6.3): nothing to wait for, however late the app first asks for it.
        body.complete = not any(
            (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"
            for name, value in scope["headers"]
        )

        async def receive_in_time() -> Message:
            if body.complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                body.expired = True
                raise self._refusal() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body.complete = True
            return message

        async def send_unless_late(message: Message) -> None:
            if message["type"] == "http.response.start":
                if body.answered:
                    return
                body.answered = True
                if body.expired:
                    body.replaced = True
                    await send_error(send, self._refusal(), scope["state"]["request_id"])
                    return
            elif body.replaced:
                return
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_unless_late)
        except RequestTimeout:
            # An app that does not answer it itself (a framework reading a form) lets it out.
            if not body.expired:
                raise
        if body.expired and not body.answered:
            body.answered = True
            await send_error(send, self._refusal(), scope["state"]["request_id"])

    def _refusal(self) -> RequestTimeout:
        return RequestTimeout(
            f"The request body did not arrive within {self.timeout:g}s of the request."
        )

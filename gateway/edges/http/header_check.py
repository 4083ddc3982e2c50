"""Proxied requests whose headers cannot be passed on as they came are refused first."""

from __future__ import annotations

from gateway.core.errors import BadRequest
from gateway.core.header_values import uncarriable_header
from gateway.edges.http.asgi import ASGIApp, Receive, Scope, Send
from gateway.edges.http.responses import send_error


class HeaderCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = uncarriable_header(scope["headers"])
            if name is not None:
                error = BadRequest(
                    f"The {name} header holds bytes other than visible ASCII, "
                    "which cannot be passed on unchanged.",
                    param=name,
                )
                await send_error(send, error, scope["state"]["request_id"])
                return
        await self.app(scope, receive, send)

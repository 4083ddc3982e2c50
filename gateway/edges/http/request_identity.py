"""Outermost middleware: a request id on every exchange, and no stack trace ever answered."""

from __future__ import annotations

import time
from typing import Protocol

import structlog

from gateway.core.errors import InternalError
from gateway.core.request_id import accept_or_mint
from gateway.edges.http.asgi import ASGIApp, Message, Receive, Scope, Send, first_header
from gateway.edges.http.responses import send_error

_log = structlog.get_logger("phasegate.http")


class RequestObserver(Protocol):
    """Hears of every HTTP request as it starts and once its answer has gone out (status
    0 if none ever did). Called here, where the status is tracked anyway, so observing
    costs no further layer around the request."""

    def started(self) -> None: ...

    def answered(self, scope: Scope, status: int) -> None: ...


class RequestIdentity:
    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, observer: RequestObserver | None = None
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_or_mint(first_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        started = time.perf_counter()
        status = 0
        observer = self.observer
        if observer is not None:
            observer.started()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"),
                    id_header,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            _log.exception("unhandled_error", request_id=request_id, path=scope["path"])
            if status:
                raise
            status = 500
            await send_error(
                send_with_id,
                InternalError("The gateway failed to handle this request."),
                request_id,
            )
        finally:
            if observer is not None:
                observer.answered(scope, status)
            if self.access_log:
                _log.info(
                    "request",
                    request_id=request_id,
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

"""A bounded log of received requests, for tests that inspect what a proxy forwarded.

Recording sits on the hot path of every benchmark request, so it stores the raw ASGI
header list by reference and decodes only when the log is read. Bodies are never
read here: the receive channel is wrapped so that only bytes the handler itself
consumes are counted and hashed.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_CAPACITY: Final = 50
INSPECTION_PREFIX: Final = "/_mock/"


class RecordedRequest:
    __slots__ = ("_hasher", "body_size", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body_size = 0
        # Created lazily: most benchmark requests carry no body.
        self._hasher: hashlib._Hash | None = None

    def feed(self, chunk: bytes) -> None:
        if self._hasher is None:
            self._hasher = hashlib.sha256()
        self._hasher.update(chunk)
        self.body_size += len(chunk)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")] for name, value in self.headers
            ],
            "body_size": self.body_size,
            # None when no body bytes were consumed, so "empty" and "unread" look alike.
            "body_sha256": None if self._hasher is None else self._hasher.hexdigest(),
        }


def _target(scope: Scope) -> str:
    # raw_path keeps the percent-encoding exactly as sent, which is what proxy tests
    # usually want to assert on.
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class RequestLog:
    """The most recent requests, oldest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[RecordedRequest] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, scope: Scope) -> RecordedRequest:
        entry = RecordedRequest(scope["method"], _target(scope), scope["headers"])
        self._entries.append(entry)
        return entry

    def snapshot(self) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self._entries]

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count


class RecordingMiddleware:
    """Pure ASGI middleware; avoids BaseHTTPMiddleware's per-request task overhead."""

    def __init__(self, app: ASGIApp, *, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(INSPECTION_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = self.log.start(scope)

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                if body:
                    entry.feed(body)
            return message

        await self.app(scope, recording_receive, send)

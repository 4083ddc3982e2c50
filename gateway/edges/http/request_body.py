"""Reading a caller's body within the configured size: whole, or as a counted stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.core.errors import BadRequest, BodyTooLarge
from gateway.core.numbers import whole_number
from gateway.edges.http.asgi import Receive


def declared_length(value: str | None, limit: int) -> int | None:
    if value is None:
        return None
    length = whole_number(value)
    if length is None:
        raise BadRequest("Content-Length is not a number.", param="Content-Length")
    if length > limit:
        raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    return length


async def read_whole(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending its whole body.")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def stream(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending its whole body.")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return

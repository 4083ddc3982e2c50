"""Sending gateway-made answers over raw ASGI: JSON documents and error envelopes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.core.envelope import error_envelope
from gateway.core.errors import GatewayError
from gateway.edges.http.asgi import Send


async def send_json(
    send: Send,
    status: int,
    document: Any,
    headers: Mapping[str, str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> None:
    body = orjson.dumps(document)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if headers:
        raw_headers.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        )
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send, error: GatewayError, request_id: str, extra: Sequence[tuple[str, str]] = ()
) -> None:
    await send_json(send, error.status, error_envelope(error, request_id), error.headers, extra)

"""The OpenAI error envelope that every refusal is answered with."""

from __future__ import annotations

from typing import Any

from gateway.core.errors import GatewayError


def error_envelope(error: GatewayError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": error.type,
        "code": error.code,
        "message": error.message,
        "request_id": request_id,
    }
    if error.param is not None:
        body["param"] = error.param
    if error.rule is not None:
        body["rule"] = error.rule
    return {"error": body}

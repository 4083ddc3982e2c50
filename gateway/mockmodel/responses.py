"""JSON rendering and the handlers that put every error in the OpenAI envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from gateway.mockmodel.validation import ApiError


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
    return OrjsonResponse(exc.envelope(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Routing failures (unknown path, wrong method) keep the OpenAI envelope too.
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    error = ApiError(exc.status_code, exc.detail, code=None)
    return OrjsonResponse(error.envelope(), status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    error = ApiError(500, "The mock model failed unexpectedly", type_="server_error")
    return OrjsonResponse(error.envelope(), status_code=500)


ERROR_HANDLERS: Mapping[Any, ExceptionHandler] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    Exception: _server_error,
}

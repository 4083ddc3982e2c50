"""`GET /openapi.json`: the OpenAPI 3.1 document of the gateway's own surface.

Written as YAML beside this module (package data), read once when the app is built and
served as the same JSON bytes to everyone; it needs no token.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_DOCUMENT = "openapi.yaml"


def openapi_document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(_DOCUMENT).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def openapi_route() -> Route:
    body = orjson.dumps(openapi_document())

    async def openapi(_: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route("/openapi.json", openapi, methods=["GET"])

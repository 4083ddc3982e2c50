"""Starlette app speaking the OpenAI moderation API shape: `POST /v1/moderations`.

`GET /_mock/requests` lists what it was asked (the inputs, and whether a bearer key
came with each), `DELETE /_mock/requests` forgets it: tests count calls with it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.mockmoderation.scoring import CATEGORIES, FLAG_AT, scores

DEFAULT_MODEL = "omni-moderation-latest"


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": {"type": "invalid_request_error", "message": message}}, status)


def _result(text: str) -> dict[str, Any]:
    found = scores(text)
    flags = {category: found[category] >= FLAG_AT for category in CATEGORIES}
    return {
        "flagged": any(flags.values()),
        "categories": flags,
        "category_scores": found,
        "category_applied_input_types": {category: ["text"] for category in CATEGORIES},
    }


def create_mock_moderation_app(
    *, delay: float = 0.0, key: str | None = None, record: int = 200
) -> Starlette:
    """`delay`: seconds before each answer; `key`: the bearer key every call must carry."""
    seen: deque[dict[str, Any]] = deque(maxlen=record)
    ids = itertools.count(1)

    async def moderate(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        seen.append({"input": None, "authorized": authorization is not None})
        if key is not None and authorization != f"Bearer {key}":
            return _error(401, "Incorrect API key provided.")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "The body is not JSON.")
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            return _error(400, "'input' must be a string or a list of strings.")
        seen[-1]["input"] = inputs[0] if len(inputs) == 1 else inputs
        if delay:
            await asyncio.sleep(delay)
        return _json(
            {
                "id": f"modr-{next(ids)}",
                "model": body.get("model") or DEFAULT_MODEL,
                "results": [_result(text) for text in inputs],
            }
        )

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            count = len(seen)
            seen.clear()
            return _json({"deleted": count})
        return _json({"data": list(seen)})

    return Starlette(
        routes=[
            Route("/v1/moderations", moderate, methods=["POST"]),
            Route("/_mock/requests", requests, methods=["GET", "DELETE"]),
        ]
    )

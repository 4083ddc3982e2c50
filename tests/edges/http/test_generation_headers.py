"""Headers that decide what a generation body means are read one way only."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from tests.conftest import Gateway
from tests.support.servers import AppServer

BODY = json.dumps({"model": "sora-2", "prompt": "A paper boat", "seconds": "4"}).encode()


def _forwarded(mock: AppServer) -> list[dict[str, object]]:
    recorded: list[dict[str, object]] = httpx.get(f"{mock.url}/_mock/requests").json()["data"]
    return [r for r in recorded if r["method"] == "POST"]


@pytest.mark.parametrize(
    ("headers", "status", "param"),
    [
        (
            [("content-type", "application/json"), ("content-type", "text/plain")],
            400,
            "content-type",
        ),
        (
            [
                ("content-type", "application/json"),
                ("idempotency-key", "a"),
                ("idempotency-key", "b"),
            ],
            400,
            "idempotency-key",
        ),
        ([("content-type", "application/json"), ("content-encoding", "gzip")], 415, None),
    ],
)
def test_ambiguous_generation_headers_are_refused_before_anything_is_forwarded(
    gateway: Gateway,
    mock_model: AppServer,
    headers: list[tuple[str, str]],
    status: int,
    param: str | None,
) -> None:
    client = gateway.client()
    body = gzip.compress(BODY) if ("content-encoding", "gzip") in headers else BODY
    response = client.post("/v1/videos", content=body, headers=httpx.Headers(headers))
    assert response.status_code == status, response.text
    assert response.json()["error"].get("param") == param
    assert _forwarded(mock_model) == []


def test_identity_content_encoding_is_plain(gateway: Gateway) -> None:
    response = gateway.client().post(
        "/v1/videos",
        content=BODY,
        headers={"content-type": "application/json", "content-encoding": "identity"},
    )
    assert response.status_code == 200

"""Helpers shared by the mock model tests."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from tests.support.clock import START, FakeClock

__all__ = ["JOB_SECONDS", "START", "FakeClock", "assert_error", "client_for", "create_video"]

JOB_SECONDS = 10.0


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")


async def create_video(http: httpx.AsyncClient, prompt: str = "a cat", **fields: Any) -> str:
    response = await http.post("/v1/videos", json={"prompt": prompt, **fields})
    assert response.status_code == 200, response.text
    video_id: str = response.json()["id"]
    return video_id


def assert_error(
    response: httpx.Response, status: int, *, param: str | None, code: str | None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    return error

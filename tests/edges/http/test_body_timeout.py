"""`--body-timeout`: a request body that does not arrive in time is answered 408, and the
connection closed, whether the gateway buffers the body or streams it to the model API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import Gateway, GatewayFactory
from tests.support.raw_answer import RawAnswer, exchange, request_head
from tests.support.servers import AppServer

BODY_TIMEOUT = 0.5
# The promise is an answer by the deadline; the margin absorbs a loaded test machine.
MARGIN = 5.0


def _upstream_requests(mock_model: AppServer) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return seen


def _audit_records(gateway: Gateway) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for segment in sorted((gateway.settings.data_dir / "audit").glob("audit-*.jsonl")):
        records.extend(json.loads(line) for line in segment.read_text().splitlines() if line)
    return records


def _assert_timed_out(answer: RawAnswer) -> None:
    assert answer.status == 408
    error = answer.json()["error"]
    assert error["code"] == "request_timeout"
    assert error["type"] == "invalid_request_error"
    assert error["request_id"] == answer.headers["x-request-id"]
    assert answer.headers["connection"] == "close"
    assert answer.closed
    assert answer.seconds < BODY_TIMEOUT + MARGIN


@pytest.fixture
def slow_gateway(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, body_timeout=BODY_TIMEOUT)


def _generation_head(gateway: Gateway, *framing: str) -> bytes:
    token = gateway.token(gateway.grant("artist"))
    return request_head(
        "POST",
        "/v1/videos",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        *framing,
    )


@pytest.mark.parametrize(
    ("framing", "sent"),
    [
        (("Transfer-Encoding: chunked",), b'10\r\n{"prompt": "a bo\r\n'),
        (("Content-Length: 100",), b'{"prompt": "a boat"'),
    ],
    ids=["chunked-never-ending", "content-length-larger-than-sent"],
)
def test_an_unfinished_generation_body_is_408_and_never_forwarded(
    slow_gateway: Gateway, mock_model: AppServer, framing: tuple[str, ...], sent: bytes
) -> None:
    """A generation body that stops coming gets 408 by the deadline; the model API sees
    nothing and the audit log records a refusal, no request forwarded."""
    before = len(_upstream_requests(mock_model))
    answer = exchange(slow_gateway.server.port, _generation_head(slow_gateway, *framing) + sent)
    _assert_timed_out(answer)
    assert len(_upstream_requests(mock_model)) == before
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 3
    while not (mine := [r for r in _audit_records(slow_gateway) if r["request_id"] == request_id]):
        assert time.monotonic() < deadline, "no audit record of the refusal arrived"
        time.sleep(0.02)
    assert [(r["event"], r["status"], r["code"]) for r in mine] == [
        ("refusal", 408, "request_timeout")
    ]


def test_a_body_that_arrives_in_time_is_taken(slow_gateway: Gateway) -> None:
    """The deadline is for the whole body: one sent in pieces that all arrive in time passes."""
    token = slow_gateway.token(slow_gateway.grant("artist"))
    body = json.dumps({"model": "sora-2", "prompt": "a paper boat"}).encode()

    def pieces() -> Any:
        for start in range(0, len(body), 8):
            time.sleep(0.02)
            yield body[start : start + 8]

    response = httpx.post(
        f"{slow_gateway.url}/v1/videos",
        content=pieces(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


class _SlowUpstream:
    """A model API that reads a DELETE's whole body before answering, noting whether it
    arrived whole or the gateway broke the request off, and that is slow to send content."""

    def __init__(self) -> None:
        self.deletes: list[str] = []

    def app(self) -> Starlette:
        async def create(_: Request) -> Response:
            return JSONResponse({"id": "video_slow", "object": "video", "status": "queued"})

        async def delete(request: Request) -> Response:
            try:
                await request.body()
            except ClientDisconnect:
                self.deletes.append("aborted")
                return Response(status_code=499)
            self.deletes.append("whole")
            return JSONResponse({"id": "video_slow", "object": "video.deleted"})

        async def content(_: Request) -> Response:
            async def slowly() -> AsyncIterator[bytes]:
                for _ in range(3):
                    await asyncio.sleep(BODY_TIMEOUT)
                    yield b"frame"

            return StreamingResponse(slowly(), media_type="video/mp4")

        return Starlette(
            routes=[
                Route("/v1/videos", create, methods=["POST"]),
                Route("/v1/videos/{video_id}", delete, methods=["DELETE"]),
                Route("/v1/videos/{video_id}/content", content, methods=["GET"]),
            ]
        )


@pytest.fixture
def slow_upstream() -> Iterator[tuple[_SlowUpstream, AppServer]]:
    upstream = _SlowUpstream()
    with AppServer(upstream.app()) as server:
        yield upstream, server


@pytest.mark.parametrize(
    ("framing", "sent"),
    [(("Transfer-Encoding: chunked",), b"2\r\n{}\r\n"), (("Content-Length: 100",), b"{}")],
    ids=["chunked-never-ending", "content-length-larger-than-sent"],
)
def test_an_unfinished_streamed_body_aborts_the_upstream_request(
    start_gateway: GatewayFactory,
    slow_upstream: tuple[_SlowUpstream, AppServer],
    framing: tuple[str, ...],
    sent: bytes,
) -> None:
    """A body already streaming to the model API is broken off at the deadline: the model
    API's request is aborted and the caller, who had no answer yet, gets 408."""
    upstream, server = slow_upstream
    gateway = start_gateway(server.url, body_timeout=BODY_TIMEOUT)
    client = gateway.client("artist")
    assert client.post("/v1/videos", json={"prompt": "a boat"}).status_code == 200
    token = client.headers["authorization"].removeprefix("Bearer ")
    head = request_head(
        "DELETE", "/v1/videos/video_slow", f"Authorization: Bearer {token}", *framing
    )
    answer = exchange(gateway.server.port, head + sent)
    _assert_timed_out(answer)
    deadline = time.monotonic() + 3
    while not upstream.deletes:
        assert time.monotonic() < deadline, "the model API never heard of the request"
        time.sleep(0.02)
    assert upstream.deletes == ["aborted"]


def test_a_slow_download_outlasts_the_body_timeout(
    start_gateway: GatewayFactory, slow_upstream: tuple[_SlowUpstream, AppServer]
) -> None:
    """Only a body is timed: a request without one (a download) may take longer than the
    body timeout to answer, and its answer arrives whole."""
    _, server = slow_upstream
    gateway = start_gateway(server.url, body_timeout=BODY_TIMEOUT)
    client = gateway.client("artist")
    assert client.post("/v1/videos", json={"prompt": "a boat"}).status_code == 200
    response = client.get("/v1/videos/video_slow/content")
    assert response.status_code == 200
    assert response.content == b"frame" * 3


def test_an_unfinished_token_request_is_408(slow_gateway: Gateway) -> None:
    """The gateway's own routes keep the same deadline: a token request whose form stops
    coming gets 408 rather than holding its connection."""
    head = request_head(
        "POST",
        "/oauth/token",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Length: 64",
    )
    _assert_timed_out(exchange(slow_gateway.server.port, head + b"grant_type=client_"))

"""Default-deny routing: documented routes, the policy's `routes:`, and nothing else; and
nothing in an answer names the model API's own address."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import MOCK_JOB_SECONDS, Gateway, GatewayFactory
from tests.support.servers import AppServer, RawPeer, read_request_head

VIDEO = {"model": "sora-2", "prompt": "A paper boat drifting down a rainy street", "seconds": "4"}


def _requests(mock: AppServer) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = httpx.get(f"{mock.url}/_mock/requests").json()["data"]
    return [r for r in recorded if not r["path"].startswith("/_mock/")]


def _clear(mock: AppServer) -> None:
    httpx.delete(f"{mock.url}/_mock/requests")


def _audit(gateway: Gateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    audit_dir: Path = gateway.settings.data_dir / "audit"
    while True:
        for segment in sorted(audit_dir.glob("audit-*.jsonl")):
            for line in segment.read_text().splitlines():
                record: dict[str, Any] = json.loads(line)
                if record.get("request_id") == request_id:
                    return record
        assert time.monotonic() < deadline, f"no audit record for {request_id}"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/videos/"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/"),
        ("GET", "/_mock/requests"),
        ("GET", "/"),
    ],
)
def test_an_unlisted_route_is_404_unknown_route_and_never_forwarded(
    gateway: Gateway, mock_model: AppServer, method: str, path: str
) -> None:
    client = gateway.client()
    _clear(mock_model)
    response = client.request(method, path)
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json()["error"]["code"] == "unknown_route"
    assert _requests(mock_model) == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/videos/video_1", "DELETE, GET"),
        ("PATCH", "/v1/videos", "GET, POST"),
        ("HEAD", "/v1/videos/video_1/content", "GET"),
        ("OPTIONS", "/v1/videos", "GET, POST"),
        ("GET", "/v1/videos/video_1/remix", "POST"),
        ("TRACE", "/v1/videos", "GET, POST"),
    ],
)
def test_a_documented_path_asked_with_another_method_is_405_and_never_forwarded(
    gateway: Gateway, mock_model: AppServer, method: str, path: str, allowed: str
) -> None:
    client = gateway.client()
    _clear(mock_model)
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if method != "HEAD":
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert _requests(mock_model) == []


def test_an_unlisted_route_still_needs_a_token(gateway: Gateway, mock_model: AppServer) -> None:
    response = httpx.get(f"{gateway.url}/v1/files")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


def test_a_listed_route_is_forwarded_and_audited_as_passthrough(
    gateway: Gateway, mock_model: AppServer
) -> None:
    client = gateway.client("pat")
    _clear(mock_model)
    response = client.get("/v1/models/sora-2")
    assert response.status_code == 200
    assert response.json()["id"] == "sora-2"
    [forwarded] = _requests(mock_model)
    assert (forwarded["method"], forwarded["path"]) == ("GET", "/v1/models/sora-2")
    record = _audit(gateway, response.headers["x-request-id"])
    assert record["event"] == "passthrough"
    assert record["route"] == "/v1/models/{model}"
    assert record["path"] == "/v1/models/sora-2"
    assert (record["principal"], record["upstream_status"]) == ("pat", 200)
    assert record["phase"] == "research_preview"


def test_a_listed_route_is_admitted_by_phase_like_any_other(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """The shipped table lists GET /v1/models for the public too, but the public tier is
    not admitted in the research preview."""
    client = gateway.client("pub", tier="public")
    _clear(mock_model)
    response = client.get("/v1/models")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tier_not_in_phase"
    assert _requests(mock_model) == []


def test_a_listed_route_is_refused_to_a_tier_it_does_not_name(
    mock_model: AppServer, start_gateway: GatewayFactory, tmp_path: Path, unlimited_policies: Path
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(unlimited_policies, policies)
    rollout = yaml.safe_load((policies / "rollout.yaml").read_text())
    rollout["routes"] = [{"method": "GET", "path": "/v1/models", "tiers": ["studios"]}]
    (policies / "rollout.yaml").write_text(yaml.safe_dump(rollout))
    gateway = start_gateway(mock_model.url, policies=policies)
    _clear(mock_model)
    response = gateway.client("artist").get("/v1/models")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_route")
    assert _requests(mock_model) == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?variant=thumbnail", "variant"),
        ("?limit=1&limit=2", "limit"),
        ("?x=1", "x"),
    ],
)
def test_documented_routes_refuse_query_parameters_they_do_not_take(
    gateway: Gateway, mock_model: AppServer, query: str, param: str
) -> None:
    client = gateway.client()
    job = client.post("/v1/videos", json=VIDEO).json()["id"]
    _clear(mock_model)
    response = client.get(f"/v1/videos/{job}{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert _requests(mock_model) == []


def test_the_query_reaches_the_model_api_in_its_canonical_spelling(
    gateway: Gateway, mock_model: AppServer
) -> None:
    client = gateway.client()
    job = client.post("/v1/videos", json=VIDEO).json()["id"]
    time.sleep(MOCK_JOB_SECONDS + 0.2)
    _clear(mock_model)
    response = client.get(httpx.URL(f"{gateway.url}/v1/videos/{job}/content?%76ariant=thumbnail"))
    assert response.status_code == 200
    [forwarded] = _requests(mock_model)
    assert forwarded["path"] == f"/v1/videos/{job}/content?variant=thumbnail"


def test_no_answer_names_the_model_apis_address(start_gateway: GatewayFactory) -> None:
    """A model API that redirects, or points at what it created, by its own address: the
    caller sees the gateway's public address (or nothing), never the internal one."""
    seen: list[bytes] = []

    async def redirecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        seen.append(head)
        path = head.split(b" ")[1].decode()
        origin = f"http://127.0.0.1:{peer.port}"
        body = b'{"object": "list", "data": []}'
        writer.write(
            b"HTTP/1.1 307 Temporary Redirect\r\n"
            + f"Location: {origin}{path}/elsewhere\r\n".encode()
            + f"Content-Location: {origin}/v1/models\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    with RawPeer(redirecting) as peer:
        gateway = start_gateway(peer.url, issuer="https://videos.example.com")
        response = gateway.client().get("/v1/models", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "https://videos.example.com/v1/models/elsewhere"
    assert response.headers["content-location"] == "https://videos.example.com/v1/models"
    internal = f"127.0.0.1:{peer.port}"
    assert not [v for _, v in response.headers.multi_items() if internal in v]
    assert internal not in response.text
    assert len(seen) == 1


def test_a_mock_model_api_redirect_is_not_followed(
    start_gateway: GatewayFactory,
) -> None:
    """The gateway never follows a redirect itself: the model API could send it anywhere."""
    hits: list[bytes] = []

    async def redirecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        hits.append(head)
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()

    with RawPeer(redirecting) as peer:
        gateway = start_gateway(peer.url)
        response = gateway.client().get("/v1/models", follow_redirects=False)
    assert response.status_code == 302
    assert len(hits) == 1


def test_the_mock_model_api_serves_models(mock_model: AppServer) -> None:
    listed = httpx.get(f"{mock_model.url}/v1/models").json()
    assert [m["id"] for m in listed["data"]] == ["sora-2", "sora-2-pro"]
    assert httpx.get(f"{mock_model.url}/v1/models/nope").status_code == 404

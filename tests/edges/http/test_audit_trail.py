"""The audit trail through the running gateway: write-ahead before the model sees a request,
outcomes, refusals, holds and job reads recorded, fail closed, and a verifiable chain."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.core.audit.chain import verify_lines
from gateway.core.client_address import TrustedProxies
from gateway.core.keys import SigningKey
from gateway.edges.http.app import create_app
from gateway.edges.settings import Settings
from gateway.ports.store import SqliteStore
from tests.conftest import Gateway, GatewayFactory
from tests.support.identity import access_token, grant
from tests.support.servers import AppServer, RawPeer, read_request_head
from tests.support.tokens import on_store

VIDEO = {"model": "sora-2", "prompt": "A paper boat drifting down a rainy street", "seconds": "4"}


def _records(audit_dir: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for segment in sorted(audit_dir.glob("audit-*.jsonl")):
        lines.extend(json.loads(line) for line in segment.read_text().splitlines() if line)
    return lines


def _audit_dir(gateway: Gateway) -> Path:
    return gateway.settings.data_dir / "audit"


def _for(records: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("request_id") == request_id]


def _settled(audit_dir: Path, count: int) -> list[dict[str, Any]]:
    """The records once at least `count` are on disk: records after the answer (outcomes,
    refusals, accesses) join the next group commit without holding the answer back."""
    deadline = time.monotonic() + 3
    while len(records := _records(audit_dir)) < count:
        assert time.monotonic() < deadline, f"only {len(records)} of {count} records arrived"
        time.sleep(0.02)
    return records


def test_generation_is_recorded_before_and_after(gateway: Gateway) -> None:
    """An allowed request leaves a write-ahead record and an outcome record with the job id."""
    response = gateway.client("artist").post("/v1/videos", json=VIDEO)
    assert response.status_code == 200
    mine = _for(_settled(_audit_dir(gateway), 2), response.headers["x-request-id"])
    assert [r["event"] for r in mine] == ["generation_request", "generation_outcome"]
    ahead, outcome = mine
    assert ahead["schema"] == 1
    assert ahead["principal"] == "artist"
    assert ahead["tier"] == "invited_artists"
    assert ahead["phase"] == "research_preview"
    assert ahead["prompt"] == VIDEO["prompt"]
    assert ahead["params"] == {"seconds": "4"}
    assert ahead["decision"] == "allow"
    assert len(ahead["policy_version"]) == 64
    assert outcome["upstream_status"] == 200
    assert outcome["job_id"] == response.json()["id"]


def test_the_record_is_durable_before_the_model_sees_the_request(
    start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """When the request reaches the model API, its write-ahead record is already on disk."""
    seen_on_arrival: list[list[str]] = []
    audit_dir = tmp_path / "data" / "audit"

    async def model(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request_head(reader)
        seen_on_arrival.append(
            [r["request_id"] for r in _records(audit_dir) if r["event"] == "generation_request"]
        )
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        body = b'{"id": "video_x", "object": "video", "status": "queued"}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    with RawPeer(model) as peer:
        gateway = start_gateway(peer.url)
        response = gateway.client("artist").post("/v1/videos", json=VIDEO)
    assert response.status_code == 200
    assert seen_on_arrival == [[response.headers["x-request-id"]]]


def test_refusals_and_holds_are_recorded(gateway: Gateway) -> None:
    """A denied, a held and a rate-limited request each leave a record with their decision."""
    gateway.set_phase("limited_preview")
    studio = gateway.client("studio", "studios")
    denied = studio.post("/v1/videos", json={**VIDEO, "prompt": "the prime minister at sea"})
    held = studio.post(
        "/v1/videos",
        json={**VIDEO, "prompt": "photorealistic documentary of a harbour", "seconds": "12"},
    )
    assert (denied.status_code, held.status_code) == (403, 202)
    records = _settled(_audit_dir(gateway), 3)
    refusal = _for(records, denied.headers["x-request-id"])
    assert [(r["event"], r["decision"]) for r in refusal] == [("refusal", "deny")]
    assert [rule["id"] for rule in refusal[0]["rules"]] == ["no-real-public-figures"]
    hold = _for(records, held.headers["x-request-id"])
    assert [(r["event"], r["decision"]) for r in hold] == [
        ("generation_request", "hold"),
        ("generation_outcome", "hold"),
    ]
    assert hold[1]["review_id"] == held.json()["id"]


def test_job_reads_and_downloads_are_recorded(gateway: Gateway) -> None:
    """Who read and who downloaded which video is on record."""
    client = gateway.client("artist")
    video_id = client.post("/v1/videos", json=VIDEO).json()["id"]
    deadline = time.monotonic() + 5
    while client.get(f"/v1/videos/{video_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get(f"/v1/videos/{video_id}/content").status_code == 200
    deadline = time.monotonic() + 3
    while True:
        accesses = [r for r in _records(_audit_dir(gateway)) if r["event"] == "job_access"]
        if {r["action"] for r in accesses} >= {"read", "download"} or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert {(r["action"], r["job_id"], r["principal"]) for r in accesses} == {
        ("read", video_id, "artist"),
        ("download", video_id, "artist"),
    }


def test_an_audit_sink_that_cannot_write_fails_generation_closed(
    mock_model: AppServer, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """With the audit folder unwritable, generation gets 503 and is not forwarded; reads go on."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the audit folder should be")
    gateway = start_gateway(mock_model.url, audit=f"file://{blocker}/audit")
    client = gateway.client("artist")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    refused = client.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "audit_unavailable"
    assert httpx.get(f"{mock_model.url}/_mock/requests").json()["data"] == []
    assert client.get("/v1/videos").status_code == 200
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["audit"] == "unavailable"


def test_the_trail_is_a_verifiable_chain_without_secrets(
    mock_model: AppServer, unlimited_policies: Path, tmp_path: Path
) -> None:
    """After shutdown the segment verifies, sealed by a checkpoint signed with the gateway's
    key, and holds no token or client secret."""
    settings = Settings(
        upstream=mock_model.url,
        access_log=False,
        data_dir=tmp_path / "data",
        policies=unlimited_policies,
        issuer="https://phasegate.test",
    )
    with AppServer(create_app(dataclasses.replace(settings))) as server:
        credential = grant(settings.data_dir / "state.db", "artist")
        token = access_token(server.url, credential)
        for _ in range(3):
            httpx.post(
                f"{server.url}/v1/videos", json=VIDEO, headers={"Authorization": f"Bearer {token}"}
            )
    keys = on_store(settings.data_dir / "state.db", SqliteStore.keys)
    public = {key.kid: SigningKey.from_stored(key).public for key in keys}
    segments = sorted((settings.data_dir / "audit").glob("audit-*.jsonl"))
    assert len(segments) == 1
    text = segments[0].read_text()
    report = verify_lines(text.splitlines(), public_keys=public)
    assert report.ok, report
    assert report.sealed
    assert report.records >= 6
    for secret in (token, credential.client_secret):
        assert secret not in text


def test_the_client_address_believes_only_trusted_proxies(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """X-Forwarded-For names the client only when the peer is a trusted proxy."""
    forwarded = {"X-Forwarded-For": "198.51.100.4, 203.0.113.9"}
    untrusting = start_gateway(mock_model.url)
    response = untrusting.client("artist").post("/v1/videos", json=VIDEO, headers=forwarded)
    [ahead] = [
        r
        for r in _for(_settled(_audit_dir(untrusting), 2), response.headers["x-request-id"])
        if r["event"] == "generation_request"
    ]
    assert ahead["client_address"] == "127.0.0.1"

    trusting = start_gateway(mock_model.url, trusted_proxies=TrustedProxies.parse("127.0.0.1"))
    response = trusting.client("artist").post("/v1/videos", json=VIDEO, headers=forwarded)
    [ahead] = [
        r
        for r in _for(_settled(_audit_dir(trusting), 2), response.headers["x-request-id"])
        if r["event"] == "generation_request"
    ]
    # The rightmost hop the trusted proxy appended, not what the client wrote first.
    assert ahead["client_address"] == "203.0.113.9"

"""The write-ahead guarantee under a crash: `serve` killed with SIGKILL under load.

Whatever the model API received, the audit log holds its write-ahead record; and the
log still verifies, the dead writer's segment sealed by the next gateway to start.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import access_token, grant_credential, process, run, wait_ready
from tests.support.servers import free_port

VIDEO = {"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"}
CONNECTIONS = 32
# Answered requests before each kill: enough for group commits of several records.
ANSWERED_BEFORE_KILL = 100
KILLS = 4


async def _load_until_killed(url: str, token: str, gateway: subprocess.Popen[str]) -> int:
    """Keep CONNECTIONS requests in flight; SIGKILL the gateway mid-stream. Returns how
    many requests were answered 200."""
    answered = 0
    killed = asyncio.Event()

    async def caller(client: httpx.AsyncClient) -> None:
        nonlocal answered
        while not killed.is_set():
            try:
                response = await client.post("/v1/videos", json=VIDEO)
            except httpx.TransportError:
                return
            assert response.status_code == 200, response.text
            answered += 1
            if answered >= ANSWERED_BEFORE_KILL and not killed.is_set():
                gateway.kill()
                killed.set()

    limits = httpx.Limits(max_connections=CONNECTIONS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=10
    ) as client:
        await asyncio.gather(*(caller(client) for _ in range(CONNECTIONS)))
    return answered


def _audit_records(data_dir: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for segment in sorted((data_dir / "audit").glob("audit-*.jsonl")):
        for line in segment.read_bytes().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line cut short by the kill
    return records


def test_every_request_the_model_received_was_recorded_before_a_sigkill(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    """Compare the mock model's own log of what it received with the audit log, over
    several kills (each lands at a different moment of the group commit)."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(unlimited_policies)]
    mock_port, gateway_port = free_port(), free_port()
    mock_url, gateway_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{gateway_port}"
    serve = ("serve", "--port", str(gateway_port), "--upstream", mock_url, *settings)
    mock = ("mock-model", "--port", str(mock_port), "--job-seconds", "0", "--record", "100000")
    with process(*mock):
        wait_ready(f"{mock_url}/v1/videos")
        credential = grant_credential(settings, "artist", "invited_artists")
        answered = 0
        for _ in range(KILLS):
            with process(*serve) as gateway:
                assert wait_ready(f"{gateway_url}/readyz").status_code == 200
                token = access_token(gateway_url, credential)
                answered += asyncio.run(_load_until_killed(gateway_url, token, gateway))
                assert gateway.wait(timeout=10) == -9

        received = [
            dict(entry["headers"])["x-request-id"]
            for entry in httpx.get(f"{mock_url}/_mock/requests").json()["data"]
            if entry["method"] == "POST" and entry["path"] == "/v1/videos"
        ]
        written_ahead = {
            record["request_id"]
            for record in _audit_records(tmp_path)
            if record.get("event") == "generation_request"
        }
        assert len(received) >= answered >= KILLS * ANSWERED_BEFORE_KILL
        missing = [request_id for request_id in received if request_id not in written_ahead]
        assert missing == [], f"{len(missing)} forwarded requests have no write-ahead record"

        # The next gateway seals the dead ones' segments; once it stops too, all verify.
        with process(*serve) as restarted:
            assert wait_ready(f"{gateway_url}/readyz").status_code == 200
            again = httpx.post(
                f"{gateway_url}/v1/videos",
                json=VIDEO,
                headers={"Authorization": f"Bearer {access_token(gateway_url, credential)}"},
            )
            assert again.status_code == 200
        assert restarted.returncode == 0

    verified = run("audit", "verify", "--json", *settings)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    segments = [json.loads(line) for line in verified.stdout.splitlines()]
    # One segment per killed gateway, the restarted one's, and the grant's.
    assert len(segments) == KILLS + 2
    assert all(segment["ok"] and segment["sealed"] for segment in segments), segments
    closings = [
        json.loads(segment.read_bytes().splitlines()[-1])
        for segment in sorted((tmp_path / "audit").glob("audit-*.jsonl"))
    ]
    assert sum(closing["recovered"] for closing in closings) == KILLS

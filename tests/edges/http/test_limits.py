"""Limits through the running gateway: exact bursts, cost-weighted quotas, all-or-nothing,
refunds, concurrency leases, headers, and the fail-closed mode."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.mockmodel.app import create_mock_app
from tests.conftest import Gateway, GatewayFactory
from tests.support.servers import AppServer, free_port

LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}


@pytest.fixture
def limited(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, policies=LIMITS_POLICIES)


def _statuses(client: httpx.Client, count: int, **body: object) -> list[int]:
    return [client.post("/v1/videos", json={**VIDEO, **body}).status_code for _ in range(count)]


def test_burst_admits_exactly_the_burst(limited: Gateway) -> None:
    """From idle, a burst of 3 admits exactly 3 requests; the 4th is 429 with headers."""
    client = limited.client("alice", "burst3")
    assert _statuses(client, 3) == [200, 200, 200]
    refused = client.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "'requests'" in error["message"]
    # 3 per hour: the next unit frees 20 minutes after the first was spent.
    assert 1190 <= int(refused.headers["retry-after"]) <= 1200
    assert refused.headers["ratelimit-policy"] == '"requests";q=3;w=3600'
    assert refused.headers["ratelimit"].startswith('"requests";r=0;t=')


def test_successful_responses_carry_ratelimit(limited: Gateway) -> None:
    """An admitted request says how much of each limit is left."""
    response = limited.client("alice", "burst3").post("/v1/videos", json=VIDEO)
    assert response.status_code == 200
    assert response.headers["ratelimit"].startswith('"requests";r=2;t=')
    assert response.headers["ratelimit-policy"] == '"requests";q=3;w=3600'


def test_limits_are_per_principal(limited: Gateway) -> None:
    """One principal's spent burst does not touch another's."""
    assert _statuses(limited.client("alice", "burst3"), 4) == [200, 200, 200, 429]
    assert _statuses(limited.client("bob", "burst3"), 1) == [200]


def test_cost_weighted_quota_counts_video_seconds(limited: Gateway) -> None:
    """24 video-seconds a day admit 8 + 8 + 4 + 4 seconds, then refuse even 4 more."""
    client = limited.client("alice", "seconds24")
    assert _statuses(client, 2, seconds="8") == [200, 200]
    assert _statuses(client, 2, seconds=4) == [200, 200]
    refused = client.post("/v1/videos", json={**VIDEO, "seconds": "4"})
    assert refused.status_code == 429
    assert "'video_seconds'" in refused.json()["error"]["message"]
    assert 'pg-unit="video-seconds"' in refused.headers["ratelimit-policy"]


def test_default_length_is_charged(limited: Gateway) -> None:
    """A request without seconds is charged the model's default of 4."""
    client = limited.client("alice", "seconds24")
    assert _statuses(client, 2, seconds="12") == [200, 200]
    body = {"model": "sora-2", "prompt": "no length given"}
    assert client.post("/v1/videos", json=body).status_code == 429


def test_refused_requests_consume_nothing(limited: Gateway) -> None:
    """A request refused by the video-seconds quota spends nothing of the request limit."""
    client = limited.client("alice", "both")
    assert client.post("/v1/videos", json={**VIDEO, "seconds": "12"}).status_code == 200
    for _ in range(6):
        refused = client.post("/v1/videos", json={**VIDEO, "seconds": "4"})
        assert refused.status_code == 429
        assert "'video_seconds'" in refused.json()["error"]["message"]
        assert '"requests";r=4;' in refused.headers["ratelimit"]


def test_generation_the_model_refuses_gives_its_cost_back(limited: Gateway) -> None:
    """Requests the model API answers with 400 cost nothing: the full burst remains."""
    client = limited.client("alice", "burst3")
    assert _statuses(client, 4, seconds="5") == [400, 400, 400, 400]
    assert _statuses(client, 4) == [200, 200, 200, 429]


def test_unreachable_model_gives_the_cost_back(start_gateway: GatewayFactory) -> None:
    """Requests that never reach the model API (502) cost nothing either."""
    gateway = start_gateway(f"http://127.0.0.1:{free_port()}", policies=LIMITS_POLICIES)
    client = gateway.client("alice", "burst3")
    assert _statuses(client, 5) == [502] * 5


def test_concurrency_lease_until_the_job_ends(start_gateway: GatewayFactory) -> None:
    """Two jobs in flight at most; a slot frees when the gateway sees a job complete."""
    with AppServer(create_mock_app(job_seconds=1.0)) as slow_model:
        gateway = start_gateway(slow_model.url, policies=LIMITS_POLICIES)
        client = gateway.client("alice", "inflight")
        first = client.post("/v1/videos", json=VIDEO).json()["id"]
        assert client.post("/v1/videos", json=VIDEO).status_code == 200
        refused = client.post("/v1/videos", json=VIDEO)
        assert refused.status_code == 429
        assert "'jobs_in_flight'" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) <= 10
        assert 'qu="concurrent-requests"' in refused.headers["ratelimit-policy"]
        deadline = time.monotonic() + 5
        while client.get(f"/v1/videos/{first}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post("/v1/videos", json=VIDEO).status_code == 200


def test_deleting_a_job_frees_its_slot(start_gateway: GatewayFactory) -> None:
    """Deleting a job in flight releases its concurrency lease at once."""
    with AppServer(create_mock_app(job_seconds=30)) as slow_model:
        gateway = start_gateway(slow_model.url, policies=LIMITS_POLICIES)
        client = gateway.client("alice", "inflight")
        first = client.post("/v1/videos", json=VIDEO).json()["id"]
        assert _statuses(client, 2) == [200, 429]
        assert client.delete(f"/v1/videos/{first}").status_code == 200
        assert _statuses(client, 1) == [200]


def test_expired_lease_frees_its_slot(start_gateway: GatewayFactory) -> None:
    """A lease the gateway never saw end expires, so a lost job cannot hold a slot forever."""
    with AppServer(create_mock_app(job_seconds=30)) as slow_model:
        gateway = start_gateway(slow_model.url, policies=LIMITS_POLICIES, lease_ttl=0.5)
        client = gateway.client("alice", "inflight")
        assert _statuses(client, 3) == [200, 200, 429]
        time.sleep(0.7)
        assert _statuses(client, 1) == [200]


def test_limiter_down_fails_closed_for_generation_only(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """With the shared limiter unreachable, generation gets 503 and reads keep working."""
    gateway = start_gateway(
        mock_model.url, policies=LIMITS_POLICIES, limits=f"redis://127.0.0.1:{free_port()}/0"
    )
    client = gateway.client("alice", "burst3")
    refused = client.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "limits_unavailable"
    assert client.get("/v1/videos").status_code == 200
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["limits"] == "unavailable"


def test_a_remix_is_charged_its_sources_length(limited: Gateway) -> None:
    """Remixing a 12-second video costs 12 video-seconds, not the 4-second default."""
    client = limited.client("alice", "seconds24")
    source = client.post("/v1/videos", json={**VIDEO, "seconds": "12"}).json()["id"]
    deadline = time.monotonic() + 5
    while client.get(f"/v1/videos/{source}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    remix = client.post(f"/v1/videos/{source}/remix", json={"prompt": "at night"})
    assert remix.status_code == 200
    assert '"video_seconds";r=0;' in remix.headers["ratelimit"]
    assert client.post("/v1/videos", json=VIDEO).status_code == 429

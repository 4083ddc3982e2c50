"""What a generation request costs in Redis round trips, read from Redis's own `INFO
commandstats`: a gateway with its state, limits and audit stream all in one Redis (or
one three-primary cluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import access_token, grant_credential, process, wait_ready
from tests.support.redis_server import RedisClusterServers, RedisServer, command_calls, redis_server
from tests.support.servers import free_port

REQUESTS = 50
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}
# Every kind of limit, far from being reached: each request runs the whole limits script.
POLICY = """
version: 1
default_phase: open
phases:
  - {name: open, admit: [metered]}
tiers:
  metered:
    models: [sora-2]
    max_seconds: 12
    sizes: [720x1280, 1280x720]
    limits:
      - {name: requests, per: principal, rate: 6000, period: 1m, burst: 1000}
      - {name: video_seconds, per: principal, cost: seconds, rate: 1000000, period: 1d}
      - {name: jobs_in_flight, per: principal, concurrency: 1000}
      - {name: tier_capacity, per: tier, rate: 60000, period: 1m}
"""


@dataclass
class Target:
    """A Redis to measure: its URL, how to reset and read its command statistics, and how
    many scripts recording a created job takes there."""

    url: str
    reset: Callable[[], object]
    calls: Callable[[], dict[str, int]]
    job_scripts: int


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(params=["redis", "redis-cluster"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("own_redis")
        return Target(
            server.url,
            lambda: server.command("CONFIG", "RESETSTAT"),
            lambda: command_calls(server),
            job_scripts=1,
        )
    cluster: RedisClusterServers = request.getfixturevalue("cluster_of_three")
    cluster.flush()
    # The owner's listing is in the owner's slot, the lease index in its own, not the
    # job's: two more scripts, sent together once the first has settled the job.
    return Target(cluster.url, cluster.reset_stats, cluster.command_calls, job_scripts=3)


def test_a_generation_request_costs_one_script_before_the_model_and_one_after(
    tmp_path: Path, target: Target
) -> None:
    """Per request: one EVALSHA before the model (all limits and the concurrency lease),
    one after it (the job's owner, its lease, the lease's index entry and the owner's
    listing; on a cluster, where the listing and the index live in slots of their own,
    two more, sent together after the first), and the audit stream's EVAL batches:
    the write-ahead record and the outcome, which may share a batch with the next
    request. Revocation and phase are read from memory: no request reads them."""
    url = target.url
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "policy.yaml").write_text(POLICY)
    settings = [
        "--store",
        url,
        "--data-dir",
        str(tmp_path),
        "--policies",
        str(tmp_path / "policies"),
    ]
    mock_port, gateway_port = free_port(), free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    with (
        process("mock-model", "--port", str(mock_port), "--job-seconds", "30"),
        process(
            "serve",
            "--port",
            str(gateway_port),
            "--upstream",
            f"http://127.0.0.1:{mock_port}",
            "--audit",
            url,
            "--access-log",
            "off",
            *settings,
        ),
    ):
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
        assert wait_ready(f"{gateway}/readyz").status_code == 200
        token = access_token(gateway, grant_credential(settings, "alice", "metered"))
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            # The first requests load the scripts; what is measured runs them by SHA.
            for _ in range(3):
                assert client.post(f"{gateway}/v1/videos", json=VIDEO).status_code == 200
            target.reset()
            for _ in range(REQUESTS):
                response = client.post(f"{gateway}/v1/videos", json=VIDEO)
                assert response.status_code == 200, response.text
            calls = target.calls()

    expected = 1 + target.job_scripts
    # Floor division leaves room for the gateway's background polls (reviews, the
    # revision): a few calls in all, never one more per request.
    assert calls.get("evalsha", 0) // REQUESTS == expected, calls
    assert REQUESTS <= calls.get("eval", 0) <= 2 * REQUESTS, calls
    # Nothing reads the phase (LINDEX), grants or keys (HGETALL) per request.
    assert calls.get("lindex", 0) == 0, calls
    assert calls.get("hgetall", 0) == 0, calls

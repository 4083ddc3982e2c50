"""Limits are exact across replicas: three `phasegate serve` processes sharing one real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import access_token, grant_credential, process, wait_ready
from tests.support.redis_server import redis_server
from tests.support.servers import free_port

LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}


@dataclass
class Replicas:
    urls: list[str]
    settings: list[str]

    def token(self, principal: str, tier: str) -> str:
        return access_token(self.urls[0], grant_credential(self.settings, principal, tier))


@contextmanager
def replicas(tmp_path: Path, count: int = 3) -> Iterator[Replicas]:
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        mock_port = free_port()
        stack.enter_context(process("mock-model", "--port", str(mock_port), "--job-seconds", "30"))
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
        settings = ["--data-dir", str(tmp_path), "--policies", str(LIMITS_POLICIES)]
        urls = []
        for _ in range(count):
            port = free_port()
            stack.enter_context(
                process(
                    "serve",
                    "--port",
                    str(port),
                    "--upstream",
                    f"http://127.0.0.1:{mock_port}",
                    "--limits",
                    redis.url,
                    "--issuer",
                    "https://phasegate.test",
                    "--access-log",
                    "off",
                    *settings,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            assert wait_ready(f"{url}/readyz").status_code == 200
        yield Replicas(urls, settings)


async def _storm(urls: list[str], token: str, total: int) -> list[int]:
    """`total` concurrent generation requests spread evenly over the replicas."""
    limits = httpx.Limits(max_connections=total)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{urls[index % len(urls)]}/v1/videos",
                    json=VIDEO,
                    headers={"Authorization": f"Bearer {token}"},
                )
                for index in range(total)
            )
        )
    return [response.status_code for response in responses]


def test_a_burst_of_ten_admits_exactly_ten_across_three_replicas(tmp_path: Path) -> None:
    """300 concurrent requests over three replicas against a tier-wide burst of 10: 10 pass."""
    with replicas(tmp_path) as cluster:
        token = cluster.token("alice", "fleet")
        statuses = asyncio.run(_storm(cluster.urls, token, 300))
    assert statuses.count(200) == 10
    assert statuses.count(429) == 290


def test_a_concurrency_of_two_never_has_three_jobs_in_flight(tmp_path: Path) -> None:
    """Jobs that run for 30 s, 60 concurrent requests over three replicas: exactly 2 admitted."""
    with replicas(tmp_path) as cluster:
        token = cluster.token("alice", "inflight")
        statuses = asyncio.run(_storm(cluster.urls, token, 60))
        again = asyncio.run(_storm(cluster.urls, token, 30))
    assert statuses.count(200) == 2
    assert statuses.count(429) == 58
    assert again.count(200) == 0

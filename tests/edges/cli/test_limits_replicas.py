"""Limits are exact across replicas: three `phasegate serve` processes sharing one real
Redis, or a Redis Cluster of three primaries (where a script spanning two slots would
fail with CROSSSLOT)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.support.replicas import replicas
from tests.support.reviews import wait_for

LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}


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


def test_a_burst_of_ten_admits_exactly_ten_across_three_replicas(
    tmp_path: Path, shared_redis: str
) -> None:
    """300 concurrent requests over three replicas against a tier-wide burst of 10: 10 pass."""
    with replicas(tmp_path, LIMITS_POLICIES, "--limits", shared_redis) as cluster:
        token = cluster.token("alice", "fleet")
        statuses = asyncio.run(_storm(cluster.urls, token, 300))
    assert Counter(statuses) == {200: 10, 429: 290}


def test_a_concurrency_of_two_never_has_three_jobs_in_flight(
    tmp_path: Path, shared_redis: str
) -> None:
    """Jobs that run for 30 s, 60 concurrent requests over three replicas: exactly 2 admitted."""
    with replicas(tmp_path, LIMITS_POLICIES, "--limits", shared_redis) as cluster:
        token = cluster.token("alice", "inflight")
        statuses = asyncio.run(_storm(cluster.urls, token, 60))
        again = asyncio.run(_storm(cluster.urls, token, 30))
    assert statuses.count(200) == 2
    assert statuses.count(429) == 58
    assert again.count(200) == 0


def test_with_the_state_in_redis_too_a_job_seen_ending_anywhere_frees_its_slot(
    tmp_path: Path, shared_redis: str
) -> None:
    """State store and limits in one Redis (the limits follow the store): 2 jobs in flight
    of 60 asked for; once another replica than the creating one sees them completed,
    their slots are free for 2 more, and no more."""
    with replicas(
        tmp_path, LIMITS_POLICIES, admin_args=("--store", shared_redis), job_seconds=1
    ) as cluster:
        token = cluster.token("alice", "inflight")
        headers = {"Authorization": f"Bearer {token}"}
        statuses = asyncio.run(_storm(cluster.urls, token, 60))
        assert statuses.count(200) == 2
        with httpx.Client(timeout=30, headers=headers) as client:
            # Every replica lists the same two jobs: ownership lives in the shared store.
            listed = [
                sorted(v["id"] for v in client.get(f"{url}/v1/videos").json()["data"])
                for url in cluster.urls
            ]
            assert len(listed[0]) == 2
            assert listed == [listed[0]] * 3

            def completed() -> bool:
                # Read through the third replica, which created neither job.
                return all(
                    client.get(f"{cluster.urls[2]}/v1/videos/{job_id}").json()["status"]
                    == "completed"
                    for job_id in listed[0]
                )

            wait_for(completed, what="both jobs to complete")
        again = asyncio.run(_storm(cluster.urls, token, 30))
    assert again.count(200) == 2
    assert again.count(429) == 28

"""The mock model API honours Idempotency-Key on creates, and can hold back its answers."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from gateway.mockmodel.app import create_mock_app
from tests.mockmodel.support import client_for

BODY = {"model": "sora-2", "prompt": "a cat", "seconds": "4"}


async def test_a_repeated_key_gets_the_same_job(client: httpx.AsyncClient) -> None:
    """The same key twice: one job, answered twice; another key or none: new jobs."""
    first = await client.post("/v1/videos", json=BODY, headers={"Idempotency-Key": "k1"})
    again = await client.post("/v1/videos", json=BODY, headers={"Idempotency-Key": "k1"})
    other = await client.post("/v1/videos", json=BODY, headers={"Idempotency-Key": "k2"})
    plain = await client.post("/v1/videos", json=BODY)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert len({first.json()["id"], other.json()["id"], plain.json()["id"]}) == 3
    listed = (await client.get("/v1/videos")).json()["data"]
    assert len(listed) == 3


async def test_a_delayed_create_exists_before_it_answers() -> None:
    """With a create delay, the job is made at once: a retry with the key during the wait
    is answered at once with that job, while the first answer is still held back."""
    app = create_mock_app(job_seconds=1.0, create_delay=30.0)
    async with client_for(app) as client:
        first = asyncio.create_task(
            client.post("/v1/videos", json=BODY, headers={"Idempotency-Key": "slow"})
        )
        deadline = time.monotonic() + 5
        while len(app.state.jobs) == 0:
            assert time.monotonic() < deadline, "the delayed create made no job"
            await asyncio.sleep(0.01)
        retry = await asyncio.wait_for(
            client.post("/v1/videos", json=BODY, headers={"Idempotency-Key": "slow"}), timeout=5
        )
        assert retry.status_code == 200
        assert not first.done()
        assert len(app.state.jobs) == 1
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first

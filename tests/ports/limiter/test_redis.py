"""What only the Redis adapter has: its key layout, expiry, scripts, and failing fast."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from gateway.core.limits import Decision, Verdict, decide
from gateway.core.policy.limits import LimitScope
from gateway.ports.limiter import LimiterUnavailable, MemoryLimiter
from gateway.ports.limiter.redis import RedisLimiter, from_url, storage_key
from tests.ports.limiter.limits import concurrency, cost, rate, request
from tests.support.clock import FakeClock
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import free_port

TTL = 600.0


@pytest.fixture
async def redis(shared_redis: RedisServer) -> AsyncIterator[Redis]:
    """A plain client on the shared server, emptied first, to look at what the limiter wrote."""
    client = Redis.from_url(shared_redis.url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def limiter(shared_redis: RedisServer) -> AsyncIterator[RedisLimiter]:
    opened = from_url(shared_redis.url)
    yield opened
    await opened.close()


async def test_the_keys_of_one_request_share_one_cluster_slot(
    limiter: RedisLimiter, redis: Redis
) -> None:
    """Every key written for a request is "pg:{tier}:…", so all hash to the tier's slot."""
    checks = request(
        rate(),
        rate("per_client", per=LimitScope.CLIENT),
        rate("tier_capacity", 100, per=LimitScope.TIER),
        cost(),
        concurrency(),
        principal="user:42",
    )
    assert (await limiter.acquire(checks, lease_id="l", lease_ttl=TTL)).allowed is True
    written = set(await redis.keys("*"))
    assert written == {storage_key(check.key) for check in checks}
    assert written == {
        "pg:{studios}:principal:user%3A42:requests",
        "pg:{studios}:client:client-1:per_client",
        "pg:{studios}:tier:tier_capacity",
        "pg:{studios}:principal:user%3A42:video_seconds",
        "pg:{studios}:principal:user%3A42:jobs",
    }
    assert {key_slot(key.encode()) for key in written} == {key_slot(b"studios")}


async def test_state_expires_when_it_would_be_idle(limiter: RedisLimiter, redis: Redis) -> None:
    """A TAT key lives until fully replenished, a lease set until its last lease expires."""
    requests, jobs = request(rate(count=10, period=1.0), concurrency())
    await limiter.acquire([requests, jobs], lease_id="l", lease_ttl=30.0)
    assert 0 < await redis.pttl(storage_key(requests.key)) <= 100
    assert 29_000 < await redis.pttl(storage_key(jobs.key)) <= 30_000
    assert await redis.type(storage_key(jobs.key)) == "zset"
    await asyncio.sleep(0.15)
    assert await redis.exists(storage_key(requests.key)) == 0


async def test_released_and_refunded_state_leaves_no_keys(
    limiter: RedisLimiter, redis: Redis
) -> None:
    """Refunding the only request and releasing its lease leaves Redis empty."""
    checks = request(rate(), cost(), concurrency())
    await limiter.acquire(checks, lease_id="l", lease_ttl=TTL)
    await limiter.refund(checks, lease_id="l")
    assert await redis.keys("*") == []


async def test_release_ignores_keys_that_hold_no_leases(
    limiter: RedisLimiter, redis: Redis
) -> None:
    """Releasing on a rate key (or a missing one) changes nothing and raises nothing."""
    (requests,) = request(rate(count=2))
    await limiter.acquire([requests], lease_id="l", lease_ttl=TTL)
    await limiter.release([requests.key, "studios:principal:nobody:jobs"], "l")
    assert await redis.exists(storage_key(requests.key)) == 1


async def test_scripts_are_reloaded_when_the_server_forgot_them(
    limiter: RedisLimiter, redis: Redis
) -> None:
    """After SCRIPT FLUSH (a restart, a failover) the next call loads its script again."""
    checks = request(rate(count=2))
    assert (await limiter.acquire(checks, lease_id="a", lease_ttl=TTL)).allowed is True
    await redis.script_flush()
    assert (await limiter.acquire(checks, lease_id="b", lease_ttl=TTL)).allowed is True
    assert (await limiter.acquire(checks, lease_id="c", lease_ttl=TTL)).allowed is False


async def test_a_stopped_redis_fails_fast_without_leaking_the_password() -> None:
    """Redis going away mid-run gives LimiterUnavailable within a second, no secret in it."""
    with redis_server("--requirepass", "s3cret-pass") as server:
        limiter = from_url(f"redis://:s3cret-pass@127.0.0.1:{server.port}/0")
        checks = request(rate(), concurrency())
        try:
            assert (await limiter.acquire(checks, lease_id="a", lease_ttl=TTL)).allowed is True
            server.stop()
            started = time.monotonic()
            with pytest.raises(LimiterUnavailable) as failure:
                await limiter.acquire(checks, lease_id="b", lease_ttl=TTL)
            assert time.monotonic() - started < 1.2
            assert "s3cret" not in str(failure.value)
            with pytest.raises(LimiterUnavailable):
                await limiter.refund(checks, lease_id="a")
            with pytest.raises(LimiterUnavailable):
                await limiter.release([checks[1].key], "a")
            assert await limiter.ping() is False
        finally:
            await limiter.close()


async def test_a_frozen_redis_times_out_instead_of_hanging() -> None:
    """A server that accepts but never answers fails the call after the op timeout."""
    with redis_server() as server:
        limiter = from_url(server.url)
        checks = request(rate())
        try:
            assert (await limiter.acquire(checks, lease_id="a", lease_ttl=TTL)).allowed is True
            server.pause()
            started = time.monotonic()
            with pytest.raises(LimiterUnavailable):
                await limiter.acquire(checks, lease_id="b", lease_ttl=TTL)
            assert time.monotonic() - started < 1.5
        finally:
            server.resume()
            await limiter.close()


async def test_nothing_listening_fails_fast() -> None:
    """A Redis URL where no server listens fails at once, and ping says False."""
    limiter = from_url(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(LimiterUnavailable):
        await limiter.acquire(request(rate()), lease_id="a", lease_ttl=TTL)
    assert await limiter.ping() is False
    assert time.monotonic() - started < 1.5
    await limiter.close()


async def test_the_script_and_the_core_decide_alike_over_a_random_run(
    limiter: RedisLimiter, redis: Redis
) -> None:
    """The Lua mirror of gcra.py admits, refuses and reports exactly as the memory adapter."""
    memory = MemoryLimiter(FakeClock())
    chooser = random.Random(1234)  # noqa: S311 - a fixed seed, so any failure replays
    specs = (rate(count=40, burst=25), cost(count=100), concurrency(count=4))
    for step in range(300):
        checks = request(*specs, seconds=chooser.choice([0, 1, 4, 8, 12, 30]))
        lease = f"l{chooser.randrange(8)}"
        if chooser.random() < 0.2:
            await limiter.refund(checks, lease_id=lease)
            await memory.refund(checks, lease_id=lease)
            continue
        got = await limiter.acquire(checks, lease_id=lease, lease_ttl=TTL)
        expected = await memory.acquire(checks, lease_id=lease, lease_ttl=TTL)
        assert (got.allowed, got.refused_by) == (expected.allowed, expected.refused_by), step
        assert [s.remaining for s in got.states] == [s.remaining for s in expected.states], step


async def test_a_script_that_disagrees_with_the_core_is_reported_not_trusted(
    limiter: RedisLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the Lua and gcra.py ever drift apart, the call fails loudly instead of guessing."""

    def contrary(*args: Any) -> Decision:
        decision = decide(*args)
        flipped = Verdict(not decision.verdict.allowed, states=decision.verdict.states)
        return Decision(flipped, decision.new_tats)

    monkeypatch.setattr("gateway.ports.limiter.redis.decide", contrary)
    with pytest.raises(LimiterUnavailable, match="disagrees"):
        await limiter.acquire(request(rate()), lease_id="l", lease_ttl=TTL)


async def test_a_transport_torn_down_under_a_call_is_unavailability_not_a_crash(
    limiter: RedisLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py can leak asyncio's own errors when a connection is closed under a call
    (a cluster client closes them all after one call's connection error): they mean the
    same outage, so the caller gets LimiterUnavailable (503), not a crash (500)."""

    async def torn_down(*_: Any, **__: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    monkeypatch.setattr(limiter, "_acquire", torn_down)
    with pytest.raises(LimiterUnavailable) as failure:
        await limiter.acquire(request(rate()), lease_id="l", lease_ttl=TTL)
    assert "AttributeError" in str(failure.value)

"""What only the Redis store has: its key layout and slots, expiry, the change feed, and
failing fast (the contract suite covers what every store promises, on Redis and on a
three-primary Redis Cluster too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from gateway.core.identity import JobLease, PhaseChange
from gateway.core.review import HeldRequest
from gateway.edges.admin import grant_tier
from gateway.ports.store import RedisStore, StoreUnavailable, open_store
from gateway.ports.store import redis_keys as keys
from tests.ports.store.records import make_grant, make_job, make_key
from tests.support.redis_server import RedisClusterServers, RedisServer, redis_server

NOW = 1_700_000_000.0
# A ceiling that only a hang would reach: the store's own timeouts are a second.
HANG = 10.0


@pytest.fixture
async def redis(store_redis: RedisServer) -> AsyncIterator[Redis]:
    """A plain client on the shared server, emptied first, to look at what the store wrote."""
    client = Redis.from_url(store_redis.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis: Redis, store_redis: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore.from_url(store_redis.url)
    yield opened
    await opened.close()


async def _everything(redis: Redis) -> dict[str, Any]:
    """Every key and its value, whatever its type."""
    found: dict[str, Any] = {}
    readers: dict[str, Callable[[str], Any]] = {
        "hash": redis.hgetall,
        "string": redis.get,
        "zset": lambda key: redis.zrange(key, 0, -1, withscores=True),
        "set": redis.smembers,
        "list": lambda key: redis.lrange(key, 0, -1),
    }
    for raw in await redis.keys("*"):
        key = raw.decode()
        found[key] = await readers[(await redis.type(key)).decode()](key)
    return found


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0",
        "rediss://:pw@127.0.0.1:1/1",
        "REDIS://127.0.0.1:1",
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
    ],
)
async def test_redis_urls_open_a_redis_store_without_connecting(url: str) -> None:
    """Redis and Redis Cluster URLs give a RedisStore; nothing connects until it is used."""
    store = open_store(url)
    assert isinstance(store, RedisStore)
    await store.close()


async def test_the_keys_written_are_the_documented_ones_in_their_slots(
    store: RedisStore, redis: Redis
) -> None:
    """Each group of keys that one script writes shares its hash tag, hence one slot."""
    await store.add_grant(make_grant("c1", "alice"))
    await store.add_key(make_key("k1"))
    await store.revoke_token("jti-1", expires_at=NOW + 60, at=NOW)
    await store.set_phase(PhaseChange("beta", "ops", NOW))
    await store.record_job(make_job("video_1", "alice"), lease=JobLease("req-1", ("t:x",), 60.0))
    await store.claim_idempotency("alice", "/v1/videos\nkey-1", "f1", NOW, NOW + 600)
    await store.hold_request(
        HeldRequest(
            "video_h", "alice", "c1", "t", "/v1/videos", "application/json", b"{}", (), "pv", NOW
        ),
        expires_at=NOW + 60,
    )
    written = {raw.decode() for raw in await redis.keys("*")}
    idempotency = keys.idempotency("alice", "/v1/videos\nkey-1")
    groups = {
        "admin": {
            "phasegate:{admin}:revision",
            "phasegate:{admin}:seq",
            "phasegate:{admin}:grants",
            "phasegate:{admin}:grant:c1",
            "phasegate:{admin}:principal:alice",
            "phasegate:{admin}:keys",
            "phasegate:{admin}:key:k1",
            "phasegate:{admin}:revoked",
            "phasegate:{admin}:phases",
        },
        "job": {"phasegate:job:{video_1}", "phasegate:lease:{video_1}"},
        "leases": {"phasegate:{leases}:due", "phasegate:{leases}:expiry"},
        "listing": {
            "phasegate:jobs:{alice}",
            "phasegate:jobs:{alice}:created",
            "phasegate:jobs:{alice}:seq",
            idempotency,
        },
        "reviews": {
            "phasegate:{reviews}:held:video_h",
            "phasegate:{reviews}:review:video_h",
            "phasegate:{reviews}:seq",
            "phasegate:{reviews}:state:pending",
            "phasegate:{reviews}:pending",
        },
    }
    assert written == set().union(*groups.values())
    assert idempotency.startswith("phasegate:idem:{alice}:")
    for group in groups.values():
        assert len({key_slot(key.encode()) for key in group}) == 1


async def test_ids_with_braces_still_keep_a_jobs_keys_together(store: RedisStore) -> None:
    """A job id from the model API with braces in it cannot split its keys across slots."""
    for job_id in ("a}b", "}x", "{y}", ""):
        assert key_slot(keys.job(job_id).encode()) == key_slot(keys.lease(job_id).encode())
        await store.record_job(make_job(job_id), lease=JobLease("r", ("t:x",), 60.0))
        assert await store.job_owner(job_id) == "alice"
        assert await store.take_lease(job_id) == ("r", ("t:x",))


async def test_only_the_hash_of_a_client_secret_is_stored(store: RedisStore, redis: Redis) -> None:
    """A granted credential's secret appears nowhere in Redis; its SHA-256 does."""
    issued = await grant_tier(
        store, "alice", "studios", known_tiers=frozenset({"studios"}), now=NOW
    )
    stored = repr(await _everything(redis))
    assert issued.client_secret not in stored
    assert issued.grant.secret_hash in stored


async def test_records_expire_with_what_they_stand_for(store: RedisStore, redis: Redis) -> None:
    """Idempotency records live as long as their claim or answer (plus a minute), a lease
    binding as long as its lease, a revoked token id a day past its expiry."""
    key = keys.idempotency("alice", "k1")
    await store.claim_idempotency("alice", "k1", "f1", NOW, NOW + 600)
    assert 600_000 < await redis.pttl(key) <= 660_000
    await store.complete_idempotency(
        "alice", "k1", 200, "application/json", b"{}", expires_at=NOW + 86_400
    )
    assert 86_400_000 < await redis.pttl(key) <= 86_460_000

    await store.record_job(make_job("j1"), lease=JobLease("req-1", ("t:x",), 30.0))
    assert 30_000 < await redis.pttl(keys.lease("j1")) <= 90_000
    assert await redis.pttl(keys.job("j1")) == -1  # ownership stays

    await store.revoke_token("old", expires_at=NOW, at=NOW)
    assert 86_399_000 < await redis.pttl(keys.REVOKED) <= 86_400_000
    await store.revoke_token("new", expires_at=NOW + 86_500, at=NOW + 86_401)
    assert await redis.zrange(keys.REVOKED, 0, -1) == [b"new"]
    # The set goes a day after its last token's expiry: 99 s to that expiry, plus a day.
    assert 86_498_000 < await redis.pttl(keys.REVOKED) <= 86_499_000


async def _next(changes: AsyncIterator[int]) -> int:
    return await asyncio.wait_for(anext(changes), HANG)


async def _feed_announces_admin_changes(url: str) -> None:
    listener, admin = RedisStore.from_url(url), RedisStore.from_url(url)
    changes = listener.changes()
    try:
        first = await _next(changes)
        assert first == await admin.revision()
        await admin.add_grant(make_grant("c1"))
        assert await _next(changes) == await admin.revision() == first + 1
        await admin.set_phase(PhaseChange("beta", "ops", NOW))
        assert await _next(changes) == first + 2
        await admin.record_job(make_job("j1"))  # not an admin change: no announcement
        await admin.revoke_client("c1", at=NOW)
        assert await _next(changes) == first + 3
    finally:
        await changes.aclose()  # type: ignore[attr-defined]
        await listener.close()
        await admin.close()


async def test_the_change_feed_announces_each_admin_change(store_redis: RedisServer) -> None:
    """A subscriber hears the revision it starts at, then every admin change's revision."""
    assert store_redis.command("FLUSHALL").startswith(b"+OK")
    await _feed_announces_admin_changes(store_redis.url)


async def test_the_change_feed_works_across_a_cluster(store_cluster: RedisClusterServers) -> None:
    """On a three-primary cluster the subscriber (on the first node) hears changes made in
    the admin slot, wherever that slot lives."""
    store_cluster.flush()
    await _feed_announces_admin_changes(store_cluster.url)


async def test_a_lost_subscription_ends_the_feed_with_store_unavailable() -> None:
    """Redis going away mid-subscription ends the feed with StoreUnavailable, not silence."""
    with redis_server() as server:
        store = RedisStore.from_url(server.url)
        changes = store.changes()
        try:
            await _next(changes)
            server.kill()
            with pytest.raises(StoreUnavailable):
                await _next(changes)
        finally:
            await store.close()


async def test_a_stopped_redis_is_unavailable_at_once_without_the_password() -> None:
    """Every kind of call fails with StoreUnavailable, none hangs, none names the password."""
    with redis_server("--requirepass", "s3cret-pass") as server:
        store = RedisStore.from_url(f"redis://:s3cret-pass@127.0.0.1:{server.port}/0")
        try:
            await store.add_grant(make_grant("c1"))
            server.kill()
            calls = [
                store.revision(),
                store.grant("c1"),
                store.revocation_view(NOW),
                store.record_job(make_job("j1")),
                store.claim_idempotency("alice", "k", "f", NOW, NOW + 60),
                store.due_reviews(NOW),
            ]
            for call in calls:
                with pytest.raises(StoreUnavailable) as failure:
                    await asyncio.wait_for(call, HANG)
                assert "s3cret" not in str(failure.value)
        finally:
            await store.close()


async def test_a_frozen_redis_times_out_instead_of_hanging() -> None:
    """A server that accepts but never answers fails the call (StoreUnavailable)."""
    with redis_server() as server:
        store = RedisStore.from_url(server.url)
        try:
            assert await store.revision() == 0
            server.pause()
            try:
                with pytest.raises(StoreUnavailable, match="TimeoutError"):
                    await asyncio.wait_for(store.revision(), HANG)
            finally:
                server.resume()
        finally:
            await store.close()


async def test_a_closed_store_refuses_calls(store: RedisStore) -> None:
    """After close, calls fail as an unavailable store rather than reconnecting."""
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.revision()

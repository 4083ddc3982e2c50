"""A gateway's in-memory view of a Redis store follows the store's change announcements,
not only its revision poll: with the poll an hour apart, changes still arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis.asyncio import Redis

from gateway.core.identity import PhaseChange
from gateway.edges.shared_state import SharedState, watching
from gateway.ports.store import RedisStore
from gateway.ports.store import redis_keys as keys
from tests.ports.store.records import make_grant
from tests.support.redis_server import RedisServer, redis_server

# The poll the view would otherwise wait for: nothing in these tests waits that long.
HOUR = 3600.0
# Only a change that never arrives reaches this.
HANG = 10.0


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert time.monotonic() < deadline, "the change never reached the view"
        await asyncio.sleep(0.01)


async def _subscribed(client: Redis) -> None:
    deadline = time.monotonic() + HANG
    while not dict(await client.pubsub_numsub(keys.CHANGES)).get(keys.CHANGES.encode()):
        assert time.monotonic() < deadline, "the view never subscribed"
        await asyncio.sleep(0.01)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


@pytest.fixture
async def admin(server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(server.url)
    yield store
    await store.close()


@pytest.fixture
async def view(server: RedisServer) -> AsyncIterator[SharedState]:
    state = SharedState(RedisStore.from_url(server.url), time.time, interval=HOUR)
    async with watching(state):
        yield state
    await state.store.close()


async def test_announced_changes_reach_the_view_without_a_poll(
    view: SharedState, admin: RedisStore
) -> None:
    """A grant, its revocation and a phase change each show in the view."""
    await admin.add_grant(make_grant("c1"))
    await _until(lambda: "c1" in view.revocations.grants)
    await admin.revoke_client("c1", at=time.time())
    await _until(lambda: view.revocations.grants["c1"].revoked_at is not None)
    await admin.set_phase(PhaseChange("limited_preview", "ops", time.time()))
    await _until(lambda: view.phase == "limited_preview")


async def test_a_change_made_while_the_subscription_was_down_is_not_missed(
    view: SharedState, admin: RedisStore, server: RedisServer
) -> None:
    """The subscription is cut (as a Redis failover would), a change lands before it is
    back: subscribing again catches up on it."""
    killer = Redis.from_url(server.url)
    try:
        await _subscribed(killer)
        assert await killer.client_kill_filter(_type="pubsub") == 1
    finally:
        await killer.aclose()
    await admin.set_phase(PhaseChange("general_availability", "ops", time.time()))
    await _until(lambda: view.phase == "general_availability")

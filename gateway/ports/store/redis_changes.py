"""News of admin changes from the Redis store, pushed over pub/sub as they happen.

Every admin script PUBLISHes the revision it made on `phasegate:{admin}:changes`. A
subscriber yields the current revision as soon as it is subscribed (so a change made
while it was not listening is not missed), then each published one. On a cluster a
plain PUBLISH reaches the subscribers of every node, so one connection to any node is
enough; the subscriber moves on to the next configured node after a failure.

A broken connection ends the subscription with `StoreUnavailable`. A connection that
stays open but silent cannot be told from a quiet store: the gateway's revision poll,
kept as a fallback, covers that case.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

from redis.asyncio import Redis, RedisCluster

from gateway.ports.redis_connection import (
    CLIENT_ERRORS,
    AsyncClient,
    cancelling,
    cluster_nodes,
    no_retry,
)
from gateway.ports.store import redis_keys as keys
from gateway.ports.store.base import StoreUnavailable

# How long one wait for a message lasts; only bounds how soon a closed store is noticed.
_WAIT: Final = 1.0
# As the store's own client: a subscription that cannot start fails as fast.
CONNECT_TIMEOUT: Final = 1.0
OPERATION_TIMEOUT: Final = 1.0


class ChangeSubscriber:
    """Subscriptions to the change channel through one of `clients`, in turn."""

    def __init__(self, clients: Sequence[Redis], revision: Callable[[], Awaitable[int]]) -> None:
        if not clients:
            raise ValueError("a change subscriber needs a client")
        self._clients = tuple(clients)
        self._revision = revision
        self._turn = 0
        self._closed = False

    async def changes(self) -> AsyncIterator[int]:
        client = self._clients[self._turn % len(self._clients)]
        self._turn += 1
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.CHANGES)
            yield await self._revision()
            while not self._closed:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_WAIT)
                if message is None and cancelling():
                    raise asyncio.CancelledError
                if message is not None and message["type"] == "message":
                    yield int(message["data"])
        except CLIENT_ERRORS as exc:
            if cancelling():
                raise asyncio.CancelledError from exc
            raise StoreUnavailable(
                f"the Redis store's change feed failed: {type(exc).__name__}"
            ) from exc
        finally:
            with contextlib.suppress(*CLIENT_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        raise StoreUnavailable("the store is closed")

    async def close(self) -> None:
        self._closed = True


def subscriber_clients(url: str, client: AsyncClient) -> list[Redis]:
    """Clients for subscriptions alone, that never reconnect behind the subscriber's back:
    a silent reconnection would lose what was announced meanwhile, while a failure makes
    the subscriber start over, which catches up first. On a cluster, one per configured
    node (any node hears every PUBLISH of the cluster, one at a time is enough)."""
    if not isinstance(client, RedisCluster):
        return [
            Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=OPERATION_TIMEOUT,
                retry=no_retry(),
            )
        ]
    nodes, username, password = cluster_nodes(url.partition("://")[2])
    return [
        Redis(
            host=node.host,
            port=int(node.port),
            username=username,
            password=password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=OPERATION_TIMEOUT,
            retry=no_retry(),
        )
        for node in nodes
    ]

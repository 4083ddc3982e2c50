"""Reaching Redis: one place that turns a Redis URL into a client, for every adapter.

The limiter, the audit stream and the state store all take `redis://host:port/db`,
`rediss://…` (TLS) and `redis+cluster://[user:password@]host:port[,host:port…]`, and
all fail fast: short connect and read timeouts, so a dead or frozen Redis becomes an
error of the adapter within about a second instead of a hang. Each adapter picks its
own retry policy, since only it knows whether a command may safely run twice.

Errors never quote the URL: it may carry a password.
"""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import unquote

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

AsyncClient = Redis | RedisCluster

SCHEMES: Final = frozenset({"redis", "rediss", "redis+cluster"})
# What a client raises when Redis is down, slow or refuses: adapters translate these
# into their own "unavailable" error. redis-py's asyncio clients also leak the errors of
# a transport torn down under a call (AttributeError / TypeError from asyncio's stream
# internals: redis-py #4287; a cluster client closes every connection after one call's
# connection error, including connections other calls are using): the same outage, so
# they are caught with the rest. Only awaited client calls are wrapped this way.
TRANSPORT_TEARDOWN: Final = (AttributeError, TypeError)
CLIENT_ERRORS: Final = (
    TimeoutError,
    RedisError,
    RedisClusterException,
    OSError,
    *TRANSPORT_TEARDOWN,
)


def cancelling() -> bool:
    """Whether the running task has been cancelled. redis-py can turn a cancellation that
    lands inside one of its timeouts into a timeout or connection error (or, waiting for a
    pub/sub message, into no message at all); a caller that retries or carries on after
    such an error must check this, or the task never stops."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def retry_once() -> Retry:
    """One immediate retry on a broken connection (a pooled socket the server closed);
    none after a timeout, whose command may have run: a dead Redis fails fast."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def no_retry() -> Retry:
    """For commands that must never run twice (an append whose first attempt may have
    landed), and for subscriptions, which must not reconnect behind their owner's back."""
    return Retry(NoBackoff(), 0)


def cluster_nodes(location: str) -> tuple[list[ClusterNode], str | None, str | None]:
    """Startup nodes, user name and password of "[user:password@]host:port[,host:port...]"."""
    netloc = location.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hosts = netloc.rpartition("@")
    username: str | None = None
    password: str | None = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes: list[ClusterNode] = []
    for node in hosts.split(","):
        if node.startswith("["):  # [IPv6]:port
            host, _, rest = node[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = node.partition(":")
        if not host:
            raise ValueError("a redis+cluster URL lists host:port[,host:port...]")
        try:
            nodes.append(ClusterNode(host, int(port) if port else 6379))
        except ValueError:
            raise ValueError("a redis+cluster URL has a port that is not a number") from None
    return nodes, username, password


def async_client(url: str, *, connect_timeout: float, timeout: float, retry: Retry) -> AsyncClient:
    """An asyncio client for a Redis or Redis Cluster URL; nothing connects yet."""
    scheme, separator, location = url.partition("://")
    scheme = scheme.lower()
    if separator and scheme in {"redis", "rediss"}:
        client: AsyncClient = Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
            retry=retry,
        )
        return client
    if separator and scheme == "redis+cluster":
        nodes, username, password = cluster_nodes(location)
        return RedisCluster(
            startup_nodes=nodes,
            username=username,
            password=password,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
            retry=retry,
        )
    raise ValueError("a Redis URL starts with redis://, rediss:// or redis+cluster://")

"""Where a Redis audit stream lives and how to reach it, for the sink and the reader alike.

`redis://[user:password@]host:port/db`, `rediss://…` (TLS) or
`redis+cluster://[user:password@]host:port[,host:port…]`, with the stream's own options
in the query string (any other query argument goes to redis-py as it is):

- `stream=NAME`: the stream key (default `phasegate:audit`); beside it the hash
  `NAME:writers` lists the writers (chains). On a cluster both keys get the hash tag
  `{NAME}` (unless NAME already has one), so they share one slot and one script can
  write both.
- `wait_replicas=N`, `wait_timeout=DURATION` (default 1s): after each batch, `WAIT` for
  N replicas to acknowledge it, and fail the batch when fewer did in time. Not on a
  cluster: WAIT counts the writes of its own connection, and a cluster client does not
  promise to send the batch and the WAIT over the same one.

Clients fail fast: connect and read timeouts of a second or two, and no retries, since
a retried script whose first attempt did run would write its records twice.

Errors never quote the URL: it may carry a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.core.numbers import whole_number
from gateway.core.units import parse_duration
from gateway.ports import redis_connection
from gateway.ports.redis_connection import cluster_nodes

AsyncClient = redis_connection.AsyncClient
SyncClient = redis.Redis | redis.cluster.RedisCluster

DEFAULT_STREAM: Final = "phasegate:audit"
DEFAULT_WAIT_TIMEOUT: Final = 1.0
SCHEMES: Final = redis_connection.SCHEMES
_OWN_OPTIONS: Final = frozenset({"stream", "wait_replicas", "wait_timeout"})
CONNECT_TIMEOUT: Final = 1.0
OPERATION_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class StreamLocation:
    # The URL for redis-py, without the stream's own options; never to be logged.
    client_url: str
    cluster: bool
    stream: str
    writers: str
    wait_replicas: int = 0
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT

    def chain_name(self, writer: str) -> str:
        return f"{self.stream}/{writer}"

    @property
    def operation_timeout(self) -> float:
        """The longest one round trip may take, WAIT for replicas included."""
        return OPERATION_TIMEOUT + (self.wait_timeout if self.wait_replicas else 0.0)


def _hash_tagged(name: str) -> str:
    """The name itself when it has a non-empty `{tag}` already, else `{name}`."""
    opening = name.find("{")
    closing = name.find("}", opening + 1) if opening >= 0 else -1
    if opening >= 0 and closing > opening + 1:
        return name
    return f"{{{name}}}"


def parse_stream_url(url: str) -> StreamLocation:
    """The location a `redis://`, `rediss://` or `redis+cluster://` audit URL names."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError("a Redis audit URL starts with redis://, rediss:// or redis+cluster://")
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {key: value for key, value in query if key in _OWN_OPTIONS}
    rest = [(key, value) for key, value in query if key not in _OWN_OPTIONS]
    stream = own.get("stream", DEFAULT_STREAM)
    if not stream:
        raise ValueError("the audit URL's stream= names no stream")
    cluster = scheme == "redis+cluster"
    if cluster:
        stream = _hash_tagged(stream)
    wait_replicas = whole_number(own.get("wait_replicas", "0"))
    if wait_replicas is None:
        raise ValueError("the audit URL's wait_replicas= is not a whole number")
    if cluster and wait_replicas:
        raise ValueError("wait_replicas= is not supported with redis+cluster:// audit URLs")
    wait_timeout = DEFAULT_WAIT_TIMEOUT
    if "wait_timeout" in own:
        try:
            wait_timeout = parse_duration(own["wait_timeout"])
        except ValueError as error:
            raise ValueError(f"the audit URL's wait_timeout=: {error}") from None
    return StreamLocation(
        client_url=urlunsplit(parts._replace(query=urlencode(rest))),
        cluster=cluster,
        stream=stream,
        writers=f"{stream}:writers",
        wait_replicas=wait_replicas,
        wait_timeout=wait_timeout,
    )


def async_client(location: StreamLocation) -> AsyncClient:
    """An asyncio client for the sink; nothing connects yet."""
    return redis_connection.async_client(
        location.client_url,
        connect_timeout=CONNECT_TIMEOUT,
        timeout=location.operation_timeout,
        retry=redis_connection.no_retry(),
    )


def sync_client(location: StreamLocation) -> SyncClient:
    """A blocking client for the reader (the CLI); nothing connects yet."""
    if location.cluster:
        nodes, username, password = cluster_nodes(location.client_url.partition("://")[2])
        return redis.cluster.RedisCluster(
            startup_nodes=[
                redis.cluster.ClusterNode(node.host, node.port)  # type: ignore[no-untyped-call]
                for node in nodes
            ],
            username=username,
            password=password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=OPERATION_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
    client: redis.Redis = redis.Redis.from_url(
        location.client_url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=OPERATION_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    return client

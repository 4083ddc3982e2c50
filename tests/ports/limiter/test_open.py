"""Picking a limiter from a URL."""

from __future__ import annotations

import pytest

from gateway.ports.limiter import MemoryLimiter, RedisLimiter, open_limiter
from gateway.ports.redis_connection import cluster_nodes


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6390/0",
        "rediss://:pw@127.0.0.1:6390/1",
        "REDIS://127.0.0.1:6390",
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
    ],
)
async def test_redis_urls_open_a_redis_limiter_without_connecting(url: str) -> None:
    """Redis and Redis Cluster URLs give a RedisLimiter; nothing connects until used."""
    limiter = open_limiter(url)
    assert isinstance(limiter, RedisLimiter)
    await limiter.close()


async def test_memory_url_opens_the_in_process_limiter() -> None:
    """memory:// is the embedded limiter."""
    assert isinstance(open_limiter("memory://"), MemoryLimiter)


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "memory://somewhere", "no-scheme", "http://u:hunter2@h"]
)
def test_other_urls_are_refused_without_echoing_them(url: str) -> None:
    """An unsupported URL raises ValueError whose message does not repeat the URL."""
    with pytest.raises(ValueError, match="limiter URL") as refused:
        open_limiter(url)
    assert "hunter2" not in str(refused.value)


def test_cluster_urls_list_startup_nodes_and_credentials() -> None:
    """redis+cluster://user:password@host:port,[v6]:port,host parses node by node."""
    nodes, username, password = cluster_nodes("me:p%40ss@a:7000,[::1]:7001,b/0")
    assert [(node.host, node.port) for node in nodes] == [("a", 7000), ("::1", 7001), ("b", 6379)]
    assert (username, password) == ("me", "p@ss")
    with pytest.raises(ValueError, match="not a number"):
        cluster_nodes("a:port")
    with pytest.raises(ValueError, match="host:port"):
        cluster_nodes(":7000")

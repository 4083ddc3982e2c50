from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gateway.ports.store import RedisStore, SqliteStore, Store
from tests.support.redis_server import RedisClusterServers, RedisServer, redis_cluster, redis_server


@pytest.fixture(scope="session")
def store_redis() -> Iterator[RedisServer]:
    """One real redis-server for the store suites; each test starts from FLUSHALL."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def store_cluster() -> Iterator[RedisClusterServers]:
    """A Redis Cluster of three primaries for the store suites, flushed before each test."""
    with redis_cluster(3) as cluster:
        yield cluster


async def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    # A directory that does not exist yet, so every run also exercises creating it.
    return await SqliteStore.open(tmp_path / "state" / "store.db")


async def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server: RedisServer = request.getfixturevalue("store_redis")
    assert server.command("FLUSHALL").startswith(b"+OK")
    return RedisStore.from_url(server.url)


async def _redis_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    cluster: RedisClusterServers = request.getfixturevalue("store_cluster")
    cluster.flush()
    return RedisStore.from_url(cluster.url)


# Every adapter must pass the contract suite: a new one joins it with one entry here.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[Store]]] = {
    "sqlite": _sqlite,
    "redis": _redis,
    "redis-cluster": _redis_cluster,
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await BACKENDS[request.param](request, tmp_path)
    yield opened
    await opened.close()

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from gateway.ports.limiter import Limiter, MemoryLimiter
from gateway.ports.limiter.redis import from_url
from tests.support.clock import FakeClock
from tests.support.redis_server import RedisServer, redis_cluster_node, redis_server


@dataclass
class Backend:
    """A limiter under test, with how to let time pass and how to open a second client."""

    name: str
    limiter: Limiter
    advance: Callable[[float], Awaitable[None]]
    connect: Callable[[], Limiter]  # another limiter on the same shared state


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[RedisServer]:
    """One real redis-server for the whole limiter suite; each test starts from FLUSHALL."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def shared_cluster() -> Iterator[RedisServer]:
    """A one-node Redis Cluster owning every slot, so cluster-mode clients run the suite too."""
    with redis_cluster_node() as node:
        yield node


async def _memory(_: pytest.FixtureRequest) -> tuple[Backend, list[Limiter]]:
    clock = FakeClock()
    limiter = MemoryLimiter(clock)

    async def advance(seconds: float) -> None:
        clock.now += seconds

    # One process, one limiter: a "second client" is the same object.
    return Backend("memory", limiter, advance, lambda: limiter), [limiter]


def _on_redis(name: str, server: RedisServer, url: str) -> tuple[Backend, list[Limiter]]:
    assert server.command("FLUSHALL").startswith(b"+OK")
    opened: list[Limiter] = []

    def connect() -> Limiter:
        limiter = from_url(url)
        opened.append(limiter)
        return limiter

    return Backend(name, connect(), asyncio.sleep, connect), opened


async def _redis(request: pytest.FixtureRequest) -> tuple[Backend, list[Limiter]]:
    server: RedisServer = request.getfixturevalue("shared_redis")
    return _on_redis("redis", server, server.url)


async def _redis_cluster(request: pytest.FixtureRequest) -> tuple[Backend, list[Limiter]]:
    node: RedisServer = request.getfixturevalue("shared_cluster")
    return _on_redis("redis-cluster", node, f"redis+cluster://127.0.0.1:{node.port}")


# Every adapter must pass the contract suite: a new one joins it with one entry here.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Awaitable[tuple[Backend, list[Limiter]]]]]
BACKENDS = {"memory": _memory, "redis": _redis, "redis-cluster": _redis_cluster}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    opened, limiters = await BACKENDS[request.param](request)
    yield opened
    for limiter in limiters:
        await limiter.close()


@pytest.fixture
def limiter(backend: Backend) -> Limiter:
    return backend.limiter

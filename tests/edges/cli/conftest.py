from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisClusterServers, redis_cluster, redis_server


@pytest.fixture(scope="session")
def cluster_of_three() -> Iterator[RedisClusterServers]:
    """One three-primary Redis Cluster for the multi-replica tests, flushed by each user."""
    with redis_cluster(3) as cluster:
        yield cluster


@pytest.fixture(params=["redis", "redis-cluster"])
def shared_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty Redis that replicas share: a server of the test's own, or the
    three-primary cluster."""
    if request.param == "redis":
        with redis_server() as server:
            yield server.url
        return
    cluster: RedisClusterServers = request.getfixturevalue("cluster_of_three")
    cluster.flush()
    yield cluster.url

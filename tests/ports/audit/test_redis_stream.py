"""The Redis Stream audit sink and its reader, on a real redis-server the tests start."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest
import redis as redis_client
import structlog

from gateway.core.audit.chain import GENESIS, es256_signer, verify_lines
from gateway.core.audit.query import Query
from gateway.core.keys import SigningKey, new_key
from gateway.ports.audit import (
    AuditSink,
    AuditUnavailable,
    RedisStreamSink,
    RedisStreamSource,
    open_audit_sink,
    open_audit_source,
)
from gateway.ports.audit.base import Chain
from gateway.ports.audit.reading import matching
from gateway.ports.audit.redis_append import SCRIPT, Batch, Candidate, Recovery, arguments
from gateway.ports.audit.redis_location import parse_stream_url
from tests.support.processes import deployment
from tests.support.redis_server import RedisServer, redis_cluster_node, redis_server

VIDEO = {"model": "sora-2", "prompt": "a heron in the rain", "seconds": "4"}


class RestartableRedis(RedisServer):
    def restart(self) -> None:
        """Start again on the same port, as a Redis coming back after a crash."""
        if not self._launch(10.0):
            raise RuntimeError("redis-server did not come back on its port")

    def __enter__(self) -> RestartableRedis:
        super().__enter__()
        return self


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def redis(shared_redis: RedisServer) -> RedisServer:
    assert shared_redis.command("FLUSHALL").startswith(b"+OK")
    return shared_redis


@pytest.fixture
def restartable() -> Iterator[RestartableRedis]:
    with RestartableRedis() as server:
        yield server


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_stored(new_key(0.0))


def _record(n: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "event": "generation_request",
        "time": f"2026-11-26T09:30:{n % 60:02d}.000000Z",
        "n": n,
        "prompt": "a lighthouse at dawn",
    }


def _source(url: str) -> RedisStreamSource:
    return RedisStreamSource.from_url(url)


def _one_chain(url: str) -> tuple[Chain, list[bytes]]:
    source = _source(url)
    [chain] = source.chains()
    lines = list(source.lines(chain))
    source.close()
    return chain, lines


def _eval_calls(server: RedisServer) -> tuple[int, int]:
    """(script calls, XADDs) since the last CONFIG RESETSTAT, from INFO commandstats."""
    stats = server.command("INFO", "commandstats").decode()

    def calls(command: str) -> int:
        found = re.search(rf"cmdstat_{command}:calls=(\d+)", stats)
        return int(found.group(1)) if found else 0

    return calls("eval"), calls("xadd")


async def test_the_sink_satisfies_the_port(redis: RedisServer) -> None:
    sink: AuditSink = open_audit_sink(redis.url, signer=None)
    assert isinstance(sink, RedisStreamSink)
    assert await sink.healthy()
    await sink.close()
    assert not await sink.healthy()
    with pytest.raises(AuditUnavailable):
        await sink.append(_record(1))


async def test_records_land_in_order_and_verify_as_a_sealed_chain(
    redis: RedisServer, key: SigningKey
) -> None:
    """Appended records are entries of one writer, in order; close seals the chain with a
    checkpoint that verifies with the key's public key (and not with another key)."""
    sink = RedisStreamSink.from_url(redis.url, signer=es256_signer(key.kid, key.private))
    chain_name = sink.chain
    for n in range(5):
        await sink.append(_record(n))
    await asyncio.gather(*(sink.append(_record(n)) for n in range(5, 50)))
    await sink.close()

    chain, lines = _one_chain(redis.url)
    assert chain.name == chain_name
    assert chain.name.startswith("phasegate:audit/")
    assert not chain.may_be_open
    assert chain.first_time == "2026-11-26T09:30:00.000000Z"
    records = [orjson.loads(line) for line in lines]
    assert [record.get("n") for record in records[:-1]] == list(range(50))
    assert records[0]["prev_hash"] == GENESIS
    closing = records[-1]
    assert (closing["event"], closing["segment"], closing["records"]) == (
        "checkpoint",
        chain_name,
        50,
    )
    report = verify_lines(lines, public_keys={key.kid: key.public})
    assert (report.ok, report.records, report.sealed) == (True, 50, True)
    other = SigningKey.from_stored(new_key(1.0))
    assert verify_lines(lines, public_keys={key.kid: other.public}).kind == "bad_signature"


async def test_concurrent_appends_share_round_trips(redis: RedisServer) -> None:
    """200 concurrent appends: 200 XADDs, run by a handful of script calls (one round trip
    each), counted by the server itself in INFO commandstats."""
    sink = RedisStreamSink.from_url(redis.url)
    await sink.append(_record(0))  # connected, durability read
    assert redis.command("CONFIG", "RESETSTAT").startswith(b"+OK")
    await asyncio.gather(*(sink.append(_record(n)) for n in range(1, 201)))
    scripts, xadds = _eval_calls(redis)
    assert xadds == 200
    assert scripts <= 5
    await sink.close()
    _, lines = _one_chain(redis.url)
    assert [orjson.loads(line).get("n") for line in lines[:-1]] == list(range(201))


async def test_each_writer_is_a_chain_of_its_own(redis: RedisServer) -> None:
    """Two sinks on one stream interleave their entries; the reader regroups them into two
    chains that verify alone, and scan returns every line by time range."""
    first, second = RedisStreamSink.from_url(redis.url), RedisStreamSink.from_url(redis.url)
    for n in range(10):
        await (first if n % 2 else second).append(_record(n))
    await first.close()
    source = _source(redis.url)
    chains = source.chains()
    assert [chain.name for chain in chains] == [second.chain, first.chain]
    assert [chain.may_be_open for chain in chains] == [True, False]
    reports = [verify_lines(list(source.lines(chain))) for chain in chains]
    assert [(r.ok, r.records, r.sealed) for r in reports] == [(True, 5, False), (True, 5, True)]
    assert len(list(source.scan())) == 11
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    assert len(list(source.scan(since=stamp + "Z", until=stamp + "Z"))) == 11
    assert list(source.scan(since="2099-01-01T00:00:00.000000Z")) == []
    assert list(source.scan(until="2001-01-01T00:00:00.000000Z")) == []
    await second.close()
    source.close()


async def test_the_reviewer_commands_read_the_stream_by_time(redis: RedisServer) -> None:
    """open_audit_source gives the stream's reader; the commands' time-ordered merge over
    its chains returns every record of both writers, in time order."""
    first, second = RedisStreamSink.from_url(redis.url), RedisStreamSink.from_url(redis.url)
    for n in range(20):
        await (first if n % 3 else second).append(_record(n))
    await first.close()
    await second.close()
    source = open_audit_source(redis.url)
    assert isinstance(source, RedisStreamSource)
    found = [match.record["n"] for match in matching(source, Query())]
    assert found == list(range(20))
    source.close()


async def test_follow_yields_lines_appended_after_the_call(redis: RedisServer) -> None:
    sink = RedisStreamSink.from_url(redis.url)
    await sink.append(_record(0))
    source = _source(redis.url)
    followed = source.follow(poll_seconds=0.1)
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.extend(next(followed) for _ in range(3)))
    await asyncio.gather(*(sink.append(_record(n)) for n in (1, 2)))
    reader.start()
    await sink.close()  # the checkpoint is the third line
    await asyncio.to_thread(reader.join, 5)
    assert [orjson.loads(line).get("n") for line in seen] == [1, 2, None]
    assert orjson.loads(seen[-1])["event"] == "checkpoint"
    source.close()


async def test_a_killed_redis_fails_appends_promptly_then_a_new_chain_starts(
    restartable: RestartableRedis,
) -> None:
    """Redis killed: append raises AuditUnavailable at once and the sink is unhealthy; when
    Redis is back the sink is healthy again and appends go to a new writer from GENESIS."""
    sink = RedisStreamSink.from_url(restartable.url)
    await sink.append(_record(0))
    before = sink.chain
    restartable.kill()
    started = time.monotonic()
    with pytest.raises(AuditUnavailable, match="ConnectionError"):
        await sink.append(_record(1))
    assert time.monotonic() - started < 1.0
    with structlog.testing.capture_logs() as logs:
        assert not await sink.healthy()
        assert not await sink.healthy()
    # Logged once for the outage, however often readiness is probed.
    assert [(e["event"], e["log_level"], e["reason"]) for e in logs] == [
        ("audit_stream_unready", "warning", "the Redis audit stream failed: ConnectionError")
    ]

    restartable.restart()
    assert await sink.healthy()
    await sink.append(_record(2))
    assert sink.chain != before
    await sink.close()
    chain, lines = _one_chain(restartable.url)  # the server kept nothing from before
    assert chain.name == sink.chain
    report = verify_lines(lines)
    assert (report.ok, report.records, report.sealed) == (True, 1, True)


async def test_a_frozen_redis_times_out_and_the_abandoned_chain_is_sealed_later(
    redis: RedisServer, key: SigningKey
) -> None:
    """Redis stops answering: append fails within the read timeout instead of hanging.
    The failed batch may still land, so its writer is abandoned; the next batch seals
    the abandoned chain with a signed recovery checkpoint after whatever its last line
    turned out to be, and both chains verify sealed."""
    sink = RedisStreamSink.from_url(redis.url, signer=es256_signer(key.kid, key.private))
    await sink.append(_record(0))
    before = sink.chain
    redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(AuditUnavailable, match="TimeoutError"):
            await sink.append(_record(1))
        assert time.monotonic() - started < 3.5
        assert not await sink.healthy()
    finally:
        redis.resume()
    await sink.append(_record(2))
    await sink.close()
    source = _source(redis.url)
    chains = {chain.name: chain for chain in source.chains()}
    assert set(chains) == {before, sink.chain}
    assert not chains[before].may_be_open
    old_lines = list(source.lines(chains[before]))
    old = verify_lines(old_lines, public_keys={key.kid: key.public})
    new = verify_lines(list(source.lines(chains[sink.chain])), public_keys={key.kid: key.public})
    assert (old.ok, old.sealed) == (True, True)
    assert old.records in (1, 2)  # the timed-out batch ran once Redis woke up, or not
    closing = orjson.loads(old_lines[-1])
    assert (closing["recovered"], closing["segment"]) == (True, before)
    assert (new.ok, new.records, new.sealed) == (True, 1, True)
    source.close()


def _run_script(client: redis_client.Redis, argv: list[str | bytes]) -> Any:
    keys = ("phasegate:audit", "phasegate:audit:writers")
    return cast(Any, client).eval(SCRIPT, 2, *keys, *argv)


async def test_the_script_fences_closed_writers_and_never_blesses_an_unknown_state(
    redis: RedisServer,
) -> None:
    """A batch that reaches Redis after its writer was sealed is refused; a recovery whose
    candidates match neither state of the chain marks the writer ended, unsealed."""
    sealed, stuck = RedisStreamSink.from_url(redis.url), RedisStreamSink.from_url(redis.url)
    await sealed.append(_record(0))
    await sealed.close()
    await stuck.append(_record(1))
    client = redis_client.Redis.from_url(redis.url)
    late = Batch(sealed.chain.rpartition("/")[2], [b"{}"], "t", "t", "0" * 64)
    with pytest.raises(redis_client.ResponseError, match="PGCLOSED"):
        _run_script(client, arguments(late, [], "t"))
    assert client.xlen("phasegate:audit") == 3

    stuck_writer = stuck.chain.rpartition("/")[2]
    wrong = Recovery(stuck_writer, (Candidate("1" * 64, b"{}", "2" * 64),))
    nothing = Batch("unused", [], "", "", GENESIS)
    _run_script(client, arguments(nothing, [wrong], "t"))
    assert client.xlen("phasegate:audit") == 3
    source = _source(redis.url)
    assert source.writers()[stuck_writer]["ended"] == "unknown_state"
    [chain] = [chain for chain in source.chains() if chain.name == stuck.chain]
    assert not chain.may_be_open
    with pytest.raises(AuditUnavailable, match="ResponseError"):
        await stuck.append(_record(2))  # its own writer is fenced off too
    client.close()
    source.close()
    await stuck.close()


async def test_wait_replicas_fails_a_batch_fewer_replicas_acknowledged(
    redis: RedisServer,
) -> None:
    """With ?wait_replicas=N each batch waits for N replicas: one replica attached, N=1
    succeeds, N=2 fails after wait_timeout with AuditUnavailable."""
    with redis_server("--replicaof", "127.0.0.1", str(redis.port)) as replica:
        deadline = time.monotonic() + 10
        while b"master_link_status:up" not in replica.command("INFO", "replication"):
            assert time.monotonic() < deadline, "the replica never synced"
            await asyncio.sleep(0.05)
        one = RedisStreamSink.from_url(f"{redis.url}?wait_replicas=1&wait_timeout=500ms")
        await asyncio.gather(*(one.append(_record(n)) for n in range(10)))
        await one.close()
        assert replica.command("XLEN", "phasegate:audit") == b":11\r\n"

        two = RedisStreamSink.from_url(f"{redis.url}?wait_replicas=2&wait_timeout=300ms")
        abandoned = two.chain
        started = time.monotonic()
        with pytest.raises(AuditUnavailable, match="1 of 2 replica"):
            await two.append(_record(0))
        assert time.monotonic() - started < 1.5
        assert not await two.healthy()  # Redis answers, but with one replica only
        with pytest.raises(AuditUnavailable, match="1 of 2 replica"):
            await two.append(_record(1))  # the round trip that seals `abandoned`
        with pytest.raises(AuditUnavailable, match="1 of 2 replica"):
            await two.close()  # sealing the second writer is not acknowledged either
        source = _source(redis.url)
        [chain] = [chain for chain in source.chains() if chain.name == abandoned]
        report = verify_lines(list(source.lines(chain)))
        assert (report.ok, report.records, report.sealed) == (True, 1, True)
        source.close()


async def test_the_servers_durability_is_read_and_logged(redis: RedisServer) -> None:
    """Without appendonly the sink warns that Redis keeps records in memory only; with
    appendonly yes and appendfsync always it reports fsync before acknowledgement."""
    with structlog.testing.capture_logs() as logs:
        sink = RedisStreamSink.from_url(redis.url)
        await sink.append(_record(0))
        await sink.close()
    assert sink.durability is not None
    assert not sink.durability.fsynced_before_ack
    [logged] = [entry for entry in logs if entry["event"] == "audit_stream_durability"]
    assert logged["log_level"] == "warning"
    assert logged["appendonly"] == "no"
    assert "memory only" in logged["meaning"]
    assert redis.url not in str(logged)

    with redis_server("--appendonly", "yes", "--appendfsync", "always") as durable:
        sink = RedisStreamSink.from_url(durable.url)
        await sink.append(_record(0))
        await sink.close()
    assert sink.durability is not None
    assert sink.durability.fsynced_before_ack
    assert sink.durability.meaning == "fsynced to the AOF before Redis acknowledges"


async def test_a_password_never_appears_in_errors(tmp_path: Path) -> None:
    with redis_server("--requirepass", "right-pass") as server:
        wrong = f"redis://:wrong-pass@127.0.0.1:{server.port}/0"
        sink = RedisStreamSink.from_url(wrong)
        with pytest.raises(AuditUnavailable) as refused:
            await sink.append(_record(0))
        assert "wrong-pass" not in str(refused.value)
        with structlog.testing.capture_logs() as logs:
            assert not await sink.healthy()
        assert [entry["event"] for entry in logs] == ["audit_stream_unready"]
        assert "AuthenticationError" in logs[0]["reason"]
        assert "wrong-pass" not in str(logs)
        await sink.close()
        with pytest.raises(ValueError, match="wait_replicas") as bad:
            parse_stream_url(f"{wrong}?wait_replicas=many")
        assert "wrong-pass" not in str(bad.value)

        right = f"redis://:right-pass@127.0.0.1:{server.port}/0?stream=audit:test"
        sink = RedisStreamSink.from_url(right)
        await sink.append(_record(0))
        await sink.close()
        _, lines = _one_chain(right)
        assert verify_lines(lines).sealed


class _ClientWithABug:
    """A client whose connection is lost for the first batch, and whose ping then fails
    with an error no Redis outage raises: a bug in the probe's own code."""

    async def execute_command(self, *args: object, **options: object) -> object:
        raise redis_client.exceptions.ConnectionError("Connection refused")

    async def ping(self) -> bool:
        # Not a TypeError or AttributeError: redis-py leaks those when a transport is torn
        # down under a call, so they read as an outage (see redis_connection.py).
        raise KeyError("a probe bug")

    async def aclose(self) -> None:
        return None


async def test_a_bug_in_the_readiness_probe_is_not_read_as_an_outage() -> None:
    """Only Redis and connection errors mean "not ready"; anything else propagates, so a
    bug surfaces instead of passing for an outage that never ends."""
    client = cast(Any, _ClientWithABug())
    sink = RedisStreamSink(parse_stream_url("redis://127.0.0.1:1/0"), client=client)
    with pytest.raises(AuditUnavailable, match="ConnectionError"):
        await sink.append(_record(0))
    with pytest.raises(KeyError, match="a probe bug"):
        await sink.healthy()
    await sink.close()


def test_url_options() -> None:
    plain = parse_stream_url("redis://h:1/2?stream=s&wait_replicas=1&wait_timeout=2s&x=y")
    assert (plain.stream, plain.writers, plain.wait_replicas, plain.wait_timeout) == (
        "s",
        "s:writers",
        1,
        2.0,
    )
    assert plain.client_url == "redis://h:1/2?x=y"
    cluster = parse_stream_url("redis+cluster://h:1,h:2")
    assert (cluster.stream, cluster.writers) == ("{phasegate:audit}", "{phasegate:audit}:writers")
    assert parse_stream_url("redis+cluster://h:1?stream={pg}:audit").stream == "{pg}:audit"
    with pytest.raises(ValueError, match="redis\\+cluster"):
        parse_stream_url("redis+cluster://h:1?wait_replicas=1")


async def test_a_cluster_stream_lives_in_one_slot() -> None:
    """On Redis Cluster the stream and its writers hash share a hash tag; the sink and the
    reader work through cluster clients."""
    with redis_cluster_node() as node:
        url = f"redis+cluster://127.0.0.1:{node.port}"
        sink = RedisStreamSink.from_url(url)
        await asyncio.gather(*(sink.append(_record(n)) for n in range(20)))
        await sink.close()
        assert sorted(node.command("KEYS", "*").split(b"\r\n")[2::2]) == [
            b"{phasegate:audit}",
            b"{phasegate:audit}:writers",
        ]
        chain, lines = _one_chain(url)
        assert chain.name == sink.chain
        report = verify_lines(lines)
        assert (report.ok, report.records, report.sealed) == (True, 20, True)


def test_serve_writes_ahead_to_the_stream_and_fails_closed_without_it(
    tmp_path: Path, restartable: RestartableRedis
) -> None:
    """`phasegate serve --audit redis://…`: a generation request's write-ahead record is in
    the stream; with Redis down the next one gets 503 audit_unavailable, not forwarded,
    while reading the job still works."""
    with deployment(tmp_path, "--audit", restartable.url) as target:
        token = target.token(target.grant("alice"))
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{target.gateway_url}/v1/videos",
            json=VIDEO,
            headers={**headers, "X-Request-ID": "redis-e2e-1"},
        )
        assert created.status_code == 200, created.text
        source = _source(restartable.url)
        written = [orjson.loads(line) for line in source.scan()]
        source.close()
        assert [r["event"] for r in written if r.get("request_id") == "redis-e2e-1"][:1] == [
            "generation_request"
        ]

        restartable.kill()
        refused = httpx.post(f"{target.gateway_url}/v1/videos", json=VIDEO, headers=headers)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "audit_unavailable"
        job = httpx.get(f"{target.gateway_url}/v1/videos/{created.json()['id']}", headers=headers)
        assert job.status_code == 200
        ready = httpx.get(f"{target.gateway_url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["audit"] == "unavailable"

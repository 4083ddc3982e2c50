"""The shared audit sink: one Redis Stream that every gateway replica appends to.

Entries. The stream (default key `phasegate:audit`, see `redis_location`) is never
trimmed. Each entry has two fields: `writer`, the id of the sink instance that wrote it,
and `line`, the chained record's canonical JSON (the same bytes a JSONL segment holds).
Beside the stream, the hash `<stream>:writers` holds one field per writer: a small JSON
document with its first and last entry ids and record times, how many lines it wrote,
its last hash and whether a checkpoint sealed it. So a reader lists the chains without
scanning the stream.

Chains. Each sink instance is a writer with a random id, and its lines form one hash
chain from GENESIS, named `<stream>/<writer>`; `close()` ends it with a (signed)
checkpoint whose `segment` is that name. Lines of several writers interleave in the
stream; a reader regroups them by `writer`.

Group commit. Concurrent appends form one batch, written in ONE round trip: a Lua
script (`redis_append`) that adds every line in chain order and updates the writer's
entry. A script runs atomically, so a batch is in the stream entirely or not at all.

Failures. Connection errors and timeouts (a second or two, no retries) fail every
waiter of the batch with `AuditUnavailable`. Whether the failed batch landed is then
unknown (the script may have run before the connection broke), so the chain cannot be
continued: the writer is abandoned and the next batch starts a new writer, with a new
id, from GENESIS. The next successful round trip also seals the abandoned chain with a
recovery checkpoint: the sink sends one for each state the chain may be in (without
and with the failed batch) and the script adds the one that follows the chain's
actual last line. The log may hold more than what happened, never less.

Durability: see `redis_durability`. Before the first batch the sink reads
`CONFIG GET appendonly appendfsync` (when the server permits it), exposes the answer
as `durability` and logs it. With `wait_replicas=N` in the URL each batch is followed
by `WAIT N` in the same round trip, and a batch that fewer replicas acknowledged in
time fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import structlog
from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError

from gateway.core.audit.chain import GENESIS, Signer, canonical, checkpoint, link
from gateway.core.audit.records import format_time
from gateway.ports.audit.base import AuditUnavailable
from gateway.ports.audit.batching import GroupCommit
from gateway.ports.audit.redis_append import SCRIPT, Batch, Candidate, Recovery, arguments
from gateway.ports.audit.redis_durability import Durability
from gateway.ports.audit.redis_location import (
    CONNECT_TIMEOUT,
    AsyncClient,
    StreamLocation,
    async_client,
    parse_stream_url,
)
from gateway.ports.redis_connection import CLIENT_ERRORS

_log = structlog.get_logger("phasegate.audit")

_CLIENT_ERRORS: Final = CLIENT_ERRORS
# Abandoned writers that never had a batch confirmed matter only if their one batch
# landed after all; during a long outage only the latest of them are kept for recovery.
_MAX_UNCONFIRMED: Final = 32


def new_writer_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class _Abandoned:
    writer: str
    # (records, last hash) of each state its chain may have been left in.
    states: tuple[tuple[int, str], ...]
    confirmed: bool  # some batch of it is known to have landed


def _record_time(record: dict[str, Any], now: float) -> str:
    stamp = record.get("time")
    return stamp if isinstance(stamp, str) else format_time(now)


def _unavailable(error: BaseException) -> AuditUnavailable:
    # Redis errors name the command and the address, never the password.
    return AuditUnavailable(f"the Redis audit stream failed: {type(error).__name__}")


class RedisStreamSink:
    """An `AuditSink` appending hash-chained lines to a Redis Stream; it owns its client."""

    def __init__(
        self,
        location: StreamLocation,
        *,
        signer: Signer | None = None,
        client: AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._location = location
        self._client = client if client is not None else async_client(location)
        self._signer = signer
        self._clock = clock
        self._writer = new_writer_id()
        self._records = 0
        self._last_hash = GENESIS
        self._abandoned: list[_Abandoned] = []
        self._durability: Durability | None = None
        self._batches = GroupCommit(self._commit, name="audit-redis-flush")
        self._closed = False
        self._probe_failing = False

    @classmethod
    def from_url(cls, url: str, *, signer: Signer | None = None) -> RedisStreamSink:
        return cls(parse_stream_url(url), signer=signer)

    @property
    def chain(self) -> str:
        """The name of the chain the next batch goes to: `<stream>/<writer>`."""
        return self._location.chain_name(self._writer)

    @property
    def durability(self) -> Durability | None:
        """What the server said before the first batch (None until then)."""
        return self._durability

    async def append(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise AuditUnavailable("the audit sink is closed")
        await self._batches.append(record)

    async def healthy(self) -> bool:
        if self._closed:
            return False
        if self._batches.last_batch_ok:
            return True
        # After a failure nothing may be written until Redis is back, and a gateway that
        # reports unready may get no traffic to find out: ask the server itself.
        try:
            async with asyncio.timeout(self._location.operation_timeout + CONNECT_TIMEOUT):
                answers = await self._answers()
        except _CLIENT_ERRORS as error:
            # Once per outage: readiness is probed every few seconds for as long as it lasts.
            if not self._probe_failing:
                _log.warning("audit_stream_unready", reason=str(_unavailable(error)))
            self._probe_failing = True
            return False
        self._probe_failing = False
        return answers

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._batches.settle()
        try:
            if self._records:
                await self._seal()
            elif self._abandoned:
                await self._write(Batch(self._writer, [], "", "", GENESIS))
        finally:
            # A connection that is gone has nothing left to release.
            with contextlib.suppress(*_CLIENT_ERRORS):
                await self._client.aclose()

    # Writing

    async def _commit(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        if self._durability is None:
            self._durability = await self._probe()
            self._durability.report()
        now = self._clock()
        problems: list[Exception | None] = []
        lines: list[bytes] = []
        times: list[str] = []
        last = self._last_hash
        for record in records:
            try:
                linked = link(record, last)
                lines.append(canonical(linked))
            except TypeError as error:  # not JSON: that caller's bug, not the batch's
                problems.append(error)
                continue
            last = linked["hash"]
            times.append(_record_time(record, now))
            problems.append(None)
        if lines:
            await self._write(Batch(self._writer, lines, times[0], times[-1], last))
            self._records += len(lines)
            self._last_hash = last
        return problems

    async def _seal(self) -> None:
        closing = checkpoint(
            time=self._clock(),
            segment=self.chain,
            records=self._records,
            last_hash=self._last_hash,
            signer=self._signer,
        )
        linked = link(closing, self._last_hash)
        stamp = closing["time"]
        await self._write(
            Batch(self._writer, [canonical(linked)], stamp, stamp, linked["hash"], sealed=True)
        )

    async def _write(self, batch: Batch) -> None:
        """One round trip; on failure the writer is abandoned for a new one."""
        try:
            await self._send(batch)
        except AuditUnavailable:
            self._abandon(batch)
            raise

    def _abandon(self, failed: Batch) -> None:
        states: list[tuple[int, str]] = []
        if self._records:
            states.append((self._records, self._last_hash))  # the batch did not land
        if failed.lines and not failed.sealed:
            states.append((self._records + len(failed.lines), failed.last_hash))  # it did
        if states:
            entry = _Abandoned(self._writer, tuple(states), confirmed=self._records > 0)
            kept = [*self._abandoned, entry]
            unconfirmed = [old for old in kept if not old.confirmed][-_MAX_UNCONFIRMED:]
            self._abandoned = [old for old in kept if old.confirmed or old in unconfirmed]
        self._writer = new_writer_id()
        self._records = 0
        self._last_hash = GENESIS

    def _recoveries(self, now: float) -> list[Recovery]:
        recoveries = []
        for abandoned in self._abandoned:
            candidates = []
            for records, last_hash in abandoned.states:
                closing = checkpoint(
                    time=now,
                    segment=self._location.chain_name(abandoned.writer),
                    records=records,
                    last_hash=last_hash,
                    signer=self._signer,
                    recovered=True,
                )
                linked = link(closing, last_hash)
                candidates.append(Candidate(last_hash, canonical(linked), linked["hash"]))
            recoveries.append(Recovery(abandoned.writer, tuple(candidates)))
        return recoveries

    async def _send(self, batch: Batch) -> None:
        location = self._location
        now = self._clock()
        argv = arguments(batch, self._recoveries(now), format_time(now))
        # redis-py annotates str, but sends bytes as they are: the lines go unchanged.
        keys_and_arguments: tuple[Any, ...] = (location.stream, location.writers, *argv)
        try:
            async with asyncio.timeout(location.operation_timeout + CONNECT_TIMEOUT):
                if location.wait_replicas:
                    # WAIT counts the writes of its own connection: one pipeline, one
                    # connection, one round trip.
                    pipe = self._client.pipeline(transaction=False)
                    pipe.eval(SCRIPT, 2, *keys_and_arguments)
                    pipe.execute_command(
                        "WAIT", location.wait_replicas, int(location.wait_timeout * 1000)
                    )
                    _, acknowledged = await pipe.execute()
                else:
                    await cast(Any, self._client).eval(SCRIPT, 2, *keys_and_arguments)
                    acknowledged = 0
        except _CLIENT_ERRORS as error:
            raise _unavailable(error) from error
        self._abandoned = []
        if int(acknowledged) < location.wait_replicas:
            raise AuditUnavailable(
                f"the audit batch reached {acknowledged} of {location.wait_replicas} "
                f"replica(s) within {location.wait_timeout:g}s"
            )

    # Asking the server

    async def _answers(self) -> bool:
        """Whether a batch written now could succeed: Redis answers and, when replicas
        must acknowledge, enough of them are attached."""
        location = self._location
        if not location.wait_replicas:
            return bool(await self._client.ping())
        # WAIT on a connection that wrote nothing counts the attached replicas at once.
        pipe = self._client.pipeline(transaction=False)
        pipe.ping()
        pipe.execute_command("WAIT", location.wait_replicas, int(location.wait_timeout * 1000))
        _, attached = await pipe.execute()
        return int(attached) >= location.wait_replicas

    async def _probe(self) -> Durability:
        """The server's persistence settings, read once before the first batch."""
        try:
            async with asyncio.timeout(self._location.operation_timeout + CONNECT_TIMEOUT):
                config = await self._config_get()
        except ResponseError:  # NOPERM, or CONFIG renamed away
            config = {}
        except _CLIENT_ERRORS as error:
            raise _unavailable(error) from error
        return Durability.from_config(config, self._location.wait_replicas)

    async def _config_get(self) -> dict[str, str]:
        client = self._client
        command = ("CONFIG", "GET", "appendonly", "appendfsync")
        if isinstance(client, RedisCluster):
            # Ask the primary that holds the stream, not any node.
            await client.initialize()
            raw = await client.execute_command(
                *command, target_nodes=client.get_node_from_key(self._location.stream)
            )
        else:
            raw = await client.execute_command(*command)  # type: ignore[no-untyped-call]
        # A flat [name, value, ...] list, or a dict where redis-py parsed it already.
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        return {_text(key): _text(value) for key, value in pairs}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

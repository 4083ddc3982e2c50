"""Reading the Redis audit stream back: an `AuditSource` for the reviewer commands.

Chains are writers (see `redis_stream`): `chains()` reads the small writers hash only,
`lines(chain)` reads the stream between the writer's first and last entry and keeps
its own lines, `scan()` reads a range of the stream and `follow()` blocks on XREAD.
Everything is read in pages, so a long stream is never held in memory at once.

Time ranges. Stream entry ids start with the Redis server's clock in milliseconds,
records carry the gateway's clock, and a record is chained a little before Redis
stores it. So `scan` widens the range by `TIME_MARGIN` on both sides; the caller
checks each record's own time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from redis.exceptions import RedisClusterException, RedisError

from gateway.ports.audit.base import AuditUnavailable, Chain
from gateway.ports.audit.redis_location import (
    StreamLocation,
    SyncClient,
    parse_stream_url,
    sync_client,
)

TIME_MARGIN: Final = 60.0
PAGE: Final = 1000
# XREAD blocks for at most this long per call, well within the client's read timeout.
_LONGEST_BLOCK_MS: Final = 1000

_Entry = tuple[bytes, dict[bytes, bytes]]


def entry_order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def stream_bound(stamp: str | None, shift: float, default: str) -> str:
    """A stream id (milliseconds only) `shift` seconds from an RFC 3339 time; `default`
    when there is no time or it cannot be read (the caller filters anyway)."""
    if stamp is None:
        return default
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(max(0, int((moment.timestamp() + shift) * 1000)))


@contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    # Redis errors name the command and the address, never the password.
    except (TimeoutError, RedisError, RedisClusterException, OSError) as error:
        raise AuditUnavailable(
            f"the Redis audit stream cannot be read: {type(error).__name__}"
        ) from error


class RedisStreamSource:
    """An `AuditSource` over one audit stream; it owns its (blocking) client."""

    def __init__(self, location: StreamLocation, *, client: SyncClient | None = None) -> None:
        self._location = location
        self._client = client if client is not None else sync_client(location)

    @classmethod
    def from_url(cls, url: str) -> RedisStreamSource:
        return cls(parse_stream_url(url))

    def close(self) -> None:
        self._client.close()

    def writers(self) -> dict[str, dict[str, Any]]:
        """Every writer's entry in the writers hash, by writer id."""
        with _reading():
            stored: dict[bytes, bytes] = self._client.hgetall(self._location.writers)  # type: ignore[assignment]
        return {key.decode(): orjson.loads(value) for key, value in stored.items()}

    def chains(self) -> list[Chain]:
        writers = sorted(self.writers().items(), key=lambda item: entry_order(item[1]["first_id"]))
        return [
            Chain(
                name=self._location.chain_name(writer),
                # Neither sealed nor given up (ended): its writer may be running, or may
                # have died, which a stream cannot tell, unlike a file's lock.
                may_be_open=not meta.get("sealed") and not meta.get("ended"),
                first_time=meta.get("first_time"),
                last_time=meta.get("last_time"),
            )
            for writer, meta in writers
        ]

    def lines(self, chain: Chain) -> Iterator[bytes]:
        stream, _, writer = chain.name.rpartition("/")
        if stream != self._location.stream:
            raise ValueError(f"chain {chain.name} is not in stream {self._location.stream}")
        with _reading():
            raw = self._client.hget(self._location.writers, writer)
        if raw is None:
            return
        meta = orjson.loads(raw)  # type: ignore[arg-type]
        wanted = writer.encode()
        for _, fields in self._range(meta["first_id"], meta["last_id"]):
            if fields.get(b"writer") == wanted:
                yield fields[b"line"]

    def scan(self, *, since: str | None = None, until: str | None = None) -> Iterator[bytes]:
        """Every line in the range, in stream order: each chain's lines stay in their
        order, lines of different chains interleave as they were written."""
        start = stream_bound(since, -TIME_MARGIN, "-")
        end = stream_bound(until, TIME_MARGIN, "+")
        for _, fields in self._range(start, end):
            yield fields[b"line"]

    def follow(self, *, poll_seconds: float = 0.5) -> Iterator[bytes]:
        # The starting point is taken now, not at the first next(): lines appended
        # between the call and the first read are not lost.
        with _reading():
            newest: list[_Entry] = self._client.xrevrange(self._location.stream, count=1)  # type: ignore[assignment]
        block = max(1, min(int(poll_seconds * 1000), _LONGEST_BLOCK_MS))
        return self._follow(newest[0][0] if newest else b"0-0", block)

    def _follow(self, last: bytes, block: int) -> Iterator[bytes]:
        while True:
            with _reading():
                reply: list[tuple[bytes, list[_Entry]]] = self._client.xread(  # type: ignore[assignment]
                    {self._location.stream: last}, count=PAGE, block=block
                )
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    yield fields[b"line"]

    def _range(self, start: str, end: str) -> Iterator[_Entry]:
        while True:
            with _reading():
                page: list[_Entry] = self._client.xrange(  # type: ignore[assignment]
                    self._location.stream, min=start, max=end, count=PAGE
                )
            yield from page
            if len(page) < PAGE:
                return
            start = "(" + page[-1][0].decode()

"""The audit sink: where audit records go, durably, before the gateway acts on them.

Two protocols, `AuditSink` to write and `AuditSource` to read back, with their adapters
beside them (JSONL files embedded, a Redis stream, structlog on stdout).
Every failure to take a record is translated into one exception,
`AuditUnavailable`, so that the caller fails closed (503 for generation requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


class AuditUnavailable(Exception):
    """The sink could not make a record durable; the caller must not proceed."""


class AuditSink(Protocol):
    async def append(self, record: dict[str, Any]) -> None:
        """Chain the record and return only once it is durable (for files: written and
        fsynced); raise `AuditUnavailable` otherwise. Concurrent calls share writes."""
        ...

    async def healthy(self) -> bool:
        """Whether the last write succeeded (and the sink is open); never raises."""
        ...

    async def close(self) -> None:
        """Wait for pending records, seal the open segment with a final (signed)
        checkpoint and release it; later appends raise `AuditUnavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class Chain:
    """One hash chain of the log: a segment file, or one writer's run in a stream."""

    name: str
    # The chain's writer may still be appending: a missing closing checkpoint is
    # expected here and is not, by itself, a sign of tampering.
    may_be_open: bool
    # The oldest and newest records' times, when the source knows it cheaply (to skip whole
    # chains outside a searched time range); None means "read it to find out".
    first_time: str | None = None
    last_time: str | None = None


class AuditSource(Protocol):
    """Where the reviewer commands read the log from. Synchronous: it serves the CLI.

    Lines are the records' canonical JSON, exactly as chained (see docs/audit.md)."""

    def chains(self) -> list[Chain]:
        """Every chain, oldest first."""
        ...

    def lines(self, chain: Chain) -> Iterator[bytes]:
        """One chain's lines, in write order (a torn last line is passed on as is)."""
        ...

    def scan(self, *, since: str | None = None, until: str | None = None) -> Iterator[bytes]:
        """Every line of every chain, oldest chain first; `since`/`until` (RFC 3339, as in
        records' `time`) let a source skip whole chains or ranges but do not filter
        line by line: the caller still checks each record's time."""
        ...

    def follow(self, *, poll_seconds: float = 0.5) -> Iterator[bytes]:
        """Lines appended after the call, as they arrive; never ends by itself."""
        ...

"""The audit sink: where audit records go, durably, before the gateway acts on them.

One protocol, adapters beside it (JSONL files embedded; a Redis stream and structlog
on stdout to come). Every failure to take a record is translated into one exception,
`AuditUnavailable`, so that the caller fails closed (503 for generation requests).
"""

from __future__ import annotations

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

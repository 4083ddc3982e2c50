"""What a Redis acknowledgement of an audit batch means, as the server is configured.

Redis acknowledges a write once it is in memory and, with `appendonly yes`, in its AOF
as far as `appendfsync` goes: `always` fsyncs before answering; `everysec` can lose
about a second of acknowledged writes in a crash of the host; `no` leaves it to the OS;
without the AOF a restart loses everything since the last snapshot. `WAIT N` adds that
N replicas received the batch (Redis 7.0 has no WAITAOF: not that they fsynced it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

_log = structlog.get_logger("phasegate.audit")


@dataclass(frozen=True, slots=True)
class Durability:
    """The server's persistence settings; None where it would not say (no CONFIG)."""

    appendonly: str | None
    appendfsync: str | None
    wait_replicas: int

    @classmethod
    def from_config(cls, config: dict[str, str], wait_replicas: int) -> Durability:
        known = "appendonly" in config
        return cls(
            appendonly=config.get("appendonly"),
            appendfsync=config.get("appendfsync") if known else None,
            wait_replicas=wait_replicas,
        )

    @property
    def fsynced_before_ack(self) -> bool:
        return self.appendonly == "yes" and self.appendfsync == "always"

    @property
    def meaning(self) -> str:
        if self.appendonly is None:
            meaning = "unknown: the server does not permit CONFIG GET"
        elif self.appendonly != "yes":
            meaning = (
                "memory only: a Redis restart loses the records written since its last snapshot"
            )
        elif self.appendfsync == "always":
            meaning = "fsynced to the AOF before Redis acknowledges"
        elif self.appendfsync == "everysec":
            meaning = "in the AOF, fsynced every second: a host crash can lose about 1 s"
        else:
            meaning = "in the AOF, fsynced when the OS decides: a host crash can lose more"
        if self.wait_replicas:
            meaning += f"; acknowledged by {self.wait_replicas} replica(s) before append returns"
        return meaning

    def report(self) -> None:
        """Log it: a warning unless every acknowledged batch is fsynced by Redis."""
        fields: dict[str, Any] = {
            "appendonly": self.appendonly,
            "appendfsync": self.appendfsync,
            "wait_replicas": self.wait_replicas,
            "meaning": self.meaning,
        }
        if not structlog.is_configured():
            # A CLI command that configured no log pipeline: structlog's default would
            # print on standard output, into the command's own output (`grant --json`).
            # The standard library's last resort prints warnings on standard error.
            if not self.fsynced_before_ack:
                logging.getLogger("phasegate.audit").warning(
                    "audit_stream_durability %s", orjson.dumps(fields).decode()
                )
            return
        emit = _log.info if self.fsynced_before_ack else _log.warning
        emit("audit_stream_durability", **fields)

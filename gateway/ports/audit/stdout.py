"""The audit sink for log collectors: the chained records as JSON lines on standard output.

Lines. Each line is exactly a chained record's canonical JSON (`chain.canonical`), the
same bytes a JSONL segment holds, so a collector's copy verifies with the same chain
code (`verify_lines`). Nothing else is ever added to a line: no level, no timestamp,
no logger name. The application's own log lines go to standard error
(`gateway.edges.logging`), so this stream carries the audit chain alone.

Why not through structlog. A structlog logger writes one message per call through a
buffered file object. The sink needs more than that: one `write` per batch of
concurrent records (group commit), the exact count of bytes that reached the stream
when a write fails part-way (a buffered file object may keep the unwritten half and
emit it later, in the middle of the next chain), and an `fsync` before `append`
returns. So batches go to the file descriptor with `os.write`, in JSON lines that a
collector ingests like any structured log.

Chain. One chain per process, named `stdout/<random id>` in its checkpoints; it starts
at GENESIS and `close()` ends it with a (signed) checkpoint. A collector tells chains
apart by their first record, whose `prev_hash` is GENESIS. When a write fails
part-way, the sink knows to the byte what reached the stream: the next write first ends
the torn line with a newline, then seals the cut chain with a recovery checkpoint (as
the JSONL sink seals a dead writer's segment: `recovered`, and `torn_bytes` the length
of the torn line), then starts a new chain. Likewise after a failed fsync, when what
reaches the disk is unknown, the chain is sealed and a new one started.

Durability. `append` returns once its batch is written to the descriptor and, when it
is a regular file, fsynced. A pipe, socket or terminal cannot be fsynced: `fsync`
fails there with EINVAL, which is ignored, and only that. What the collector does with
the lines after that is up to the collector.

Failures. Any other OSError (EPIPE when the reader has gone, ENOSPC, EIO...) fails the
whole batch with `AuditUnavailable`. A write that blocks (a reader that stopped reading
a full pipe) fails its waiters after `write_timeout`; the blocked write finishes in the
background when the reader resumes, so the stream may hold records whose callers were
refused: the log may hold more than what happened, never less.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from gateway.core.audit.chain import GENESIS, Signer, canonical, checkpoint, link
from gateway.ports.audit.base import AuditUnavailable
from gateway.ports.audit.batching import GroupCommit

_T = TypeVar("_T")

STDOUT_FD: Final = 1
DEFAULT_WRITE_TIMEOUT: Final = 2.0


def _new_chain_name() -> str:
    return f"stdout/{secrets.token_hex(8)}"


@dataclass(slots=True)
class _Chain:
    """The chain being written; only the writer thread reads or changes it."""

    name: str = field(default_factory=_new_chain_name)
    records: int = 0
    last_hash: str = GENESIS


class _PartialWrite(OSError):
    """A write that failed after some of its bytes reached the stream."""

    def __init__(self, cause: OSError, written: int) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.written = written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            written += os.write(fd, view[written:])
        except OSError as error:
            if written:
                raise _PartialWrite(error, written) from error
            raise


def _sync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno != errno.EINVAL:  # a pipe, socket or terminal: nothing to sync
            raise


class StdoutSink:
    """An `AuditSink` writing the chain as JSON lines to standard output (or `fd`)."""

    def __init__(
        self,
        *,
        signer: Signer | None = None,
        fd: int = STDOUT_FD,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if fd == STDOUT_FD:
            # Anything printed through sys.stdout before must not land inside a line later.
            with suppress(OSError, ValueError):
                sys.stdout.flush()
        self._fd = fd
        self._signer = signer
        self._write_timeout = write_timeout
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-stdout")
        self._chain = _Chain()
        # The stream ends inside a line (a torn write): the next write ends it first.
        self._mid_line = False
        # The recovery checkpoint of a chain cut short, to be written before anything else.
        self._recovery: bytes | None = None
        self._batches = GroupCommit(self._commit, name="audit-stdout-flush")
        self._closed = False

    async def append(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise AuditUnavailable("the audit sink is closed")
        await self._batches.append(record)

    async def healthy(self) -> bool:
        return self._batches.last_batch_ok and not self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._batches.settle()
        try:
            await self._on_writer(self._seal)
        finally:
            self._executor.shutdown(wait=False)

    # On the event loop

    async def _commit(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        return await self._on_writer(lambda: self._write_batch(records))

    async def _on_writer(self, work: Callable[[], _T]) -> _T:
        pending = asyncio.get_running_loop().run_in_executor(self._executor, work)
        try:
            return await asyncio.wait_for(pending, self._write_timeout)
        except TimeoutError:
            raise AuditUnavailable(
                f"audit write to standard output blocked for over {self._write_timeout:g}s"
            ) from None

    # On the writer thread

    def _write_batch(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        problems: list[Exception | None] = []
        lines: list[bytes] = []
        hashes: list[str] = []
        last = self._chain.last_hash
        for record in records:
            try:
                linked = link(record, last)
                lines.append(canonical(linked) + b"\n")
            except TypeError as error:  # not JSON: that caller's bug, not the batch's
                problems.append(error)
                continue
            last = linked["hash"]
            hashes.append(last)
            problems.append(None)
        if lines:
            self._write(lines, hashes, sealing=False)
        return problems

    def _seal(self) -> None:
        chain = self._chain
        lines: list[bytes] = []
        hashes: list[str] = []
        if chain.records:
            closing = checkpoint(
                time=self._clock(),
                segment=chain.name,
                records=chain.records,
                last_hash=chain.last_hash,
                signer=self._signer,
            )
            linked = link(closing, chain.last_hash)
            lines, hashes = [canonical(linked) + b"\n"], [linked["hash"]]
        if lines or self._recovery:
            self._write(lines, hashes, sealing=True)

    def _write(self, lines: list[bytes], hashes: list[str], *, sealing: bool) -> None:
        """Write the chain's next lines (after a pending recovery), then sync; on failure
        leave the chain state as it is on the stream."""
        prefix = b"\n" if self._mid_line else b""
        recovery = self._recovery or b""
        try:
            _write_all(self._fd, b"".join([prefix, recovery, *lines]))
        except _PartialWrite as error:
            self._after_partial(error.written - len(prefix), recovery, lines, hashes, sealing)
            raise _unavailable(error) from error
        except OSError as error:
            raise _unavailable(error) from error
        self._mid_line = False
        self._recovery = None
        chain = self._chain
        if lines and not sealing:
            chain.records += len(lines)
            chain.last_hash = hashes[-1]
        try:
            _sync(self._fd)
        except OSError as error:
            if not sealing:
                # What reaches the disk is unknown now: seal the chain as it stands.
                self._cut(chain.records, chain.last_hash, torn_bytes=0)
            raise _unavailable(error) from error

    def _after_partial(
        self, landed: int, recovery: bytes, lines: list[bytes], hashes: list[str], sealing: bool
    ) -> None:
        """`landed` bytes after the newline prefix reached the stream."""
        if recovery:
            if landed < len(recovery):
                # A torn recovery line: that chain can no longer be sealed by the rules
                # of verification, which allow one torn line, right before the seal.
                self._recovery = None if landed > 0 else recovery
                self._mid_line = landed > 0
                return
            self._recovery = None
            landed -= len(recovery)
        whole = 0
        while whole < len(lines) and landed >= len(lines[whole]):
            landed -= len(lines[whole])
            whole += 1
        if whole == 0 and landed == 0:  # the chain's own lines did not start
            self._mid_line = False
            return
        chain = self._chain
        records = chain.records if sealing else chain.records + whole
        last = hashes[whole - 1] if whole and not sealing else chain.last_hash
        self._cut(records, last, torn_bytes=landed)
        self._mid_line = landed > 0

    def _cut(self, records: int, last_hash: str, *, torn_bytes: int) -> None:
        """End the chain here: its recovery checkpoint goes first in the next write."""
        closing = checkpoint(
            time=self._clock(),
            segment=self._chain.name,
            records=records,
            last_hash=last_hash,
            signer=self._signer,
            recovered=True,
            torn_bytes=torn_bytes,
        )
        self._recovery = canonical(link(closing, last_hash)) + b"\n"
        self._chain = _Chain()


def _unavailable(error: OSError) -> AuditUnavailable:
    return AuditUnavailable(f"audit write to standard output failed: {error.strerror or error}")

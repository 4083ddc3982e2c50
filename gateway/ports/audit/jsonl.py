"""The embedded audit sink: hash-chained JSON Lines files, group-committed and fsynced.

Files. Records go to segment files `audit-YYYY-MM-DD-NNNN.jsonl` (UTC day of the write,
sequence from 0001 within the day) in one directory. A segment is created with
O_CREAT|O_EXCL|O_APPEND and only ever appended to: nothing is truncated or rewritten,
and a restarted process (or a second process on the same directory) starts a segment
of its own. A segment is closed, with a checkpoint as its last line, when the next
record would take it past `max_segment_bytes` (a record larger than that gets a
segment to itself), when the UTC day changes, and on `close()`.

Crashes. A writer holds a flock on its open segment; the kernel drops it when the
process dies. Before opening a segment a writer seals every segment nobody holds with
a signed recovery checkpoint, which also accounts for a torn last line, so that only
segments still being written lack a checkpoint.

Chain. Each segment is a chain of its own: its first record links to `GENESIS`, every
other one to the record before it, and the closing checkpoint (signed when a signer is
given) states the count and last hash. So each file verifies on its own; a missing
whole segment shows as a gap in the sequence numbers (or an unsealed segment that is
not the newest), not in any chain.

Group commit (batching.py, shared with the other sinks). `append` queues the record
and waits. One flusher task takes everything queued, and on a single dedicated thread
chains it, writes it with one `write` and makes it durable with one `fsync` (more only
when the batch crosses a rotation); records that arrive meanwhile wait for the next
batch. Every waiter of a batch is released when its fsync returns, or gets
`AuditUnavailable` when any step of the batch failed.

Failures. Any OSError (ENOSPC, EACCES, EIO...) fails the whole batch. If nothing of the
batch reached the file, the segment stays in use; if part of it did (a torn line), or
the fsync failed, the segment is abandoned (to be sealed by a recovery checkpoint) and
the next batch starts a new one. The sink reports unhealthy from a failure until a batch succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from gateway.core.audit.chain import (
    CHECKPOINT,
    GENESIS,
    Signer,
    canonical,
    checkpoint,
    link,
    verify_lines,
)
from gateway.ports.audit.base import AuditUnavailable
from gateway.ports.audit.batching import GroupCommit

MiB: Final = 1024 * 1024
DEFAULT_MAX_SEGMENT_BYTES: Final = 64 * MiB
SEGMENT_PATTERN: Final = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})-(\d{4,})\.jsonl$")
_CREATE_FLAGS: Final = (
    os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
)
_FILE_MODE: Final = 0o640
# Held while creating a segment or sealing an abandoned one, so that a writer never
# sees another's segment between its creation and its flock.
DIRECTORY_LOCK: Final = ".lock"
# A checkpoint line is well under this; the tail read to tell sealed segments apart.
_TAIL_BYTES: Final = 8192


def segment_name(day: str, sequence: int) -> str:
    """The file name of a segment, e.g. `audit-2026-11-26-0001.jsonl`."""
    return f"audit-{day}-{sequence:04d}.jsonl"


def segment_in_use(path: Path) -> bool:
    """Whether a live writer holds the segment open: its writer keeps an exclusive
    `flock` on it from creation to sealing, which the kernel drops when the process
    dies, however it dies."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


@dataclass(slots=True)
class _Segment:
    """The open segment; only the writer thread reads or changes it."""

    fd: int
    name: str
    day: str
    size: int = 0
    records: int = 0
    last_hash: str = GENESIS


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class JsonlSink:
    """An `AuditSink` writing hash-chained JSONL segments; one per process and directory."""

    def __init__(
        self,
        directory: Path,
        *,
        signer: Signer | None = None,
        max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_segment_bytes <= 0:
            raise ValueError("max_segment_bytes must be positive")
        self._directory = directory
        self._signer = signer
        self._max_bytes = max_segment_bytes
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-jsonl")
        # Everything queued while a batch is on the disk goes together, with one fsync.
        self._group = GroupCommit(self._commit_batch, name="audit-jsonl-flush", max_batch=4096)
        self._segment: _Segment | None = None
        self._closed = False
        self._known_sealed: set[str] = set()

    @property
    def directory(self) -> Path:
        return self._directory

    async def append(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise AuditUnavailable("the audit sink is closed")
        await self._group.append(record)

    async def healthy(self) -> bool:
        return self._group.last_batch_ok and not self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._group.settle()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_segment)
        finally:
            self._executor.shutdown(wait=False)

    async def _commit_batch(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._write_batch, records)

    # On the writer thread

    def _write_batch(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        """Chain, write and fsync one batch; per record None or the error for a record
        that cannot be serialised. Raises AuditUnavailable for the whole batch."""
        try:
            return self._write_records(records)
        except OSError as error:
            raise AuditUnavailable(f"audit write failed: {error.strerror or error}") from error

    def _write_records(self, records: list[dict[str, Any]]) -> list[Exception | None]:
        now = self._clock()
        day = utc_day(now)
        segment = self._segment
        if segment is not None and segment.day != day:
            self._seal(segment, now)
            segment = None
        if segment is None:
            segment = self._open(day)
        problems: list[Exception | None] = []
        chunk = bytearray()
        count = 0
        last = segment.last_hash
        for record in records:
            try:
                line = canonical(linked := link(record, last)) + b"\n"
            except TypeError as error:  # not JSON: that caller's bug, not the batch's
                problems.append(error)
                continue
            if segment.records + count > 0 and segment.size + len(chunk) + len(line) > (
                self._max_bytes
            ):
                self._commit(segment, bytes(chunk), count, last)
                self._seal(segment, now)
                segment = self._open(day)
                chunk, count = bytearray(), 0
                line = canonical(linked := link(record, segment.last_hash)) + b"\n"
            chunk += line
            count += 1
            last = linked["hash"]
            problems.append(None)
        self._commit(segment, bytes(chunk), count, last)
        self._sync(segment)
        return problems

    def _commit(self, segment: _Segment, chunk: bytes, count: int, last_hash: str) -> None:
        """Write (not yet fsync) a chunk of chained lines to the segment."""
        if not chunk:
            return
        try:
            _write_all(segment.fd, chunk)
        except OSError:
            self._abandon_if_torn(segment)
            raise
        segment.size += len(chunk)
        segment.records += count
        segment.last_hash = last_hash

    def _sync(self, segment: _Segment) -> None:
        try:
            os.fsync(segment.fd)
        except OSError:
            # What reached the disk is unknown now: never write to this segment again.
            self._abandon(segment)
            raise

    def _seal(self, segment: _Segment, now: float) -> None:
        """End the segment with its checkpoint, make it durable and close it."""
        closing = checkpoint(
            time=now,
            segment=segment.name,
            records=segment.records,
            last_hash=segment.last_hash,
            signer=self._signer,
        )
        linked = link(closing, segment.last_hash)
        self._commit(segment, canonical(linked) + b"\n", 0, linked["hash"])
        self._sync(segment)
        self._abandon(segment)

    def _open(self, day: str) -> _Segment:
        self._directory.mkdir(parents=True, exist_ok=True)
        with _locked(self._directory / DIRECTORY_LOCK):
            self._seal_abandoned()
            sequence = self._next_sequence(day)
            while True:
                name = segment_name(day, sequence)
                try:
                    fd = os.open(self._directory / name, _CREATE_FLAGS, _FILE_MODE)
                except FileExistsError:  # another process took it first
                    sequence += 1
                    continue
                # Blocking: a reader's shared lock (segment_in_use) lasts microseconds.
                fcntl.flock(fd, fcntl.LOCK_EX)
                break
        segment = _Segment(fd=fd, name=name, day=day)
        self._segment = segment
        self._sync_directory(segment)
        return segment

    def _seal_abandoned(self) -> None:
        """Seal every segment whose writer died (or gave it up after a disk error) with a
        recovery checkpoint, so that only segments still being written lack one."""
        for path in sorted(self._directory.iterdir()):
            if path.name in self._known_sealed or not SEGMENT_PATTERN.match(path.name):
                continue
            if _ends_with_checkpoint(path) or _seal_if_abandoned(path, self._signer, self._clock):
                self._known_sealed.add(path.name)

    def _next_sequence(self, day: str) -> int:
        taken = [
            int(match.group(2))
            for path in self._directory.iterdir()
            if (match := SEGMENT_PATTERN.match(path.name)) and match.group(1) == day
        ]
        return max(taken, default=0) + 1

    def _sync_directory(self, segment: _Segment) -> None:
        """Make the new file's directory entry durable too."""
        try:
            fd = os.open(self._directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            self._abandon(segment)
            raise

    def _abandon_if_torn(self, segment: _Segment) -> None:
        try:
            size = os.fstat(segment.fd).st_size
        except OSError:
            size = -1
        if size != segment.size:
            self._abandon(segment)

    def _abandon(self, segment: _Segment) -> None:
        if self._segment is segment:
            self._segment = None
        fd, segment.fd = segment.fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _close_segment(self) -> None:
        if self._segment is None:
            return
        try:
            self._seal(self._segment, self._clock())
        except OSError as error:
            raise AuditUnavailable(f"audit close failed: {error.strerror or error}") from error


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), _FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ends_with_checkpoint(path: Path) -> bool:
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - _TAIL_BYTES))
        tail = file.read()
    if not tail.endswith(b"\n"):
        return False
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        record = orjson.loads(last)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("event") == CHECKPOINT


def _seal_if_abandoned(path: Path, signer: Signer | None, clock: Callable[[], float]) -> bool:
    """Seal an unsealed segment if no live writer holds it; whether it is sealed now.

    Only a segment whose complete lines form a sound chain is sealed: a damaged one is
    left as it is for `audit verify` to report, never blessed with a signature."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        data = path.read_bytes()
        complete, _, torn = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        if torn:
            # The last write may have stopped just before its newline: then it is a
            # whole record, and only the newline is missing.
            whole = verify_lines([*lines, torn])
            if whole.ok:
                lines, torn = [*lines, torn], b""
        report = verify_lines(lines)
        if not report.ok or report.sealed:
            return report.sealed
        closing = checkpoint(
            time=clock(),
            segment=path.name,
            records=report.records,
            last_hash=report.last_hash,
            signer=signer,
            recovered=True,
            torn_bytes=len(torn),
        )
        line = canonical(link(closing, report.last_hash)) + b"\n"
        _write_all(fd, (b"\n" if data and not data.endswith(b"\n") else b"") + line)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)

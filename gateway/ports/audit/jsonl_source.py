"""Reading the JSONL audit segments back: the embedded `AuditSource`.

Chains are the segment files, in (day, sequence) order. A segment may still be written
to when it is not sealed (its last line is not a checkpoint) and its writer holds its
lock (`segment_in_use`); the newest segment counts as possibly open too, for logs
written before writers took that lock.

Each chain's first and last times come from its first and last whole lines: two small
reads, however large the segment. Files are read in large blocks of whole lines
(`blocks`), which `gateway.core.audit.query.select` searches without splitting them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final

import orjson

from gateway.ports.audit.base import Chain
from gateway.ports.audit.jsonl import SEGMENT_PATTERN, segment_in_use
from gateway.ports.audit.reading import may_hold

MiB: Final = 1024 * 1024
DEFAULT_BLOCK_BYTES: Final = 16 * MiB
# The first read at either end of a segment; longer lines (a long prompt) take more.
_PROBE_BYTES: Final = 64 * 1024
# A canonical checkpoint line starts so, as no key of it sorts before "event"; testing
# the start keeps a request whose params hold the same bytes from passing for one.
_CHECKPOINT_START: Final = b'{"event":"checkpoint",'


class JsonlSource:
    """An `AuditSource` over one directory of segment files (see `JsonlSink`)."""

    def __init__(self, directory: Path, *, block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        if block_bytes <= 0:
            raise ValueError("block_bytes must be positive")
        self._directory = directory
        self._block_bytes = block_bytes

    @property
    def directory(self) -> Path:
        return self._directory

    def chains(self) -> list[Chain]:
        """Raises FileNotFoundError when the directory does not exist."""
        names = self._segment_names()
        chains = []
        for name in names:
            chain = self._chain(name, newest=name == names[-1])
            if chain is not None:
                chains.append(chain)
        return chains

    def lines(self, chain: Chain) -> Iterator[bytes]:
        for block in self.blocks(chain):
            lines = block.split(b"\n")
            if not lines[-1]:
                lines.pop()
            yield from lines

    def blocks(self, chain: Chain) -> Iterator[bytes]:
        """The chain's content in blocks of whole lines, each ending with a newline but
        for a torn last line, which comes alone as the last block."""
        try:
            file = (self._directory / chain.name).open("rb", buffering=0)
        except FileNotFoundError:
            return
        with file:
            rest = b""
            while data := file.read(self._block_bytes):
                cut = data.rfind(b"\n") + 1
                if not cut:
                    rest += data
                    continue
                if rest:
                    yield b"".join((rest, memoryview(data)[:cut]))
                else:
                    yield data if cut == len(data) else data[:cut]
                rest = data[cut:]
            if rest:
                yield rest

    def scan(self, *, since: str | None = None, until: str | None = None) -> Iterator[bytes]:
        for chain in self.chains():
            if may_hold(chain, since, until):
                yield from self.lines(chain)

    def follow(self, *, poll_seconds: float = 0.5) -> Iterator[bytes]:
        """Lines appended after this call (the sizes are taken now, not at the first
        `next`), whole lines only: a line still being written waits for its newline."""
        offsets: dict[str, int] = {}
        done: set[str] = set()
        for name in self._segment_names(missing_ok=True):
            found = self._whole_size(name)
            if found is None:
                continue
            # From the end of the last whole line: a line being written now is new.
            offsets[name], sealed = found
            if sealed:
                done.add(name)
        return self._follow(offsets, done, poll_seconds)

    # Inside

    def _segment_names(self, *, missing_ok: bool = False) -> list[str]:
        try:
            entries = os.listdir(self._directory)
        except FileNotFoundError:
            if missing_ok:
                return []
            raise FileNotFoundError(
                2, "no audit log (no such directory)", str(self._directory)
            ) from None
        found = [
            (match.group(1), int(match.group(2)), name)
            for name in entries
            if (match := SEGMENT_PATTERN.match(name))
        ]
        return [name for _, _, name in sorted(found)]

    def _chain(self, name: str, *, newest: bool) -> Chain | None:
        path = self._directory / name
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                first = _head(file)
                last, whole = _tail(file, size)
        except FileNotFoundError:
            return None
        sealed = whole == size and _is_checkpoint(last)
        return Chain(
            name=name,
            may_be_open=not sealed and (newest or segment_in_use(path)),
            first_time=_time_of(first),
            last_time=_time_of(last),
        )

    def _whole_size(self, name: str) -> tuple[int, bool] | None:
        """Where the segment's whole lines end, and whether it is sealed; None when it
        is gone."""
        try:
            with (self._directory / name).open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                last, whole = _tail(file, size)
        except FileNotFoundError:
            return None
        return whole, whole == size and _is_checkpoint(last)

    def _follow(
        self, offsets: dict[str, int], done: set[str], poll_seconds: float
    ) -> Iterator[bytes]:
        partial: dict[str, bytes] = {}
        while True:
            for name in self._segment_names(missing_ok=True):
                if name in done:
                    continue
                for line in self._appended(name, offsets, partial):
                    yield line
                    if _is_checkpoint(line):
                        # A sealed segment is never written again.
                        done.add(name)
            time.sleep(poll_seconds)

    def _appended(
        self, name: str, offsets: dict[str, int], partial: dict[str, bytes]
    ) -> list[bytes]:
        start = offsets.get(name, 0)
        try:
            with (self._directory / name).open("rb") as file:
                file.seek(start)
                data = file.read()
        except FileNotFoundError:
            return []
        if not data:
            return []
        offsets[name] = start + len(data)
        data = partial.pop(name, b"") + data
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            partial[name] = data[cut:]
        return data[:cut].split(b"\n")[:-1] if cut else []


def _head(file: BinaryIO) -> bytes | None:
    """The first whole line, or None when there is none yet."""
    file.seek(0)
    data = b""
    while more := file.read(max(_PROBE_BYTES, len(data))):
        data += more
        end = data.find(b"\n")
        if end >= 0:
            return data[:end]
    return None


def _tail(file: BinaryIO, size: int) -> tuple[bytes | None, int]:
    """The last whole line (None when there is none) of the file's first `size` bytes,
    and where whole lines end: `size` unless a line is torn or half-written."""
    window = _PROBE_BYTES
    while True:
        start = max(0, size - window)
        file.seek(start)
        data = file.read(size - start)
        last = data.rfind(b"\n")
        if last >= 0:
            before = data.rfind(b"\n", 0, last)
            if before >= 0 or start == 0:
                return data[before + 1 : last], start + last + 1
        elif start == 0:
            return None, 0
        window *= 2


def _is_checkpoint(line: bytes | None) -> bool:
    return line is not None and line.startswith(_CHECKPOINT_START)


def _time_of(line: bytes | None) -> str | None:
    if line is None:
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    time = record.get("time") if isinstance(record, dict) else None
    return time if isinstance(time, str) else None

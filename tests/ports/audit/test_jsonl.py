from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.core.audit.chain import (
    GENESIS,
    ChainReport,
    canonical,
    es256_signer,
    link,
    verify_lines,
)
from gateway.core.keys import SigningKey, new_key
from gateway.ports.audit import AuditSink, AuditUnavailable, JsonlSink

DAY = 1_795_000_000.0  # 2026-11-18T11:06:40Z
NEXT_DAY = DAY + 86_400


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_stored(new_key(0.0))


def _record(n: int, prompt: str = "a lighthouse at dawn") -> dict[str, Any]:
    return {"schema": 1, "event": "generation_request", "n": n, "prompt": prompt}


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-*.jsonl"))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _verify(path: Path, key: SigningKey | None = None) -> ChainReport:
    keys: dict[str, ec.EllipticCurvePublicKey] | None = (
        None if key is None else {key.kid: key.public}
    )
    return verify_lines(path.read_bytes().splitlines(), public_keys=keys)


def _counting_fsync(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        if delay:
            time.sleep(delay)
        real(fd)

    monkeypatch.setattr("gateway.ports.audit.jsonl.os.fsync", fsync)
    return calls


async def test_the_sink_satisfies_the_port(tmp_path: Path) -> None:
    """JsonlSink is an AuditSink and starts healthy."""
    sink: AuditSink = JsonlSink(tmp_path)
    assert await sink.healthy()
    await sink.close()
    assert not await sink.healthy()


async def test_a_record_is_in_the_file_when_append_returns(tmp_path: Path) -> None:
    """Once append returns, the chained record is on its line in the segment."""
    sink = JsonlSink(tmp_path, clock=lambda: DAY)
    await sink.append(_record(1))
    [segment] = _segments(tmp_path)
    assert segment.name == "audit-2026-11-18-0001.jsonl"
    [line] = _lines(segment)
    assert line["n"] == 1
    assert line["prev_hash"] == GENESIS
    assert _verify(segment).ok
    await sink.close()


async def test_append_waits_for_the_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """append does not return before the fsync of its batch has returned."""
    calls = _counting_fsync(monkeypatch)
    sink = JsonlSink(tmp_path)
    await sink.append(_record(1))
    first = len(calls)
    assert first >= 1
    await sink.append(_record(2))
    assert len(calls) == first + 1
    await sink.close()


async def test_concurrent_appends_share_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 concurrent appends are made durable with far fewer fsyncs than records."""
    calls = _counting_fsync(monkeypatch, delay=0.005)
    sink = JsonlSink(tmp_path)
    await asyncio.gather(*(sink.append(_record(n)) for n in range(200)))
    assert len(calls) <= 20
    [segment] = _segments(tmp_path)
    assert [line["n"] for line in _lines(segment)] == list(range(200))
    report = _verify(segment)
    assert (report.ok, report.records) == (True, 200)
    await sink.close()


async def test_the_loop_keeps_running_during_a_slow_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk does not block the event loop: other tasks run meanwhile."""
    _counting_fsync(monkeypatch, delay=0.2)
    sink = JsonlSink(tmp_path)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await sink.append(_record(1))
    ticker.cancel()
    assert ticks >= 5
    await sink.close()


async def test_segments_rotate_by_size(tmp_path: Path, key: SigningKey) -> None:
    """A segment is sealed and a new one started before it would exceed the size limit."""
    signer = es256_signer(key.kid, key.private)
    sink = JsonlSink(tmp_path, signer=signer, max_segment_bytes=1000, clock=lambda: DAY)
    for n in range(30):
        await sink.append(_record(n))
    await sink.close()
    segments = _segments(tmp_path)
    assert len(segments) >= 3
    numbers: list[int] = []
    for segment in segments:
        lines = _lines(segment)
        records = [line for line in lines if line["event"] != "checkpoint"]
        checkpoint_line = segment.read_bytes().splitlines(keepends=True)[-1]
        assert segment.stat().st_size - len(checkpoint_line) <= 1000
        assert lines[-1]["event"] == "checkpoint"
        assert lines[-1]["segment"] == segment.name
        report = _verify(segment, key)
        assert (report.ok, report.sealed) == (True, True)
        numbers += [line["n"] for line in records]
    assert numbers == list(range(30))
    assert [s.name[-10:] for s in segments[:3]] == ["0001.jsonl", "0002.jsonl", "0003.jsonl"]


async def test_a_record_larger_than_a_segment_gets_one_alone(tmp_path: Path) -> None:
    """An oversized record is still written, alone in its segment."""
    sink = JsonlSink(tmp_path, max_segment_bytes=100, clock=lambda: DAY)
    await sink.append(_record(1, "x" * 500))
    await sink.append(_record(2, "x" * 500))
    await sink.close()
    segments = _segments(tmp_path)
    assert len(segments) == 2
    assert all(_verify(segment).records == 1 for segment in segments)


async def test_segments_rotate_at_the_utc_day(tmp_path: Path) -> None:
    """A write on a new UTC day seals yesterday's segment and starts a dated new one."""
    now = [DAY]
    sink = JsonlSink(tmp_path, clock=lambda: now[0])
    await sink.append(_record(1))
    now[0] = NEXT_DAY
    await sink.append(_record(2))
    first, second = _segments(tmp_path)
    assert first.name == "audit-2026-11-18-0001.jsonl"
    assert second.name == "audit-2026-11-19-0001.jsonl"
    assert _verify(first).sealed
    assert not _verify(second).sealed
    await sink.close()
    assert _verify(second).sealed


async def test_an_existing_segment_is_never_reopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment file that exists is left untouched; the sink takes the next number."""
    existing = tmp_path / "audit-2026-11-18-0001.jsonl"
    existing.write_bytes(b'{"old":1}\n')
    flags: list[int] = []
    real_open = os.open

    def spy_open(path: Any, flag: int, mode: int = 0o777) -> int:
        flags.append(flag)
        return real_open(path, flag, mode)

    monkeypatch.setattr("gateway.ports.audit.jsonl.os.open", spy_open)
    sink = JsonlSink(tmp_path, clock=lambda: DAY)
    await sink.append(_record(1))
    await sink.close()
    assert existing.read_bytes() == b'{"old":1}\n'
    assert [s.name for s in _segments(tmp_path)][-1] == "audit-2026-11-18-0002.jsonl"
    writes = [flag for flag in flags if flag & os.O_WRONLY]
    assert writes
    assert all(flag & os.O_EXCL and flag & os.O_APPEND for flag in writes)
    assert not any(flag & os.O_TRUNC for flag in flags)


async def test_a_restart_starts_a_new_segment(tmp_path: Path) -> None:
    """A second sink on the same directory leaves the first one's segment as it was."""
    first = JsonlSink(tmp_path, clock=lambda: DAY)
    await first.append(_record(1))
    await first.close()
    [closed] = _segments(tmp_path)
    before = closed.read_bytes()
    second = JsonlSink(tmp_path, clock=lambda: DAY)
    await second.append(_record(2))
    await second.close()
    assert closed.read_bytes() == before
    assert [s.name for s in _segments(tmp_path)] == [
        "audit-2026-11-18-0001.jsonl",
        "audit-2026-11-18-0002.jsonl",
    ]
    assert all(_verify(segment).sealed for segment in _segments(tmp_path))


async def test_a_directory_that_cannot_exist_is_unavailable(tmp_path: Path) -> None:
    """A directory path under a regular file gives AuditUnavailable and an unhealthy sink."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    sink = JsonlSink(blocker / "audit")
    with pytest.raises(AuditUnavailable):
        await sink.append(_record(1))
    assert not await sink.healthy()
    await sink.close()


def _failing_write(code: int) -> Callable[[int, Any], int]:
    def write(fd: int, data: Any) -> int:
        raise OSError(code, os.strerror(code))

    return write


async def test_a_full_disk_fails_every_waiter_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC fails every waiter of the batch; the sink is unhealthy until a write succeeds."""
    sink = JsonlSink(tmp_path, clock=lambda: DAY)
    await sink.append(_record(0))
    with monkeypatch.context() as patch:
        patch.setattr("gateway.ports.audit.jsonl.os.write", _failing_write(errno.ENOSPC))
        results = await asyncio.gather(
            *(sink.append(_record(n)) for n in range(1, 11)), return_exceptions=True
        )
        assert all(isinstance(result, AuditUnavailable) for result in results)
        assert not await sink.healthy()
    await sink.append(_record(11))
    assert await sink.healthy()
    await sink.close()
    [segment] = _segments(tmp_path)  # nothing of the failed batch reached it: kept in use
    assert [line["n"] for line in _lines(segment) if "n" in line] == [0, 11]
    assert _verify(segment).sealed


async def test_a_failed_fsync_abandons_the_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed fsync the segment is never written again; the next one starts anew."""
    sink = JsonlSink(tmp_path, clock=lambda: DAY)
    await sink.append(_record(0))

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    with monkeypatch.context() as patch:
        patch.setattr("gateway.ports.audit.jsonl.os.fsync", broken)
        with pytest.raises(AuditUnavailable):
            await sink.append(_record(1))
    await sink.append(_record(2))
    await sink.close()
    first, second = _segments(tmp_path)
    # The given-up segment is sealed by the writer's next segment, as recovered.
    assert (_verify(first).ok, _verify(first).sealed) == (True, True)
    assert _lines(first)[-1]["recovered"] is True
    assert [line["n"] for line in _lines(second) if "n" in line] == [2]
    assert _verify(second).sealed


async def test_a_record_that_is_not_json_fails_only_its_caller(tmp_path: Path) -> None:
    """A record that cannot be serialised fails its own append, not its batch mates."""
    sink = JsonlSink(tmp_path)
    results = await asyncio.gather(
        sink.append(_record(1)),
        sink.append({"event": "bad", "value": object()}),
        sink.append(_record(2)),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], TypeError)
    assert results[2] is None
    await sink.close()
    [segment] = _segments(tmp_path)
    assert _verify(segment).records == 2


async def test_close_seals_with_a_signed_checkpoint(tmp_path: Path, key: SigningKey) -> None:
    """close writes a checkpoint signed with the gateway's key that verification accepts."""
    sink = JsonlSink(tmp_path, signer=es256_signer(key.kid, key.private), clock=lambda: DAY)
    await asyncio.gather(*(sink.append(_record(n)) for n in range(5)))
    await sink.close()
    [segment] = _segments(tmp_path)
    closing = _lines(segment)[-1]
    assert closing["event"] == "checkpoint"
    assert (closing["records"], closing["kid"]) == (5, key.kid)
    report = _verify(segment, key)
    assert (report.ok, report.sealed, report.records) == (True, True, 5)
    other = SigningKey.from_stored(new_key(0.0))
    assert _verify(segment, other).kind == "bad_signature"


async def test_append_after_close_is_refused(tmp_path: Path) -> None:
    """A closed sink takes no more records, and closing twice is harmless."""
    sink = JsonlSink(tmp_path)
    await sink.close()
    await sink.close()
    with pytest.raises(AuditUnavailable):
        await sink.append(_record(1))
    assert _segments(tmp_path) == []


_DYING_WRITER = """
import asyncio, os, signal, sys
from pathlib import Path
from gateway.ports.audit import JsonlSink

async def main() -> None:
    sink = JsonlSink(Path(sys.argv[1]))
    for n in range(int(sys.argv[2])):
        await sink.append({"schema": 1, "event": "generation_request", "n": n})
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def _die_writing(directory: Path, records: int) -> Path:
    """A writer process killed with SIGKILL after `records` durable records."""
    subprocess.run([sys.executable, "-c", _DYING_WRITER, str(directory), str(records)], check=False)
    [segment] = _segments(directory)
    return segment


async def test_a_dead_writers_segment_is_sealed_by_the_next_writer(
    tmp_path: Path, key: SigningKey
) -> None:
    """A segment left open by a killed writer gets a signed recovery checkpoint."""
    dead = _die_writing(tmp_path, 3)
    assert not _verify(dead).sealed
    sink = JsonlSink(tmp_path, signer=es256_signer(key.kid, key.private))
    await sink.append(_record(9))
    closing = _lines(dead)[-1]
    assert (closing["event"], closing["recovered"], closing["torn_bytes"]) == (
        "checkpoint",
        True,
        0,
    )
    report = _verify(dead, key)
    assert (report.ok, report.sealed, report.records) == (True, True, 3)
    await sink.close()


async def test_a_torn_last_line_is_sealed_over_and_still_verifies(
    tmp_path: Path, key: SigningKey
) -> None:
    """A write cut short by the death stays as it is; the checkpoint states its length."""
    dead = _die_writing(tmp_path, 2)
    torn = b'{"event":"generation_request","n":2,"prompt":"a lighth'
    with dead.open("ab") as file:
        file.write(torn)
    sink = JsonlSink(tmp_path, signer=es256_signer(key.kid, key.private))
    await sink.append(_record(9))
    await sink.close()
    lines = dead.read_bytes().splitlines()
    assert lines[-2] == torn
    assert orjson.loads(lines[-1])["torn_bytes"] == len(torn)
    report = _verify(dead, key)
    assert (report.ok, report.sealed, report.records) == (True, True, 2)
    # The torn line's length is signed: a different torn line does not pass.
    forged = b"\n".join([*lines[:-2], torn + b"xx", lines[-1]])
    assert verify_lines(forged.splitlines(), public_keys={key.kid: key.public}).kind == (
        "malformed"
    )


async def test_a_record_missing_only_its_newline_counts_as_written(tmp_path: Path) -> None:
    """A whole last record without its newline is kept in the chain, not called torn."""
    dead = _die_writing(tmp_path, 1)
    whole = orjson.loads(dead.read_bytes().splitlines()[-1])
    with dead.open("ab") as file:
        file.write(canonical(link(_record(1), whole["hash"])))
    sink = JsonlSink(tmp_path)
    await sink.append(_record(9))
    await sink.close()
    closing = _lines(dead)[-1]
    assert (closing["records"], closing["torn_bytes"]) == (2, 0)
    assert _verify(dead).ok


async def test_a_live_writers_segment_is_left_alone(tmp_path: Path) -> None:
    """Another writer's open segment is never sealed under it."""
    first = JsonlSink(tmp_path, clock=lambda: DAY)
    await first.append(_record(1))
    [open_segment] = _segments(tmp_path)
    second = JsonlSink(tmp_path, clock=lambda: DAY)
    await second.append(_record(2))
    assert not _verify(open_segment).sealed
    await first.append(_record(3))
    await first.close()
    await second.close()
    assert [_verify(segment).records for segment in _segments(tmp_path)] == [2, 1]
    assert all(_verify(segment).sealed for segment in _segments(tmp_path))


async def test_a_damaged_abandoned_segment_is_not_blessed(tmp_path: Path) -> None:
    """A dead writer's segment whose chain is broken gets no checkpoint."""
    dead = _die_writing(tmp_path, 3)
    lines = dead.read_bytes().splitlines()
    dead.write_bytes(b"\n".join([lines[0], lines[2]]) + b"\n")
    sink = JsonlSink(tmp_path)
    await sink.append(_record(9))
    await sink.close()
    report = _verify(dead)
    assert (report.ok, report.kind, report.sealed) == (False, "deleted", False)

"""Reading JSONL segments back (`JsonlSource`), and reading any source in time order."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.core.audit.chain import GENESIS, canonical, checkpoint, link
from gateway.core.audit.query import Query
from gateway.core.audit.records import format_time
from gateway.ports.audit import AuditSource, JsonlSink, JsonlSource, open_audit_source
from gateway.ports.audit.base import Chain
from gateway.ports.audit.reading import ReadsBlocks, matching, may_hold, newest
from tests.support.clock import FakeClock

DAY = 1_795_000_000.0  # 2026-11-18T11:06:40Z
HOUR = 3600.0


def _record(n: int, at: float, **extra: Any) -> dict[str, Any]:
    return {
        "schema": 1,
        "event": "generation_request",
        "time": format_time(at),
        "n": n,
        "principal": f"p{n % 3}",
        **extra,
    }


async def _append(sink: JsonlSink, clock: FakeClock, records: list[dict[str, Any]]) -> None:
    """Appended by the real sink, its clock reading each record's own time."""
    for record in records:
        clock.now = datetime.fromisoformat(record["time"]).timestamp()
        await sink.append(record)


async def _write(directory: Path, records: list[dict[str, Any]]) -> None:
    clock = FakeClock(DAY)
    sink = JsonlSink(directory, clock=clock)
    await _append(sink, clock, records)
    await sink.close()


def _segment(directory: Path, name: str, records: list[dict[str, Any]], *, seal: bool) -> Path:
    """A segment written by hand: as a writer that died (or an older one) left it."""
    directory.mkdir(parents=True, exist_ok=True)
    lines, last = [], GENESIS
    for record in records:
        linked = link(record, last)
        lines.append(canonical(linked))
        last = linked["hash"]
    if seal:
        closing = checkpoint(
            time=DAY, segment=name, records=len(records), last_hash=last, signer=None
        )
        lines.append(canonical(link(closing, last)))
    path = directory / name
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _ns(matches: Iterator[Any]) -> list[Any]:
    return [match.record.get("n", match.record["event"]) for match in matches]


def test_the_source_satisfies_the_port_and_is_opened_by_url(tmp_path: Path) -> None:
    source: AuditSource = JsonlSource(tmp_path)
    assert isinstance(source, ReadsBlocks)
    opened = open_audit_source(f"file://{tmp_path}")
    assert isinstance(opened, JsonlSource)
    assert opened.directory == tmp_path


def test_a_log_that_cannot_be_read_back_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="cannot be read back yet"):
        open_audit_source("stdout://")


def test_a_missing_directory_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        JsonlSource(tmp_path / "nowhere").chains()
    assert raised.value.filename == str(tmp_path / "nowhere")
    assert JsonlSource(tmp_path).chains() == []


async def test_chains_are_segments_in_day_and_sequence_order(tmp_path: Path) -> None:
    """Sequence 10 sorts after 9, and days in order; times come from the lines."""
    for sequence in (9, 10):
        _segment(
            tmp_path,
            f"audit-2026-11-18-{sequence:04d}.jsonl",
            [_record(sequence, DAY + sequence)],
            seal=True,
        )
    _segment(tmp_path, "audit-2026-11-17-0003.jsonl", [_record(3, DAY - 86_400)], seal=True)
    (tmp_path / "notes.txt").write_text("not a segment")
    chains = JsonlSource(tmp_path).chains()
    assert [c.name for c in chains] == [
        "audit-2026-11-17-0003.jsonl",
        "audit-2026-11-18-0009.jsonl",
        "audit-2026-11-18-0010.jsonl",
    ]
    assert chains[1].first_time == format_time(DAY + 9)
    assert chains[1].last_time == format_time(DAY)  # the checkpoint, stamped DAY here
    assert not any(c.may_be_open for c in chains)


async def test_which_chains_may_still_be_written(tmp_path: Path) -> None:
    """Open: held by a live writer, or the newest unsealed one; an older unsealed segment
    that nobody holds is not."""
    _segment(tmp_path, "audit-2026-11-18-0001.jsonl", [_record(1, DAY)], seal=False)
    _segment(tmp_path, "audit-2026-11-18-0002.jsonl", [_record(2, DAY)], seal=True)
    _segment(tmp_path, "audit-2026-11-18-0003.jsonl", [_record(3, DAY)], seal=False)
    before = {c.name: c.may_be_open for c in JsonlSource(tmp_path).chains()}
    assert before == {
        "audit-2026-11-18-0001.jsonl": False,
        "audit-2026-11-18-0002.jsonl": False,
        "audit-2026-11-18-0003.jsonl": True,
    }
    live = JsonlSink(tmp_path / "live", clock=lambda: DAY)
    await live.append(_record(4, DAY))
    _segment(tmp_path / "live", "audit-2026-11-18-0009.jsonl", [_record(5, DAY)], seal=True)
    held = {c.name: c.may_be_open for c in JsonlSource(tmp_path / "live").chains()}
    # The live writer's segment is not the newest, and is open all the same.
    assert held == {"audit-2026-11-18-0001.jsonl": True, "audit-2026-11-18-0009.jsonl": False}
    await live.close()
    closed = {c.name: c.may_be_open for c in JsonlSource(tmp_path / "live").chains()}
    assert closed == {"audit-2026-11-18-0001.jsonl": False, "audit-2026-11-18-0009.jsonl": False}


async def test_lines_and_blocks_give_the_file_back_whatever_the_block_size(tmp_path: Path) -> None:
    records = [_record(n, DAY + n, prompt="x" * (n * 37)) for n in range(40)]
    await _write(tmp_path, records)
    [chain] = JsonlSource(tmp_path).chains()
    content = (tmp_path / chain.name).read_bytes()
    for size in (1, 50, 4096, 1 << 20):
        source = JsonlSource(tmp_path, block_bytes=size)
        blocks = list(source.blocks(chain))
        assert b"".join(blocks) == content
        assert all(block.endswith(b"\n") for block in blocks)
        assert list(source.lines(chain)) == content.splitlines()


def test_a_torn_last_line_is_passed_on_as_it_is(tmp_path: Path) -> None:
    path = _segment(tmp_path, "audit-2026-11-18-0001.jsonl", [_record(1, DAY)], seal=False)
    with path.open("ab") as file:
        file.write(b'{"event":"generation_req')
    source = JsonlSource(tmp_path, block_bytes=16)
    [chain] = source.chains()
    assert list(source.lines(chain))[-1] == b'{"event":"generation_req'
    assert chain.last_time == format_time(DAY)
    assert chain.may_be_open  # the newest, unsealed


async def test_scan_skips_chains_outside_the_range_and_keeps_the_rest(tmp_path: Path) -> None:
    await _write(tmp_path, [_record(1, DAY), _record(2, DAY + 60)])
    await _write(tmp_path, [_record(3, DAY + 2 * 86_400)])
    source = JsonlSource(tmp_path)
    late = format_time(DAY + 86_400)
    lines = list(source.scan(since=late))
    assert [orjson.loads(line).get("n") for line in lines] == [3, None]  # and its checkpoint
    early = list(source.scan(until=format_time(DAY + 30)))
    assert [orjson.loads(line).get("n") for line in early] == [1, 2, None]
    assert len(list(source.scan())) == 5


def test_may_hold_keeps_open_chains_and_allows_for_clock_slack() -> None:
    a_day = Chain(
        "c", may_be_open=False, first_time=format_time(DAY), last_time=format_time(DAY + HOUR)
    )
    assert may_hold(a_day, format_time(DAY + HOUR + 60), None)  # within the slack
    assert not may_hold(a_day, format_time(DAY + 2 * HOUR), None)
    assert not may_hold(a_day, None, format_time(DAY - HOUR))
    assert may_hold(a_day, None, format_time(DAY + 1))
    still_open = Chain(
        "c", may_be_open=True, first_time=a_day.first_time, last_time=a_day.last_time
    )
    assert may_hold(still_open, format_time(DAY + 2 * HOUR), None)
    unknown = Chain("c", may_be_open=False)
    assert may_hold(unknown, format_time(DAY), format_time(DAY + 1))


async def test_matching_merges_overlapping_chains_by_time(tmp_path: Path) -> None:
    """An admin's segment written while the gateway's was open comes out in its place."""
    clock = FakeClock(DAY)
    gateway = JsonlSink(tmp_path, clock=clock)
    await _append(gateway, clock, [_record(n, DAY + n) for n in (1, 2, 3)])
    grant = _record(25, DAY + 2.5, event="grant")
    _segment(tmp_path, "audit-2026-11-18-0002.jsonl", [grant], seal=True)
    await _append(gateway, clock, [_record(n, DAY + n) for n in (4, 5)])
    await gateway.close()
    source = JsonlSource(tmp_path)
    assert _ns(matching(source, Query())) == [1, 2, 25, 3, 4, 5]
    assert sorted(_ns(matching(source, Query(), ordered=False))) == [1, 2, 3, 4, 5, 25]
    assert _ns(matching(source, Query(principals=frozenset({"p1"})))) == [1, 25, 4]


async def test_matching_reads_only_chains_that_may_hold_the_range(tmp_path: Path) -> None:
    await _write(tmp_path, [_record(1, DAY)])
    await _write(tmp_path, [_record(2, DAY + 10 * HOUR)])
    source = JsonlSource(tmp_path)
    opened: list[str] = []
    real_blocks = source.blocks

    def counting(chain: Chain) -> Iterator[bytes]:
        opened.append(chain.name)
        return real_blocks(chain)

    source.blocks = counting  # type: ignore[method-assign]
    found = _ns(matching(source, Query(since=format_time(DAY + 9 * HOUR))))
    assert found == [2]
    assert opened == [source.chains()[1].name]


async def test_newest_takes_the_last_records_in_time_order_across_chains(tmp_path: Path) -> None:
    clock = FakeClock(DAY)
    gateway = JsonlSink(tmp_path, clock=clock)
    await _append(gateway, clock, [_record(n, DAY + n) for n in range(30)])
    grant = _record(100, DAY + 5, event="grant")
    _segment(tmp_path, "audit-2026-11-18-0002.jsonl", [grant], seal=True)
    await _append(gateway, clock, [_record(30, DAY + 30)])
    source = JsonlSource(tmp_path)
    # The grant's segment is the newest file, but its record is older than these.
    assert _ns(iter(newest(source, 4))) == [27, 28, 29, 30]
    clock.now = DAY + 31
    await gateway.close()
    assert _ns(iter(newest(source, 3))) == [29, 30, "checkpoint"]
    assert len(newest(source, 500)) == 31 + 1 + 2  # records, the grant, two checkpoints


def _next_within(lines: Iterator[bytes], seconds: float = 10.0) -> bytes:
    # A daemon thread: a follow that never yields fails the test instead of hanging it.
    box: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: box.put(next(lines)), daemon=True).start()
    return box.get(timeout=seconds)


async def test_follow_yields_whole_lines_appended_after_the_call(tmp_path: Path) -> None:
    path = _segment(tmp_path, "audit-2026-11-18-0001.jsonl", [_record(1, DAY)], seal=False)
    with path.open("ab") as file:
        file.write(b'{"half":')  # being written while following starts
    lines = JsonlSource(tmp_path).follow(poll_seconds=0.01)
    with path.open("ab") as file:
        file.write(b'"done"}\n{"second":')
    assert _next_within(lines) == b'{"half":"done"}'

    def finish_later() -> None:
        time.sleep(0.05)
        with path.open("ab") as file:
            file.write(b'"line"}\n')

    writer = threading.Thread(target=finish_later)
    writer.start()
    assert _next_within(lines) == b'{"second":"line"}'
    writer.join()
    # A new segment is picked up from its first line.
    await _write(tmp_path, [_record(7, DAY + 7)])
    assert orjson.loads(_next_within(lines))["n"] == 7
    assert orjson.loads(_next_within(lines))["event"] == "checkpoint"

"""The stdout audit sink: chained JSON lines on a descriptor, for log collectors."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.core.audit.chain import GENESIS, es256_signer, verify_lines
from gateway.core.keys import SigningKey, new_key
from gateway.ports.audit import AuditSink, AuditUnavailable, StdoutSink, open_audit_sink
from tests.support.processes import (
    PHASEGATE,
    POLICIES,
    grant_credential,
    process,
    run,
    wait_ready,
)
from tests.support.servers import free_port

VIDEO = {"model": "sora-2", "prompt": "a paper boat on a canal", "seconds": "4"}


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.from_stored(new_key(0.0))


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):  # a test may have closed it already
            os.close(fd)


def _record(n: int) -> dict[str, Any]:
    return {"schema": 1, "event": "generation_request", "n": n, "prompt": "a kite"}


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def _fill(fd: int) -> None:
    """Fill the pipe until a write would block."""
    os.set_blocking(fd, False)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)


def _counting_writes(monkeypatch: pytest.MonkeyPatch, fd: int) -> list[int]:
    sizes: list[int] = []
    real = os.write

    def write(target: int, data: bytes | memoryview) -> int:
        if target == fd:
            sizes.append(len(data))
            time.sleep(0.002)  # a slow reader: records pile up behind the write
        return real(target, data)

    monkeypatch.setattr("gateway.ports.audit.stdout.os.write", write)
    return sizes


async def test_the_sink_satisfies_the_port(pipe: tuple[int, int]) -> None:
    sink: AuditSink = StdoutSink(fd=pipe[1])
    assert await sink.healthy()
    await sink.close()
    assert not await sink.healthy()
    with pytest.raises(AuditUnavailable):
        await sink.append(_record(1))


def test_the_url_is_stdout_with_nothing_after_it() -> None:
    with pytest.raises(ValueError, match="nothing after it"):
        open_audit_sink("stdout://somewhere", signer=None)


async def test_lines_are_the_chained_records_and_verify_sealed(
    pipe: tuple[int, int], key: SigningKey
) -> None:
    """Every line is a chained record's canonical JSON, nothing added; close seals the
    chain with a checkpoint signed by the key, which verifies with its public key."""
    read_end, write_end = pipe
    sink = StdoutSink(fd=write_end, signer=es256_signer(key.kid, key.private))
    for n in range(3):
        await sink.append(_record(n))
    await sink.close()
    lines = _drain(read_end).splitlines()
    assert len(lines) == 4
    parsed = [orjson.loads(line) for line in lines]
    assert [record.get("n") for record in parsed[:3]] == [0, 1, 2]
    assert set(parsed[0]) == {"schema", "event", "n", "prompt", "prev_hash", "hash"}
    assert parsed[0]["prev_hash"] == GENESIS
    assert parsed[3]["event"] == "checkpoint"
    assert parsed[3]["segment"].startswith("stdout/")
    report = verify_lines(lines, public_keys={key.kid: key.public})
    assert (report.ok, report.records, report.sealed) == (True, 3, True)
    other = SigningKey.from_stored(new_key(1.0))
    assert verify_lines(lines, public_keys={key.kid: other.public}).kind == "bad_signature"


async def test_concurrent_appends_share_writes(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 concurrent appends reach the stream in far fewer writes, in append order."""
    read_end, write_end = pipe
    sizes = _counting_writes(monkeypatch, write_end)
    sink = StdoutSink(fd=write_end)
    await asyncio.gather(*(sink.append(_record(n)) for n in range(200)))
    await sink.close()
    assert len(sizes) <= 10
    lines = _drain(read_end).splitlines()
    assert [orjson.loads(line).get("n") for line in lines[:-1]] == list(range(200))
    report = verify_lines(lines)
    assert (report.ok, report.records, report.sealed) == (True, 200, True)


async def test_a_regular_file_is_fsynced_a_pipe_is_not(
    tmp_path: Path, pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file, append returns after an fsync; on a pipe fsync's EINVAL is ignored."""
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr("gateway.ports.audit.stdout.os.fsync", fsync)
    with (tmp_path / "audit.jsonl").open("wb") as file:
        sink = StdoutSink(fd=file.fileno())
        await sink.append(_record(1))
        assert synced == [file.fileno()]
        await sink.close()
    on_pipe = StdoutSink(fd=pipe[1])
    await on_pipe.append(_record(2))
    assert await on_pipe.healthy()
    await on_pipe.close()
    assert verify_lines((tmp_path / "audit.jsonl").read_bytes().splitlines()).sealed


async def test_a_reader_gone_is_audit_unavailable(pipe: tuple[int, int]) -> None:
    """EPIPE when nobody reads any more: the batch fails closed and the sink is unhealthy."""
    read_end, write_end = pipe
    os.close(read_end)
    sink = StdoutSink(fd=write_end)
    with pytest.raises(AuditUnavailable, match="Broken pipe"):
        await sink.append(_record(1))
    assert not await sink.healthy()
    await sink.close()


async def test_a_full_disk_is_audit_unavailable() -> None:
    """ENOSPC (/dev/full) fails the whole batch of concurrent appends."""
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        sink = StdoutSink(fd=fd)
        results = await asyncio.gather(
            *(sink.append(_record(n)) for n in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, AuditUnavailable) for result in results)
        assert "No space left" in str(results[0])
        assert not await sink.healthy()
        await sink.close()
    finally:
        os.close(fd)


async def test_a_blocked_pipe_fails_after_the_write_timeout_then_recovers(
    pipe: tuple[int, int],
) -> None:
    """A reader that stops reading a full pipe: append fails within the timeout instead of
    hanging; once the reader drains the pipe, appends succeed again."""
    read_end, write_end = pipe
    _fill(write_end)
    sink = StdoutSink(fd=write_end, write_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(AuditUnavailable, match="blocked"):
        await sink.append(_record(1))
    assert time.monotonic() - started < 1.0
    assert not await sink.healthy()
    _drain(read_end)
    os.set_blocking(read_end, True)
    await sink.append(_record(2))
    assert await sink.healthy()
    await sink.close()


def _chains(lines: list[bytes]) -> list[list[bytes]]:
    """The stream's lines cut into chains, each starting at a record linked to GENESIS."""
    chains: list[list[bytes]] = []
    for line in lines:
        try:
            starts = orjson.loads(line).get("prev_hash") == GENESIS
        except orjson.JSONDecodeError:
            starts = False
        if starts or not chains:
            chains.append([])
        chains[-1].append(line)
    return chains


async def test_a_torn_write_is_sealed_and_a_new_chain_starts_on_a_new_line(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch, key: SigningKey
) -> None:
    """A write that fails part-way, in the middle of its second line: the next write
    ends the torn line, seals the cut chain with a signed recovery checkpoint stating
    the one whole record and the torn line's length, and starts a new chain."""
    read_end, write_end = pipe
    real = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes | memoryview) -> int:
        if fd != write_end:
            return real(fd, data)
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data)[: bytes(data).index(b"\n") + 11])
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, data)

    monkeypatch.setattr("gateway.ports.audit.stdout.os.write", write)
    sink = StdoutSink(fd=write_end, signer=es256_signer(key.kid, key.private))
    results = await asyncio.gather(
        *(sink.append(_record(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, AuditUnavailable) for result in results)
    await sink.append(_record(3))
    await sink.close()
    cut, fresh = _chains(_drain(read_end).splitlines())
    keys = {key.kid: key.public}
    assert len(cut[-2]) == 10  # the torn line, then the recovery checkpoint
    closing = orjson.loads(cut[-1])
    assert (closing["recovered"], closing["records"], closing["torn_bytes"]) == (True, 1, 10)
    report = verify_lines(cut, public_keys=keys)
    assert (report.ok, report.records, report.sealed) == (True, 1, True)
    report = verify_lines(fresh, public_keys=keys)
    assert (report.ok, report.records, report.sealed) == (True, 1, True)


async def test_a_failed_fsync_seals_the_chain_and_starts_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [OSError(errno.EIO, "Input/output error")]
    real = os.fsync

    def fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real(fd)

    path = tmp_path / "audit.jsonl"
    with path.open("wb") as file:
        sink = StdoutSink(fd=file.fileno())
        await sink.append(_record(0))
        monkeypatch.setattr("gateway.ports.audit.stdout.os.fsync", fsync)
        with pytest.raises(AuditUnavailable, match="Input/output error"):
            await sink.append(_record(1))
        await sink.append(_record(2))
        await sink.close()
    cut, fresh = _chains(path.read_bytes().splitlines())
    assert [orjson.loads(line).get("n") for line in cut] == [0, 1, None]
    assert verify_lines(cut).sealed
    assert orjson.loads(cut[-1])["recovered"] is True
    report = verify_lines(fresh)
    assert (report.ok, report.records, report.sealed) == (True, 1, True)


def test_serve_with_stdout_audit_prints_only_the_chain(tmp_path: Path) -> None:
    """`phasegate serve --audit stdout://`: its standard output is the audit chain alone
    (application logs go to standard error), holding the generation request's record,
    and verifies as one chain sealed at shutdown."""
    mock_port, port = free_port(), free_port()
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    with process("mock-model", "--port", str(mock_port), "--job-seconds", "0"):
        gateway = subprocess.Popen(
            [
                *PHASEGATE,
                "serve",
                "--port",
                str(port),
                "--upstream",
                f"http://127.0.0.1:{mock_port}",
                "--audit",
                "stdout://",
                *settings,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
            url = f"http://127.0.0.1:{port}"
            assert wait_ready(f"{url}/readyz").status_code == 200
            credential = grant_credential(settings, "alice", "invited_artists")
            token = httpx.post(
                f"{url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credential["client_id"], credential["client_secret"]),
            ).json()["access_token"]
            answer = httpx.post(
                f"{url}/v1/videos",
                json=VIDEO,
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "stdout-e2e-1"},
            )
            assert answer.status_code == 200, answer.text
        finally:
            gateway.send_signal(signal.SIGINT)
            out, err = gateway.communicate(timeout=15)
    lines = out.splitlines()
    assert err  # the application did log: on standard error
    records = [orjson.loads(line) for line in lines]
    assert all({"hash", "prev_hash", "event", "time"} <= set(record) for record in records)
    assert [r["event"] for r in records if r.get("request_id") == "stdout-e2e-1"][:1] == [
        "generation_request"
    ]
    report = verify_lines(lines)
    assert report.ok, report
    assert report.sealed


def test_an_admin_command_keeps_stdout_for_its_own_output(tmp_path: Path) -> None:
    """`grant --json --audit stdout://` prints parseable JSON; its audit lines go to stderr."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES), "--audit", "stdout://"]
    result = run("grant", "alice", "--tier", "invited_artists", "--json", *settings)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["principal"] == "alice"
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [event["event"] for event in events if "hash" in event] == ["grant", "checkpoint"]

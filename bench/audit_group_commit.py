"""Group commit of the JSONL audit sink: how many records share one fsync.

Run from the repository root: `.venv/bin/python bench/audit_group_commit.py`.

For each number of concurrent writers (each awaiting its own `append` in a loop, as
concurrent requests do), a fresh JsonlSink in a temporary folder on the same disk as
the repository takes records for a few seconds. The script counts every fsync the
sink makes and prints records/s, records per fsync, and the latency of one `append`
(p50/p99: from the call until the record is durable). One writer is the baseline: it
pays a whole fsync per record, so the others' gain is read as a ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.ports.audit import JsonlSink

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a paper boat drifting down a rain-soaked street at dusk, cinematic, 35mm " * 2


def record(writer: int, n: int) -> dict[str, Any]:
    """About the size of a real write-ahead record (≈700 bytes)."""
    return {
        "schema": 1,
        "event": "generation_request",
        "time": "2026-11-26T09:30:00.000000Z",
        "request_id": f"bench-{writer}-{n}",
        "principal": f"artist-{writer}",
        "client_id": "c" * 32,
        "tier": "invited_artists",
        "phase": "research_preview",
        "client_address": "192.0.2.7",
        "method": "POST",
        "route": "/v1/videos",
        "model": "sora-2",
        "prompt": PROMPT,
        "params": {"seconds": "4", "size": "720x1280"},
        "input_reference": None,
        "decision": "allow",
        "rules": [{"id": "flag-weapons", "action": "flag", "shadow": False}],
        "policy_version": "f" * 64,
        "limits": None,
        "review_id": None,
    }


async def measure(folder: Path, writers: int, seconds: float) -> dict[str, float]:
    fsyncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    os.fsync = counting_fsync
    sink = JsonlSink(folder)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await sink.append(record(index, n))
            latencies.append(time.perf_counter() - started)
            n += 1

    try:
        began = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(writers)))
        elapsed = time.perf_counter() - began
        # The segment's closing checkpoint is not a request's record: count before it.
        data_fsyncs = fsyncs
        await sink.close()
    finally:
        os.fsync = real_fsync
    latencies.sort()
    return {
        "writers": writers,
        "records_per_s": len(latencies) / elapsed,
        "records_per_fsync": len(latencies) / max(1, data_fsyncs),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per concurrency level")
    parser.add_argument(
        "--writers", type=int, nargs="+", default=[1, 4, 16, 64], help="concurrency levels"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-audit-") as temp:
        for writers in args.writers:
            rows.append(asyncio.run(measure(Path(temp) / str(writers), writers, args.seconds)))
    base = rows[0]["records_per_s"]
    print("writers  records/s   vs 1  per fsync  p50 ms  p99 ms")
    for row in rows:
        ratio = row["records_per_s"] / base
        print(
            f"{row['writers']:>7}  {row['records_per_s']:>9.0f}  {ratio:>4.1f}x"
            f"  {row['records_per_fsync']:>9.1f}  {row['p50_ms']:>6.2f}  {row['p99_ms']:>6.2f}"
        )


if __name__ == "__main__":
    main()

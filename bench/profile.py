"""Where a create and a poll spend their CPU: per pipeline step and per library.

Starts the real gateway (`phasegate serve`, as bench/run.py does: CPU 1, the shipped
rules on the bench tier, one reused token) in front of the mock model API, drives a
fixed request mix at it from a load process on CPU 0, samples the gateway with py-spy
from outside while it does, and prints for each kind of request its CPU time per
request (from /proc: user + system time of every thread) and the time it holds the GIL
(py-spy samples only the thread holding it: the serialised work that bounds what one
worker serves), divided:

- per library: the samples' innermost frame, grouped by the package that defines it
  (uvicorn, httptools, starlette, aiohttp, redis, orjson, sqlite3, the gateway's own
  layers, the standard library...); time in the interpreter itself goes to the Python
  code it was running;
- per pipeline stage: the share of samples inside each step's stages (`before`,
  `after`...), the upstream call, the audit append and its writer thread.

    .venv/bin/python bench/profile.py                   # embedded defaults (SQLite)
    .venv/bin/python bench/profile.py --config redis    # Redis store and limits
    .venv/bin/python bench/profile.py --functions 30    # and the 30 busiest functions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

# bench/ is on the path when this script runs: the harness is bench/run.py's.
from run import (
    HOST,
    BenchError,
    Harness,
    log,
    pinning,
    start_gateway_instance,
    start_redis,
)

STDLIB: Final = Path(sysconfig.get_paths()["stdlib"]).resolve()
SITE_PACKAGES: Final = "site-packages/"
GATEWAY: Final = "/gateway/"
STEP_STAGES: Final = ("before", "after", "failed", "refused")
TOP_FUNCTIONS: Final = 60
SAMPLER_START_S: Final = 1.0
SAMPLER_STOP_S: Final = 30.0
# Inclusive stages outside the steps: (label, path suffix, function).
STAGES: Final = (
    ("gateway app, whole request", "gateway/edges/http/app.py", "GatewayApp.__call__"),
    (
        "authentication",
        "gateway/edges/http/authentication.py",
        "BearerTokenBackend.authenticate",
    ),
    ("proxy, whole exchange", "gateway/edges/http/proxy.py", "ReverseProxy.__call__"),
    ("read body", "gateway/edges/http/proxy.py", "ReverseProxy._read_body"),
    ("upstream call", "gateway/ports/upstream/aiohttp_client.py", "AiohttpUpstream.send"),
    ("answer to caller", "gateway/edges/http/proxy.py", "ReverseProxy._answer"),
    ("audit append, awaited", "gateway/ports/audit/jsonl.py", "JsonlSink.append"),
    ("audit write, writer thread", "gateway/ports/audit/jsonl.py", "JsonlSink._write_batch"),
    ("state store (SQLite), thread", "gateway/ports/store/sqlite.py", "SqliteStore._run"),
    ("limits (Redis script)", "gateway/ports/limiter/redis.py", "RedisLimiter.acquire"),
)
CREATE_BODY: Final = b'{"model":"sora-2","prompt":"a profile of a reverse proxy","seconds":"4"}'
LOAD_CPU: Final = 0


# --------------------------------------------------------------------------- load


async def drive(url: str, token: str, kind: str, count: int, connections: int) -> Counter[int]:
    """`count` requests of one kind over `connections` keep-alive connections."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=connections)
    failures: Counter[int] = Counter()
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async with session.post(f"{url}/v1/videos", data=CREATE_BODY) as answer:
            video_id = (await answer.json())["id"]
        remaining = iter(range(count))

        async def worker() -> None:
            for _ in remaining:
                if kind == "create":
                    call = session.post(f"{url}/v1/videos", data=CREATE_BODY)
                else:
                    call = session.get(f"{url}/v1/videos/{video_id}")
                async with call as answer:
                    body = await answer.read()
                    if answer.status >= 300:
                        failures[answer.status] += 1
                        if sum(failures.values()) == 1:
                            print(f"{answer.status}: {body[:300]!r}", file=sys.stderr)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return failures


def load_main(args: argparse.Namespace) -> int:
    token = os.environ["PROFILE_TOKEN"]
    failures = asyncio.run(drive(args.url, token, args.kind, args.count, args.connections))
    if failures:
        print(f"{args.kind}: answers other than 2xx: {dict(failures)}", file=sys.stderr)
    return 1 if failures else 0


# --------------------------------------------------------------------------- run


def run_profile(args: argparse.Namespace) -> dict[str, Any]:
    with Harness(keep_temp=args.keep_temp) as harness:
        harness.start_mock()
        extra: list[str] = []
        if args.config == "redis":
            redis_url = f"redis://{HOST}:{start_redis(harness)}/0"
            extra = ["--store", redis_url, "--limits", redis_url]
        name = f"gateway-{args.config}"
        endpoint = start_gateway_instance(harness, name, access_log=False, extra=extra)
        pid = harness.servers[-1].process.pid
        token = endpoint.headers["Authorization"].removeprefix("Bearer ")
        results: dict[str, Any] = {"config": args.config, "requests": args.requests}
        for kind in ("create", "poll"):
            # Warm every cache and connection first; only then is the profile taken.
            load(endpoint.url, token, kind, max(args.requests // 10, 100), args.connections)
            samples_file = harness.temp / f"{kind}.samples"
            sampler = start_sampler(pid, samples_file, args.rate)
            cpu_before = process_cpu_seconds(pid)
            started = time.perf_counter()
            load(endpoint.url, token, kind, args.requests, args.connections)
            elapsed = time.perf_counter() - started
            cpu = process_cpu_seconds(pid) - cpu_before
            stop_sampler(sampler)
            results[kind] = summarise(
                read_samples(samples_file),
                requests=args.requests,
                elapsed=elapsed,
                cpu=cpu,
                connections=args.connections,
                rate=args.rate,
            )
        return results


def start_sampler(pid: int, output: Path, rate: int) -> subprocess.Popen[bytes]:
    command = [*pinning(LOAD_CPU), py_spy(), "record", "--pid", str(pid), "--format", "raw"]
    command += ["--rate", str(rate), "--nonblocking", "--gil", "--full-filenames"]
    command += ["--output", str(output)]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(SAMPLER_START_S)
    if sampler.poll() is not None:
        error = sampler.stderr.read().decode(errors="replace") if sampler.stderr else ""
        raise BenchError(f"py-spy could not attach to the gateway: {error.strip()}")
    return sampler


def stop_sampler(sampler: subprocess.Popen[bytes]) -> None:
    # py-spy writes what it sampled when interrupted.
    sampler.send_signal(signal.SIGINT)
    try:
        sampler.wait(timeout=SAMPLER_STOP_S)
    except subprocess.TimeoutExpired:
        sampler.kill()
        raise BenchError("py-spy did not stop") from None


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if found is None:
        raise BenchError("py-spy is missing: pip install -e '.[bench]'")
    return found


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, token: str, kind: str, count: int, connections: int) -> None:
    command = [*pinning(LOAD_CPU), sys.executable, __file__, "--load", kind, "--url", url]
    command += ["--requests", str(count), "--connections", str(connections)]
    # The token goes through the environment, never the process list.
    env = {**os.environ, "PROFILE_TOKEN": token}
    done = subprocess.run(command, env=env, check=False, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"the {kind} load failed (status {done.returncode})")


@dataclass
class Samples:
    """py-spy's samples of the gateway, folded: self samples per library and function,
    inclusive samples per pipeline stage."""

    total: int = 0
    libraries: Counter[str] = field(default_factory=Counter)
    functions: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)


def read_samples(path: Path) -> Samples:
    samples = Samples()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [parse_frame(text) for text in stack.split(";")]
        samples.total += count
        owner = frames[-1]
        samples.libraries[library_of(owner)] += count
        samples.functions[f"{short_path(owner.file)}:{owner.function}"] += count
        for stage in {label for frame in frames if (label := stage_of(frame)) is not None}:
            samples.stages[stage] += count
    return samples


@dataclass(frozen=True)
class Frame:
    function: str
    file: str


def parse_frame(text: str) -> Frame:
    # py-spy's raw format: "function (path/file.py:line)".
    function, _, where = text.rpartition(" (")
    return Frame(function or text, where.rstrip(")").rpartition(":")[0])


def library_of(frame: Frame) -> str:
    """The package that defines a frame's function; C code called from Python (orjson,
    sqlite3, socket calls) counts as the calling line's."""
    path = frame.file
    if SITE_PACKAGES in path:
        return path.split(SITE_PACKAGES, 1)[1].split("/", 1)[0].removesuffix(".py")
    if GATEWAY in path:
        parts = path.split(GATEWAY, 1)[1].split("/")
        return "gateway." + ".".join(part.removesuffix(".py") for part in parts[:2])
    resolved = Path(path).resolve()
    if STDLIB in resolved.parents:
        return f"stdlib: {resolved.relative_to(STDLIB).parts[0].removesuffix('.py')}"
    return "other"


def stage_of(frame: Frame) -> str | None:
    stage = frame.function.rsplit(".", 1)[-1]
    if "/gateway/edges/http/steps/" in frame.file and stage in STEP_STAGES:
        return f"step {Path(frame.file).stem}.{stage}"
    for label, suffix, function in STAGES:
        if frame.file.endswith(suffix) and frame.function == function:
            return label
    return None


def short_path(path: str) -> str:
    for marker in (SITE_PACKAGES, GATEWAY):
        if marker in path:
            return path.split(marker, 1)[1]
    return Path(path).name


def summarise(
    samples: Samples,
    *,
    requests: int,
    elapsed: float,
    cpu: float,
    connections: int,
    rate: int,
) -> dict[str, Any]:
    """Samples are taken only of the thread holding the GIL: the serialised work that
    bounds what one worker can serve (a thread blocked in fsync or a socket call
    without the GIL is not counted there; /proc's CPU figure counts every thread)."""
    per_sample_us = 1e6 / rate / requests

    def rows(counter: Counter[str], limit: int | None = None) -> list[tuple[str, float, float]]:
        return [
            (name, count * per_sample_us, count / max(samples.total, 1))
            for name, count in counter.most_common(limit)
        ]

    return {
        "connections": connections,
        "elapsed_s": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed),
        "cpu_us_per_request": round(cpu * 1e6 / requests, 1),
        "samples": samples.total,
        "gil_us_per_request": round(samples.total * per_sample_us, 1),
        "libraries": rows(samples.libraries),
        "stages": sorted(rows(samples.stages), key=lambda row: stage_order(row[0])),
        "functions": rows(samples.functions, TOP_FUNCTIONS),
    }


def stage_order(label: str) -> tuple[int, str]:
    order = [stage_label for stage_label, _, _ in STAGES]
    return (order.index(label) if label in order else len(order), label)


# --------------------------------------------------------------------------- report


def render(results: dict[str, Any], top: int, functions: int) -> str:
    lines = [f"configuration: {results['config']}, {results['requests']} requests per kind"]
    for kind in ("create", "poll"):
        kind_results = results[kind]
        lines.append("")
        lines.append(
            f"{kind}: {kind_results['gil_us_per_request']} us holding the GIL and "
            f"{kind_results['cpu_us_per_request']} us CPU (all threads) per request "
            f"({kind_results['requests_per_s']} req/s over {kind_results['connections']} "
            f"connections while sampled; {kind_results['samples']} samples)"
        )
        lines.append(f"  {'library':<34} {'us/request':>10} {'share':>7}")
        for name, micros, share in kind_results["libraries"][:top]:
            lines.append(f"  {name:<34} {micros:>10.1f} {share:>6.1%}")
        lines.append(f"  {'pipeline stage (inclusive)':<34} {'us/request':>10} {'share':>7}")
        for name, micros, share in kind_results["stages"]:
            lines.append(f"  {name:<34} {micros:>10.1f} {share:>6.1%}")
        if functions:
            lines.append(f"  {'function (self time)':<60} {'us/request':>10} {'share':>7}")
            for name, micros, share in kind_results["functions"][:functions]:
                lines.append(f"  {name[-60:]:<60} {micros:>10.1f} {share:>6.1%}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=1000, help="samples per second")
    parser.add_argument("--top", type=int, default=20, help="libraries shown per kind")
    parser.add_argument(
        "--functions", type=int, default=0, help="also the N functions with most self time"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-temp", action="store_true")
    parser.add_argument("--load", choices=["create", "poll"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.load:
        args.kind, args.count = args.load, args.requests
        return load_main(args)
    try:
        results = run_profile(args)
    except BenchError as exc:
        log(f"profile failed: {exc}")
        return 1
    print(json.dumps(results, indent=2) if args.json else render(results, args.top, args.functions))
    return 0


if __name__ == "__main__":
    sys.exit(main())

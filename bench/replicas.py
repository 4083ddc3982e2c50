"""Scale-out: one, two and three gateway replicas sharing one Redis, behind nginx.

Run from the repository root: `.venv/bin/python bench/replicas.py` (see bench/README.md).

For each replica count, a fresh Redis (no persistence: this measures the gateway, not
the disk), the mock model API, N `phasegate serve` processes with `--store` and
`--limits` on that Redis (each with its own data folder, so the audit files are its
own), and nginx balancing over them. wrk then creates videos (POST /v1/videos) with
one token, as in bench/run.py's `create-c32`. Redis's own command statistics, reset
before the measured run, give the Redis calls per generation request.

The machine has two cores. Pinning the replicas to one core, as bench/run.py does,
would measure one core shared N ways; so here servers are not pinned and wrk keeps
core 0. What the figures show is the cost of sharing state in Redis and of running
more processes on the same cores, not the throughput a cluster of machines gets.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import redis

# bench/ is on the path when this script runs: the harness is bench/run.py's.
from run import (
    HOST,
    SCENARIOS,
    TOKEN_TTL,
    BenchError,
    Endpoint,
    Harness,
    access_token,
    bench_policies,
    log,
    measure,
    phasegate_command,
    start_nginx_over,
    start_redis,
)

CREATE = next(scenario for scenario in SCENARIOS if scenario.name == "create-c32")
ISSUER = f"http://{HOST}"  # one issuer for every replica, as behind any balancer


def grant(settings: list[str]) -> tuple[str, str]:
    done = subprocess.run(
        [*phasegate_command(), "grant", "bench", "--tier", "bench", "--json", *settings],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"phasegate grant failed: {done.stderr.strip()}")
    credential = json.loads(done.stdout)
    return credential["client_id"], credential["client_secret"]


def redis_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def run_replicas(count: int, *, duration_s: int, warmup_s: int, keep_temp: bool) -> dict[str, Any]:
    with Harness(keep_temp=keep_temp) as harness:
        harness.server_prefix = []  # see the module docstring
        redis_port = start_redis(harness)
        harness.start_mock()
        shared = [
            "--store",
            f"redis://{HOST}:{redis_port}/0",
            "--policies",
            str(bench_policies(harness.temp)),
        ]
        ports = []
        for index in range(count):
            port = harness.port()
            command = [*phasegate_command(), "serve", "--host", HOST, "--port", str(port)]
            command += ["--upstream", harness.mock_url, "--data-dir"]
            command += [str(harness.temp / f"gateway-{index}"), *shared]
            command += ["--access-log", "off", "--token-ttl", TOKEN_TTL, "--issuer", ISSUER]
            harness.start(f"gateway-{index}", command, port)
            ports.append(port)
        settings = ["--data-dir", str(harness.temp / "gateway-0"), *shared]
        token = access_token(f"http://{HOST}:{ports[0]}", *grant(settings))
        url = start_nginx_over(harness, ports)
        endpoint = Endpoint(url, {"Authorization": f"Bearer {token}"})
        client = redis.Redis(host=HOST, port=redis_port)
        if warmup_s:
            measure(harness, CREATE, "warm-up", endpoint, "", duration_s=warmup_s, warmup_s=0)
        client.config_resetstat()
        run = measure(
            harness, CREATE, f"{count} replica(s)", endpoint, "", duration_s=duration_s, warmup_s=0
        )
        calls = redis_calls(client)
        client.close()
    per_request = {
        name: round(value / run.requests, 2)
        for name, value in sorted(calls.items())
        if run.requests and name not in {"config|resetstat", "info"}
    }
    return {
        "replicas": count,
        "requests_per_s": run.requests_per_s,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "valid": run.valid,
        "problems": run.problems,
        "redis_calls_per_request": per_request,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=int, default=8, metavar="S")
    parser.add_argument("--warmup", type=int, default=2, metavar="S")
    parser.add_argument("--keep-temp", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        rows = [
            run_replicas(
                n, duration_s=args.duration, warmup_s=args.warmup, keep_temp=args.keep_temp
            )
            for n in args.replicas
        ]
    except BenchError as exc:
        log(f"benchmark failed: {exc}")
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    base = rows[0]["requests_per_s"] or 1.0
    print(f"POST /v1/videos, {CREATE.connections} connections through nginx, one shared Redis")
    print("replicas   req/s  vs first  p50 ms  p99 ms  valid  scripts/request")
    for row in rows:
        calls = row["redis_calls_per_request"]
        scripts = calls.get("evalsha", 0) + calls.get("eval", 0)
        print(
            f"{row['replicas']:>8}  {row['requests_per_s']:>6.0f}  "
            f"{row['requests_per_s'] / base:>7.2f}x  {row['p50_ms']:>6.2f}  "
            f"{row['p99_ms']:>6.2f}  {'yes' if row['valid'] else 'NO':>5}  {scripts:>15.2f}"
        )
    # commandstats counts the commands a script runs as well as the script itself.
    print("commands Redis ran per request (inside the scripts included):")
    for row in rows:
        calls = ", ".join(f"{k} {v}" for k, v in row["redis_calls_per_request"].items() if v)
        print(f"  {row['replicas']} replica(s): {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

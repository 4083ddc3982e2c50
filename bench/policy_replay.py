"""`phasegate policy replay` on a large audit log: how many records a second it gets through.

Run from the repository root: `.venv/bin/python bench/policy_replay.py` (the
1,000,000-record log of `bench/audit_query.py`, generated the same way; `--records N`
for another size, `--log DIR` to reuse a data folder kept with `--keep`, `--json` for
a document).

The new policy folder is the shipped one with four edits, so that a replay has
something to find: the public-figures rule applies to every tier, long realistic
footage is held from 4 s on, a new rule denies weapons to the public, and the
stylised-animation rule is gone. The command runs as a real `phasegate` process with
its output going to a file, `--repeats` times (default 3); the table gives the wall
time (median, best), the CPU time the process used (user + system), the peak RSS, and
records per second over every record of the log, by wall time and by CPU time (the
figure to quote on a machine shared with other work), and over the requests replayed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from audit_query import generate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies"

NEW_RULES = """
  - id: no-weapons-for-public
    when: {prompt_regex: '\\b(rifles?|pistols?|handguns?|shotguns?|firearms?)\\b'}
    action: deny
    tiers: [public]
    message: Weapons are not available to the public tier.
"""


def new_policies(destination: Path) -> Path:
    shutil.copytree(SHIPPED, destination)
    rules = destination / "rules.yaml"
    text = rules.read_text()
    text = text.replace(
        "    tiers: [studios, public]\n    message: Videos of real", "    message: Videos of real"
    )
    text = text.replace("{param: seconds, gt: 8}", "{param: seconds, ge: 4}")
    start = text.index("  - id: stylised-animation")
    end = text.index("  - id: deepfake-terms-trial")
    text = text[:start] + text[end:]
    text = text.replace("\nlists:\n", NEW_RULES + "\nlists:\n", 1)
    rules.write_text(text)
    return destination


def run_replay(
    data_dir: Path, new: Path, scratch: Path
) -> tuple[float, float, int, dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "gateway",
        "policy",
        "replay",
        str(new),
        "--policies",
        str(SHIPPED),
        "--data-dir",
        str(data_dir),
        "--json",
    ]
    output = scratch / "output"
    with output.open("wb") as out, (scratch / "stderr").open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"policy replay failed: {(scratch / 'stderr').read_text()}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss, json.loads(output.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--log", type=Path, metavar="DIR", help="a data folder kept before")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="phasegate-replay-bench-"))
    try:
        data_dir = args.log or root / "data"
        if args.log is None:
            print(f"generating about {args.records:,} records in {root} ...", file=sys.stderr)
            written, _, took = generate(data_dir / "audit", args.records)
            print(f"  {written:,} records in {took:.0f} s", file=sys.stderr)
        records = sum(
            segment.read_bytes().count(b"\n") for segment in (data_dir / "audit").iterdir()
        )
        new = new_policies(root / "new-policies")
        (root / "scratch").mkdir()
        times, cpus, rss, document = [], [], 0, {}
        for _ in range(args.repeats):
            elapsed, cpu, rss, document = run_replay(data_dir, new, root / "scratch")
            times.append(elapsed)
            cpus.append(cpu)
            print(f"  replay: {elapsed:.2f} s wall, {cpu:.2f} s CPU", file=sys.stderr)
        median, best = statistics.median(times), min(times)
        cpu = statistics.median(cpus)
        result = {
            "records": records,
            "replayed": document["total"],
            "changed": document["changed"],
            "median_s": median,
            "best_s": best,
            "records_per_s": records / median,
            "replayed_per_s": document["total"] / median,
            "cpu_s": cpu,
            "records_per_cpu_s": records / cpu,
            "peak_rss_mib": rss / 1024,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "changes": document["changes"],
        }
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(
                f"log: {records:,} records, {document['total']:,} replayable requests,"
                f" {document['changed']:,} decided otherwise; {args.repeats} runs"
            )
            print(f"wall: median {median:.2f} s, best {best:.2f} s; peak RSS {rss / 1024:.0f} MiB")
            print(
                f"throughput: {records / median:,.0f} records/s over the log,"
                f" {document['total'] / median:,.0f} replayed requests/s (wall);"
                f" {records / cpu:,.0f} records per CPU second (median {cpu:.2f} s CPU)"
            )
            for change in document["changes"]:
                print(f"  {change['from']:>7} -> {change['to']:<7} {change['count']:>9,}")
    finally:
        if args.keep and args.log is None:
            print(f"kept: {root / 'data'}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The reviewer commands (`phasegate audit search / stats / export / tail`) on a large log.

Run from the repository root: `.venv/bin/python bench/audit_query.py` (1,000,000 records;
`--records N` for another size, `--keep` to keep the log, `--json` for a document).

The log is generated first, in a temporary folder: a week of traffic of 20,000
principals (a few very active, most rarely seen; the tier follows the principal), each
generation request a `generation_request` and its `generation_outcome` or one
`refusal`, job reads between them, and admin events (grants, revokes, phase changes,
key rotations, policy reloads) each in a segment of its own as the CLI writes them.
Decisions, rules and prompts are drawn from the shipped policy's vocabulary; a few
prompts are French, German, Spanish or Japanese. Records are built with the record
builders and chained with the real chain functions (`link`, `canonical`, signed
`checkpoint`), and written straight into segment files named and rotated (64 MiB, UTC
day) as the sink does; not through the sink itself, whose fsync per batch would make
generating a million records take far longer than measuring them.

Each command then runs as a real `phasegate` process, its output going to a file; the
table gives the wall time (median and best of `--repeats`, default 3), the process's
peak RSS and how many records it printed. The segments were just written, so they
are read from the page cache; the first line is what starting `phasegate` alone costs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from gateway.core.audit import records
from gateway.core.audit.chain import GENESIS, canonical, checkpoint, es256_signer, link
from gateway.core.keys import SigningKey, new_key
from gateway.core.limits.decide import LimitState
from gateway.core.policy.decision import Action, RuleHit
from gateway.core.policy.limits import LimitKind
from gateway.ports.audit.jsonl import DEFAULT_MAX_SEGMENT_BYTES, segment_name, utc_day

DAY: Final = 86_400.0
DAYS: Final = 7
PRINCIPALS: Final = 20_000
# The selective searches look for these; the generator makes sure they are there.
BUSY_PRINCIPAL: Final = "principal-00042"
RARE_PRINCIPAL: Final = "principal-07777"
RARE_PHRASE: Final = "sunken cathedral"

SUBJECTS: Final = (
    "a lighthouse keeper",
    "a paper boat",
    "two foxes",
    "an old cowboy",
    "a street dancer",
    "a glass jellyfish",
    "a night train",
    "a grandmother",
    "a robot gardener",
    "a red kite",
    "a choir of children",
    "a fishing village",
    "a lone astronaut",
    "a tabby cat",
)
ACTIONS: Final = (
    "drifting along a gutter",
    "crossing a frozen lake",
    "cleaning his rifle on a porch",
    "dancing in the rain",
    "waiting at a bus stop",
    "climbing a spiral staircase",
    "reading a letter aloud",
    "chasing fireflies",
    "repairing a clock",
)
SETTINGS: Final = (
    "at dawn",
    "in a neon-lit street at night",
    "under a thunderstorm",
    "in a quiet harbour",
    "in the desert at noon",
    "inside a greenhouse",
    "on a crowded market square",
)
STYLES: Final = (
    "cinematic, 35mm, shallow depth of field",
    "claymation",
    "watercolor",
    "stop motion",
    "documentary footage, handheld",
    "anime",
    "photorealistic, golden hour",
    "pixel art",
)
FOREIGN: Final = (
    "Un café à Paris sous la pluie, un vieux phare au loin",
    "Ein Fuchs überquert die Straße im Schnee, Stop-Motion",
    "東京の夜景、雨上がりの路地を歩く猫",
    "Una bicicleta roja junto al mar, acuarela",
)
SIZES: Final = ("720x1280", "1280x720", "1024x1792")
POLICY_VERSIONS: Final = tuple(f"{n:064x}" for n in (0xA1, 0xB2, 0xC3))


def _prompt(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.03:
        return rng.choice(FOREIGN)
    if roll < 0.0301:
        return f"A {RARE_PHRASE} under green water, divers with lanterns"
    words = [rng.choice(SUBJECTS), rng.choice(ACTIONS), rng.choice(SETTINGS), rng.choice(STYLES)]
    if rng.random() < 0.02:
        words.insert(1, "with the prime minister")
    return " ".join(words).capitalize()


def _principal(rng: random.Random, weights: list[float]) -> tuple[str, str]:
    index = rng.choices(range(PRINCIPALS), cum_weights=weights)[0]
    if f"principal-{index:05d}" == RARE_PRINCIPAL:
        index += 1  # it makes the first request of each day, and no other
    tier = "invited_artists" if index < 200 else "studios" if index < 2200 else "public"
    return f"principal-{index:05d}", tier


def _limits(rng: random.Random) -> list[LimitState]:
    return [
        LimitState("requests", LimitKind.RATE, 30, 60.0, rng.randint(0, 29), 2.0),
        LimitState("seconds", LimitKind.COST, 600, 3600.0, rng.randint(0, 600), 120.0),
    ]


def _rules(rng: random.Random, decision: str) -> tuple[RuleHit, ...]:
    hits: list[RuleHit] = []
    if decision == "flag":
        hits.append(RuleHit(rng.choice(["weapons", "public-remixes"]), Action.FLAG, False))
    elif decision == "hold":
        rule = rng.choice(["long-realistic-humans", "public-reference-images"])
        hits.append(RuleHit(rule, Action.HOLD, False))
    elif decision == "deny":
        rule = rng.choice(
            [
                "no-real-public-figures",
                "no-graphic-violence-for-public",
                "no-sexual-content-with-minors",
            ]
        )
        hits.append(RuleHit(rule, Action.DENY, False))
    elif decision == "allow" and rng.random() < 0.1:
        hits.append(RuleHit("stylised-animation", Action.ALLOW, False))
    if rng.random() < 0.01:
        hits.append(RuleHit("deepfake-terms-trial", Action.DENY, True))
    return tuple(hits)


def _traffic(rng: random.Random, start: float, count: int) -> Iterator[dict[str, Any]]:
    """About `count` records of requests spread over the day from `start`, in time order."""
    cumulative, total = [], 0.0
    for rank in range(PRINCIPALS):
        total += 1.0 / (rank + 1) ** 1.1
        cumulative.append(total)
    # A request makes about 2.04 records (refusal 1; request, outcome, sometimes a read).
    step = DAY / count * 2.0
    at, made = start, 0
    while made < count:
        at += rng.expovariate(1.0 / step)
        if at >= start + DAY - 10:
            break  # records after the request must stay in its day
        principal, tier = _principal(rng, cumulative)
        if made == 0:
            principal, tier = RARE_PRINCIPAL, "public"
        request_id = f"{rng.getrandbits(64):016x}"
        common: dict[str, Any] = {"request_id": request_id, "principal": principal, "tier": tier}
        client: dict[str, Any] = {"client_id": f"client-{principal}"}
        route = "/v1/videos/{id}/remix" if rng.random() < 0.1 else "/v1/videos"
        prompt, params = (
            _prompt(rng),
            {"seconds": rng.choice(["4", "8", "12"]), "size": rng.choice(SIZES)},
        )
        policy = POLICY_VERSIONS[int((at - start) / DAY * 3) % 3]
        if rng.random() < 0.12:
            decision = rng.choices(["deny", "rate_limited", "refused"], [45, 45, 10])[0]
            anonymous = decision == "refused" and rng.random() < 0.5
            yield records.refusal(
                time=at,
                **common,
                **client,
                phase="general_availability",
                client_address=f"198.51.100.{rng.randint(1, 254)}",
                method="POST",
                route=route,
                model="sora-2",
                prompt=prompt,
                params=params,
                decision=decision,
                status={"deny": 403, "rate_limited": 429}.get(decision, 401),
                code={"deny": "policy_violation", "rate_limited": "rate_limited"}.get(
                    decision, "invalid_token"
                ),
                rules=_rules(rng, decision),
                policy_version=policy,
                latency_ms=rng.uniform(1, 9),
            ) | ({"principal": None, "client_id": None, "tier": None} if anonymous else {})
            made += 1
            continue
        decision = rng.choices(["allow", "flag", "hold"], [90, 7, 3])[0]
        yield records.generation_request(
            time=at,
            **common,
            **client,
            phase="general_availability",
            client_address=f"198.51.100.{rng.randint(1, 254)}",
            method="POST",
            route=route,
            model="sora-2",
            prompt=prompt,
            params=params,
            decision=decision,
            rules=_rules(rng, decision),
            policy_version=policy,
            limits=_limits(rng),
            review_id=f"video_{request_id}" if decision == "hold" else None,
        )
        yield records.generation_outcome(
            time=at + rng.uniform(0.05, 2.0),
            **common,
            **client,
            route=route,
            decision=decision,
            upstream_status=None if decision == "hold" else 200,
            job_id=f"video_{request_id}",
            latency_ms=rng.uniform(20, 400),
            request_bytes=rng.randint(120, 900),
            response_bytes=rng.randint(300, 700),
            review_id=f"video_{request_id}" if decision == "hold" else None,
        )
        made += 2
        if rng.random() < 0.18:
            yield records.job_access(
                time=at + rng.uniform(2.0, 3.0),
                **common,
                **client,
                client_address=None,
                method="GET",
                route=rng.choice(["/v1/videos/{id}", "/v1/videos/{id}/content"]),
                action="read",
                job_id=f"video_{request_id}",
                status=200,
                upstream_status=200,
                response_bytes=rng.randint(300, 5_000_000),
                latency_ms=rng.uniform(5, 80),
            )
            made += 1


def _admin(rng: random.Random, at: float) -> dict[str, Any]:
    kind = rng.choice(["grant", "grant", "revoke", "phase_change", "key_rotation", "policy_reload"])
    principal = f"principal-{rng.randrange(PRINCIPALS):05d}"
    if kind == "grant":
        return records.grant(
            time=at,
            actor="ops",
            principal=principal,
            tier="studios",
            client_id=f"client-{principal}",
            expires_at=at + 90 * DAY,
        )
    if kind == "revoke":
        return records.revoke(time=at, actor="ops", principal=principal, revoked=1)
    if kind == "phase_change":
        return records.phase_change(
            time=at,
            actor="ops-lead",
            phase="general_availability",
            previous_phase="limited_preview",
        )
    if kind == "key_rotation":
        return records.key_rotation(time=at, actor="ops", kid=f"k{rng.getrandbits(32):08x}")
    return records.policy_reload(
        time=at,
        actor="sighup",
        outcome="loaded",
        policy_version=rng.choice(POLICY_VERSIONS),
        previous_policy_version=None,
    )


class _SegmentWriter:
    """Segments of one writer, named and rotated as JsonlSink does."""

    def __init__(self, folder: Path, key: SigningKey, taken: dict[str, int]) -> None:
        self._folder, self._taken = folder, taken
        self._signer = es256_signer(key.kid, key.private)
        self._file: Any = None
        self._name, self._day, self._size, self._count, self._last = "", "", 0, 0, GENESIS

    def append(self, record: dict[str, Any]) -> None:
        at = _seconds(record["time"])
        if self._file is not None and (
            utc_day(at) != self._day or self._size > DEFAULT_MAX_SEGMENT_BYTES
        ):
            self.close(at)
        if self._file is None:
            self._open(utc_day(at))
        linked = link(record, self._last)
        line = canonical(linked) + b"\n"
        self._file.write(line)
        self._size, self._count, self._last = (
            self._size + len(line),
            self._count + 1,
            linked["hash"],
        )

    def close(self, at: float) -> None:
        if self._file is None:
            return
        closing = checkpoint(
            time=at,
            segment=self._name,
            records=self._count,
            last_hash=self._last,
            signer=self._signer,
        )
        self._file.write(canonical(link(closing, self._last)) + b"\n")
        self._file.close()
        self._file = None

    def _open(self, day: str) -> None:
        self._taken[day] = self._taken.get(day, 0) + 1
        self._name, self._day = segment_name(day, self._taken[day]), day
        self._file = (self._folder / self._name).open("wb", buffering=1 << 20)
        self._size, self._count, self._last = 0, 0, GENESIS


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _write_day(job: tuple[Path, int, float, int]) -> int:
    """One day's log: the gateway's segments, then the admins' one-event segments.
    Sequence numbers are per day, so days can be written in parallel."""
    folder, index, start, count = job
    rng = random.Random(index)  # noqa: S311 - sample data, not secrets
    key = SigningKey.from_stored(new_key(start))
    taken: dict[str, int] = {}
    gateway = _SegmentWriter(folder, key, taken)
    written = 0
    for record in _traffic(rng, start, count):
        gateway.append(record)
        written += 1
    gateway.close(start + DAY - 1)
    for _ in range(8):
        admin = _SegmentWriter(folder, key, taken)
        at = start + rng.uniform(0, DAY - 2)
        admin.append(_admin(rng, at))
        admin.close(at + 0.01)
        written += 1
    return written


def generate(folder: Path, total: int) -> tuple[int, int, float]:
    """Records and bytes written, and seconds taken."""
    folder.mkdir(parents=True)
    # The week of whole UTC days before today: one job per day, no segment name shared.
    first = (time.time() // DAY - DAYS) * DAY
    started = time.perf_counter()
    jobs = [(folder, day, first + day * DAY, total // DAYS) for day in range(DAYS)]
    with multiprocessing.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        written = sum(pool.map(_write_day, jobs))
    size = sum(path.stat().st_size for path in folder.iterdir())
    return written, size, time.perf_counter() - started


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    # How the output counts records: JSON Lines and bare rows one per line; a table or
    # CSV has a header (and the table a footer). None: the output is not records.
    header_lines: int | None = 0


CASES: Final = (
    Case("search --principal (busy)", ["search", "--principal", BUSY_PRINCIPAL, "--json"]),
    Case("search --principal (rare, table)", ["search", "--principal", RARE_PRINCIPAL], 2),
    Case(
        "search --rule X --decision deny",
        ["search", "--rule", "no-real-public-figures", "--decision", "deny", "--json"],
    ),
    Case("search --text (selective)", ["search", "--text", RARE_PHRASE.upper(), "--json"]),
    Case("search --text (~9% of prompts)", ["search", "--text", "Lighthouse", "--json"]),
    Case(
        "search --since 12h --tier studios",
        ["search", "--since", "12h", "--tier", "studios", "--json"],
    ),
    Case("search --decision allow (unselective)", ["search", "--decision", "allow", "--json"]),
    Case("search --limit 100 (no filter)", ["search", "--limit", "100", "--json"]),
    Case("stats (everything)", ["stats", "--json"], None),
    Case("stats --since 24h", ["stats", "--since", "24h", "--json"], None),
    Case("export --format csv (everything)", ["export", "--format", "csv"], 1),
    Case("export jsonl --decision flag", ["export", "--decision", "flag"]),
    Case("tail", ["tail"]),
)


def run_case(args: list[str], data_dir: Path, scratch: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB, and output lines of one `phasegate` process."""
    command = [sys.executable, "-m", "gateway", *args]
    if args != ["--version"]:
        command[3:3] = ["audit"]
        command += ["--data-dir", str(data_dir)]
    output = scratch / "output"
    with output.open("wb") as out, (scratch / "stderr").open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {(scratch / 'stderr').read_text()}")
    with output.open("rb") as produced:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: produced.read(1 << 20), b""))
    return elapsed, usage.ru_maxrss, lines


STARTUP: Final = Case("phasegate --version (startup)", ["--version"], None)


def measure(data_dir: Path, scratch: Path, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for case in (STARTUP, *CASES):
        times, rss, lines = [], 0, 0
        for _ in range(repeats):
            elapsed, rss, lines = run_case(case.args, data_dir, scratch)
            times.append(elapsed)
        rows.append(
            {
                "case": case.name,
                "command": "phasegate "
                + ("" if case is STARTUP else "audit ")
                + " ".join(case.args),
                "median_s": statistics.median(times),
                "best_s": min(times),
                "peak_rss_mib": rss / 1024,
                "records": None if case.header_lines is None else lines - case.header_lines,
            }
        )
        print(f"  {case.name}: {statistics.median(times):.2f} s", file=sys.stderr)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'case':<40} {'median s':>9} {'best s':>7} {'RSS MiB':>8} {'records':>9}")
    print(f"{'-' * 40} {'-' * 9} {'-' * 7} {'-' * 8} {'-' * 9}")
    for row in rows:
        found = "-" if row["records"] is None else f"{row['records']:,}"
        print(
            f"{row['case']:<40} {row['median_s']:>9.2f} {row['best_s']:>7.2f}"
            f" {row['peak_rss_mib']:>8.0f} {found:>9}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="phasegate-audit-bench-"))
    try:
        print(f"generating about {args.records:,} records in {root} ...", file=sys.stderr)
        written, size, took = generate(root / "data" / "audit", args.records)
        segments = len(list((root / "data" / "audit").iterdir()))
        print(
            f"  {written:,} records, {size / 2**20:,.0f} MiB in {segments} segments, {took:.0f} s",
            file=sys.stderr,
        )
        (root / "scratch").mkdir()
        rows = measure(root / "data", root / "scratch", args.repeats)
        header = {
            "records": written,
            "bytes": size,
            "segments": segments,
            "generated_s": took,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        }
        if args.json:
            print(json.dumps({**header, "cases": rows}, indent=2))
        else:
            print(
                f"log: {written:,} records, {size / 2**20:,.0f} MiB, {segments} segments "
                f"(generated in {took:.0f} s); {args.repeats} runs per case, page cache warm"
            )
            print_table(rows)
    finally:
        if args.keep:
            print(f"kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
